"""release state=active as a deploy calls it: switch, restart, health check and the switch back, in one call.

The app is a real HTTP server on 127.0.0.1 that answers as the release `current` points at
would: 200 with the release's ID, or 500 when the release directory holds a file BROKEN.
systemctl is a stand-in (`fake_commands`) that records its calls.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ansible_collections.deployctl.core.plugins.module_utils import _activation
from ansible_collections.deployctl.core.plugins.module_utils._history import runs
from ansible_collections.deployctl.core.plugins.module_utils._http import HealthCheck
from ansible_collections.deployctl.core.plugins.modules import deploy_lock, http_check, release, release_command
from tests.unit.conftest import APP_USER, FakeCommands, Upstream, run_module, serving, stage_and_build, staged_args

R1, R2 = "20240101T000000Z", "20240102T000000Z"
UNIT_A = "[Unit]\nDescription=shop\n\n[Service]\nExecStart=/usr/bin/puma -w 2\n"
UNIT_B = "[Unit]\nDescription=shop\n\n[Service]\nExecStart=/usr/bin/puma -w 4\n"
RESTART = ["systemctl", "restart", "shop"]


class App(BaseHTTPRequestHandler):
    """Answers for the release `current` points at under App.deploy_to."""

    deploy_to: ClassVar[Path]
    vhost: ClassVar[str] = ""  # when set, other Host headers get 404 (a name-based virtual host)
    # When set and true: the process still runs older code (no restart since the switch).
    stale: ClassVar[Callable[[], bool] | None] = None

    def do_GET(self) -> None:
        target = Path(os.path.realpath(App.deploy_to / "current"))
        code, body = (500, "boom") if (target / "BROKEN").exists() else (200, f"revision {target.name}")
        if App.stale and App.stale():
            code, body = 200, "revision OLD"
        if App.vhost and self.headers.get("Host") != App.vhost:
            code, body = 404, "no such site"
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def app_of(deploy_to: Path) -> Iterator[str]:
    """App, answering for deploy_to's current release; yields its URL."""
    App.deploy_to = deploy_to
    App.stale = None
    with serving(App) as url:
        yield url


@pytest.fixture
def app(deploy_to: Path) -> Iterator[str]:
    with app_of(deploy_to) as url:
        yield url


@pytest.fixture
def systemd(fake_commands: FakeCommands) -> FakeCommands:
    fake_commands.add("systemctl", "journalctl")
    fake_commands.answer("systemctl", "is-enabled", "shop", stdout="enabled\n")
    return fake_commands


def go_live(deploy_to: Path, release_id: str, app: str, unit: Path, **extra: Any) -> dict[str, Any]:
    return run_module(
        release,
        {
            "deploy_to": str(deploy_to),
            "state": "active",
            "release_id": release_id,
            "unit_path": str(unit),
            "restart": True,
            "restart_service": "shop",
            "health_url": app,
            "health_body_contains": release_id,
            "health_deadline": 0.6,
            "health_interval": 0.1,
            "revert": True,
            "revert_health_deadline": 2,
            **extra,
        },
    )


def record_of(deploy_to: Path, release_id: str) -> dict[str, Any]:
    """The release's record as the host keeps it (.deployctl/releases/ID.json)."""
    return json.loads((deploy_to / ".deployctl" / "releases" / f"{release_id}.json").read_text())


def state_of(deploy_to: Path, release_id: str) -> str:
    return record_of(deploy_to, release_id)["state"]


@pytest.fixture
def r1_live(deploy_to: Path, upstream: Upstream, app: str, tmp_path: Path, systemd: FakeCommands) -> Path:
    """R1 live and healthy with UNIT_A; R2 built with UNIT_B. Returns the unit's path."""
    unit = tmp_path / "shop.service"
    stage_and_build(deploy_to, upstream, R1, service_unit=UNIT_A)
    assert not go_live(deploy_to, R1, app, unit).get("failed")
    stage_and_build(deploy_to, upstream, R2, version="v2", service_unit=UNIT_B)
    return unit


