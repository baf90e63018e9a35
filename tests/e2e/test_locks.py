"""The per-host deploy lock: one deploy at a time, a named holder, recoverable."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.conftest import DEPLOY_TO, INVENTORY, REPO_ROOT, VAULT_ID, awx_job
from tests.e2e.test_cli import ENV, deployctl
from tests.harness import targets

SLOW_BUILD = '{"deploy_build_command": ["sh", "-c", "sleep 6 && exec make deploy"]}'


def start_deploy(ref: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [targets.tool("ansible-playbook"), "playbooks/deploy.yml", "-i", str(INVENTORY), "--vault-id", VAULT_ID,
         "-e", f"deploy_ref={ref}", *args],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_of_two_deploys_started_at_once_exactly_one_proceeds(fleet, commits, on_v2):
    journal = {host: len(fleet.journal(host)) for host in fleet.hosts}
    first, second = start_deploy("v1", "-e", SLOW_BUILD), start_deploy("v1", "-e", SLOW_BUILD)
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    assert codes == [0, 2], outputs
    loser = outputs[[first.returncode, second.returncode].index(2)]
    assert "another deploy holds the lock on this host: " in loser
    assert "(ref v1, release " in loser
    assert "playbooks/unlock.yml" in loser
    for host in fleet.hosts:
        # The loser stopped at the lock: only the winner staged a release.
        events = [line["event"] for line in fleet.journal(host)[journal[host] :]]
        assert events.count("staged") == 1, events
        assert fleet.health(host)[1]["revision"] == commits["v1"]
        assert fleet.ssh(host, f"test -e {DEPLOY_TO}/.deployctl/lock || echo free").strip() == "free"


@pytest.fixture
def plant_lock(fleet) -> Iterator[Callable[[str, int], None]]:
    """Plants a lock left by a deploy from another controller; removes what is left of it after the test."""

    def plant(host: str, age: int) -> None:
        holder = {
            "token": "20260101T000000Z-4242", "user": "alice", "ref": "v9", "release": "20260101T000000Z",
            "controller": "alices-laptop", "pid": 4242, "started_at": "2026-01-01T00:00:00Z",
            "started_epoch": int(time.time()) - age,
        }  # fmt: skip
        fleet.ssh(host, f"cat > {DEPLOY_TO}/.deployctl/lock", stdin=json.dumps(holder))

    yield plant
    for host in fleet.hosts:
        fleet.ssh(
            host, f"grep -qs alices-laptop {DEPLOY_TO}/.deployctl/lock && rm -f {DEPLOY_TO}/.deployctl/lock; true"
        )


def test_a_held_lock_names_its_holder_and_unlock_needs_a_reason(fleet, on_v2, plant_lock):
    plant_lock("web1", 60)
    # A live deploy's lock (a minute old, another controller's): not one a deploy would take over.
    assert deployctl("status", ENV, "--json").hosts["web1"]["lock"]["stale"] is False
    blocked = fleet.deploy("v1")
    assert blocked.rc == 2
    assert "another deploy holds the lock on this host: alice since 2026-01-01T00:00:00Z" in blocked.output
    assert "controller alices-laptop, pid 4242" in blocked.output
    assert fleet.current("web1") == on_v2["web1"]

    no_reason = fleet.playbook("unlock.yml")
    assert no_reason.rc == 2
    assert "deploy_unlock_reason is not set: say why the lock is forced open" in no_reason.output

    opened = fleet.playbook("unlock.yml", "-e", json.dumps({"deploy_unlock_reason": "alice's laptop died mid-deploy"}))
    assert opened.rc == 0
    assert "removed the lock held by alice (ref v9, since 2026-01-01T00:00:00Z)" in opened.output
    forced = [e for e in fleet.journal("web1") if e["event"] == "lock_forced_open"][-1]
    assert forced["reason"] == "alice's laptop died mid-deploy"
    assert forced["holder"]["user"] == "alice"
    assert fleet.deploy("v2").rc == 0


def test_a_lock_older_than_its_ttl_is_taken_over(fleet, on_v2, plant_lock):
    plant_lock("web2", 7200)
    # What an operator looks at first: the holder, marked as a lock the next deploy takes over.
    status = deployctl("lock", "status", ENV, "-e", "deploy_lock_ttl=3600", "--json")
    assert status.rc == 0, status.out + status.err
    assert (status.hosts["web2"]["lock"]["user"], status.hosts["web2"]["lock"]["stale"]) == ("alice", True)
    assert status.hosts["web1"]["lock"] is None
    table = deployctl("lock", "status", ENV, "-e", "deploy_lock_ttl=3600")
    assert "alice, ref v9, since 2026-01-01 00:00:00 (stale: the next deploy takes it over)" in " ".join(
        table.out.split()
    )
    run = fleet.deploy("v1", "-e", "deploy_lock_ttl=3600")
    assert run.rc == 0, run.output[-3000:]
    taken = [e for e in fleet.journal("web2") if e["event"] == "lock_taken_over"][-1]
    assert taken["stale_holder"]["user"] == "alice"


def test_a_one_host_deploy_is_refused_at_its_only_lock_through_every_entry_point(fleet, on_v2, plant_lock, tmp_path):
    # A play of one host takes no separate first-host lock: the stage call's lock refuses,
    # with the same words, exit code and outcome as the two-host deploy above.
    plant_lock("web1", 60)
    journal = len(fleet.journal("web1"))

    playbook = fleet.deploy("v1", "--limit", "web1")
    assert playbook.rc == 2
    assert "another deploy holds the lock on this host: alice since 2026-01-01T00:00:00Z" in playbook.output
    # The stage says it all: no task name of the call that took the lock.
    assert "failed on web1 at stage lock: another deploy holds the lock" in " ".join(playbook.output.split())

    cli = deployctl("deploy", ENV, "--ref", "v1", "--limit", "web1")
    assert cli.rc == 3, cli.out + cli.err
    assert "another deploy holds the lock on this host: alice" in cli.out + cli.err

    job = awx_job(tmp_path, "playbooks/deploy.yml", {"deploy_ref": "v1"}, limit="web1")
    assert job.status == "failed"
    assert job.hosts["web1"]["outcome"] == "locked"
    assert "alice" in job.hosts["web1"]["message"]

    # Nothing was staged, the lock is still alice's and v2 keeps serving.
    assert [e["event"] for e in fleet.journal("web1")[journal:] if e["event"] == "staged"] == []
    assert "alices-laptop" in fleet.ssh("web1", f"cat {DEPLOY_TO}/.deployctl/lock")
    assert fleet.current("web1") == on_v2["web1"]
    assert fleet.health("web1")[1]["revision"] == fleet.ssh("web1", f"cat {DEPLOY_TO}/current/REVISION").strip()


def test_a_one_host_deploy_releases_its_lock(fleet, on_v2):
    run = fleet.deploy("v1", "--limit", "web1")
    assert run.rc == 0, run.output[-3000:]
    assert fleet.ssh("web1", f"test -e {DEPLOY_TO}/.deployctl/lock || echo free").strip() == "free"
