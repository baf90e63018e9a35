"""A failure at every stage of a deploy, through every entry point a user has.

Each row injects one failure through an input or a variable, on two hosts serving v2, and
runs it as an operator (ansible-playbook), as the CLI (deployctl) and as an AWX job
(ansible-runner, set_stats). Each asserts what that user reads (exit code, the stage and
the real reason), what every host serves afterwards, the recorded release states, the
journal and that the deploy lock is free.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DEPLOY_TO, Fleet, awx_job
from tests.e2e.test_cli import ENV, deployctl, lock_state, plant_lock

Arrange = Callable[[Fleet], contextlib.AbstractContextManager[None]]


@contextlib.contextmanager
def nothing(_fleet: Fleet) -> Iterator[None]:
    yield


@contextlib.contextmanager
def lock_held_elsewhere(fleet: Fleet) -> Iterator[None]:
    plant_lock(fleet, "web1")
    try:
        yield
    finally:
        fleet.ssh("web1", f"rm -f {DEPLOY_TO}/.deployctl/lock")


@contextlib.contextmanager
def unit_path_blocked(fleet: Fleet) -> Iterator[None]:
    """The unit file's place is taken by a directory: the switch cannot install the unit."""
    for host in fleet.hosts:
        fleet.ssh(host, "mkdir -p /etc/systemd/system/sample-blocked.service")
    try:
        yield
    finally:
        for host in fleet.hosts:
            fleet.ssh(host, "rmdir /etc/systemd/system/sample-blocked.service")


@contextlib.contextmanager
def damaged_old_record(fleet: Fleet) -> Iterator[None]:
    """A release record the cleanup cannot read (a disk error, a hand edit)."""
    record = f"{DEPLOY_TO}/.deployctl/releases/20000101T000000Z.json"
    for host in fleet.hosts:
        fleet.ssh(host, f"mkdir -p {DEPLOY_TO}/releases/20000101T000000Z && echo '{{not json' > {record}")
    try:
        yield
    finally:
        for host in fleet.hosts:
            fleet.ssh(host, f"rm -rf {record} {DEPLOY_TO}/releases/20000101T000000Z")


@dataclass(frozen=True)
class Failure:
    stage: str
    ref: str
    extra: dict[str, Any]
    cli_exit: int  # the README's table
    outcome: str  # in --json and set_stats
    words: str  # the real reason, as the user reads it
    created: bool  # whether the run created a release (then recorded failed)
    serves: str = "v2"  # the tag every host serves afterwards
    arrange: Arrange = nothing
    playbook_rc: int = 2
    awx_status: str = "failed"
    extra_words: tuple[str, ...] = field(default_factory=tuple)