def test_a_healthy_release_stays_live_and_the_call_cleans_up_and_unlocks(
    deploy_to: Path, upstream: Upstream, app: str, r1_live: Path
) -> None:
    run_module(deploy_lock, {"deploy_to": str(deploy_to), "token": "run-3"})

    result = go_live(deploy_to, R2, app, r1_live, cleanup=True, keep_releases=1, unlock_token="run-3")

    assert not result.get("failed"), result["msg"]
    assert (result["switched"], result["restarted"], result["health"]["healthy"]) == (True, True, True)
    assert result["health"]["body"] == f"revision {R2}"
    assert os.readlink(deploy_to / "current") == f"releases/{R2}"
    # keep 1: the current release and the rollback target (R1) stay.
    assert result["cleanup"] == {"removed": [], "error": ""}
    assert result["unlocked"] is True and not (deploy_to / ".deployctl" / "lock").exists()
    # The journal: the switch says its check follows, the check's pass ends the run (history: deployed).
    journal = [json.loads(line) for line in (deploy_to / ".deployctl" / "journal.jsonl").read_text().splitlines()]
    switched, verified = [line for line in journal if line.get("release") == R2][-2:]
    assert (switched["event"], switched["verify"], verified["event"]) == ("switched", True, "verified")
    assert [run["outcome"] for run in runs(journal) if run["release"] == R2] == ["deployed"]


def test_a_live_release_whose_app_runs_older_code_is_restarted_before_its_check(
    deploy_to: Path, app: str, r1_live: Path, systemd: FakeCommands, capsys: pytest.CaptureFixture[str]
) -> None:
    # current points at R1, but the app answers with older code: the restart after R1's switch never happened
    # (the host was lost between the two). A redeploy of R1 (already live) restarts it; the check then passes.
    before = systemd.calls().count(RESTART)
    App.stale = lambda: systemd.calls().count(RESTART) == before

    result = go_live(deploy_to, R1, app, r1_live)

    assert not result.get("failed"), result.get("msg")
    assert (result["switched"], result["restarted"], result["restarted_stale"]) == (False, True, True)
    assert result["health"]["body"] == f"revision {R1}"
    assert systemd.calls().count(RESTART) == before + 1
    # The warning: in the result (ansible-core 2.19 sends it as a structured event), or on stderr when the module
    # runs in this process after another test set Ansible's warnings to be shown at once.
    said = json.dumps(result.get("warnings", [])) + capsys.readouterr().err
    assert "its restart after an earlier switch never happened" in said, result

    # An app that runs the live release's code is left alone.
    again = go_live(deploy_to, R1, app, r1_live)
    assert (again["restarted"], again.get("restarted_stale")) == (False, None)
    assert systemd.calls().count(RESTART) == before + 1


class HostLost(BaseException):
    """The module's process ends where this is raised, as when its host is lost (not an error it could handle)."""


def lost(*args: Any, **kwargs: Any) -> dict[str, Any]:
    raise HostLost


def rollback_target(deploy_to: Path) -> str | None:
    return run_module(release, {"deploy_to": str(deploy_to), "state": "query"})["rollback_target"]


