"""release state=active without dropping requests: socket activation and the candidate check.

systemctl, systemd-run and journalctl are stand-ins (`fake_commands`) that record their
calls; the app and the candidate are real HTTP servers on 127.0.0.1. The candidate server
answers for the release the test names: 200 with its ID, or 500 when the release directory
holds a file BROKEN (or BROKEN_ONCE: for one answer).
"""

from __future__ import annotations

import errno
import json
import os
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ansible_collections.deployctl.core.plugins.module_utils import _service_unit
from ansible_collections.deployctl.core.plugins.module_utils._candidate import Candidate, run_argv, service_settings
from ansible_collections.deployctl.core.plugins.modules import release
from tests.unit.conftest import (
    APP_USER,
    FakeCommands,
    Upstream,
    release_to,
    run_module,
    serving,
    stage_and_build,
    staged_args,
)

R1, R2 = "20240101T000000Z", "20240102T000000Z"
HEADER = "# Written by deployctl at each switch\n"
SERVICE = (
    HEADER + "[Unit]\nRequires=shop.socket\nAfter=shop.socket\nStartLimitIntervalSec=0\n\n[Service]\nUser=shop\n"
    'Group=shop\nWorkingDirectory=/srv/shop/current\nEnvironment=PORT=3000\nEnvironment="GREETING=hello world"\n'
    "EnvironmentFile=/srv/shop/current/.deployctl-environment\nExecStart=/usr/bin/bundle exec puma -C config/puma.rb\n"
    "Restart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n"
)
PLAIN = SERVICE.replace("Requires=shop.socket\nAfter=shop.socket\n", "")
SOCKET = HEADER + "[Socket]\nListenStream=0.0.0.0:3000\n\n[Install]\nWantedBy=sockets.target\n"
RESTART = ["systemctl", "restart", "shop"]
STOP = ["systemctl", "stop", "shop"]
START_SOCKET = ["systemctl", "restart", "shop.socket"]
CRASH_JOURNAL = (
    "Nov 30 07:00:01 web1 bundle[99]: config.ru:5: deliberately crashing at boot (RuntimeError)\n"
    "Nov 30 07:00:01 web1 bundle[99]:         from /usr/bin/puma:25:in `load'\n"
    "Nov 30 07:00:01 web1 systemd[1]: shop-candidate.service: Failed with result 'exit-code'.\n"
)


class Answers(BaseHTTPRequestHandler):
    """Answers for the release directory `release` (the candidate's)."""

    release: ClassVar[Path]

    def do_GET(self) -> None:
        once = Answers.release / "BROKEN_ONCE"
        if once.exists():
            # The first answer only (a candidate that booted before the migrations, say).
            once.unlink()
            code, body = 500, "boom once"
        elif (Answers.release / "BROKEN").exists():
            code, body = 500, "boom"
        else:
            code, body = 200, f"revision {Answers.release.name}"
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server(deploy_to: Path) -> Iterator[str]:
    Answers.release = deploy_to / "releases" / R2
    with serving(Answers) as url:
        yield url


