"""release state=built, active and failed: publishing, switching `current`, recording failures."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ansible.plugins.callback import CallbackBase

from ansible_collections.deployctl.core.plugins.modules import release
from tests.unit.conftest import Upstream, deploy, journal, release_to, run_module, staged_args, state, switch_diff

R1, R2, R3 = "20240101T000000Z", "20240102T000000Z", "20240103T000000Z"


def stage(deploy_to: Path, upstream: Upstream, release_id: str, version: str = "v1") -> None:
    result = run_module(release, staged_args(deploy_to, upstream, release_id, version=version))
    assert result["changed"] is True, result


def test_built_publishes_the_staging_directory(deploy_to: Path, upstream: Upstream) -> None:
    stage(deploy_to, upstream, R1)

    result = release_to(deploy_to, R1, "built")

    assert result["changed"] is True
    assert result["path"] == str(deploy_to / "releases" / R1)
    assert sorted(os.listdir(deploy_to / "releases")) == [R1]
    assert (deploy_to / "releases" / R1 / "REVISION").is_file()
    assert state(deploy_to, R1)["state"] == "built"
    assert journal(deploy_to)[-1]["event"] == "built"
    assert not (deploy_to / "current").exists()


def test_built_again_changes_nothing(deploy_to: Path, upstream: Upstream) -> None:
    stage(deploy_to, upstream, R1)
    release_to(deploy_to, R1, "built")

    assert release_to(deploy_to, R1, "built")["changed"] is False


def test_built_without_staging_says_to_stage_first(deploy_to: Path) -> None:
    result = run_module(release, {"deploy_to": str(deploy_to), "state": "built", "release_id": R1})

    assert result["failed"] is True
    assert result["msg"] == (
        f"release {R1} has no staging directory {deploy_to / 'releases' / ('.staging-' + R1)}: stage it first"
    )


def test_built_in_check_mode_keeps_the_staging_directory(deploy_to: Path, upstream: Upstream) -> None:
    stage(deploy_to, upstream, R1)

    result = run_module(release, {"deploy_to": str(deploy_to), "state": "built", "release_id": R1}, check_mode=True)

    assert result["changed"] is True
    assert sorted(os.listdir(deploy_to / "releases")) == [".staging-" + R1]
    assert state(deploy_to, R1)["state"] == "building"


def test_first_activation_points_current_at_the_release_relatively(deploy_to: Path, upstream: Upstream) -> None:
    stage(deploy_to, upstream, R1)
    release_to(deploy_to, R1, "built")

    before = time.time()
    result = release_to(deploy_to, R1, "active", schema_version="20240101000000")

    # When current was switched, by the host's clock (a revert counts the outage from it).
    assert before <= result.pop("switched_at") <= time.time()
    # The seconds the call worked (the deploy metrics' stage "switch").
    assert 0 <= result.pop("elapsed") <= time.time() - before + 0.01  # rounded to 0.01 s
    assert result == {
        "changed": True,
        "release_id": R1,
        "previous": None,
        "switched": True,
        "unit_changed": False,
        "restarted": False,
        "invocation": result["invocation"],
    }
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"
    record = state(deploy_to, R1)
    assert (record["state"], record["previous"], record["schema_version"]) == ("active", None, "20240101000000")
    assert {k: v for k, v in journal(deploy_to)[-1].items() if k != "time"} == {
        "event": "switched",
        "release": R1,
        "host": "",
    }
    assert [p for p in os.listdir(deploy_to) if ".tmp-" in p] == []


def test_switching_records_the_previous_release_and_demotes_it(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    deploy(deploy_to, upstream, R2, version="v2")

    assert os.readlink(deploy_to / "current") == f"releases/{R2}"
    assert (state(deploy_to, R1)["state"], state(deploy_to, R2)["state"]) == ("built", "active")
    assert state(deploy_to, R2)["previous"] == R1

    stage(deploy_to, upstream, R3)
    release_to(deploy_to, R3, "built")
    result = release_to(deploy_to, R3, "active")

    assert (result["changed"], result["previous"]) == (True, R2)
    assert os.readlink(deploy_to / "current") == f"releases/{R3}"
    assert [state(deploy_to, r)["state"] for r in (R1, R2, R3)] == ["built", "built", "active"]
    assert state(deploy_to, R3)["previous"] == R2
    switched = [(line["release"], line.get("previous")) for line in journal(deploy_to) if line["event"] == "switched"]
    assert switched == [(R1, None), (R2, R1), (R3, R2)]


def test_activating_the_current_release_changes_nothing(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    lines = len(journal(deploy_to))

    result = release_to(deploy_to, R1, "active")

    assert (result["changed"], result["previous"]) == (False, R1)
    assert len(journal(deploy_to)) == lines


def test_switching_back_to_the_previous_release(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    deploy(deploy_to, upstream, R2, version="v2")

    result = release_to(deploy_to, R1, "active")

    assert (result["changed"], result["previous"]) == (True, R2)
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"
    assert (state(deploy_to, R1)["state"], state(deploy_to, R2)["state"]) == ("active", "built")


def test_check_mode_does_not_move_current(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    stage(deploy_to, upstream, R2, version="v2")
    release_to(deploy_to, R2, "built")

    result = run_module(release, {"deploy_to": str(deploy_to), "state": "active", "release_id": R2}, check_mode=True)

    assert (result["changed"], result["previous"]) == (True, R1)
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"
    assert (state(deploy_to, R1)["state"], state(deploy_to, R2)["state"]) == ("active", "built")


def test_diff_mode_shows_current_switched_from_the_old_release_to_the_new(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    stage(deploy_to, upstream, R2, version="v2")
    release_to(deploy_to, R2, "built")

    result = release_to(deploy_to, R2, "active", _ansible_diff=True)

    assert result["diff"] == [switch_diff(deploy_to, R1, R2)]
    # What --diff prints: Ansible's own rendering of the result.
    shown = CallbackBase()._get_diff(result["diff"])
    assert f"-current -> releases/{R1}" in shown
    assert f"+current -> releases/{R2}" in shown


def test_diff_mode_on_a_first_deploy_shows_current_appearing(deploy_to: Path, upstream: Upstream) -> None:
    stage(deploy_to, upstream, R1)
    release_to(deploy_to, R1, "built")

    result = release_to(deploy_to, R1, "active", _ansible_diff=True)

    assert result["diff"] == [switch_diff(deploy_to, None, R1)]


def test_diff_mode_shows_nothing_when_current_stays(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)

    result = release_to(deploy_to, R1, "active", _ansible_diff=True)

    assert result["changed"] is False
    assert "diff" not in result


def test_check_mode_shows_the_switch_to_a_release_it_only_pretended_to_stage(
    deploy_to: Path, upstream: Upstream
) -> None:
    deploy(deploy_to, upstream, R1)

    result = run_module(
        release,
        {"deploy_to": str(deploy_to), "state": "active", "release_id": R2, "_ansible_diff": True},
        check_mode=True,
    )

    assert (result["changed"], result["unit_changed"]) == (True, False)
    assert result["diff"] == [switch_diff(deploy_to, R1, R2)]
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"


def test_without_diff_mode_there_is_no_diff(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    stage(deploy_to, upstream, R2, version="v2")
    release_to(deploy_to, R2, "built")

    assert "diff" not in release_to(deploy_to, R2, "active")


def test_switching_to_a_missing_release_is_refused(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)

    result = run_module(release, {"deploy_to": str(deploy_to), "state": "active", "release_id": R2})

    assert result["failed"] is True
    assert result["msg"] == f"release {R2} does not exist under {deploy_to / 'releases'}"
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"


def test_failed_moves_staging_to_releases_and_records_the_reason(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    stage(deploy_to, upstream, R2, version="v2")

    result = release_to(deploy_to, R2, "failed", reason="build: `make deploy` exited 2")

    assert result["changed"] is True
    assert sorted(os.listdir(deploy_to / "releases")) == [R1, R2]
    assert (deploy_to / "releases" / R2 / "REVISION").is_file()
    record = state(deploy_to, R2)
    assert (record["state"], record["reason"]) == ("failed", "build: `make deploy` exited 2")
    assert {k: v for k, v in journal(deploy_to)[-1].items() if k != "time"} == {
        "event": "failed",
        "release": R2,
        "reason": "build: `make deploy` exited 2",
        "host": "",
    }
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"
    assert release_to(deploy_to, R2, "failed", reason="again")["changed"] is False
    assert state(deploy_to, R2)["reason"] == "build: `make deploy` exited 2"


def test_failed_in_check_mode_records_nothing(deploy_to: Path, upstream: Upstream) -> None:
    stage(deploy_to, upstream, R1)

    result = run_module(
        release, {"deploy_to": str(deploy_to), "state": "failed", "release_id": R1, "reason": "x"}, check_mode=True
    )

    assert result["changed"] is True
    assert state(deploy_to, R1)["state"] == "building"
    assert sorted(os.listdir(deploy_to / "releases")) == [".staging-" + R1]


def test_switching_to_a_failed_release_is_refused(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    stage(deploy_to, upstream, R2, version="v2")
    release_to(deploy_to, R2, "failed", reason="health check: status 500, expected 200")

    result = run_module(release, {"deploy_to": str(deploy_to), "state": "active", "release_id": R2})

    assert result["failed"] is True
    assert result["msg"] == (
        f"release {R2} is marked failed (health check: status 500, expected 200); refusing to switch to it"
    )
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"


def test_a_new_failed_release_removes_the_older_failed_ones(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    stage(deploy_to, upstream, R2, version="v2")
    release_to(deploy_to, R2, "failed", reason="build: exited 2")
    stage(deploy_to, upstream, R3, version="v2")

    result = release_to(deploy_to, R3, "failed", reason="migrate: exited 1")

    assert result["removed"] == [R2]
    assert sorted(os.listdir(deploy_to / "releases")) == [R1, R3]
    assert sorted(os.listdir(deploy_to / ".deployctl" / "releases")) == [f"{R1}.json", f"{R3}.json"]
    assert ("removed", R2) in [(line["event"], line["release"]) for line in journal(deploy_to)]


def test_a_release_switched_away_from_as_rolled_back_is_no_rollback_target(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    deploy(deploy_to, upstream, R2, version="v2")
    deploy(deploy_to, upstream, R3, config_content="x: 1\n")

    result = release_to(deploy_to, R2, "active", previous_state="rolled_back")

    assert (result["changed"], result["previous"]) == (True, R3)
    assert [state(deploy_to, r)["state"] for r in (R1, R2, R3)] == ["built", "active", "rolled_back"]
    query = run_module(release, {"deploy_to": str(deploy_to), "state": "query"})
    assert (query["current"], query["rollback_target"]) == (R2, R1)


def test_after_a_rollback_to_an_older_release_the_releases_between_are_no_rollback_target(
    deploy_to: Path, upstream: Upstream
) -> None:
    deploy(deploy_to, upstream, R1)
    deploy(deploy_to, upstream, R2, version="v2")
    deploy(deploy_to, upstream, R3, config_content="x: 1\n")

    # deploy_rollback_to=R1: R2 stays good, but going to it from R1 would be a roll forward.
    release_to(deploy_to, R1, "active", previous_state="rolled_back")

    query = run_module(release, {"deploy_to": str(deploy_to), "state": "query"})
    assert (query["current"], query["rollback_target"]) == (R1, None)
    assert [state(deploy_to, r)["state"] for r in (R1, R2, R3)] == ["active", "built", "rolled_back"]


def test_the_rollback_target_is_the_release_that_served_before_the_current_one(
    deploy_to: Path, upstream: Upstream
) -> None:
    R4 = "20240104T000000Z"
    deploy(deploy_to, upstream, R1)  # v1
    deploy(deploy_to, upstream, R2, version="v2")
    deploy(deploy_to, upstream, R3, config_content="x: 1\n")  # v1 again
    release_to(deploy_to, R1, "active", previous_state="rolled_back")  # deploy_rollback_to=R1
    deploy(deploy_to, upstream, R4, version="v2", config_content="y: 1\n")  # replaces R1

    query = run_module(release, {"deploy_to": str(deploy_to), "state": "query"})

    # R2, the newest older release, runs R4's commit: going to it would change no code. R1 served before R4.
    assert (query["current"], query["rollback_target"]) == (R4, R1)
    # Once R1 is gone, the newest older good release that served.
    shutil.rmtree(deploy_to / "releases" / R1)
    assert run_module(release, {"deploy_to": str(deploy_to), "state": "query"})["rollback_target"] == R2
