"""release state=active with restart: the switch and the service restart in one call.

systemctl and journalctl are stand-ins (`fake_commands`) that record their calls: the
tests read which calls the module makes, in which order, and what it says when one fails.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.deployctl.core.plugins.modules import release
from tests.unit.conftest import FakeCommands, Upstream, run_module, stage_and_build

R1, R2 = "20240101T000000Z", "20240102T000000Z"
UNIT_A = "[Unit]\nDescription=shop\n\n[Service]\nExecStart=/usr/bin/puma -w 2\n"
UNIT_B = "[Unit]\nDescription=shop\n\n[Service]\nExecStart=/usr/bin/puma -w 4\n"
JOURNAL = "Nov 26 15:14:24 web1 puma[123]: bin/no-such-server: not found\nNov 26 15:14:24 web1 systemd[1]: failed\n"
RESTART_STDERR = (
    "Job for shop.service failed because the control process exited with error code.\n"
    'See "systemctl status shop.service" and "journalctl -xeu shop.service" for details.\n'
)

DAEMON_RELOAD = ["systemctl", "daemon-reload"]
IS_ENABLED = ["systemctl", "is-enabled", "shop"]
ENABLE = ["systemctl", "enable", "--quiet", "shop"]
RESTART = ["systemctl", "restart", "shop"]
JOURNALCTL = ["journalctl", "-u", "shop", "-n", "20", "--no-pager"]


@pytest.fixture
def systemd(fake_commands: FakeCommands) -> FakeCommands:
    """systemctl and journalctl stand-ins; the unit `shop` is enabled."""
    fake_commands.add("systemctl", "journalctl")
    fake_commands.answer(*IS_ENABLED, stdout="enabled\n")
    fake_commands.answer("journalctl", stdout=JOURNAL)
    return fake_commands


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    return tmp_path / "shop.service"


def activate(deploy_to: Path, release_id: str, unit: Path, check_mode: bool = False, **extra: Any) -> dict[str, Any]:
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
        check_mode=check_mode,
    )


def live(deploy_to: Path, upstream: Upstream, unit: Path, systemd: FakeCommands) -> None:
    """R1 is live with UNIT_A installed; R2 (UNIT_B) is built; the calls so far are forgotten."""
    stage_and_build(deploy_to, upstream, R1, service_unit=UNIT_A)
    assert activate(deploy_to, R1, unit)["restarted"] is True
    stage_and_build(deploy_to, upstream, R2, version="v2", service_unit=UNIT_B)
    (systemd.bin_dir / "calls.jsonl").unlink()


def test_a_first_deploy_reloads_enables_and_restarts(
    deploy_to: Path, upstream: Upstream, unit: Path, systemd: FakeCommands
) -> None:
    systemd.answer(*IS_ENABLED, rc=1, stdout="disabled\n")
    stage_and_build(deploy_to, upstream, R1, service_unit=UNIT_A)

    result = activate(deploy_to, R1, unit)

    assert (result["changed"], result["switched"], result["unit_changed"], result["restarted"]) == (
        True,
        True,
        True,
        True,
    )
    assert systemd.calls() == [DAEMON_RELOAD, IS_ENABLED, ENABLE, RESTART]
    assert unit.read_text() == UNIT_A
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"


def test_a_new_unit_reloads_systemd_and_an_enabled_unit_is_not_enabled_again(
    deploy_to: Path, upstream: Upstream, unit: Path, systemd: FakeCommands
) -> None:
    live(deploy_to, upstream, unit, systemd)

    result = activate(deploy_to, R2, unit)

    assert (result["changed"], result["previous"], result["restarted"]) == (True, R1, True)
    assert systemd.calls() == [DAEMON_RELOAD, IS_ENABLED, RESTART]


def test_the_same_unit_needs_no_reload(deploy_to: Path, upstream: Upstream, unit: Path, systemd: FakeCommands) -> None:
    stage_and_build(deploy_to, upstream, R1, service_unit=UNIT_A)
    activate(deploy_to, R1, unit)
    stage_and_build(deploy_to, upstream, R2, version="v2", service_unit=UNIT_A)
    (systemd.bin_dir / "calls.jsonl").unlink()

    result = activate(deploy_to, R2, unit)

    assert (result["switched"], result["unit_changed"], result["restarted"]) == (True, False, True)
    assert systemd.calls() == [IS_ENABLED, RESTART]


@pytest.mark.parametrize("state", ["enabled-runtime", "indirect", "alias"])
def test_a_unit_enabled_only_for_now_or_indirectly_is_enabled(
    deploy_to: Path, upstream: Upstream, unit: Path, systemd: FakeCommands, state: str
) -> None:
    live(deploy_to, upstream, unit, systemd)
    systemd.answer(*IS_ENABLED, stdout=f"{state}\n")

    activate(deploy_to, R2, unit)

    assert systemd.calls() == [DAEMON_RELOAD, IS_ENABLED, ENABLE, RESTART]


def test_nothing_changed_nothing_restarted(
    deploy_to: Path, upstream: Upstream, unit: Path, systemd: FakeCommands
) -> None:
    live(deploy_to, upstream, unit, systemd)

    result = activate(deploy_to, R1, unit)

    assert (result["changed"], result["restarted"]) == (False, False)
    assert systemd.calls() == []


def test_without_restart_nothing_is_run(deploy_to: Path, upstream: Upstream, unit: Path, systemd: FakeCommands) -> None:
    live(deploy_to, upstream, unit, systemd)

    result = activate(deploy_to, R2, unit, restart=False)

    assert (result["changed"], result["restarted"]) == (True, False)
    assert systemd.calls() == []


def test_check_mode_says_it_would_restart_and_runs_nothing(
    deploy_to: Path, upstream: Upstream, unit: Path, systemd: FakeCommands
) -> None:
    live(deploy_to, upstream, unit, systemd)

    result = activate(deploy_to, R2, unit, check_mode=True)

    assert (result["changed"], result["switched"], result["restarted"]) == (True, True, "would")
    assert systemd.calls() == []
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"
    assert unit.read_text() == UNIT_A


def test_a_failed_restart_fails_with_the_error_and_the_journal_and_says_current_was_switched(
    deploy_to: Path, upstream: Upstream, unit: Path, systemd: FakeCommands
) -> None:
    live(deploy_to, upstream, unit, systemd)
    systemd.answer(*RESTART, rc=1, stderr=RESTART_STDERR)

    result = activate(deploy_to, R2, unit)

    assert result["failed"] is True
    assert result["msg"] == (
        "cannot restart shop: `systemctl restart shop` exited 1: " + RESTART_STDERR.strip() + "\n"
        "Last lines of `journalctl -u shop -n 20 --no-pager`:\n" + JOURNAL.rstrip("\n")
    )
    # What the role's failure handling reads: current was switched (so it reverts), from R1.
    assert (result["changed"], result["switched"], result["previous"], result["release_id"]) == (True, True, R1, R2)
    assert (result["stage"], result["restarted"], result["unit_changed"]) == ("restart", False, True)
    assert (result["rc"], result["journal"]) == (1, JOURNAL.splitlines())
    assert systemd.calls() == [DAEMON_RELOAD, IS_ENABLED, RESTART, JOURNALCTL]
    # The module does not switch back: that is the revert's job, with the unit of R1.
    assert os.readlink(deploy_to / "current") == f"releases/{R2}"


def test_a_failed_restart_after_reinstalling_the_unit_alone_says_current_stayed(
    deploy_to: Path, upstream: Upstream, unit: Path, systemd: FakeCommands
) -> None:
    live(deploy_to, upstream, unit, systemd)
    unit.write_text(UNIT_B)
    systemd.answer(*RESTART, rc=1, stderr=RESTART_STDERR)

    result = activate(deploy_to, R1, unit)

    assert (result["failed"], result["changed"], result["switched"], result["previous"]) == (True, True, False, R1)
    assert unit.read_text() == UNIT_A


def test_a_restart_that_hangs_is_killed_at_its_timeout(
    deploy_to: Path, upstream: Upstream, unit: Path, systemd: FakeCommands
) -> None:
    live(deploy_to, upstream, unit, systemd)
    systemd.answer(*RESTART, sleep=30)

    result = activate(deploy_to, R2, unit, restart_timeout=1)

    assert result["failed"] is True
    assert result["msg"].startswith("cannot restart shop: `systemctl restart shop` did not finish within 1s\n")
    assert (result["changed"], result["switched"], result["stage"]) == (True, True, "restart")
    assert systemd.calls()[-1] == JOURNALCTL


def test_a_unit_that_cannot_be_enabled_is_not_restarted(
    deploy_to: Path, upstream: Upstream, unit: Path, systemd: FakeCommands
) -> None:
    live(deploy_to, upstream, unit, systemd)
    systemd.answer(*IS_ENABLED, rc=1, stdout="disabled\n")
    systemd.answer(*ENABLE, rc=1, stderr="Failed to enable unit: Access denied\n")

    result = activate(deploy_to, R2, unit)

    assert (
        result["msg"]
        == "cannot enable shop: `systemctl enable --quiet shop` exited 1: Failed to enable unit: Access denied"
    )
    assert (result["changed"], result["switched"], result["stage"], result["stderr"]) == (
        True,
        True,
        "restart",
        "Failed to enable unit: Access denied",
    )
    assert systemd.calls() == [DAEMON_RELOAD, IS_ENABLED, ENABLE]


def test_restart_needs_the_service_name(deploy_to: Path) -> None:
    result = run_module(release, {"deploy_to": str(deploy_to), "state": "active", "release_id": R1, "restart": True})

    assert result["failed"] is True
    assert "restart_service" in result["msg"]
