"""Rollback: one command back to the previous good release, never old code on a newer schema blindly."""

from __future__ import annotations

from tests.e2e.conftest import DEPLOY_TO, awx_job, serve
from tests.e2e.test_cli import ENV, deployctl
from tests.e2e.test_metrics import labels_of, written


def test_rollback_after_v2_refuses_the_older_schema_then_migrates_down_to_v1(fleet, commits, tmp_path):
    assert fleet.deploy("v1").rc == 0
    v1 = {host: fleet.current(host) for host in fleet.hosts}
    assert fleet.deploy("v2").rc == 0
    v2 = {host: fleet.current(host) for host in fleet.hosts}

    refused = fleet.playbook("rollback.yml")
    assert refused.rc == 2
    assert f"release {v1['web1']} was deployed with database schema 20240101000000, but" in refused.output
    assert "the database is at 20240201000000" in refused.output
    assert "-e deploy_rollback_migrate_down=true" in refused.output
    assert "Rollback refused on web1" in refused.output
    assert all(fleet.current(host) == v2[host] for host in fleet.hosts)

    # The same refusal as an AWX job sees it: failed, each host's result says bad input.
    job = awx_job(tmp_path, "playbooks/rollback.yml", {})
    assert job.status == "failed"
    for host in fleet.hosts:
        assert (job.hosts[host]["outcome"], job.hosts[host]["bad_input"]) == ("aborted", True)
        assert "would run on a newer schema" in job.hosts[host]["message"]
        assert fleet.current(host) == v2[host]

    # In batches (one host each): the down migrations run once, in the first batch, and their log stays.
    rolled = fleet.playbook("rollback.yml", "-e", "deploy_rollback_migrate_down=true", "-e", "deploy_serial=1")
    assert rolled.rc == 0, rolled.output[-3000:]
    down_log = fleet.ssh("web1", f"cat {DEPLOY_TO}/.deployctl/logs/{v2['web1']}-migrate-down.log")
    # (A second run, in the second batch, would find nothing to revert and write its empty log over this one.)
    assert "AddTitleToNotes: reverting" in down_log
    for host in fleet.hosts:
        assert fleet.current(host) == v1[host]
        status, body = fleet.health(host)
        assert (status, body["revision"], body["version"]) == (200, commits["v1"], "v1")
        records = fleet.records(host)
        assert records[v1[host]]["state"] == "active"
        assert records[v2[host]]["state"] == "rolled_back"
        # Both passed the health check of their deploy's switch: either can be rolled back to.
        assert (records[v1[host]]["verified"], records[v2[host]]["verified"]) == (True, True)
        # The host's deploy metrics count the rollback and label the release it runs now.
        metrics = written(fleet, host)
        last = labels_of(metrics, "deployctl_last_run_info")
        assert (last["action"], last["outcome"], last["release"]) == ("rollback", "rolled_back", v1[host])
        assert labels_of(metrics, "deployctl_release_info")["release"] == v1[host]
    assert fleet.schema_migrations("web1") == ["20240101000000"]

    # Back to v2: its migration is applied again.
    assert fleet.deploy("v2").rc == 0
    assert fleet.schema_migrations("web1") == ["20240101000000", "20240201000000"]


def test_rollback_to_a_named_release_and_refusal_of_a_failed_one(fleet, commits, on_v2):
    failed = fleet.deploy("v3-broken-build")
    assert failed.rc == 2
    assert "failed on web1 at stage build" in failed.output, failed.output[-3000:]
    [broken] = [
        r["id"] for r in fleet.records("web1").values() if r["ref"] == "v3-broken-build" and r["state"] == "failed"
    ]

    refused = fleet.playbook("rollback.yml", "-e", f"deploy_rollback_to={broken}")
    assert refused.rc == 2
    assert f"release {broken} cannot be rolled back to on web1: it is marked failed" in refused.output
    assert fleet.current("web1") == on_v2["web1"]