@pytest.fixture
def closed() -> str:
    """A URL nothing listens on (a candidate that never answers)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/up"


@pytest.fixture
def systemd(fake_commands: FakeCommands) -> FakeCommands:
    fake_commands.add("systemctl", "journalctl", "systemd-run")
    fake_commands.answer("systemctl", "is-enabled", stdout="enabled\n")
    fake_commands.answer("systemctl", "is-active", "shop.socket", stdout="active\n")
    fake_commands.answer("systemctl", "is-active", "shop-candidate", stdout="active\n")
    fake_commands.answer("journalctl", stdout=CRASH_JOURNAL)
    return fake_commands


def activate(deploy_to: Path, release_id: str, unit: Path, **extra: Any) -> dict[str, Any]:
    return run_module(
        release,
        {
            "deploy_to": str(deploy_to),
            "state": "active",
            "release_id": release_id,
            "unit_path": str(unit),
            "restart": True,
            "restart_service": "shop",
            **extra,
        },
    )


def live(deploy_to: Path, upstream: Upstream, unit: Path, service: str, socket_unit: str | None) -> None:
    """R1 live with the given units."""
    stage_and_build(deploy_to, upstream, R1, service_unit=service, socket_unit=socket_unit)
    assert not activate(deploy_to, R1, unit).get("failed")


def systemctl_calls(systemd: FakeCommands, since: int = 0) -> list[list[str]]:
    return [c for c in systemd.calls()[since:] if c[0] == "systemctl" and c[1] not in ("is-enabled", "is-active")]


# -- socket activation --------------------------------------------------------------------


def test_the_socket_is_recorded_with_the_release_and_installed_beside_the_service(
    deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands
) -> None:
    unit = tmp_path / "shop.service"
    stage_and_build(deploy_to, upstream, R1, service_unit=SERVICE, socket_unit=SOCKET)
    assert (deploy_to / ".deployctl" / "releases" / f"{R1}.socket").read_text() == SOCKET
    systemd.answer("systemctl", "is-active", "shop.socket", rc=3, stdout="inactive\n")

    result = activate(deploy_to, R1, unit)

    assert not result.get("failed"), result["msg"]
    assert (tmp_path / "shop.socket").read_text() == SOCKET and unit.read_text() == SERVICE
    # The socket did not listen yet: the service stops, the socket starts, the service starts behind it.
    assert (result["socket_unit"], result["socket_changed"], result["socket"]) == (
        "shop.socket",
        "installed",
        "started",
    )
    assert systemctl_calls(systemd) == [
        ["systemctl", "daemon-reload"], STOP, START_SOCKET, RESTART,
    ]  # fmt: skip
    # The warning that says so (one gap, once) is asserted in the output of a real deploy (tests/e2e).


def test_behind_a_listening_socket_only_the_service_restarts(
    deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands
) -> None:
    unit = tmp_path / "shop.service"
    live(deploy_to, upstream, unit, SERVICE, SOCKET)
    stage_and_build(deploy_to, upstream, R2, version="v2", service_unit=SERVICE, socket_unit=SOCKET)
    before = len(systemd.calls())

    result = activate(deploy_to, R2, unit)

    assert (result["switched"], result["socket"], "socket_changed" in result) == (True, "kept", False)
    assert systemctl_calls(systemd, before) == [RESTART]


def test_a_changed_socket_unit_is_restarted_between_a_stop_and_a_start(
    deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands
) -> None:
    unit = tmp_path / "shop.service"
    live(deploy_to, upstream, unit, SERVICE, SOCKET)
    other = SOCKET.replace("0.0.0.0:3000", "127.0.0.1:3000")
    stage_and_build(deploy_to, upstream, R2, version="v2", service_unit=SERVICE, socket_unit=other)
    before = len(systemd.calls())

    result = activate(deploy_to, R2, unit)

    assert (result["socket_changed"], result["socket"]) == ("installed", "started")
    assert (tmp_path / "shop.socket").read_text() == other
    assert systemctl_calls(systemd, before) == [["systemctl", "daemon-reload"], STOP, START_SOCKET, RESTART]


def test_switching_to_a_release_without_a_socket_stops_and_removes_ours(
    deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands
) -> None:
    # A revert or rollback to a release deployed before socket activation (or with it off).
    unit = tmp_path / "shop.service"
    live(deploy_to, upstream, unit, SERVICE, SOCKET)
    stage_and_build(deploy_to, upstream, R2, version="v2", service_unit=PLAIN, socket_unit=None)
    before = len(systemd.calls())

    result = activate(deploy_to, R2, unit, _ansible_diff=True)

    assert not result.get("failed"), result["msg"]
    assert not (tmp_path / "shop.socket").exists() and unit.read_text() == PLAIN
    assert (result["socket_changed"], "socket_unit" in result, "socket" in result) == ("removed", False, False)
    assert systemctl_calls(systemd, before) == [
        ["systemctl", "disable", "--now", "--quiet", "shop.socket"], ["systemctl", "daemon-reload"], RESTART,
    ]  # fmt: skip
    assert [d["after_header"] for d in result["diff"][1:]] == [
        f"{unit} (recorded with release {R2})", f"{tmp_path / 'shop.socket'} (removed)",
    ]  # fmt: skip


def test_a_socket_unit_that_is_not_ours_is_left_alone(
    deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands
) -> None:
    unit = tmp_path / "shop.service"
    (tmp_path / "shop.socket").write_text("[Socket]\nListenStream=3000\n")
    live(deploy_to, upstream, unit, PLAIN, None)

    assert (tmp_path / "shop.socket").read_text() == "[Socket]\nListenStream=3000\n"
    assert ["systemctl", "disable", "--now", "--quiet", "shop.socket"] not in systemd.calls()


def test_a_changed_socket_unit_makes_a_new_release(
    deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd
) -> None:
    live(deploy_to, upstream, tmp_path / "shop.service", SERVICE, SOCKET)

    same = run_module(release, staged_args_for(deploy_to, upstream, SERVICE, SOCKET))
    without = run_module(release, staged_args_for(deploy_to, upstream, PLAIN, None))

    assert same["already_live"] is True
    assert without["already_live"] is False


def staged_args_for(deploy_to: Path, upstream: Upstream, service: str, socket_unit: str | None) -> dict[str, Any]:
    from tests.unit.conftest import staged_args

    return staged_args(deploy_to, upstream, R2, service_unit=service, socket_unit=socket_unit)


# -- the candidate check --------------------------------------------------------------------


def test_the_candidate_runs_the_recorded_unit_from_the_release_directory_on_the_side_port() -> None:
    candidate = Candidate(unit="shop-candidate", health_url="http://127.0.0.1:13000/up", environment={"PORT": "13000"})

    argv = run_argv(candidate, service_settings(SERVICE), "/srv/shop/current", f"/srv/shop/releases/{R2}", 120)

    assert argv == [
        "systemd-run", "--quiet", "--collect", "--unit=shop-candidate",
        f"--description=deployctl candidate of release {R2}", "--property=RuntimeMaxSec=120",
        "--property=User=shop", "--property=Group=shop", f"--property=WorkingDirectory=/srv/shop/releases/{R2}",
        "--property=Environment=PORT=3000", '--property=Environment="GREETING=hello world"',
        f"--property=EnvironmentFile=/srv/shop/releases/{R2}/.deployctl-environment",
        '--property=Environment="PORT=13000"',
        "--", "/usr/bin/bundle", "exec", "puma", "-C", "config/puma.rb",
    ]  # fmt: skip


def candidate_live(deploy_to: Path, upstream: Upstream, tmp_path: Path) -> Path:
    unit = tmp_path / "shop.service"
    live(deploy_to, upstream, unit, SERVICE, SOCKET)
    stage_and_build(deploy_to, upstream, R2, version="v2", service_unit=SERVICE, socket_unit=SOCKET)
    return unit


def check(deploy_to: Path, unit: Path, url: str, **health: Any) -> dict[str, Any]:
    return activate(
        deploy_to,
        R2,
        unit,
        # The live app's URL: the same server here (it answers for R2, which is live after the switch).
        health_url=url + "?live",
        health_interval=0.05,
        health_deadline=health.pop("deadline", 5),
        candidate={"health_url": url, "environment": {"PORT": "13000"}, "deadline": 2},
        **health,
    )


def test_a_healthy_candidate_is_stopped_and_the_release_switched_to(
    deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands, server: str
) -> None:
    unit = candidate_live(deploy_to, upstream, tmp_path)
    before = len(systemd.calls())

    result = check(deploy_to, unit, server, health_body_contains=R2)

    assert not result.get("failed"), result["msg"]
    assert (result["candidate"]["healthy"], result["candidate"]["url"]) == (True, server)
    assert os.readlink(deploy_to / "current") == f"releases/{R2}"
    calls = [c[:2] for c in systemd.calls()[before:] if c[0] != "journalctl"]
    # A stale candidate stopped first, then started, checked and stopped, all before the switch's restart.
    assert calls.index(["systemd-run", "--quiet"]) < calls.index(["systemctl", "restart"])
    assert calls[:2] == [["systemctl", "stop"], ["systemctl", "reset-failed"]]
    started = calls.index(["systemd-run", "--quiet"])
    assert calls[started + 1 :].count(["systemctl", "stop"]) == 1


def test_a_candidate_that_answers_500_fails_fast_and_is_never_switched_to(
    deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands, server: str
) -> None:
    unit = candidate_live(deploy_to, upstream, tmp_path)
    (deploy_to / "releases" / R2 / "BROKEN").touch()
    before = len(systemd.calls())

    result = check(deploy_to, unit, server, health_fail_after=0.3, deadline=30)

    assert (result["failed"], result["stage"], result["switched"], result["changed"]) == (
        True,
        "candidate",
        False,
        False,
    )
    assert result["msg"].startswith(f"candidate: release {R2}, started beside the live one as shop-candidate, failed: ")
    assert "status 500, expected 200; answered 5xx for 0." in result["msg"]
    assert result["msg"].endswith("it was not switched to")
    # Given up after 0.3 s of 500s, not after the 2 s deadline.
    assert result["candidate"]["elapsed"] < 1.5
    assert (result["previous"], os.readlink(deploy_to / "current")) == (R1, f"releases/{R1}")
    assert RESTART not in systemd.calls()[before:]
    assert systemd.calls()[-2:] == [
        ["systemctl", "stop", "shop-candidate"],
        ["systemctl", "reset-failed", "shop-candidate"],
    ]


def test_a_candidate_that_crashes_fails_at_once_with_its_journal(
    deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands, closed: str
) -> None:
    unit = candidate_live(deploy_to, upstream, tmp_path)
    systemd.answer("systemctl", "is-active", "shop-candidate", rc=3, stdout="failed\n")

    result = check(deploy_to, unit, closed)

    assert (result["stage"], result["switched"]) == ("candidate", False)
    assert "the candidate process exited (shop-candidate is failed)" in result["msg"]
    # The error and systemd's verdict, without the backtrace's frames.
    assert result["msg"].endswith(
        "Last lines of `journalctl -u shop-candidate` (backtraces left out):\n"
        "Nov 30 07:00:01 web1 bundle[99]: config.ru:5: deliberately crashing at boot (RuntimeError)\n"
        "Nov 30 07:00:01 web1 systemd[1]: shop-candidate.service: Failed with result 'exit-code'."
    )
    assert result["candidate"]["attempts"] == 1
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"
    journal = [c for c in systemd.calls() if c[0] == "journalctl"][-1]
    assert journal[:3] == ["journalctl", "-u", "shop-candidate"] and journal[-1].startswith("--since=@")


def test_a_candidate_that_cannot_start_fails_before_the_switch(
    deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands, server: str
) -> None:
    unit = candidate_live(deploy_to, upstream, tmp_path)
    systemd.answer(
        "systemd-run",
        rc=1,
        stderr="Failed to start transient service unit: Unit shop-candidate.service already exists.\n",
    )

    result = check(deploy_to, unit, server)

    assert (result["stage"], result["switched"]) == ("candidate", False)
    assert result["msg"].startswith(f"candidate: cannot start release {R2} as shop-candidate: `systemd-run")
    assert "already exists" in result["msg"]
    assert systemd.calls()[-2:] == [
        ["systemctl", "stop", "shop-candidate"],
        ["systemctl", "reset-failed", "shop-candidate"],
    ]


def test_no_candidate_when_the_release_is_live_already_or_has_no_unit(
    deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands, server: str
) -> None:
    unit = tmp_path / "shop.service"
    stage_and_build(deploy_to, upstream, R2, version="v2")  # no unit recorded
    first = check(deploy_to, unit, server)
    again = check(deploy_to, unit, server)

    assert first["candidate"] == {"skipped": "no service unit is recorded with the release"}
    assert "candidate" not in again
    assert [c for c in systemd.calls() if c[0] == "systemd-run"] == []


# -- the candidate's head start: started by the call that builds, checked by the switch's -----------------

HEAD_START = {"health_url": "http://127.0.0.1:13000/up", "unit": "shop-candidate", "environment": {"PORT": "13000"}}


def head_started_live(deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands) -> Path:
    """R1 live; R2 staged and built in one call, which starts R2's candidate; systemd says it runs."""
    unit = tmp_path / "shop.service"
    live(deploy_to, upstream, unit, SERVICE, SOCKET)
    staged = run_module(
        release,
        staged_args(
            deploy_to,
            upstream,
            R2,
            version="v2",
            service_unit=SERVICE,
            socket_unit=SOCKET,
            build={"argv": ["true"], "user": APP_USER},
            candidate={**HEAD_START, "deadline": 2},
        ),
    )
    assert staged["candidate"] == {"started": True, "unit": "shop-candidate"}, staged
    started = [c for c in systemd.calls() if c[0] == "systemd-run"]
    # Once, after the build; it may run past the migrations: its check's bound (2 + 60 s) and 600 s more.
    assert len(started) == 1
    assert f"--description=deployctl candidate of release {R2}" in started[0]
    assert "--property=RuntimeMaxSec=662" in started[0]
    systemd.answer("systemctl", "show", stdout=f"Description=deployctl candidate of release {R2}\nActiveState=active\n")
    return unit


