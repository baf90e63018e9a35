# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""release states built, failed, query and clean: the life of a release after staging.

Which release is current and which is the rollback target is decided from the
records and readlink(current), never from directory modification times.
"""

from __future__ import annotations

import os
import shutil

from ansible_collections.deployctl.core.plugins.module_utils._candidate import stop_head_start
from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._leftovers import discard_leftovers
from ansible_collections.deployctl.core.plugins.module_utils._release_state import (
    BUILDING,
    BUILT,
    FAILED,
    GOOD_STATES,
    ReleaseStore,
    utc_now,
)


def publish(layout: Layout, store: ReleaseStore, release_id: str, check: bool) -> dict:
    """state=built: rename the staging directory to releases/ID; return the module's result.

    Changes nothing when the release is already published. Raises DeployError when
    there is no staging directory (outside check mode, which stages nothing), OSError.
    """
    staging, release = layout.staging(release_id), layout.release(release_id)
    result = {"release_id": release_id, "path": release, "changed": False}
    if os.path.isdir(release) and not os.path.exists(staging):
        return result
    result["changed"] = True
    if check:
        # Check mode stages nothing: the release would be published.
        return result
    if not os.path.isdir(staging):
        raise DeployError(f"release {release_id} has no staging directory {staging}: stage it first")
    os.rename(staging, release)
    store.update(release_id, state=BUILT, built_at=utc_now())
    store.journal("built", release_id)
    return result


def mark_failed(layout: Layout, store: ReleaseStore, release_id: str, reason: str, check: bool) -> dict:
    """state=failed: record the release as failed with `reason`; return the module's result.

    A staging directory is kept as releases/ID for inspection, and older failed
    releases are removed (result's `removed`). The candidate a head start left running for it is stopped
    (the deploy stopped between its build and its switch). A deploy that stopped before creating its
    release is journaled as aborted. Raises OSError, ValueError (a damaged record).
    """
    if not check:
        stop_head_start(store, release_id)
    record = store.get(release_id)
    result: dict = {"release_id": release_id, "changed": record is not None and record.get("state") != FAILED}
    if record is None and not check and os.path.isdir(layout.meta):
        # The deploy stopped before creating its release: the journal still says so.
        store.journal("aborted", release_id, reason=reason)
    if check or not result["changed"]:
        return result
    staging = layout.staging(release_id)
    if os.path.isdir(staging):
        # Kept as releases/ID for inspection; clean removes older failed ones.
        os.rename(staging, layout.release(release_id))
    store.update(release_id, state=FAILED, failed_at=utc_now(), reason=reason)
    store.journal("failed", release_id, reason=reason)
    # Only the newest failed release is kept for inspection.
    current = layout.current_release()
    result["removed"] = [
        r["id"] for r in store.all() if r.get("state") == FAILED and r["id"] not in (release_id, current)
    ]
    for old in result["removed"]:
        # Best effort: this runs while a failed deploy is being reported.
        _remove(layout, store, old, ignore_errors=True)
    return result


def query(layout: Layout, store: ReleaseStore) -> dict:
    """state=query: the recorded releases, oldest first, the current one and the rollback target.

    Raises OSError, ValueError (a damaged record).
    """
    current = layout.current_release()
    rollback = store.previous_good(current)
    releases = []
    for record in store.all():
        entry = dict(record)
        entry["current"] = record["id"] == current
        entry["present"] = os.path.isdir(layout.release(record["id"]))
        releases.append(entry)
    return {
        "changed": False,
        "current": current,
        "rollback_target": rollback["id"] if rollback else None,
        "releases": releases,
    }


def clean(layout: Layout, store: ReleaseStore, keep_releases: int, check: bool) -> dict:
    """state=clean: keep `keep_releases` good releases (at least 1), remove the others.

    The current release, the rollback target, the newest failed release and releases
    being built are always kept; staging leftovers are removed (`discard_leftovers`).
    In check mode, `removed` lists what would be removed. Raises OSError, ValueError (a
    damaged record).
    """
    current = layout.current_release()
    rollback = store.previous_good(current)
    records = [r for r in store.all() if os.path.isdir(layout.release(r["id"]))]
    good = [r["id"] for r in records if r.get("state") in GOOD_STATES]
    failed = [r["id"] for r in records if r.get("state") == FAILED]
    keep = set(good[-max(keep_releases, 1) :]) | set(failed[-1:])
    keep |= {current, rollback["id"] if rollback else None}
    doomed = [r["id"] for r in records if r["id"] not in keep and r.get("state") != BUILDING]
    result: dict = {
        "changed": bool(doomed),
        "current": current,
        "rollback_target": rollback["id"] if rollback else None,
    }
    discard_leftovers(layout, store, check, result)
    result["removed"] = doomed + result["removed"]
    if check:
        result["changed"] = bool(result["removed"])
        return result
    for release_id in doomed:
        _remove(layout, store, release_id, ignore_errors=False)
    return result


def _remove(layout: Layout, store: ReleaseStore, release_id: str, ignore_errors: bool) -> None:
    # The directory first: a record without its directory is harmless (clean skips it),
    # a directory without its record would never be removed.
    shutil.rmtree(layout.release(release_id), ignore_errors=ignore_errors)
    store.remove(release_id)
    store.journal("removed", release_id)