# The check starts right after the restart, in the same call: the deadline must cover the
# broken release's boot on a loaded machine, so that what it answers (500) is what is reported.
FAST_HEALTH = {"deploy_health_deadline": 15}
# Past the candidate check, which would stop these releases before the switch (stage "candidate",
# test_zero_downtime.py): the rows of the restart and the health check after the switch.
PAST_THE_CANDIDATE = {"deploy_candidate_check": False}
MATRIX = [
    Failure("preflight", "v1", {"deploy_keep_releases": 0}, 5, "invalid",
            "deploy_keep_releases (0) must be at least 1", created=False),
    # Ansible's own error names the variable only: the preflight names the setting that uses it.
    Failure("preflight", "v1", {"deploy_migrate": "{{ nosuch_var }}"}, 5, "invalid",
            "deploy_migrate: its value uses a variable that is not set ('nosuch_var' is undefined)", created=False),
    Failure("lock", "v1", {}, 3, "locked", "another deploy holds the lock on", created=False,
            arrange=lock_held_elsewhere),
    # Refused by the fetch call before it runs anything: bad input (exit 5), reported at stage setup.
    Failure("setup", "v1", {"deploy_app_user": "bad:user"}, 5, "aborted", "bad:user", created=False),
    Failure("fetch", "no-such-ref", {}, 5, "aborted",
            "ref 'no-such-ref' is not a branch, tag or commit", created=False),
    # deploy_allowed_refs: v1 is on main and tag v1, neither of which it allows.
    Failure("fetch", "v1", {"deploy_allowed_refs": ["release/*"]}, 5, "aborted",
            "may not be deployed to this environment: deploy_allowed_refs is ['release/*']", created=False),
    Failure("build", "v3-broken-build", {}, 1, "aborted",
            "expected file app/models/misnamed.rb to define constant Misnamed", created=True),
    # The app's tests (deploy_test_command) fail in the new release: nothing live changes.
    Failure("test", "v1", {"deploy_test_command": ["sh", "-c", "echo '2 runs, 1 failures'; exit 1"]}, 1, "aborted",
            "2 runs, 1 failures", created=True),
    # The dump before the migrations cannot be taken: nothing is migrated, nothing switched.
    Failure("backup", "v3-broken-migration", {"deploy_db_backup_command": ["/usr/bin/no-such-pg_dump"]}, 1,
            "aborted", "cannot run `/usr/bin/no-such-pg_dump`: No such file or directory", created=True),
    Failure("migrate", "v3-broken-migration", {}, 1, "aborted",
            'relation "table_that_does_not_exist" does not exist', created=True),
    Failure("switch", "v1", {"deploy_service_name": "sample-blocked"}, 1, "aborted",
            "/etc/systemd/system/sample-blocked.service", created=True, arrange=unit_path_blocked),
    # A unit systemd refuses: the revert brings back the unit that served v2 with it.
    Failure("restart", "v1", {"deploy_service_exec_start": "bin/no-such-server", **PAST_THE_CANDIDATE}, 1, "reverted",
            "sample.service", created=True, extra_words=("REVERTED: current points at",)),
    Failure("verify", "v3-unhealthy", {**FAST_HEALTH, **PAST_THE_CANDIDATE}, 1, "reverted", "status 500, expected 200",
            created=True, extra_words=("REVERTED: current points at",)),
    # The new release is live and healthy: a failed cleanup warns, it does not revert.
    Failure("cleanup", "v1", {}, 0, "deployed", "cleanup failed, old releases were kept", created=False,
            serves="v1", arrange=damaged_old_record, playbook_rc=0, awx_status="successful"),
]  # fmt: skip


# The stage, and what else tells two rows of one stage apart.
PARTICULAR = {"deploy_allowed_refs": "-allowed-refs", "deploy_migrate": "-unset-variable"}
IDS = [case.stage + "".join(PARTICULAR.get(name, "") for name in case.extra) for case in MATRIX]


@pytest.fixture(scope="module")
def awx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("awx")


def flat(text: str) -> str:
    return " ".join(text.split())


def snapshot(fleet: Fleet) -> dict[str, dict[str, Any]]:
    return {
        host: {"current": fleet.current(host), "records": fleet.records(host), "journal": len(fleet.journal(host))}
        for host in fleet.hosts
    }


def check_hosts(fleet: Fleet, case: Failure, before: dict[str, dict[str, Any]], commits: dict[str, str]) -> None:
    """What every host serves, its release records, its journal and its lock, after the run."""
    for host, was in before.items():
        status, body = fleet.health(host)
        assert (status, body.get("revision")) == (200, commits[case.serves]), host
        if case.serves == "v2":
            assert fleet.current(host) == was["current"], host
        records = fleet.records(host)
        new = {rid: r for rid, r in records.items() if rid not in was["records"]}
        journal = fleet.journal(host)[was["journal"] :]
        if case.created and case.outcome != "deployed":
            assert [r["state"] for r in new.values()] == ["failed"], (host, new)
            assert next(iter(new.values()))["reason"].startswith(f"{case.stage}:")
            assert "failed" in [line["event"] for line in journal], journal
        elif case.outcome != "deployed":
            # Nothing was created, and no older release was marked failed by this run.
            assert new == {}, (host, new)
            assert {rid: r["state"] for rid, r in records.items()} == {
                rid: r["state"] for rid, r in was["records"].items()
            }
        if case.stage != "lock":
            assert lock_state(fleet, host) == "free"
    if case.stage == "restart":
        for host in fleet.hosts:
            assert "no-such-server" not in fleet.ssh(host, "cat /etc/systemd/system/sample.service")