@pytest.fixture
def open_server(open_deploy_to: Path) -> Iterator[str]:
    """The candidate's server (as `server`) for a deploy_to whose releases the app user may build."""
    Answers.release = open_deploy_to / "releases" / R2
    with serving(Answers) as url:
        yield url


def started_since(systemd: FakeCommands, before: int) -> list[list[str]]:
    return [c for c in systemd.calls()[before:] if c[0] == "systemd-run"]


def test_the_switch_checks_the_candidate_its_build_started_without_starting_another(
    open_deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands, open_server: str
) -> None:
    unit = head_started_live(open_deploy_to, upstream, tmp_path, systemd)
    before = len(systemd.calls())

    result = check(open_deploy_to, unit, open_server, health_body_contains=R2)

    assert not result.get("failed"), result["msg"]
    assert (result["candidate"]["healthy"], result["candidate"]["head_start"]) == (True, {"used": True})
    assert result["candidate"]["attempts"] == 1
    assert started_since(systemd, before) == []
    assert ["systemctl", "stop", "shop-candidate"] in systemd.calls()[before:]
    assert os.readlink(open_deploy_to / "current") == f"releases/{R2}"


def test_a_head_started_candidate_that_answers_500_is_started_anew_and_judged_by_that_one(
    open_deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands, open_server: str
) -> None:
    unit = head_started_live(open_deploy_to, upstream, tmp_path, systemd)
    (open_deploy_to / "releases" / R2 / "BROKEN_ONCE").touch()
    before = len(systemd.calls())

    result = check(open_deploy_to, unit, open_server, health_body_contains=R2)

    # It booted before the migrations (say): a candidate started now answers for the release.
    assert not result.get("failed"), result["msg"]
    assert result["candidate"]["healthy"] is True
    assert result["candidate"]["head_start"]["used"] is False
    assert "status 500, expected 200" in result["candidate"]["head_start"]["reason"]
    assert len(started_since(systemd, before)) == 1
    assert os.readlink(open_deploy_to / "current") == f"releases/{R2}"


