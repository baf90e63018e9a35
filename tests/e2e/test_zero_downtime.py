"""Deploys that drop no request: socket activation and the candidate check before the switch.

A poller hits every host's app port at about 20 requests/s throughout each deploy, each time
on a new connection, as arriving users do: not one request may be refused, reset, time out or
get a 5xx, and the revision served changes exactly once per switch (never to a bad release's).
"""

from __future__ import annotations

from tests.e2e.conftest import DEPLOY_TO
from tests.e2e.poller import polling

# The bad releases fail fast: a persisting 5xx ends the candidate's check after 3 s.
FAST = ("-e", "deploy_health_fail_after=3")


def pollers(fleet):
    return polling({host: f"http://127.0.0.1:{fleet.http_port(host)}/up" for host in fleet.hosts})


def report(what: str, polled: dict) -> None:
    for host, poller in polled.items():
        print(f"\n{what} on {host}: {poller.summary()}; served {poller.served()}")


def test_a_deploy_and_a_rollback_drop_no_request(fleet, commits):
    listening = {host: fleet.ssh(host, "systemctl is-active sample.socket || true").strip() for host in fleet.hosts}
    first = fleet.deploy("v1")
    assert first.rc == 0, first.output[-3000:]
    if "active" not in listening.values():
        # A host that ran the app without the socket: moved to it once, with a short gap, and told.
        assert "sample.socket now owns the app's port (socket activation)" in first.output
        assert "a short gap this once" in first.output
    for host in fleet.hosts:
        assert fleet.ssh(host, "systemctl is-active sample.socket sample.service").split() == ["active", "active"]
        assert "StartLimitIntervalSec=0" in fleet.ssh(host, "cat /etc/systemd/system/sample.service")
        assert "ListenStream=0.0.0.0:3000" in fleet.ssh(host, "cat /etc/systemd/system/sample.socket")

    with pollers(fleet) as deploy:
        run = fleet.deploy("v2")
    report("deploy v1 -> v2", deploy)
    assert run.rc == 0, run.output[-3000:]
    for host, poller in deploy.items():
        assert poller.failed() == {}, host
        assert poller.served() == [commits["v1"], commits["v2"]], host
        # Its candidate booted once: started by the build's call (a head start, while the migrations ran) and
        # checked by the switch's, which started no other.
        started = fleet.ssh(host, "journalctl -u sample-candidate -o cat | grep '^Started ' || true")
        assert started.count(f"deployctl candidate of release {fleet.current(host)}") == 1, started

    with pollers(fleet) as rollback:
        rolled = fleet.playbook("rollback.yml", "-e", "deploy_rollback_migrate_down=true")
    report("rollback v2 -> v1", rollback)
    assert rolled.rc == 0, rolled.output[-3000:]
    for host, poller in rollback.items():
        assert poller.failed() == {}, host
        assert poller.served() == [commits["v2"], commits["v1"]], host
        assert fleet.health(host)[1]["revision"] == commits["v1"]


def test_a_bad_release_never_takes_traffic(fleet, commits, on_v2):
    for ref, evidence in [
        ("v3-unhealthy", "status 500, expected 200; answered 5xx for"),
        ("v3-crash", "deliberately crashing at boot"),
    ]:
        with pollers(fleet) as polled:
            run = fleet.deploy(ref, *FAST)
        report(f"deploy {ref}", polled)
        assert run.rc == 2, run.output[-3000:]
        assert evidence in run.output, run.output[-3000:]
        for host, live in on_v2.items():
            assert polled[host].failed() == {}, host
            assert polled[host].served() == [commits["v2"]], host
            assert f"failed on {host} at stage candidate" in run.output
            assert "started beside the live one as sample-candidate" in run.output
            assert f"Nothing live was changed: current still points at {live}, which keeps serving." in run.output
            assert fleet.current(host) == live
            failed = fleet.newest(host)
            assert (failed["state"], failed["ref"]) == ("failed", ref)
            assert failed["reason"].startswith("candidate: release")
            # The candidate is gone: no stray process on the side port.
            assert fleet.ssh(host, "systemctl is-active sample-candidate || true").strip() in ("inactive", "unknown")
            assert fleet.ssh(host, f"ls {DEPLOY_TO}/releases/{failed['id']}/REVISION").strip() != ""
