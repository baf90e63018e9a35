# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""release state=active: point `current` at a release, with the service unit recorded with it."""

from __future__ import annotations

import os

from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError
from ansible_collections.deployctl.core.plugins.module_utils._files import read_text
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout, atomic_symlink, atomic_write
from ansible_collections.deployctl.core.plugins.module_utils._lock import holder_user
from ansible_collections.deployctl.core.plugins.module_utils._release_state import (
    ACTIVE,
    FAILED,
    ReleaseStore,
    utc_now,
)
from ansible_collections.deployctl.core.plugins.module_utils._service_unit import install_units
from ansible_collections.deployctl.core.plugins.module_utils._systemctl import restart_app


def activate(
    layout: Layout,
    store: ReleaseStore,
    release_id: str,
    *,
    unit_path: str | None,
    previous_state: str,
    schema_version: str | None,
    check: bool,
    diff: bool,
    verify: bool = False,
) -> dict:
    """Switch `current` to the release atomically and install its unit; return the module's result.

    verify: the caller checks the release's health next and journals `verified` when it passes: the journal's
    `switched` line says so (`verify` true), so that a run lost between the two reads as unfinished (_history),
    and a release's record says `verified: false` from its first switch until then (ReleaseStore.previous_good).

    previous_state: the state recorded for the release switched away from (built or
    rolled_back). schema_version: recorded with the release when given. With `diff`, the
    result's `diff` lists what changes (or would, in check mode): the `current` link,
    then the units at `unit_path` (the service, then its socket). The result's `socket_unit`
    names the socket the release runs behind (no key for none) and `socket_changed` what
    happened to an installed socket unit (install_units(); no key when nothing).
    Raises DeployError for a release that does not exist
    or is marked failed, and for a unit that cannot be installed (then `current` is
    left as it was); OSError when the link cannot be switched (the unit that was
    installed is put back); ValueError for a damaged release record.
    """
    target = os.path.join("releases", release_id)
    previous = layout.current_release()
    switch = previous != release_id
    result: dict = {
        "release_id": release_id,
        "previous": previous,
        "changed": switch,
        "switched": switch,
        "unit_changed": False,
    }
    diffs = [link_diff(layout, target)] if switch and diff else []
    record = store.get(release_id)
    if check and record is None:
        # A release check mode only pretended to stage: it would be switched to. Its
        # unit is not recorded anywhere yet, so whether the unit changes is unknown.
        return _with_diffs(result, diffs)
    if not os.path.isdir(layout.release(release_id)) or record is None:
        raise DeployError(f"release {release_id} does not exist under {layout.releases}")
    if record.get("state") == FAILED:
        raise DeployError(
            f"release {release_id} is marked failed ({record.get('reason') or 'no reason recorded'}); "
            "refusing to switch to it"
        )
    # The unit first, the link after: a unit that cannot be installed leaves current as
    # it was. Also when current already points at the release: a revert or a rollback
    # must leave the unit of the release it restores in place, whatever installed another.
    unit_before = read_text(unit_path) if unit_path else None
    try:
        units = install_units(layout, store, release_id, unit_path, check)
    except OSError as err:
        raise DeployError(
            f"cannot install the service unit of release {release_id} at {unit_path}: {err}; current was not switched",
            release_id=release_id,
            previous=previous,
            changed=False,
            switched=False,
            unit_changed=False,
        ) from err
    if units.socket_unit:
        result["socket_unit"] = units.socket_unit
    if units.socket:
        result["socket_changed"] = units.socket
    if units.service or units.socket:
        result.update(changed=True, unit_changed=True)
        if diff:
            diffs.extend(units.diffs)
    if switch and not check:
        try:
            atomic_symlink(target, layout.current)
        except OSError:
            if units.service and unit_path and unit_before is not None:
                # Put the unit that goes with the release still live back.
                atomic_write(unit_path, unit_before, mode=0o644, uid=0, gid=0)
            raise
        previous_record = store.get(previous)
        if previous and previous_record and previous_record.get("state") == ACTIVE:
            store.update(previous, state=previous_state, deactivated_at=utc_now())
        changes: dict = {"state": ACTIVE, "activated_at": utc_now(), "previous": previous}
        if verify and not record.get("activated_at"):
            # Its first switch: until its check passes (go_live sets it true), a release that never proved it runs
            # is no rollback target. One that served before (the release a revert or a rollback goes back to)
            # keeps what it had: a check it fails now may be the database's fault, not its code's.
            changes["verified"] = False
        if schema_version is not None:
            changes["schema_version"] = schema_version
        store.update(release_id, **changes)
        awaits = {"verify": True} if verify else {}
        store.journal("switched", release_id, previous=previous, by=holder_user(layout), **awaits)
    return _with_diffs(result, diffs)


def restart_switched(result: dict, service: str, *, check: bool, timeout: float) -> dict:
    """Restart `service` when activate() switched `current` or installed a unit; return the result with `restarted`.

    result: what activate() returned. `restarted` is True, False when nothing changed (no
    restart needed), or "would" in check mode, which runs nothing. systemd is reloaded
    first when a unit file changed. Behind a socket unit only the service restarts, and
    `socket` says how the socket fared (restart_app()). Raises DeployError when the restart fails: its
    details are the switch's result (`changed`, `switched`, `previous`, `unit_changed`),
    so that the caller's failure handling sees that `current` was switched, with
    `restarted` false and `stage` "restart", and systemctl's `stderr` and the unit's
    last `journal` lines.
    """
    if not result["changed"]:
        return {**result, "restarted": False}
    if check:
        return {**result, "restarted": "would"}
    try:
        socket = restart_app(
            service,
            socket=result.get("socket_unit", ""),
            socket_changed=result.get("socket_changed") == "installed",
            daemon_reload=result["unit_changed"],
            timeout=timeout,
        )
    except DeployError as err:
        switch = {key: value for key, value in result.items() if key != "diff"}
        details = {**switch, **err.details, "restarted": False, "stage": "restart"}
        raise DeployError(err.msg, input_error=False, **details) from err
    return {**result, "restarted": True, **({"socket": socket} if socket else {})}


def link_diff(layout: Layout, target: str) -> dict[str, str]:
    """An Ansible diff of `current` before and after it is pointed at `target`.

    Each side reads "current -> TARGET" (the link as it is, then as it will be); the
    side without a link is empty.
    """
    try:
        before = f"current -> {os.readlink(layout.current)}\n"
    except OSError:
        before = ""
    return {
        "before": before,
        "after": f"current -> {target}\n",
        "before_header": layout.current,
        "after_header": layout.current,
    }


def _with_diffs(result: dict, diffs: list[dict[str, str]]) -> dict:
    # Ansible shows each diff of a list in turn; no key at all when nothing changes.
    if diffs:
        result["diff"] = diffs
    return result