def test_a_release_that_fails_its_head_started_candidate_and_a_new_one_is_never_switched_to(
    open_deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands, open_server: str
) -> None:
    unit = head_started_live(open_deploy_to, upstream, tmp_path, systemd)
    (open_deploy_to / "releases" / R2 / "BROKEN").touch()
    before = len(systemd.calls())

    result = check(open_deploy_to, unit, open_server, health_fail_after=0.3, deadline=30)

    # The words of a check without a head start: the new candidate's.
    assert (result["stage"], result["switched"]) == ("candidate", False)
    assert result["msg"].startswith(f"candidate: release {R2}, started beside the live one as shop-candidate, failed: ")
    assert "status 500, expected 200; answered 5xx for 0." in result["msg"]
    assert result["candidate"]["head_start"]["used"] is False
    assert len(started_since(systemd, before)) == 1
    assert os.readlink(open_deploy_to / "current") == f"releases/{R1}"
    assert systemd.calls()[-2:] == [
        ["systemctl", "stop", "shop-candidate"],
        ["systemctl", "reset-failed", "shop-candidate"],
    ]


def test_a_head_started_candidate_that_never_answers_fails_the_check_without_a_second_boot(
    open_deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands, closed: str
) -> None:
    unit = head_started_live(open_deploy_to, upstream, tmp_path, systemd)
    before = len(systemd.calls())

    result = check(open_deploy_to, unit, closed)

    assert (result["stage"], result["switched"]) == ("candidate", False)
    assert "is not healthy after" in result["msg"] and "no answer" in result["msg"]
    assert result["candidate"]["head_start"] == {"used": True}
    assert result["candidate"]["elapsed"] >= 1.5  # its whole deadline (2 s), once
    assert started_since(systemd, before) == []
    assert os.readlink(open_deploy_to / "current") == f"releases/{R1}"


