"""Every failure leaves the previous release serving, says what happened, and loses nothing."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import DEPLOY_TO
from tests.e2e.poller import HealthPoller

# Fail fast: the unhealthy release never gets better.
FAST_HEALTH = ("-e", "deploy_health_deadline=8")
# The candidate check stops v3-unhealthy before the switch (test_zero_downtime.py): these tests
# turn it off to exercise the health check after the switch and the revert.
PAST_THE_CANDIDATE = ("-e", "deploy_candidate_check=false")


@pytest.mark.parametrize(
    ("ref", "stage", "evidence"),
    [
        ("v3-broken-build", "build", "expected file app/models/misnamed.rb to define constant Misnamed"),
        ("v3-broken-migration", "migrate", 'relation "table_that_does_not_exist" does not exist'),
    ],
)
def test_failure_before_the_switch_leaves_the_live_release_untouched(fleet, commits, on_v2, ref, stage, evidence):
    with HealthPoller(f"http://127.0.0.1:{fleet.http_port('web1')}/up") as poller:
        run = fleet.deploy(ref, *FAST_HEALTH)

    assert run.rc == 2
    for host, live in on_v2.items():
        assert f"failed on {host} at stage {stage}" in run.output
        assert f"Nothing live was changed: current still points at {live}, which keeps serving." in run.output
        assert fleet.current(host) == live
        failed = fleet.newest(host)
        assert (failed["state"], failed["ref"]) == ("failed", ref)
        assert failed["reason"].startswith(f"{stage}:")
        assert fleet.ssh(host, f"test -d {DEPLOY_TO}/releases/{failed['id']} && echo kept").strip() == "kept"
        # The candidate its build started (to boot while the migrations ran) was stopped with the deploy.
        assert fleet.ssh(host, "systemctl is-active sample-candidate || true").strip() in ("inactive", "unknown")
    assert evidence in run.output
    # Users never noticed: every request was answered by v2.
    assert poller.failures() == []
    assert poller.revisions() == {commits["v2"]}
    assert fleet.schema_migrations("web1") == ["20240101000000", "20240201000000"]


def test_failed_health_check_switches_back_and_restarts_the_previous_release(fleet, commits, on_v2):
    with HealthPoller(f"http://127.0.0.1:{fleet.http_port('web1')}/up") as poller:
        run = fleet.deploy("v3-unhealthy", *FAST_HEALTH, *PAST_THE_CANDIDATE)

    assert run.rc == 2
    for host, live in on_v2.items():
        assert f"failed on {host} at stage verify" in run.output
        assert f"REVERTED: current points at {live} again and the app was restarted; it answers 200" in run.output
        assert fleet.current(host) == live
        assert fleet.newest(host)["state"] == "failed"
        assert fleet.health(host) == (200, fleet.health(host)[1])
        assert fleet.health(host)[1]["revision"] == commits["v2"]
    assert "status 500, expected 200" in run.output
    assert '"error":"deliberately unhealthy"' in run.output
    no_answer = poller.longest(lambda a: a.status is None)
    broken = poller.longest(lambda a: a.revision != commits["v2"])
    print(f"\nduring switch + failed check + revert: no answer at all for at most {no_answer}s (restarts);")
    print(f"the broken release or no release answered for {broken}s (the health deadline is 8s)")
    # The switch back is in the switch's own call: from the broken release's last answer (its
    # health check gave up about then) to the previous release answering again.
    last_broken = max(a.at for a in poller.answers if a.status == 500)
    back = min(a.at for a in poller.answers if a.at > last_broken and a.revision == commits["v2"])
    print(f"the previous release answered 200 {back - last_broken:.1f}s after the broken release's last answer")
    assert poller.revisions() <= {commits["v2"], commits["v3-unhealthy"]}
    assert poller.answers[-1].status == 200


def test_a_full_disk_stops_the_deploy_before_anything_changes(fleet, on_v2):
    before = {host: set(fleet.records(host)) for host in fleet.hosts}
    run = fleet.deploy("v1", "-e", "deploy_min_free_mb=100000000")
    assert run.rc == 2
    assert f"MiB free under {DEPLOY_TO} (deploy_min_free_mb is 100000000)" in run.output
    for host, live in on_v2.items():
        assert fleet.current(host) == live
        assert set(fleet.records(host)) == before[host]


def test_first_deploy_with_nothing_to_revert_to_says_so_and_deletes_nothing(fleet):
    fresh = (
        "-e", "deploy_to=/srv/fresh", "-e", "deploy_service_name=fresh", "-e", "deploy_app_port=3100",
        "-e", "deploy_keep_releases=1", *FAST_HEALTH, *PAST_THE_CANDIDATE,
    )  # fmt: skip
    run = fleet.deploy("v3-unhealthy", *fresh)
    assert run.rc == 2
    assert "NOT REVERTED: this was the first deploy to this host, so there is no previous release" in run.output
    assert "Nothing was deleted" in run.output
    release = fleet.ssh("web1", "readlink /srv/fresh/current").strip()
    assert fleet.ssh("web1", f"cat /srv/fresh/{release}/REVISION").strip() != ""

    rollback = fleet.playbook("rollback.yml", "-e", "deploy_to=/srv/fresh", "-e", "deploy_service_name=fresh")
    assert rollback.rc == 2
    assert "nothing to roll back to on web1: no good release before the current one" in rollback.output


WORKER = {
    "deploy_health_url": "",
    "deploy_health_command": ["bin/rails", "runner", "ActiveRecord::Base.connection.execute(%q(SELECT 1))"],
}


def test_a_host_without_http_is_checked_by_its_command_and_reverted_when_it_fails(fleet, commits, on_v2):
    good = fleet.deploy("v1", "--limit", "web2", "-e", json.dumps(WORKER))
    assert good.rc == 0, good.output[-3000:]
    worker_release = fleet.current("web2")
    # The check command ran in the release, as the app user, and left its log.
    assert f"{worker_release}-verify.log" in fleet.ssh("web2", f"ls {DEPLOY_TO}/.deployctl/logs")
    assert fleet.records("web2")[worker_release]["commit"] == commits["v1"]

    broken = fleet.deploy("v2", "--limit", "web2", "-e", json.dumps({**WORKER, "deploy_health_command": ["false"]}))
    assert broken.rc == 2
    assert "verify: `false` exited 1" in broken.output
    assert f"REVERTED: current points at {worker_release} again and the app was restarted; it is not checked" in (
        broken.output
    )
    assert fleet.current("web2") == worker_release
    assert fleet.current("web1") == on_v2["web1"]