@pytest.mark.parametrize("case", MATRIX, ids=IDS)
def test_a_failure_at_each_stage_through_ansible_playbook(fleet, commits, on_v2, case: Failure) -> None:
    before = snapshot(fleet)
    with case.arrange(fleet):
        run = fleet.deploy(case.ref, "-e", json.dumps(case.extra))
        if case.stage == "lock":
            assert lock_state(fleet, "web1") == "held"
    assert run.rc == case.playbook_rc, run.output[-4000:]
    text = flat(run.output)
    assert flat(case.words) in text
    for words in case.extra_words:
        assert words in text
    assert "DEPLOY SUMMARY" in text
    if case.stage not in ("preflight", "lock", "cleanup"):
        assert f"failed on web1 at stage {case.stage}" in text
        # The release ID is named only when the run created that release.
        told = re.search(rf"Deploy of {re.escape(case.ref)} (\(release \w+\) )?failed on web1 at stage", text)
        assert told and bool(told.group(1)) == case.created, text[-4000:]
    assert "Traceback" not in run.output
    assert "has no attribute" not in run.output
    check_hosts(fleet, case, before, commits)


@pytest.mark.parametrize("case", MATRIX, ids=IDS)
def test_a_failure_at_each_stage_through_the_cli(fleet, commits, on_v2, case: Failure) -> None:
    before = snapshot(fleet)
    with case.arrange(fleet):
        run = deployctl("deploy", ENV, "--ref", case.ref, "-e", json.dumps(case.extra))
    assert run.rc == case.cli_exit, run.out + run.err
    said = flat(run.out + run.err)
    assert flat(case.words) in said
    assert f"exit {case.cli_exit}: " in said
    assert "Traceback" not in run.err
    if case.stage == "migrate":
        # The migrate call's output reaches both hosts (a run_once call): told once, web2's points at web1's.
        assert said.count("Tasks: TOP => db:migrate") == 1, said
        assert "lines as web1's, above)" in said
    check_hosts(fleet, case, before, commits)

    # What --json would print: the results the run published, kept in its artifacts.
    artifacts = Path(run.out.rsplit("full log: ", 1)[1].split()[0]).parent
    events = [json.loads(path.read_text()) for path in (artifacts / "job_events").iterdir()]
    [stats] = [event for event in events if event["event"] == "playbook_on_stats"]
    published = (stats["event_data"]["artifact_data"].get("deployctl") or {}).get("hosts") or {}
    assert set(published) == set(fleet.hosts), published
    for host, result in published.items():
        assert result["outcome"] == case.outcome, (host, result)
        # A release is named only where it exists: never one that this run did not create (an unknown ref).
        assert bool(result.get("release")) == (case.created or case.outcome == "deployed"), (host, result)
        if case.outcome not in ("deployed", "locked"):
            assert result["stage"] == case.stage, (host, result)
        assert flat(case.words) in flat(f"{result.get('message', '')} {result.get('warning', '')}"), (host, result)


