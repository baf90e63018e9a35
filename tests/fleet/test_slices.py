"""Sliced jobs (AWX job slicing): three ansible-runner jobs deploy the four hosts at the same time.

Each slice is an AWX-like job (tests/e2e/conftest.py's awx_job) with its own inventory holding only its
hosts, as AWX gives a slice, and the same survey answers and awx_workflow_job_id; web1 is the coordinator
(and the migrate host), which the other slices reach through deploy_run_coordinator. Three slices, not two: when
the coordinator's slice fails, more than one slice is waiting before its switch, and each must stop; so the
coordinator's slice holds web1 and web2 (web2 is the one that fails), and web3 and web4 are a slice each.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.bench.deploy_speed import MIGRATE_DOWN
from tests.e2e.conftest import DEPLOY_TO, AwxJob, awx_job
from tests.fleet.conftest import INVENTORY, FleetHosts

pytestmark = pytest.mark.fleet

SLICES = {101: ["web1", "web2"], 102: ["web3"], 103: ["web4"]}
MIGRATIONS = ["20240101000000", "20240201000000"]
# web2's new release names a database host that does not exist: it boots and answers 503 (tests/fleet/test_fleet.py).
BROKEN_WEB2 = {
    "sample_db_host": "nowhere.fleet.internal",
    "deploy_health_deadline": 15,
    "deploy_candidate_check": False,
}


# Four pumas booting at once on a loaded machine can take longer than the default 60 s to answer.
PATIENT = {"deploy_candidate_deadline": 180}


def words(stdout: str) -> str:
    """A job's stdout as a user reads it: no colours, the callback's line wrapping undone."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", stdout).split())


def slice_inventory(dest: Path, hosts: list[str], host_vars: dict[str, dict] | None = None) -> Path:
    """The inventory AWX gives a job slice: the fleet's, with only this slice's hosts."""
    inventory = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    app = inventory["all"]["children"]["app"]
    app["hosts"] = {host: app["hosts"][host] for host in hosts}
    dest.mkdir(parents=True)
    (dest / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (dest / "group_vars").symlink_to((INVENTORY / "group_vars").resolve(), target_is_directory=True)
    (dest / "host_vars").mkdir()
    for host, variables in (host_vars or {}).items():
        (dest / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump(variables))
    return dest


def sliced_run(fleet: FleetHosts, tmp: Path, ref: str, host_vars: dict[str, dict] | None = None) -> dict[int, AwxJob]:
    """The three slices of one sliced job, started together; each slice's job by its AWX job ID."""
    survey = {
        "deploy_ref": ref,
        **PATIENT,
        "awx_workflow_job_id": int(time.time()),
        "deploy_run_coordinator": {"name": "web1", "host": "127.0.0.1", "port": fleet.hosts["web1"]["ansible_port"]},
    }

    def job(job_id: int) -> AwxJob:
        hosts = SLICES[job_id]
        inventory = slice_inventory(tmp / f"inventory-{job_id}", hosts, host_vars)
        return awx_job(
            tmp / f"job-{job_id}", "playbooks/deploy.yml", {**survey, "awx_job_id": job_id}, ",".join(hosts), inventory
        )

    started = time.monotonic()
    with ThreadPoolExecutor(len(SLICES)) as pool:
        jobs = dict(zip(SLICES, pool.map(job, SLICES), strict=True))
    sizes = ", ".join(str(len(hosts)) for hosts in SLICES.values())
    print(f"\nsliced deploy {ref} ({len(SLICES)} jobs of {sizes} hosts): {time.monotonic() - started:.1f}s")
    return jobs


def test_slices_share_one_release_and_one_migration_and_stop_before_their_switch_when_a_slice_fails(
    fleet, commits, tmp_path: Path
):
    setup = fleet.deploy("v1", "-e", f"deploy_candidate_deadline={PATIENT['deploy_candidate_deadline']}")
    assert setup.rc == 0, setup.output[-3000:]
    # v1's schema too (the fleet's earlier tests left v2's): the sliced v2 deploy brings its migration again.
    fleet.ssh("web1", MIGRATE_DOWN)
    assert fleet.schema_migrations("web1") == MIGRATIONS[:1]
    before = {host: fleet.current(host) for host in fleet.hosts}

    jobs = sliced_run(fleet, tmp_path / "v2", "v2")

    for job_id, job in jobs.items():
        assert (job.status, job.rc) == ("successful", 0), (job_id, job.stdout[-3000:])
    # One release ID on all four hosts, every one serving the new commit.
    releases = {host: fleet.current(host) for host in fleet.hosts}
    (release,) = set(releases.values())
    assert release not in before.values()
    for host in fleet.hosts:
        assert fleet.records(host)[release]["commit"] == commits["v2"], host
        status, answer = fleet.health(host)
        assert (status, answer.get("revision")) == (200, commits["v2"]), host
    # The migrations ran once, from the coordinator's slice: one host has the migrate log of the release.
    migrated_on = [
        h for h in fleet.hosts if f"{release}-migrate.log" in fleet.ssh(h, f"ls {DEPLOY_TO}/.deployctl/logs")
    ]
    assert migrated_on == ["web1"]
    assert fleet.schema_migrations("web1") == MIGRATIONS
    # The joined artifacts of the three jobs: every host's outcome, one run and one release.
    (run_id,) = {job.artifacts["deployctl"]["run_id"] for job in jobs.values()}
    assert run_id
    assert {job.artifacts["deployctl"]["release_id"] for job in jobs.values()} == {release}
    joined = {host: outcome for job in jobs.values() for host, outcome in job.hosts.items()}
    assert {host: (o["outcome"], o["release"], o["migrated"]) for host, o in joined.items()} == {
        # The migrate call's result is every host's of the batch that ran it: the coordinator's slice.
        host: ("deployed", release, host in SLICES[101])
        for host in fleet.hosts
    }

    # web2, in the coordinator's slice, fails its health check after its switch: the two other slices,
    # waiting before their switch for that slice's outcome, stop there.
    broken = sliced_run(fleet, tmp_path / "v1", "v1", {"web2": BROKEN_WEB2})

    after = {host: fleet.current(host) for host in fleet.hosts}
    new = after["web1"]
    assert new != release
    assert {host: after[host] for host in fleet.hosts if host != "web1"} == {
        h: release for h in fleet.hosts if h != "web1"
    }
    assert fleet.health("web1")[1].get("revision") == commits["v1"]
    for host in ["web2", "web3", "web4"]:
        assert fleet.health(host)[1].get("revision") == commits["v2"], host
    assert [(job.status, job.rc) for job in broken.values()] == [("failed", 2)] * 3, {
        job_id: job.stdout[-2000:] for job_id, job in broken.items()
    }
    assert broken[101].hosts["web2"]["outcome"] == "reverted"
    stop = "another slice failed before this slice switched, so no host of this slice switched: web2 (slice 101)"
    for job_id in (102, 103):
        said = words(broken[job_id].stdout)
        assert (
            f"sliced run {broken[job_id].artifacts['deployctl']['run_id']}: {stop} reverted at stage verify" in said
        ), said
        assert {o["outcome"] for o in broken[job_id].hosts.values()} == {"aborted"}
