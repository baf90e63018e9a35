"""A deploy that dies half-way (kill -9, a dropped connection) needs no manual cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from tests.e2e.conftest import DEPLOY_TO
from tests.e2e.test_locks import start_deploy

SLOW_BUILD = '{"deploy_build_command": ["sh", "-c", "sleep 30 && exec make deploy"]}'


def wait_for_build(fleet, host: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if fleet.ssh(host, f"test -e {DEPLOY_TO}/.deployctl/running/build.json && echo yes || true").strip():
            return
        time.sleep(0.5)
    raise AssertionError(f"the build never started on {host}")


def assert_next_deploy_recovers(fleet, commits) -> None:
    run = fleet.deploy("v2")
    assert run.rc == 0, run.output[-3000:]
    for host in fleet.hosts:
        assert fleet.health(host)[1]["revision"] == commits["v2"]
        assert fleet.ssh(host, f"ls -a {DEPLOY_TO}/releases | grep -c '^.staging-' || true").strip() == "0"
        assert fleet.ssh(host, "pgrep -f 'sleep [3]0' || true").strip() == ""
    events = [e["event"] for e in fleet.journal("web1")]
    assert "lock_taken_over" in events
    assert "discarded_staging" in events


def test_kill_9_of_ansible_playbook_during_the_build(fleet, commits, on_v2):
    deploy = start_deploy("v1", "-e", SLOW_BUILD)
    wait_for_build(fleet, "web1")
    os.kill(deploy.pid, signal.SIGKILL)
    deploy.wait()
    assert deploy.returncode == -signal.SIGKILL
    # Left behind: the lock, the staging directory, the build still running, v2 still serving.
    assert fleet.ssh("web1", f"test -e {DEPLOY_TO}/.deployctl/lock && echo held").strip() == "held"
    assert fleet.current("web1") == on_v2["web1"]
    assert fleet.health("web1")[1]["revision"] == commits["v2"]

    assert_next_deploy_recovers(fleet, commits)
    assert "killed_leftover" in [e["event"] for e in fleet.journal("web1")]


def migrate_log_count(fleet, host: str) -> int:
    return int(fleet.ssh(host, f"ls {DEPLOY_TO}/.deployctl/logs 2>/dev/null | grep -c migrate || true").strip())


def test_a_host_lost_mid_build_stops_every_host_before_the_switch_and_the_migration(fleet, commits, on_v2):
    # Live: v1 everywhere, so that v2 brings a migration.
    assert fleet.deploy("v1").rc == 0
    live = {host: fleet.current(host) for host in fleet.hosts}
    migrate_logs = {host: migrate_log_count(fleet, host) for host in fleet.hosts}
    deploy = start_deploy("v2", "-e", SLOW_BUILD)
    wait_for_build(fleet, "web1")
    # Kill web1's SSH sessions (not the listening daemon): the connection drops mid-task.
    container = f"{fleet.hosts['web1']['harness_prefix']}-web1"
    subprocess.run(["podman", "exec", container, "pkill", "-9", "-f", "sshd: root"], check=False)
    output = deploy.communicate(timeout=600)[0]
    flat = " ".join(output.split())
    # ansible-playbook: 2 when a host failed (web2 stopped), whatever else was unreachable.
    assert deploy.returncode == 2, output[-4000:]
    assert "UNREACHABLE" in output
    # web2 built, but does not go on without web1: no switch, no migration from anywhere.
    assert "web1 did not finish building release" in flat
    assert "failed on web2 at stage build" in flat
    assert "Nothing live was changed: current still points at " + live["web2"] in flat
    for host in fleet.hosts:
        assert fleet.current(host) == live[host]
        assert fleet.health(host)[1]["revision"] == commits["v1"]
        assert migrate_log_count(fleet, host) == migrate_logs[host]
    assert "switched" not in [e["event"] for e in fleet.journal("web2")[-3:]]

    assert_next_deploy_recovers(fleet, commits)