@pytest.mark.parametrize("case", MATRIX, ids=IDS)
def test_a_failure_at_each_stage_through_an_awx_job(fleet, commits, on_v2, awx_dir, case: Failure) -> None:
    before = snapshot(fleet)
    with case.arrange(fleet):
        job = awx_job(awx_dir, "playbooks/deploy.yml", {"deploy_ref": case.ref, **case.extra})
    assert (job.status, job.rc) == (case.awx_status, case.playbook_rc), job.stdout[-4000:]
    assert set(job.hosts) == {"web1", "web2"}, job.artifacts
    for host, result in job.hosts.items():
        assert result["outcome"] == case.outcome, (host, result)
        assert bool(result.get("release")) == (case.created or case.outcome == "deployed"), (host, result)
        said = flat(str(result.get("message", "")) + " " + str(result.get("warning", "")))
        assert flat(case.words) in said, (host, result)
        if "current" in result and case.serves == "v2" and case.stage != "lock":
            # What serves on, also when the fetch stopped early (an unknown ref): never "no release". (Another
            # deploy's lock stops every host before any of them is read: their `current` is unknown, "".)
            assert result["current"] == before[host]["current"], (host, result)
    check_hosts(fleet, case, before, commits)


# A redeploy of the live v2 to one host: the fetch's call finds the commit live and does the switch's work for it
# (one call, no switch task). Its check expects 201 from an app that answers 200.
LIVE_CHECK_FAILS = Failure("verify", "v2", {"deploy_health_status": [201], "deploy_health_deadline": 2}, 1, "aborted",
                           "status 200, expected 201", created=False)  # fmt: skip


def test_a_redeploy_whose_live_release_fails_its_check_through_every_entry_point(
    fleet, commits, on_v2, awx_dir
) -> None:
    """Stage verify, the check's words, exit codes of each entry point; v2 keeps serving, nothing is recorded
    failed, the lock is free (the failed call did not release it: the role's unlock did)."""
    case, extra = LIVE_CHECK_FAILS, json.dumps(LIVE_CHECK_FAILS.extra)
    before = snapshot(fleet)
    # Its unit edited on the host: the call puts it back and restarts the app (a change, but no switch), then the
    # check fails. current already names the release to serve: there is nothing to go back to, and no revert.
    unit = "/etc/systemd/system/sample.service"
    fleet.ssh("web1", f"sed -i 's/^RestartSec=.*/RestartSec=7/' {unit} && systemctl daemon-reload")
    assert "RestartSec=7" in fleet.ssh("web1", f"cat {unit}")

    run = fleet.deploy(case.ref, "-e", extra, "--limit", "web1")
    assert run.rc == case.playbook_rc, run.output[-4000:]
    text = flat(run.output)
    # The fetch's call failed at the check: the switch's own task was never reached, and the failure names the switch.
    told = "failed on web1 at stage verify (Switch: the live release, in the fetch call (its commit was live already))"
    assert told in text and flat(case.words) in text, text[-4000:]
    assert "Switch: point current" not in text and "NOT REVERTED" not in text and "REVERT" not in text
    assert "RestartSec=7" not in fleet.ssh("web1", f"cat {unit}")
    check_hosts(fleet, case, before, commits)

    cli = deployctl("deploy", ENV, "--ref", case.ref, "--limit", "web1", "-e", extra)
    assert cli.rc == case.cli_exit, cli.out + cli.err
    said = flat(cli.out + cli.err)
    assert flat(case.words) in said and f"exit {case.cli_exit}: " in said and "verify" in said, said
    check_hosts(fleet, case, before, commits)

    job = awx_job(awx_dir, "playbooks/deploy.yml", {"deploy_ref": case.ref, **case.extra}, limit="web1")
    assert (job.status, job.rc) == (case.awx_status, case.playbook_rc), job.stdout[-4000:]
    web1 = job.hosts["web1"]
    assert (web1["outcome"], web1["stage"], web1["current"]) == (case.outcome, "verify", before["web1"]["current"])
    assert flat(case.words) in flat(web1["message"]), web1
    check_hosts(fleet, case, before, commits)


