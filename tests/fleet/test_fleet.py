"""Rolling deploys to a fleet of four hosts: one release for all, one migration, a failed batch stops the rollout."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import DEPLOY_TO, Run
from tests.fleet.conftest import FleetHosts, inventory_with_host_vars

pytestmark = pytest.mark.fleet

ROLLING = ("-e", '{"deploy_serial": [1, "50%"]}')
# What serial [1, "50%"] makes of four hosts: a canary, then half of the four, then the rest.
BATCHES = [["web1"], ["web2", "web3"], ["web4"]]
MIGRATIONS = ["20240101000000", "20240201000000"]

# web3's new release gets a config naming a database host that does not exist: the app
# boots, and its health route answers 503 (it checks the database). Its previous release
# keeps the config it was deployed with, so going back to it gives a healthy app again.
# The deadline fails web3 fast; it also bounds the check of the restored release.
BROKEN_WEB3 = """\
---
sample_db_host: nowhere.fleet.internal
deploy_health_deadline: 15
# The candidate check would catch the 503 before the switch: this host tests the revert after it.
deploy_candidate_check: false
"""


@dataclass
class HostState:
    current: str
    records: dict[str, dict]
    journal: list[dict]
    logs: list[str]
    health: tuple[int | None, dict]


def host_state(fleet: FleetHosts, host: str) -> HostState:
    return HostState(
        current=fleet.current(host),
        records=fleet.records(host),
        journal=fleet.journal(host),
        logs=fleet.ssh(host, f"ls {DEPLOY_TO}/.deployctl/logs").split(),
        health=fleet.health(host),
    )


def fleet_state(fleet: FleetHosts) -> dict[str, HostState]:
    return {host: host_state(fleet, host) for host in fleet.hosts}


def batches(output: str) -> list[list[str]]:
    """The serial batches as the output shows them: the role is included once per batch (its hosts listed in
    the order they reached the include, which varies: sorted here)."""
    return [sorted(m.split(", ")) for m in re.findall(r"^included: deployctl\.core\.deploy for (.+)$", output, re.M)]


def release_lines(output: str) -> list[str]:
    """The lines of the output that name a release."""
    return [line for line in output.splitlines() if re.search(r"\b\d{8}T\d{6}Z\b", line)]


@dataclass
class Rollout:
    run: Run
    after: dict[str, HostState]
    migrate_log: str


@pytest.fixture(scope="module")
def rolling_v2(fleet: FleetHosts) -> Rollout:
    """Every host on v1, then v2 rolled out canary first; the hosts as the rollout left them."""
    first = fleet.deploy("v1")
    assert first.rc == 0, first.output[-3000:]
    run = fleet.deploy("v2", *ROLLING)
    after = fleet_state(fleet)
    logs = [f"{DEPLOY_TO}/.deployctl/logs/{name}" for name in after["web1"].logs if name.endswith("-migrate.log")]
    return Rollout(run, after, fleet.ssh("web1", f"cat {max(logs)}") if logs else "")


def test_rolling_deploy_puts_every_host_on_the_new_release_and_migrates_once(fleet, commits, rolling_v2):
    run, after = rolling_v2.run, rolling_v2.after
    assert run.rc == 0, run.output[-3000:]
    assert batches(run.output) == BATCHES

    releases = {state.current for state in after.values()}
    assert len(releases) == 1, {host: state.current for host, state in after.items()}
    (release,) = releases
    for host, state in after.items():
        record = state.records[release]
        assert (record["state"], record["ref"], record["commit"]) == ("active", "v2", commits["v2"]), host
        assert fleet.ssh(host, f"cat {DEPLOY_TO}/current/REVISION").strip() == commits["v2"]
        status, answer = state.health
        assert (status, answer.get("revision"), answer.get("version")) == (200, commits["v2"], "v2"), host

    # Once per deploy, not once per batch: on the canary, and never again for the later batches.
    assert [host for host, state in after.items() if f"{release}-migrate.log" in state.logs] == ["web1"]
    # Its log is that run's: a later run in the same release would have replaced it.
    assert "== 20240201000000 AddTitleToNotes: migrated" in rolling_v2.migrate_log, rolling_v2.migrate_log
    assert fleet.schema_migrations("web1") == MIGRATIONS


def test_a_host_failing_its_health_check_in_the_second_batch_is_reverted_and_stops_the_rollout(
    fleet, commits, tmp_path: Path
):
    setup = fleet.deploy("v1")
    assert setup.rc == 0, setup.output[-3000:]
    before = fleet_state(fleet)
    sabotaged = FleetHosts(inventory_with_host_vars(tmp_path / "inventory", "web3", BROKEN_WEB3), "web3 broken")
    # After the batch that stops the rollout: every host's outcome, the batch never started included.
    told = tmp_path / "told"
    after_run = {"deploy_local_after": [["sh", "-c", f'echo "$DEPLOYCTL_OUTCOME $DEPLOYCTL_HOST_OUTCOMES" > {told}']]}

    run = sabotaged.deploy("v2", *ROLLING, "-e", json.dumps(after_run))
    after = fleet_state(fleet)
    print("what the output says about releases:", *release_lines(run.output), sep="\n  ")

    assert run.rc == 2, run.output[-3000:]
    release = after["web1"].current
    assert release not in before["web1"].records

    # The canary's batch and the healthy host of the second batch run the new release.
    for host in ["web1", "web2"]:
        record = after[host].records[release]
        assert (after[host].current, record["state"], record["commit"]) == (release, "active", commits["v2"]), host
        status, answer = after[host].health
        assert (status, answer.get("revision")) == (200, commits["v2"]), host

    # web3 went back to what it served before, and says why its new release is not live.
    web3 = after["web3"]
    assert web3.current == before["web3"].current
    assert web3.records[release]["state"] == "failed"
    assert web3.records[release]["reason"].startswith("verify:"), web3.records[release]
    status, answer = web3.health
    assert (status, answer.get("revision")) == (200, commits["v1"])

    # The third batch was never started: not a record, not a journal line, still on v1.
    for host in BATCHES[2]:
        assert after[host].current == before[host].current, host
        assert after[host].records == before[host].records, host
        assert after[host].journal == before[host].journal, host
        status, answer = after[host].health
        assert (status, answer.get("revision")) == (200, commits["v1"]), host
        assert f"[{host}]" not in run.output, host
    # Part-way: not every host serves what it served before (web1 and web2 run the new release).
    assert told.read_text().strip() == "failed web1=deployed,web2=deployed,web3=reverted,web4=untouched"

    for host in fleet.hosts:
        assert fleet.ssh(host, f"test -e {DEPLOY_TO}/.deployctl/lock && echo held || echo free").strip() == "free"

    # What the operator reads.
    assert batches(run.output) == BATCHES[:2]
    assert f"Deploy of v2 (release {release}) failed on web3 at stage verify" in run.output
    assert "ActiveRecord::ConnectionNotEstablished" in run.output
    assert (
        f"REVERTED: current points at {before['web3'].current} again and the app was restarted; it answers 200"
        in run.output
    )
    assert f"Release {release} is marked failed and kept in {DEPLOY_TO}/releases for inspection." in run.output
    # The summary at the end says which host runs which release.
    summary = run.output[run.output.index("DEPLOY SUMMARY: v2 as release " + release) :]
    for host in ["web1", "web2"]:
        assert re.search(rf"^  {host} +deployed +runs {release} ", summary, re.M), summary
    assert re.search(
        rf"^  web3 +reverted +runs {before['web3'].current} again: release {release} failed at stage verify",
        summary,
        re.M,
    ), summary
    for host in BATCHES[2]:
        assert re.search(rf"^  {host} +untouched: not reached", summary, re.M), summary


def test_every_host_and_every_batch_gets_the_same_release_id_unasked(rolling_v2):
    run, after = rolling_v2.run, rolling_v2.after
    assert run.rc == 0, run.output[-3000:]
    assert not any("deploy_release_id" in arg for arg in ROLLING)

    (release,) = {state.current for state in after.values()}
    staged = {}
    for host, state in after.items():
        (event,) = [e for e in state.journal if e["event"] == "staged" and e["ref"] == "v2"]
        assert event["release"] == release, host
        staged[host] = datetime.fromisoformat(event["time"])

    # The later batches staged seconds after the first one's time: a fresh ID there would differ.
    started = datetime.strptime(release, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    for host in BATCHES[2]:
        assert staged[host] - started >= timedelta(seconds=2), (host, staged[host], release)