def test_a_rollback_refusal_offers_the_restore_only_when_a_dump_fits(fleet, commits):
    # v1 deployed again on v2's schema, then v2: its migrations had already run, so the dump taken
    # before them holds v2's schema, which fits no older release.
    for ref in ("v1", "v2", "v1", "v2"):
        assert fleet.deploy(ref).rc == 0
    live = {host: fleet.current(host) for host in fleet.hosts}

    refused = deployctl("rollback", ENV, "--json")
    assert refused.rc == 5, refused.out + refused.err
    message = " ".join(refused.hosts["web1"]["message"].split())
    assert "would run on a newer schema" in message
    assert "no dump of schema 20240101000000 to restore" in message
    assert "--restore-db" not in message and "deploy_rollback_migrate_down=true" in message
    # web2 names the dump where it is: on web1, the host that ran the migrations.
    for host in fleet.hosts:
        assert " on web1) holds schema 20240201000000" in " ".join(refused.hosts[host]["message"].split())

    restore = deployctl("rollback", ENV, "--restore-db", "--yes", "--json")
    assert restore.rc == 5, restore.out + restore.err
    words = " ".join(restore.hosts["web1"]["message"].split())
    assert "holds schema 20240201000000, but release" in words
    assert "the dump fits only a release of schema 20240201000000" in words
    for host in fleet.hosts:
        assert fleet.current(host) == live[host]
        assert fleet.health(host)[1]["revision"] == commits["v2"]


def test_a_rollback_that_would_split_the_fleet_is_refused_on_every_host_until_one_release_is_named(
    fleet, commits, tmp_path
):
    first = serve(fleet, commits, "v1")
    assert fleet.deploy("v2").rc == 0
    middle = fleet.current("web1")
    live = serve(fleet, commits, "v1")
    # An operator removed v2's release on web2 by hand: web2 alone would go back to v1, web1 to v2.
    fleet.ssh("web2", f"rm -rf {DEPLOY_TO}/releases/{middle}")
    v1, v2 = commits["v1"][:8], commits["v2"][:8]
    targets = f"(web1: {middle} (v2, commit {v2}); web2: {first['web2']} (v1, commit {v1}))"
    fix = f"-e deploy_rollback_to={first['web1']} (deployctl rollback ENV --to {first['web1']})"

    cli = deployctl("rollback", ENV)
    assert cli.rc == 5, cli.out + cli.err
    said = " ".join((cli.out + cli.err).split())
    for host in fleet.hosts:
        assert f"{host}: Rollback refused on {host} at " in said
    assert f"the hosts would roll back to different commits {targets}" in said
    # The CLI names the environment in the command it suggests.
    assert fix.replace("rollback ENV", f"rollback {ENV}") in said
    assert "exit 5: bad input on web1, web2 (the messages above say what to fix): nothing changed" in said

    played = fleet.playbook("rollback.yml")
    assert played.rc == 2
    assert "Rollback refused on web2" in played.output
    assert fix in " ".join(played.output.split())

    # In batches, the first batch reads the later ones' records too: web1 is refused before it changes.
    batched = deployctl("rollback", ENV, "--serial", "1", "--json")
    assert batched.rc == 5, batched.out + batched.err
    assert batched.hosts["web1"]["outcome"] == "aborted"
    assert targets in " ".join(batched.hosts["web1"]["message"].split())

    job = awx_job(tmp_path, "playbooks/rollback.yml", {})
    assert job.status == "failed"
    for host in fleet.hosts:
        assert (job.hosts[host]["outcome"], job.hosts[host]["bad_input"]) == ("aborted", True)
        assert "roll back to different commits" in job.hosts[host]["message"]
        assert fleet.current(host) == live[host]
        assert fleet.health(host)[1]["revision"] == commits["v1"]

    # The release the refusal names: every host goes to it.
    named = deployctl("rollback", ENV, "--to", first["web1"], "--json")
    assert named.rc == 0, named.out + named.err
    for host in fleet.hosts:
        assert fleet.current(host) == first[host]
        assert fleet.health(host)[1]["revision"] == commits["v1"]

    # A deploy to web1 alone splits the fleet: status says so (a warning, exit 0: each host is healthy).
    assert deployctl("deploy", ENV, "--ref", "v2", "--limit", "web1").rc == 0
    split = f"the hosts run different commits (web1: {v2} (v2); web2: {v1} (v1)): deploy one ref to every host"
    status = deployctl("status", ENV, password=False)
    assert status.rc == 0, status.out + status.err
    assert f"web1, web2: warning: {split} (deployctl deploy {ENV} --ref REF)" in " ".join(status.out.split())
    played = fleet.playbook("status.yml")
    assert played.rc == 0 and split in " ".join(played.output.split()), played.output[-3000:]