def test_a_partial_run_is_refused_through_every_entry_point(fleet, commits, on_v2, awx_dir) -> None:
    """A deploy's report, revert and hooks belong to no stage (playbooks/tasks/whole_run.yml): a --tags
    selection, even of every stage, would switch without the restart, the check or the revert."""
    before = snapshot(fleet)
    every_stage = "preflight,lock,fetch,build,migrate,switch"
    played = fleet.deploy("v1", "--tags", every_stage)
    assert played.rc == 2, played.output[-3000:]
    assert (
        "--tags build,fetch,lock,migrate,preflight,switch would run only the tasks of those stages, but a deploy "
        "runs every stage: its report, its revert on failure and its hooks belong to none of them"
    ) in flat(played.output)
    # --skip-tags always skips every task tagged always, the refusal's own too: an untagged one catches it.
    unguarded = fleet.deploy("v1", "--skip-tags", "always")
    assert unguarded.rc == 2, unguarded.output[-3000:]
    assert "--skip-tags always would leave out what a deploy needs (always)" in flat(unguarded.output)
    # The summary reports every host, as the role's report does for a rejected input.
    for host in fleet.hosts:
        assert re.search(rf"^  {host} +invalid +untouched: the input was rejected", unguarded.output, re.M), (
            unguarded.output[-3000:]
        )
    rolled = fleet.playbook("rollback.yml", "--skip-tags", "notify,untagged")
    assert rolled.rc == 2, rolled.output[-3000:]
    assert (
        "--skip-tags notify,untagged would leave out what a rollback needs (untagged). Leave out only optional "
        "stages: --skip-tags notify"
    ) in flat(rolled.output)

    cli = deployctl("deploy", ENV, "--ref", "v1", "--skip-tags", "verify,migrate")
    assert cli.rc == 5, cli.out + cli.err
    said = flat(cli.out + cli.err)
    assert (
        "--skip-tags migrate,verify would leave out what a deploy needs (migrate). Leave out only optional stages: "
        "--skip-tags verify,cleanup,notify"
    ) in said
    assert "exit 5: bad input" in said
    # Skipping the tagged refusal (always, tagged) or its untagged copy too (always,untagged) meets another copy,
    # per host: every host is reported as refused input, none left out.
    for command, skipped in (
        (("deploy", ENV, "--ref", "v1"), "always"),
        (("rollback", ENV), "always"),
        (("deploy", ENV, "--ref", "v1"), "tagged"),
        (("deploy", ENV, "--ref", "v1"), "untagged,always"),
    ):
        refused = deployctl(*command, "--skip-tags", skipped, "--json")
        assert refused.rc == 5, refused.out + refused.err
        assert {host: result["outcome"] for host, result in refused.hosts.items()} == dict.fromkeys(
            fleet.hosts, "invalid"
        ), refused.out
        needs = ", ".join(sorted(skipped.split(",")))
        for result in refused.hosts.values():
            assert f"would leave out what a {command[0]} needs ({needs})" in flat(result["message"])

    job = awx_job(awx_dir, "playbooks/deploy.yml", {"deploy_ref": "v1"}, job_tags="switch")
    assert (job.status, job.rc) == ("failed", 2), job.stdout[-3000:]
    assert "--tags switch would run only the tasks of those stages" in flat(job.stdout)
    assert "Run it without --tags (in AWX, with empty Job Tags)" in flat(job.stdout)
    # What an AWX workflow reads (set_stats): every host refused, with the words.
    assert {host: (result["outcome"], result["stage"]) for host, result in job.hosts.items()} == dict.fromkeys(
        fleet.hosts, ("invalid", "preflight")
    ), job.artifacts
    for result in job.hosts.values():
        assert "--tags switch would run only the tasks of those stages" in flat(result["message"])
    # Batch sizes that are none: Ansible would run every host at once (0) or crash on the survey's text.
    zero = deployctl("deploy", ENV, "--ref", "v1", "--serial", "0,50%", "--json")
    assert zero.rc == 5, zero.out + zero.err
    for result in zero.hosts.values():
        assert (result["outcome"], result["stage"]) == ("invalid", "preflight"), zero.out
        assert (
            "deploy_serial 0,50%: 0 is not a batch size: a batch is a number of hosts (1 or more)" in result["message"]
        )
    survey = awx_job(awx_dir, "playbooks/rollback.yml", {"deploy_serial": "1,150%"})
    assert (survey.status, survey.rc) == ("failed", 2), survey.stdout[-3000:]
    assert "deploy_serial 1,150%: 150% is not a batch size" in flat(survey.stdout)
    assert {host: result["outcome"] for host, result in survey.hosts.items()} == dict.fromkeys(
        fleet.hosts, "invalid"
    ), survey.artifacts

    # No host touched: nothing recorded, no journal line, every host serving v2 with its lock free.
    assert snapshot(fleet) == before
    for host in fleet.hosts:
        assert fleet.health(host)[1].get("revision") == commits["v2"]
        assert lock_state(fleet, host) == "free"


