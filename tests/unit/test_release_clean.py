"""release state=clean: which releases are kept, which are removed, with their state files."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore
from ansible_collections.deployctl.core.plugins.modules import release
from tests.unit.conftest import journal, run_module, tree


def release_ids(count: int) -> list[str]:
    start = datetime(2024, 1, 1)
    return [(start + timedelta(hours=i)).strftime("%Y%m%dT%H%M%SZ") for i in range(count)]


def fabricate(deploy_to: Path, states: dict[str, str], current: str, staging: tuple[str, ...] = ()) -> None:
    """A host after many deploys: release directories, their recorded states, `current`, staging leftovers."""
    layout = Layout(str(deploy_to))
    layout.ensure(0, 0)
    store = ReleaseStore(layout)
    for release_id, recorded in states.items():
        os.mkdir(layout.release(release_id))
        (Path(layout.release(release_id)) / "REVISION").write_text(release_id + "\n")
        record = {"id": release_id, "state": recorded, "commit": "0" * 40, "ref": "v1"}
        # Each good release served once; a failed one never did.
        store.put({**record, **({"activated_at": release_id} if recorded != "failed" else {})})
    for release_id in staging:
        os.makedirs(os.path.join(layout.staging(release_id), "app"))
    os.symlink(f"releases/{current}", layout.current)


def clean(deploy_to: Path, keep: int, check_mode: bool = False) -> dict:
    result = run_module(
        release, {"deploy_to": str(deploy_to), "state": "clean", "keep_releases": keep}, check_mode=check_mode
    )
    assert not result.get("failed"), result["msg"]
    return result


def on_disk(deploy_to: Path) -> tuple[list[str], list[str]]:
    states = sorted(n.removesuffix(".json") for n in os.listdir(deploy_to / ".deployctl" / "releases"))
    return sorted(os.listdir(deploy_to / "releases")), states


@pytest.fixture
def crowded(deploy_to: Path) -> dict[str, list[str]]:
    """12 good releases and 3 failed ones, interleaved; current is an old one; one staging leftover."""
    ids = release_ids(16)
    failed = [ids[3], ids[8], ids[13]]
    good = [i for i in ids[:15] if i not in failed]
    states = {i: ("failed" if i in failed else "built") for i in ids[:15]}
    states[good[1]] = "active"
    fabricate(deploy_to, states, current=good[1], staging=(ids[15],))
    return {"ids": ids, "good": good, "failed": failed}


def test_keeps_newest_good_current_rollback_target_and_newest_failed(
    deploy_to: Path, crowded: dict[str, list[str]]
) -> None:
    good, failed, ids = crowded["good"], crowded["failed"], crowded["ids"]
    # The rollback target is the good release before the current one, kept beyond keep_releases.
    kept = sorted({*good[-5:], good[0], good[1], failed[-1]})

    result = clean(deploy_to, keep=5)

    removed = sorted(set(ids[:15]) - set(kept))
    assert result["changed"] is True
    assert result["current"] == good[1]
    assert result["rollback_target"] == good[0]
    assert result["removed"] == [*removed, f".staging-{ids[15]}"]
    assert on_disk(deploy_to) == (kept, kept)
    assert os.readlink(deploy_to / "current") == f"releases/{good[1]}"
    events = [(line["event"], line["release"]) for line in journal(deploy_to)]
    assert events == [("discarded_staging", ids[15])] + [("removed", r) for r in removed]

    again = clean(deploy_to, keep=5)
    assert (again["changed"], again["removed"]) == (False, [])


def test_check_mode_lists_the_same_and_removes_nothing(deploy_to: Path, crowded: dict[str, list[str]]) -> None:
    before = tree(deploy_to)

    planned = clean(deploy_to, keep=5, check_mode=True)

    assert tree(deploy_to) == before
    assert planned["changed"] is True
    assert planned == {**clean(deploy_to, keep=5), "invocation": planned["invocation"], "elapsed": planned["elapsed"]}


def test_the_rollback_target_is_kept_beyond_keep_releases(deploy_to: Path) -> None:
    ids = release_ids(4)
    fabricate(deploy_to, {**dict.fromkeys(ids[:3], "built"), ids[3]: "active"}, current=ids[3])

    result = clean(deploy_to, keep=1)

    assert result["rollback_target"] == ids[2]
    assert result["removed"] == ids[:2]
    assert on_disk(deploy_to) == (ids[2:], ids[2:])


def test_a_half_built_newer_release_is_not_the_rollback_target_nor_removed(deploy_to: Path) -> None:
    ids = release_ids(4)
    fabricate(deploy_to, {ids[0]: "built", ids[1]: "built", ids[2]: "active"}, current=ids[2])
    ReleaseStore(Layout(str(deploy_to))).put({"id": ids[3], "state": "building"})
    os.mkdir(deploy_to / "releases" / ids[3])

    result = clean(deploy_to, keep=1)

    assert result["rollback_target"] == ids[1]
    assert result["removed"] == [ids[0]]
    assert on_disk(deploy_to) == (ids[1:], ids[1:])


def test_clean_forgets_a_staging_leftover(deploy_to: Path) -> None:
    ids = release_ids(2)
    fabricate(deploy_to, {ids[0]: "active"}, current=ids[0], staging=(ids[1],))
    ReleaseStore(Layout(str(deploy_to))).put({"id": ids[1], "state": "building"})

    result = clean(deploy_to, keep=5)

    assert result["removed"] == [f".staging-{ids[1]}"]
    assert sorted(os.listdir(deploy_to / "releases")) == [ids[0]]
    assert [r["id"] for r in run_module(release, {"deploy_to": str(deploy_to), "state": "query"})["releases"]] == [
        ids[0]
    ]


def test_three_hundred_releases(deploy_to: Path) -> None:
    ids = release_ids(300)
    failed = ids[7::15]
    good = [i for i in ids if i not in failed]
    states = {i: ("failed" if i in failed else "built") for i in ids}
    states[good[-1]] = "active"
    fabricate(deploy_to, states, current=good[-1])

    result = clean(deploy_to, keep=5)

    kept = sorted({*good[-5:], failed[-1]})
    assert len(result["removed"]) == 300 - len(kept)
    assert result["removed"] == sorted(set(ids) - set(kept))
    assert on_disk(deploy_to) == (kept, kept)
    assert len([line for line in journal(deploy_to) if line["event"] == "removed"]) == 300 - len(kept)


def test_a_release_that_never_went_live_is_no_rollback_target(deploy_to: Path) -> None:
    ids = release_ids(3)
    fabricate(deploy_to, {ids[0]: "built", ids[1]: "built", ids[2]: "active"}, current=ids[2])
    store = ReleaseStore(Layout(str(deploy_to)))
    interrupted = store.get(ids[1])
    assert interrupted is not None
    del interrupted["activated_at"]  # built, then its deploy was interrupted before the switch
    store.put(interrupted)

    result = run_module(release, {"deploy_to": str(deploy_to), "state": "query"})

    assert result["rollback_target"] == ids[0]
