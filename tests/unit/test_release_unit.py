"""The service unit travels with the release: recorded when staged, installed when switched to."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore
from ansible_collections.deployctl.core.plugins.modules import release
from tests.unit.conftest import (
    Upstream,
    deploy,
    journal,
    release_to,
    run_module,
    stage_and_build,
    staged_args,
    switch_diff,
)

R1, R2, R3 = "20240101T000000Z", "20240102T000000Z", "20240103T000000Z"
UNIT_A = "[Unit]\nDescription=shop\n\n[Service]\nExecStart=/usr/bin/puma -w 2\n"
UNIT_B = "[Unit]\nDescription=shop\n\n[Service]\nExecStart=/usr/bin/puma -w 4\n"


def recorded(deploy_to: Path, release_id: str) -> Path:
    return deploy_to / ".deployctl" / "releases" / f"{release_id}.service"


def switch(deploy_to: Path, release_id: str, unit_path: Path, check_mode: bool = False, **extra: Any) -> dict:
    result = run_module(
        release,
        {
            "deploy_to": str(deploy_to),
            "state": "active",
            "release_id": release_id,
            "unit_path": str(unit_path),
            **extra,
        },
        check_mode=check_mode,
    )
    assert not result.get("failed"), result["msg"]
    return result


def mode_and_owner(path: Path) -> tuple[int, int, int]:
    st = os.lstat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


# -- staged ---------------------------------------------------------------------------


def test_staged_records_the_unit_with_the_release(deploy_to: Path, upstream: Upstream) -> None:
    result = run_module(release, staged_args(deploy_to, upstream, R1, service_unit=UNIT_A))

    assert result["created"] is True
    assert recorded(deploy_to, R1).read_text() == UNIT_A
    assert mode_and_owner(recorded(deploy_to, R1)) == (0o644, 0, 0)
    assert [n for n in os.listdir(deploy_to / ".deployctl" / "releases") if n.startswith(".tmp-")] == []


def test_staged_without_a_unit_records_none(deploy_to: Path, upstream: Upstream) -> None:
    run_module(release, staged_args(deploy_to, upstream, R1))

    assert not recorded(deploy_to, R1).exists()


def test_check_mode_records_no_unit(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1, service_unit=UNIT_A)

    result = run_module(release, staged_args(deploy_to, upstream, R2, service_unit=UNIT_B), check_mode=True)

    assert (result["already_live"], result["changed"], result["created"]) == (False, True, False)
    assert not recorded(deploy_to, R2).exists()


def test_same_commit_config_and_unit_is_already_live(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1, service_unit=UNIT_A)

    result = run_module(release, staged_args(deploy_to, upstream, R2, service_unit=UNIT_A))

    assert (result["already_live"], result["changed"], result["release_id"]) == (True, False, R1)
    assert not recorded(deploy_to, R2).exists()


def test_another_unit_is_a_new_release(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1, service_unit=UNIT_A)

    result = run_module(release, staged_args(deploy_to, upstream, R2, service_unit=UNIT_B))

    assert (result["already_live"], result["changed"], result["release_id"]) == (False, True, R2)
    assert (recorded(deploy_to, R1).read_text(), recorded(deploy_to, R2).read_text()) == (UNIT_A, UNIT_B)


def test_a_live_release_without_a_recorded_unit_differs_from_a_given_unit(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)

    result = run_module(release, staged_args(deploy_to, upstream, R2, service_unit=UNIT_A))

    assert (result["already_live"], result["release_id"]) == (False, R2)


def test_without_service_unit_the_recorded_unit_plays_no_part(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1, service_unit=UNIT_A)

    result = run_module(release, staged_args(deploy_to, upstream, R2))

    assert (result["already_live"], result["release_id"]) == (True, R1)


def test_check_mode_sees_a_changed_unit_too(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1, service_unit=UNIT_A)

    same = run_module(release, staged_args(deploy_to, upstream, R2, service_unit=UNIT_A), check_mode=True)
    other = run_module(release, staged_args(deploy_to, upstream, R2, service_unit=UNIT_B), check_mode=True)

    assert (same["already_live"], other["already_live"]) == (True, False)


# -- active -------------------------------------------------------------------------------


def test_switch_installs_the_unit_of_the_release(deploy_to: Path, upstream: Upstream, tmp_path: Path) -> None:
    unit = tmp_path / "shop.service"
    stage_and_build(deploy_to, upstream, R1, service_unit=UNIT_A)

    result = switch(deploy_to, R1, unit)

    assert (result["changed"], result["unit_changed"]) == (True, True)
    assert "diff" not in result
    assert unit.read_text() == UNIT_A
    assert mode_and_owner(unit) == (0o644, 0, 0)
    assert [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")] == []
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"
    events = [(line["event"], line["release"], line.get("path")) for line in journal(deploy_to)[-2:]]
    # The unit goes in before the link: a unit that cannot be installed switches nothing.
    assert events == [("unit_installed", R1, str(unit)), ("switched", R1, None)]


def test_switch_replaces_the_installed_unit_and_back(deploy_to: Path, upstream: Upstream, tmp_path: Path) -> None:
    unit = tmp_path / "shop.service"
    stage_and_build(deploy_to, upstream, R1, service_unit=UNIT_A)
    switch(deploy_to, R1, unit)
    stage_and_build(deploy_to, upstream, R2, service_unit=UNIT_B)

    forward = switch(deploy_to, R2, unit)
    assert (forward["changed"], forward["unit_changed"], forward["previous"]) == (True, True, R1)
    assert unit.read_text() == UNIT_B

    back = switch(deploy_to, R1, unit, previous_state="rolled_back")
    assert (back["changed"], back["unit_changed"], back["previous"]) == (True, True, R2)
    assert unit.read_text() == UNIT_A
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"


def test_a_release_switched_to_again_changes_nothing(deploy_to: Path, upstream: Upstream, tmp_path: Path) -> None:
    unit = tmp_path / "shop.service"
    stage_and_build(deploy_to, upstream, R1, service_unit=UNIT_A)
    switch(deploy_to, R1, unit)
    lines = len(journal(deploy_to))

    again = switch(deploy_to, R1, unit)

    assert (again["changed"], again["unit_changed"]) == (False, False)
    assert len(journal(deploy_to)) == lines


def test_the_current_release_gets_its_unit_back(deploy_to: Path, upstream: Upstream, tmp_path: Path) -> None:
    # A revert whose switch is a no-op (current already points at the release) must
    # still put the release's own unit in place, whatever wrote another one.
    unit = tmp_path / "shop.service"
    stage_and_build(deploy_to, upstream, R1, service_unit=UNIT_A)
    switch(deploy_to, R1, unit)
    unit.write_text(UNIT_B)

    result = switch(deploy_to, R1, unit)

    assert (result["changed"], result["unit_changed"], result["previous"]) == (True, True, R1)
    assert unit.read_text() == UNIT_A
    assert [line["event"] for line in journal(deploy_to)][-1] == "unit_installed"


def test_a_release_without_a_recorded_unit_leaves_the_unit_alone(
    deploy_to: Path, upstream: Upstream, tmp_path: Path
) -> None:
    unit = tmp_path / "shop.service"
    stage_and_build(deploy_to, upstream, R1, service_unit=UNIT_A)
    switch(deploy_to, R1, unit)
    stage_and_build(deploy_to, upstream, R2, version="v2")

    result = switch(deploy_to, R2, unit)

    assert (result["changed"], result["unit_changed"]) == (True, False)
    assert unit.read_text() == UNIT_A


def test_no_unit_file_is_created_for_a_release_without_one(deploy_to: Path, upstream: Upstream, tmp_path: Path) -> None:
    unit = tmp_path / "shop.service"
    stage_and_build(deploy_to, upstream, R1)

    result = switch(deploy_to, R1, unit)

    assert result["unit_changed"] is False
    assert not unit.exists()


def test_without_unit_path_no_unit_is_installed(deploy_to: Path, upstream: Upstream) -> None:
    stage_and_build(deploy_to, upstream, R1, service_unit=UNIT_A)

    result = release_to(deploy_to, R1, "active")

    assert (result["changed"], result["unit_changed"]) == (True, False)


def test_check_mode_reports_the_unit_change_and_writes_nothing(
    deploy_to: Path, upstream: Upstream, tmp_path: Path
) -> None:
    unit = tmp_path / "shop.service"
    stage_and_build(deploy_to, upstream, R1, service_unit=UNIT_A)
    switch(deploy_to, R1, unit)
    stage_and_build(deploy_to, upstream, R2, service_unit=UNIT_B)

    result = switch(deploy_to, R2, unit, check_mode=True)

    assert (result["changed"], result["unit_changed"]) == (True, True)
    assert unit.read_text() == UNIT_A
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"


def test_diff_mode_shows_the_switch_then_the_unit(deploy_to: Path, upstream: Upstream, tmp_path: Path) -> None:
    unit = tmp_path / "shop.service"
    stage_and_build(deploy_to, upstream, R1, service_unit=UNIT_A)
    switch(deploy_to, R1, unit)
    stage_and_build(deploy_to, upstream, R2, service_unit=UNIT_B)

    result = switch(deploy_to, R2, unit, check_mode=True, _ansible_diff=True)

    assert result["diff"] == [
        switch_diff(deploy_to, R1, R2),
        {
            "before": UNIT_A,
            "after": UNIT_B,
            "before_header": str(unit),
            "after_header": f"{unit} (recorded with release {R2})",
        },
    ]
    first = switch(deploy_to, R2, tmp_path / "new.service", _ansible_diff=True)
    assert first["diff"][0] == switch_diff(deploy_to, R1, R2)
    assert (first["diff"][1]["before"], first["diff"][1]["after"]) == ("", UNIT_B)


def test_diff_mode_shows_the_unit_alone_when_current_stays(deploy_to: Path, upstream: Upstream, tmp_path: Path) -> None:
    unit = tmp_path / "shop.service"
    stage_and_build(deploy_to, upstream, R1, service_unit=UNIT_A)
    switch(deploy_to, R1, unit)
    unit.write_text(UNIT_B)

    result = switch(deploy_to, R1, unit, _ansible_diff=True)

    assert [(diff["before"], diff["after"], diff["before_header"]) for diff in result["diff"]] == [
        (UNIT_B, UNIT_A, str(unit))
    ]


def test_a_unit_that_cannot_be_installed_fails_and_switches_nothing(
    deploy_to: Path, upstream: Upstream, tmp_path: Path
) -> None:
    deploy(deploy_to, upstream, R1)
    stage_and_build(deploy_to, upstream, R2, service_unit=UNIT_B)
    unit = tmp_path / "missing-dir" / "shop.service"

    result = run_module(
        release, {"deploy_to": str(deploy_to), "state": "active", "release_id": R2, "unit_path": str(unit)}
    )

    assert result["failed"] is True
    assert result["msg"].startswith(f"cannot install the service unit of release {R2} at {unit}: "), result["msg"]
    assert result["msg"].endswith("; current was not switched"), result["msg"]
    # Nothing changed: the role reports the deploy aborted before the switch.
    assert (result["changed"], result["previous"], result["unit_changed"]) == (False, R1, False)
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"
    assert "input_error" not in result


# -- removal ------------------------------------------------------------------------------


def test_clean_removes_the_units_of_removed_releases(deploy_to: Path, upstream: Upstream) -> None:
    for release_id, version in ((R1, "v1"), (R2, "v2"), (R3, "v1")):
        deploy(deploy_to, upstream, release_id, version=version, service_unit=f"# {release_id}\n")
    layout = Layout(str(deploy_to))
    ReleaseStore(layout).put({"id": "20231231T000000Z", "state": "built"})  # a record of a removed directory
    Path(layout.unit("20231231T000000Z")).write_text("# orphan\n")

    result = run_module(release, {"deploy_to": str(deploy_to), "state": "clean", "keep_releases": 1})

    assert result["removed"] == [R1]
    assert sorted(os.listdir(deploy_to / ".deployctl" / "releases")) == record_and_unit("20231231T000000Z", R2, R3)


def record_and_unit(*release_ids: str) -> list[str]:
    """The files kept in .deployctl/releases for these releases, sorted."""
    return sorted(f"{release_id}.{kind}" for release_id in release_ids for kind in ("json", "service"))


def test_pruning_failed_releases_removes_their_units(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1, service_unit=UNIT_A)
    run_module(release, staged_args(deploy_to, upstream, R2, version="v2", service_unit=UNIT_B))
    release_to(deploy_to, R2, "failed", reason="build: exited 2")
    run_module(release, staged_args(deploy_to, upstream, R3, version="v2", service_unit=UNIT_B))

    result = release_to(deploy_to, R3, "failed", reason="migrate: exited 1")

    assert result["removed"] == [R2]
    assert sorted(os.listdir(deploy_to / ".deployctl" / "releases")) == record_and_unit(R1, R3)


def test_a_discarded_staging_leftover_loses_its_unit(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1, service_unit=UNIT_A)
    run_module(release, staged_args(deploy_to, upstream, R2, version="v2", service_unit=UNIT_B))  # then it died

    run_module(release, staged_args(deploy_to, upstream, R3, version="v2", service_unit=UNIT_B))

    assert not recorded(deploy_to, R2).exists()
    assert recorded(deploy_to, R3).read_text() == UNIT_B