def test_a_candidate_that_is_not_the_head_started_one_is_started_anew(
    open_deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands, open_server: str
) -> None:
    unit = head_started_live(open_deploy_to, upstream, tmp_path, systemd)
    # It ended (its RuntimeMaxSec, a crash): the unit of that name is not running it.
    systemd.answer("systemctl", "show", stdout=f"Description=deployctl candidate of release {R2}\nActiveState=failed\n")
    before = len(systemd.calls())

    result = check(open_deploy_to, unit, open_server, health_body_contains=R2)

    assert not result.get("failed"), result["msg"]
    assert "head_start" not in result["candidate"]
    assert len(started_since(systemd, before)) == 1


def test_marking_the_release_failed_stops_its_head_started_candidate(
    open_deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands
) -> None:
    head_started_live(open_deploy_to, upstream, tmp_path, systemd)
    before = len(systemd.calls())

    release_to(open_deploy_to, R2, "failed", reason="migrate: rails db:migrate exited 1")

    assert ["systemctl", "stop", "shop-candidate"] in systemd.calls()[before:]


def test_a_candidate_url_that_is_not_http_is_refused(
    deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd, server
) -> None:
    unit = candidate_live(deploy_to, upstream, tmp_path)
    result = activate(deploy_to, R2, unit, health_url=server, candidate={"health_url": "ftp://x/up"})

    assert result["msg"] == "candidate.health_url 'ftp://x/up' must start with http:// or https://"
    assert json.dumps(result).count("systemd-run") == 0