def test_a_release_whose_check_never_ran_is_no_rollback_target_until_one_passes(
    deploy_to: Path, upstream: Upstream, app: str, r1_live: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    R3 = "20240103T000000Z"
    # The host is lost between R2's switch and its restart: current names R2, its check never ran.
    with monkeypatch.context() as patched:
        patched.setattr(_activation, "restart_switched", lost)
        with pytest.raises(HostLost):
            go_live(deploy_to, R2, app, r1_live)
    assert os.readlink(deploy_to / "current") == f"releases/{R2}"
    assert record_of(deploy_to, R2)["verified"] is False

    # The next deploy brings R3: a rollback from it goes back to R1, the last release that passed its check.
    stage_and_build(deploy_to, upstream, R3, service_unit=UNIT_B)
    assert not go_live(deploy_to, R3, app, r1_live).get("failed")
    assert record_of(deploy_to, R3)["verified"] is True
    assert rollback_target(deploy_to) == R1

    # R2 passes a check when it is live again (the switch back to a release that served keeps its mark until then).
    assert not go_live(deploy_to, R2, app, r1_live).get("failed")
    assert record_of(deploy_to, R2)["verified"] is True
    assert not go_live(deploy_to, R3, app, r1_live).get("failed")
    assert rollback_target(deploy_to) == R2


def test_a_check_in_a_task_of_its_own_records_the_pass_the_switch_waits_for(
    deploy_to: Path, app: str, r1_live: Path, systemd: FakeCommands
) -> None:
    # Hooks between the switch and the check (switch_hooks.yml): the switch's call has no health_url; the
    # http_check task after it records the pass.
    switch = {"deploy_to": str(deploy_to), "state": "active", "release_id": R2, "unit_path": str(r1_live)}
    assert run_module(release, {**switch, "health_checked_after": True})["switched"] is True
    assert record_of(deploy_to, R2)["verified"] is False
    check = {"url": app, "body_contains": R2, "deadline": 2, "interval": 0.1}

    assert run_module(http_check, {**check, "release_id": R2, "deploy_to": str(deploy_to)})["healthy"] is True

    assert record_of(deploy_to, R2)["verified"] is True
    journal = [json.loads(line) for line in (deploy_to / ".deployctl" / "journal.jsonl").read_text().splitlines()]
    switched, verified = [line for line in journal if line.get("release") == R2][-2:]
    assert (switched["event"], switched["verify"], verified["event"]) == ("switched", True, "verified")
    assert [run["outcome"] for run in runs(journal) if run["release"] == R2] == ["deployed"]
    # Checked again (a later no-op's check): nothing more to record.
    run_module(http_check, {**check, "release_id": R2, "deploy_to": str(deploy_to)})
    assert len((deploy_to / ".deployctl" / "journal.jsonl").read_text().splitlines()) == len(journal)


def test_a_release_that_served_keeps_its_mark_when_the_check_of_a_switch_back_fails(
    deploy_to: Path, app: str, r1_live: Path
) -> None:
    # R1 passed its check when it went live; after R2 fails, R1 fails the revert's check too (the database may be
    # down): it is still the release to roll back to, not one that never proved it runs.
    (deploy_to / "releases" / R1 / "BROKEN").touch()
    (deploy_to / "releases" / R2 / "BROKEN").touch()

    assert go_live(deploy_to, R2, app, r1_live)["revert"]["health"]["healthy"] is False

    assert record_of(deploy_to, R1)["verified"] is True


def test_an_unhealthy_release_is_switched_back_in_the_same_call(
    deploy_to: Path, upstream: Upstream, app: str, r1_live: Path, systemd: FakeCommands
) -> None:
    (deploy_to / "releases" / R2 / "BROKEN").touch()
    started = time.monotonic()

    result = go_live(deploy_to, R2, app, r1_live, unlock_token="kept")

    assert result["failed"] is True and result["stage"] == "verify"
    assert result["msg"].startswith(f"{app} is not healthy after ")
    assert result["msg"].endswith("status 500, expected 200; last body: 'boom'")
    assert (result["changed"], result["switched"], result["previous"]) == (True, True, R1)
    revert = result["revert"]
    assert (revert["changed"], revert["switched"], revert["health"]["healthy"]) == (True, True, True)
    assert revert["health"]["body"] == f"revision {R1}"
    # The previous release answers again as soon as the health deadline of the new one ran out.
    assert 0.5 <= revert["outage_seconds"] <= time.monotonic() - started + 0.05  # rounded to 0.1 s
    # Its share of the call's seconds (the CLI's Revert column): from the switch back on, not the failed check's.
    assert 0 < revert["elapsed"] < revert["outage_seconds"]
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"
    assert r1_live.read_text() == UNIT_A
    assert systemd.calls().count(RESTART) == 3  # R1, R2, R1 again
    assert state_of(deploy_to, R1) == "active"
    assert "unlocked" not in result


def test_a_failed_restart_is_switched_back_too(deploy_to: Path, app: str, r1_live: Path, systemd: FakeCommands) -> None:
    systemd.answer(*RESTART, rc=1, stderr="Job for shop.service failed.\n")

    result = go_live(deploy_to, R2, app, r1_live)

    assert (result["failed"], result["stage"], result["switched"]) == (True, "restart", True)
    # The restart of R1 fails as well (same stand-in): said in the revert's result, not instead.
    assert result["msg"].startswith(
        "cannot restart shop: `systemctl restart shop` exited 1: Job for shop.service failed."
    )
    assert result["revert"]["changed"] is True
    assert result["revert"]["error"].startswith("cannot restart shop: `systemctl restart shop` exited 1")
    assert result["revert"]["elapsed"] >= 0
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"


def test_a_previous_release_that_is_unhealthy_too_is_reported(deploy_to: Path, app: str, r1_live: Path) -> None:
    (deploy_to / "releases" / R1 / "BROKEN").touch()
    (deploy_to / "releases" / R2 / "BROKEN").touch()

    result = go_live(deploy_to, R2, app, r1_live)

    assert result["stage"] == "verify"
    assert result["revert"]["health"]["healthy"] is False
    assert result["revert"]["error"].startswith(f"{app} is not healthy after ")
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"


def test_without_revert_current_stays_on_the_failed_release(deploy_to: Path, app: str, r1_live: Path) -> None:
    (deploy_to / "releases" / R2 / "BROKEN").touch()

    result = go_live(deploy_to, R2, app, r1_live, revert=False)

    assert (result["failed"], result["stage"], "revert" in result) == (True, "verify", False)
    assert os.readlink(deploy_to / "current") == f"releases/{R2}"


def test_check_mode_makes_no_request_and_changes_nothing(deploy_to: Path, app: str, r1_live: Path) -> None:
    result = run_module(
        release,
        {"deploy_to": str(deploy_to), "state": "active", "release_id": R2, "health_url": app, "cleanup": True},
        check_mode=True,
    )

    assert (result["changed"], "health" in result) == (True, False)
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"


def test_a_health_url_that_is_not_http_is_refused(deploy_to: Path, r1_live: Path) -> None:
    result = go_live(deploy_to, R2, "ftp://127.0.0.1/up", r1_live)

    assert result["msg"] == "url 'ftp://127.0.0.1/up' must start with http:// or https://"
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"


def test_staging_under_another_deploys_lock_stops_before_anything(deploy_to: Path, upstream: Upstream) -> None:
    holder = {"user": "bob", "ref": "v9", "release": R1}
    taken = run_module(release, staged_args(deploy_to, upstream, R1, lock={"token": "bob-1", "holder": holder}))
    assert not taken.get("failed"), taken["msg"]

    result = run_module(release, staged_args(deploy_to, upstream, R2, lock={"token": "alice-2"}))

    assert (result["failed"], result["stage"], result["input_error"], result["created"]) == (True, "lock", False, False)
    assert result["msg"].startswith("another deploy holds the lock on this host: bob since ")
    assert "(ref v9, release 20240101T000000Z)" in result["msg"]
    assert not (deploy_to / "releases" / f".staging-{R2}").exists()


def test_the_same_run_takes_its_own_lock_again(deploy_to: Path, upstream: Upstream) -> None:
    """The first host's lock is taken before the fetch (lock.yml); its fetch call takes it again."""
    lock = {"token": "run-1"}
    run_module(release, staged_args(deploy_to, upstream, R1, lock=lock))

    result = run_module(release, staged_args(deploy_to, upstream, R2, version="v2", lock=lock))

    assert not result.get("failed"), result["msg"]


def test_a_build_that_succeeds_is_published_in_the_same_call(open_deploy_to: Path, upstream: Upstream) -> None:
    run_module(release, staged_args(open_deploy_to, upstream, R1))
    args = {"deploy_to": str(open_deploy_to), "release_id": R1, "stage": "build", "user": APP_USER, "publish": True}

    failed = run_module(release_command, {**args, "argv": ["false"]})
    assert failed["failed"] is True and not (open_deploy_to / "releases" / R1).exists()

    result = run_module(release_command, {**args, "argv": ["true"]})

    assert not result.get("failed"), result["msg"]
    assert result["path"] == str(open_deploy_to / "releases" / R1)
    assert (open_deploy_to / "releases" / R1 / "REVISION").is_file()
    assert state_of(open_deploy_to, R1) == "built"


def test_the_host_header_goes_with_the_check_and_with_the_revert_check(
    deploy_to: Path, app: str, r1_live: Path, systemd: FakeCommands
) -> None:
    App.vhost = "shop.example"
    try:
        (deploy_to / "releases" / R2 / "BROKEN").touch()
        result = go_live(deploy_to, R2, app, r1_live, health_host="shop.example")
    finally:
        App.vhost = ""

    assert result["failed"] is True and result["health"]["status"] == 500, "the new release answered the site"
    assert result["revert"]["health"]["healthy"] is True, "the previous release answered the site again"
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"


def test_an_unforeseen_error_after_the_switch_is_switched_back_too(
    deploy_to: Path, app: str, r1_live: Path, systemd: FakeCommands, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever raises after current moved (here the health check itself), the previous release goes back:
    # an exception out of the module would leave current on the new release and the role none the wiser.
    checked = HealthCheck.run

    def run_breaking_once(check: HealthCheck) -> dict[str, Any]:
        if check.body_contains == R2:
            raise RuntimeError("a bug in the check")
        return checked(check)

    monkeypatch.setattr(HealthCheck, "run", run_breaking_once)

    result = go_live(deploy_to, R2, app, r1_live)

    assert result["failed"] is True and result["stage"] == "verify"
    assert result["msg"] == "verify: RuntimeError: a bug in the check"
    assert (result["switched"], result["previous"]) == (True, R1)
    assert result["revert"]["health"]["healthy"] is True
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"


# -- a stage call that finds the commit live does the switch's work itself (go_live) ------------------------------


def go_live_settings(app: str, unit: Path, **extra: Any) -> dict[str, Any]:
    """The release module's go_live as the deploy role passes it (vars __deploy_go_live), for a check of `app`."""
    return {
        "unit_path": str(unit),
        "restart": True,
        "restart_service": "shop",
        "health_url": app,
        "health_deadline": 0.6,
        "health_interval": 0.1,
        "revert": True,
        "revert_health_deadline": 2,
        **extra,
    }


def stage_live(deploy_to: Path, upstream: Upstream, app: str, unit: Path, **extra: Any) -> dict[str, Any]:
    """A redeploy's stage call of R1's commit, unit and config (live in r1_live), under lock token run-9."""
    lock = {"token": "run-9", "holder": {"user": "alice"}}
    settings = go_live_settings(app, unit, unlock_token="run-9")
    args = staged_args(deploy_to, upstream, "20240109T000000Z", service_unit=UNIT_A, lock=lock, go_live=settings)
    return run_module(release, {**args, **extra})


def test_a_stage_call_that_finds_the_commit_live_checks_it_and_unlocks_in_the_same_call(
    deploy_to: Path, upstream: Upstream, app: str, r1_live: Path, systemd: FakeCommands, tmp_path: Path
) -> None:
    restarts = systemd.calls().count(RESTART)
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    metrics = {"textfile_dir": str(textfile), "app": "shop", "environment": "production", "action": "deploy"}

    result = stage_live(deploy_to, upstream, app, r1_live, metrics={**metrics, "outcome": "unchanged", "started_at": 1})

    assert not result.get("failed"), result.get("msg")
    assert (result["already_live"], result["release_id"]) == (True, R1)
    switch = result["switch"]
    assert (switch["release_id"], switch["switched"], switch["restarted"]) == (R1, False, False)
    assert switch["health"]["healthy"] is True and switch["health"]["body"] == f"revision {R1}"
    assert 0 <= switch["elapsed"] <= result["elapsed"]
    # The lock this call took is released by the same call: the run's last call on the host.
    assert switch["unlocked"] is True and not (deploy_to / ".deployctl" / "lock").exists()
    assert systemd.calls().count(RESTART) == restarts
    # The metrics: the outcome the role passed, the call's seconds split into fetch and switch.
    assert switch["metrics"]["written"] is True
    written = (textfile / "deployctl-shop.prom").read_text()
    assert 'outcome="unchanged"' in written
    assert 'stage="fetch"' in written and 'stage="switch"' in written
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"


def test_a_live_release_that_fails_its_check_fails_the_stage_call_at_verify_and_keeps_serving(
    deploy_to: Path, upstream: Upstream, app: str, r1_live: Path
) -> None:
    (deploy_to / "releases" / R1 / "BROKEN").touch()

    result = stage_live(deploy_to, upstream, app, r1_live)

    assert (result["failed"], result["stage"]) == (True, "verify")
    assert result["msg"].startswith(f"{app} is not healthy after ")
    # What the role reports the failure with: the staged release (nothing created) and the switch's own details.
    staged = (result["already_live"], result["release_id"], result["previous"], result["created"])
    assert staged == (True, R1, R1, False)
    assert (result["switch"]["failed"], result["switch"]["switched"]) == (True, False)
    assert result["switch"]["health"]["healthy"] is False and result["switch"]["elapsed"] >= 0.5
    # The call's seconds too: the fetch's share is the call's less the switch's (the role's stage seconds).
    assert result["elapsed"] >= result["switch"]["elapsed"]
    # Nothing was switched: nothing to switch back; the lock stays for the role's unlock.
    assert "revert" not in result["switch"] and os.readlink(deploy_to / "current") == f"releases/{R1}"
    assert (deploy_to / ".deployctl" / "lock").exists()


def test_a_new_commit_and_check_mode_leave_the_switch_to_its_own_call(
    deploy_to: Path, upstream: Upstream, app: str, r1_live: Path, systemd: FakeCommands
) -> None:
    restarts = systemd.calls().count(RESTART)

    checked = stage_live(deploy_to, upstream, app, r1_live, _ansible_check_mode=True)
    new = stage_live(deploy_to, upstream, app, r1_live, version="v2", service_unit=UNIT_B)

    assert checked["already_live"] is True and "switch" not in checked
    assert new["already_live"] is False and "switch" not in new
    assert systemd.calls().count(RESTART) == restarts and os.readlink(deploy_to / "current") == f"releases/{R1}"


# -- a one-host batch's stage call builds, migrates and switches to its release (build, migrate, go_live) ----------

MIGRATE = {"argv": ["sh", "-c", "id -un > migrated.txt"], "user": APP_USER}


@pytest.fixture
def open_app(open_deploy_to: Path) -> Iterator[str]:
    """`app` for a deploy_to whose releases the app user may build and migrate."""
    with app_of(open_deploy_to) as url:
        yield url


@pytest.fixture
def open_r1_live(
    open_deploy_to: Path, upstream: Upstream, open_app: str, tmp_path: Path, systemd: FakeCommands
) -> Path:
    """R1 (v1, one migration) live and healthy with UNIT_A. Returns the unit's path."""
    unit = tmp_path / "shop.service"
    stage_and_build(open_deploy_to, upstream, R1, service_unit=UNIT_A)
    assert not go_live(open_deploy_to, R1, open_app, unit).get("failed")
    return unit


def one_host_call(deploy_to: Path, upstream: Upstream, app: str, unit: Path, **extra: Any) -> dict[str, Any]:
    """The stage call of v2 (which brings a migration) as a one-host batch's: build, migrate and go_live."""
    lock = {"token": "run-9", "holder": {"user": "alice"}}
    args = staged_args(
        deploy_to,
        upstream,
        R2,
        version="v2",
        service_unit=UNIT_B,
        lock=lock,
        build={"argv": ["true"], "user": APP_USER},
        go_live=go_live_settings(app, unit, unlock_token="run-9"),
    )
    return run_module(release, {**args, **extra})


def test_a_one_host_batch_builds_migrates_and_switches_its_release_in_one_call(
    open_deploy_to: Path, upstream: Upstream, open_app: str, open_r1_live: Path, systemd: FakeCommands, tmp_path: Path
) -> None:
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    metrics = {"textfile_dir": str(textfile), "app": "shop", "environment": "production", "action": "deploy"}

    result = one_host_call(
        open_deploy_to,
        upstream,
        open_app,
        open_r1_live,
        migrate=MIGRATE,
        cleanup=True,
        keep_releases=1,
        metrics={**metrics, "outcome": "deployed", "started_at": 1},
    )

    assert not result.get("failed"), result.get("msg")
    assert (result["already_live"], result["pending_migrations"]) == (False, ["20240201000000"])
    # Built, then migrated in the published release, as the app user, then switched to.
    assert (open_deploy_to / "releases" / R2 / "migrated.txt").read_text() == f"{APP_USER}\n"
    assert result["migrate"]["rc"] == 0 and result["migrate"]["changed"] is True
    switch = result["switch"]
    assert (switch["release_id"], switch["switched"], switch["restarted"]) == (R2, True, True)
    assert switch["health"]["healthy"] is True and switch["health"]["body"] == f"revision {R2}"
    assert os.readlink(open_deploy_to / "current") == f"releases/{R2}"
    assert RESTART in systemd.calls()
    # The rest of the switch's call: the cleanup (R1 kept: the one good release before), the unlock, the metrics.
    assert switch["cleanup"] == {"removed": [], "error": ""}
    assert switch["unlocked"] is True and not (open_deploy_to / ".deployctl" / "lock").exists()
    written = (textfile / "deployctl-shop.prom").read_text()
    assert 'outcome="deployed"' in written
    for stage in ("fetch", "build", "migrate", "switch"):
        assert f'stage="{stage}"' in written, stage
    parts = result["build"]["elapsed"] + result["migrate"]["elapsed"] + switch["elapsed"]
    assert parts <= result["elapsed"]


def test_a_failed_migration_in_the_one_host_call_switches_nothing_and_keeps_the_lock(
    open_deploy_to: Path, upstream: Upstream, open_app: str, open_r1_live: Path
) -> None:
    failing = {**MIGRATE, "argv": ["sh", "-c", "echo 'relation does not exist'; exit 1"]}

    result = one_host_call(open_deploy_to, upstream, open_app, open_r1_live, migrate=failing)

    assert (result["failed"], result["stage"]) == (True, "migrate")
    assert result["msg"].startswith("migrate: `sh -c")
    assert "exited 1" in result["msg"] and "relation does not exist" in result["msg"]
    # What the role reports it with: the migrate part (failed, its message, its seconds), the build before it.
    assert (result["migrate"]["failed"], result["migrate"]["msg"]) == (True, result["msg"])
    assert result["migrate"]["elapsed"] >= 0 and result["build"]["rc"] == 0
    assert "switch" not in result and result["created"] is True
    assert os.readlink(open_deploy_to / "current") == f"releases/{R1}"
    assert (open_deploy_to / ".deployctl" / "lock").exists()


def test_a_release_with_migrations_the_call_does_not_run_is_left_for_the_switch_s_own_call(
    open_deploy_to: Path, upstream: Upstream, open_app: str, open_r1_live: Path
) -> None:
    result = one_host_call(open_deploy_to, upstream, open_app, open_r1_live)

    assert not result.get("failed"), result.get("msg")
    assert result["pending_migrations"] == ["20240201000000"]
    assert "migrate" not in result and "switch" not in result
    assert os.readlink(open_deploy_to / "current") == f"releases/{R1}"


def test_a_new_release_that_fails_its_check_in_the_one_host_call_is_switched_back_in_it(
    open_deploy_to: Path, upstream: Upstream, open_app: str, open_r1_live: Path, systemd: FakeCommands
) -> None:
    broken_build = {"argv": ["touch", "BROKEN"], "user": APP_USER}

    result = one_host_call(open_deploy_to, upstream, open_app, open_r1_live, migrate=MIGRATE, build=broken_build)

    assert (result["failed"], result["stage"]) == (True, "verify")
    assert result["migrate"]["changed"] is True
    switch = result["switch"]
    assert (switch["failed"], switch["switched"], switch["previous"]) == (True, True, R1)
    assert switch["revert"]["health"]["healthy"] is True
    assert os.readlink(open_deploy_to / "current") == f"releases/{R1}"


def test_a_one_host_call_whose_run_is_gone_stops_after_its_build(
    open_deploy_to: Path,
    upstream: Upstream,
    open_app: str,
    open_r1_live: Path,
    systemd: FakeCommands,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ctrl-C, a killed run, a dropped connection: nothing reads the call's result any more.
    monkeypatch.setattr(release, "caller_gone", lambda: True)
    restarts = systemd.calls().count(RESTART)

    result = one_host_call(open_deploy_to, upstream, open_app, open_r1_live, migrate=MIGRATE)

    assert (result["failed"], result["stage"]) == (True, "interrupted")
    assert "stopped after its build, before the migrations and the switch" in result["msg"]
    assert not (open_deploy_to / "releases" / R2 / "migrated.txt").exists()
    assert os.readlink(open_deploy_to / "current") == f"releases/{R1}"
    assert systemd.calls().count(RESTART) == restarts
    last = json.loads((open_deploy_to / ".deployctl" / "journal.jsonl").read_text().splitlines()[-1])
    assert (last["event"], last["release"]) == ("aborted", R2)
    assert "interrupted, killed or its connection lost" in last["reason"]


def test_a_one_host_call_whose_run_is_gone_after_the_migrations_does_not_switch(
    open_deploy_to: Path,
    upstream: Upstream,
    open_app: str,
    open_r1_live: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The run goes away while the migrations run: they finish (nothing stops them half-way), the switch does not.
    asked = iter([False, True])
    monkeypatch.setattr(release, "caller_gone", lambda: next(asked))

    result = one_host_call(open_deploy_to, upstream, open_app, open_r1_live, migrate=MIGRATE)

    assert (result["failed"], result["stage"]) == (True, "interrupted")
    assert "stopped after the migrations, before the switch" in result["msg"]
    assert (open_deploy_to / "releases" / R2 / "migrated.txt").exists()
    assert os.readlink(open_deploy_to / "current") == f"releases/{R1}"