def test_a_misspelt_setting_is_refused_through_every_entry_point(fleet, commits, on_v2, awx_dir) -> None:
    """A setting misspelt would be ignored and its default used: no health check at the URL meant, the rollback's
    schema guard refusing for want of the option given."""
    before = snapshot(fleet)
    played = fleet.deploy("v1", "-e", "deploy_helth_url=http://127.0.0.1:3000/up")
    assert played.rc == 2, played.output[-3000:]
    assert "deploy_helth_url is no setting of deployctl: did you mean deploy_health_url?" in flat(played.output)

    cli = deployctl("deploy", ENV, "--ref", "v1", "-e", "deploy_keep_release=2")
    assert cli.rc == 5, cli.out + cli.err
    said = flat(cli.out + cli.err)
    assert "deploy_keep_release is no setting of deployctl: did you mean deploy_keep_releases?" in said
    assert "exit 5: bad input on web1, web2" in said

    rolled = deployctl("rollback", ENV, "-e", "deploy_rollback_migrate_dwn=true")
    assert rolled.rc == 5, rolled.out + rolled.err
    assert "did you mean deploy_rollback_migrate_down?" in flat(rolled.out + rolled.err)

    job = awx_job(awx_dir, "playbooks/rollback.yml", {"deploy_rollback_migrate_dwn": True})
    assert job.status == "failed", job.stdout[-3000:]
    for host in fleet.hosts:
        assert (job.hosts[host]["outcome"], job.hosts[host]["bad_input"]) == ("aborted", True)
        assert "did you mean deploy_rollback_migrate_down?" in job.hosts[host]["message"]
    for host, was in before.items():
        assert fleet.current(host) == was["current"]
        assert fleet.health(host)[1]["revision"] == commits["v2"]
    # No lock was left behind: the next deploy runs.
    assert fleet.deploy("v2").rc == 0


def test_skip_tags_cleanup_keeps_the_old_releases(fleet, commits, on_v2) -> None:
    # With nothing to run after the switch, the switch's call cleans up: it must honour --skip-tags cleanup too.
    kept = {host: set(fleet.ssh(host, f"ls {DEPLOY_TO}/releases").split()) for host in fleet.hosts}
    run = deployctl("deploy", ENV, "--ref", "v1", "-e", "deploy_keep_releases=1", "--skip-tags", "cleanup")
    assert run.rc == 0, run.out + run.err
    for host, releases in kept.items():
        assert fleet.health(host)[1].get("revision") == commits["v1"]
        assert releases < set(fleet.ssh(host, f"ls {DEPLOY_TO}/releases").split()), host


def test_a_batch_never_started_is_listed_untouched_by_the_cli(fleet, commits, on_v2) -> None:
    # web1's batch fails its build and stops the rollout: web2's batch never starts. It has no event of its own,
    # but the CLI lists it (the playbook's play_hosts), as the summary callback does.
    run = deployctl("deploy", ENV, "--ref", "v3-broken-build", "--serial", "1", "--json")
    assert run.rc == 1, run.out + run.err
    assert {host: result["outcome"] for host, result in run.hosts.items()} == {"web1": "aborted", "web2": "untouched"}
    assert "an earlier batch failed, so this one was not started" in run.hosts["web2"]["message"]
    assert fleet.health("web2")[1].get("revision") == commits["v2"]