def test_a_service_unit_that_cannot_be_installed_leaves_no_socket_unit_behind(
    deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = tmp_path / "shop.service"
    stage_and_build(deploy_to, upstream, R1, service_unit=SERVICE, socket_unit=SOCKET)
    write = _service_unit.atomic_write

    def disk_full_for_the_service(path: str, *args: Any, **kwargs: Any) -> None:
        # The disk fills up between the socket unit and the service unit.
        if path == str(unit):
            raise OSError(errno.ENOSPC, "No space left on device", path)
        write(path, *args, **kwargs)

    monkeypatch.setattr(_service_unit, "atomic_write", disk_full_for_the_service)

    result = activate(deploy_to, R1, unit)

    assert result["msg"] == (
        f"cannot install the service unit of release {R1} at {unit}: [Errno 28] No space left on device: "
        f"'{unit}'; current was not switched"
    )
    assert not (tmp_path / "shop.socket").exists() and not unit.exists()
    assert not (deploy_to / "current").exists()
    assert systemctl_calls(systemd) == []


def test_a_candidate_url_that_is_the_live_one_is_refused(
    deploy_to: Path, upstream: Upstream, tmp_path: Path, systemd: FakeCommands, server: str
) -> None:
    unit = candidate_live(deploy_to, upstream, tmp_path)
    result = activate(deploy_to, R2, unit, health_url=server, candidate={"health_url": server})

    assert result["msg"].startswith(f"candidate.health_url '{server}' is the live app's health URL")
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"
