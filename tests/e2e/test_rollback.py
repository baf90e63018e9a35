"""Rollback: one command back to the previous good release, never old code on a newer schema blindly."""

from __future__ import annotations

from tests.e2e.conftest import awx_job
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

    rolled = fleet.playbook("rollback.yml", "-e", "deploy_rollback_migrate_down=true")
    assert rolled.rc == 0, rolled.output[-3000:]
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

    restore = deployctl("rollback", ENV, "--restore-db", "--yes", "--json")
    assert restore.rc == 5, restore.out + restore.err
    words = " ".join(restore.hosts["web1"]["message"].split())
    assert "holds schema 20240201000000, but release" in words
    assert "the dump fits only a release of schema 20240201000000" in words
    for host in fleet.hosts:
        assert fleet.current(host) == live[host]
        assert fleet.health(host)[1]["revision"] == commits["v2"]
