# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""release state=active as a deploy uses it: the candidate check of the new release beside the
live one, then switch, restart, health check and, when the new release fails them, the
switch back to the previous release with its restart and check, in one call on the host.
The steps are the same as separate tasks would take; the round trips between them are
gone, so the previous release is back within a second of the health deadline."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ansible_collections.deployctl.core.plugins.module_utils._candidate import Candidate, check_candidate
from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError
from ansible_collections.deployctl.core.plugins.module_utils._http import HealthCheck
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._lifecycle import clean
from ansible_collections.deployctl.core.plugins.module_utils._lock import change
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore
from ansible_collections.deployctl.core.plugins.module_utils._switch import activate, restart_switched


@dataclass(frozen=True)
class GoLive:
    """What one state=active call does, in this order.

    release_id: the release `current` is pointed at. unit_path: where its recorded unit is
    installed (None: no unit). previous_state: the state given to the release switched away
    from. schema_version: recorded with the release (None: unchanged). restart_service: the
    unit restarted when anything changed (None: no restart); restart_timeout in seconds.
    health: checked after the restart, outside check mode (None: no check). revert: on a
    failed restart or check, switch back to the release that was current, restart and check
    it with revert_deadline (seconds) and no body check. outage_since: epoch seconds (host
    clock) when the release being restored stopped serving; the result's outage_seconds counts
    from it. keep_releases: clean up after a healthy switch, keeping that many good releases
    (None: no cleanup). unlock_token: release the deploy lock taken with this token at the end
    of a successful call (None: keep it). verify_after: without `health`, a task after this call checks the
    release (hooks run between): the switch marks it unverified until that check records its pass
    (http_check's release_id).
    """

    release_id: str
    unit_path: str | None = None
    previous_state: str = "built"
    schema_version: str | None = None
    restart_service: str | None = None
    restart_timeout: float = 300
    health: HealthCheck | None = None
    revert: bool = False
    revert_deadline: float = 120
    outage_since: float | None = None
    keep_releases: int | None = None
    unlock_token: str | None = None
    candidate: Candidate | None = None
    verify_after: bool = False


def go_live(layout: Layout, store: ReleaseStore, request: GoLive, *, check: bool, diff: bool) -> dict:
    """Do the request; return the module's result.

    The result is activate()'s (release_id, previous, switched, unit_changed, diff) with
    `restarted`, `switched_at` (host epoch seconds, when `current` was switched), `health`
    (the check's result), `outage_seconds` (with outage_since, once healthy again), `cleanup`
    ({removed, error}: a failed cleanup is not a failure of the call) and `unlocked`.

    When nothing was switched or changed but the app answers with another revision than the release's (its
    restart after an earlier switch never happened), the service is restarted once: `restarted_stale` true.
    With a candidate check, `candidate` is its result. Raises DeployError when the candidate
    check (stage "candidate": nothing was switched), the switch, the restart (stage "restart")
    or the health check (stage "verify") fails. Its details say whether `current` was switched and, with revert,
    carry the switch back's own result as `revert` (changed, health, outage_seconds, `elapsed`: the
    seconds the switch back took, of the call's; `error` when the switch back failed too).
    """
    candidate = None
    if request.candidate and request.health and not check and layout.current_release() != request.release_id:
        try:
            candidate = check_candidate(layout, store, request.release_id, request.candidate, request.health)
        except DeployError as err:
            err.details.update(release_id=request.release_id, previous=layout.current_release())
            raise
    result = activate(
        layout,
        store,
        request.release_id,
        unit_path=request.unit_path,
        previous_state=request.previous_state,
        schema_version=request.schema_version,
        check=check,
        diff=diff,
        verify=(request.health is not None or request.verify_after) and not check,
    )
    if candidate is not None:
        result["candidate"] = candidate
    if result["switched"] and not check:
        result["switched_at"] = time.time()
    try:
        if request.restart_service:
            result = restart_switched(result, request.restart_service, check=check, timeout=request.restart_timeout)
            if (
                not result["restarted"]
                and request.health is not None
                and not check
                and _runs_other_code(request.health)
            ):
                # `current` names this release already, but the app answers with another revision: the restart
                # after an earlier switch never happened (the host was lost between the two). Restarted now, once,
                # so that the check below judges the release `current` names, not the code left running.
                forced = {**result, "changed": True}
                result = restart_switched(forced, request.restart_service, check=False, timeout=request.restart_timeout)
                result["restarted_stale"] = True
        else:
            result["restarted"] = False
        if request.health is not None and not check:
            result["health"] = request.health.run()
            if not result["health"]["healthy"]:
                details = {key: value for key, value in result.items() if key != "diff"}
                raise DeployError(request.health.failure(result["health"]), stage="verify", **details)
            # The switch's run is done only now: its `switched` line waits for this one (verify). Also a live
            # release whose earlier check never ran (its host was lost after the switch) passed one now.
            store.passed_check(request.release_id, result["health"].get("elapsed"), switched=result["switched"])
    # After the switch, whatever breaks must put the previous release back, not only a DeployError.
    except Exception as err:
        if not isinstance(err, DeployError):
            # Unforeseen (a bug, an exception nobody expected from a library): still a failure after the
            # switch, reported with what the switch did, so that it is switched back like any other.
            details = {key: value for key, value in result.items() if key != "diff"}
            stage = "verify" if "restarted" in result else "restart"
            err = DeployError(f"{stage}: {type(err).__name__}: {err}", stage=stage, **details)
        if request.revert and err.details.get("switched") and err.details.get("previous"):
            err.details["revert"] = _switch_back(layout, store, request, err.details)
        raise err
    if request.outage_since is not None:
        result["outage_seconds"] = round(time.time() - request.outage_since, 1)
    if request.keep_releases is not None:
        result["cleanup"] = _clean(layout, store, request.keep_releases, check)
    if request.unlock_token is not None:
        change(layout, store, {"state": "released", "token": request.unlock_token}, check)
        result["unlocked"] = True
    return result


def _runs_other_code(health: HealthCheck) -> bool:
    """One request: the app answers with a status the check accepts, but without the revision it expects
    (health.body_contains). False without a body to check, or without such an answer (down, a 5xx: the
    check itself judges those)."""
    if not health.body_contains:
        return False
    seen = replace(health, deadline=0).run()
    return seen["status"] in health.status and not seen["healthy"]


def _switch_back(layout: Layout, store: ReleaseStore, failed: GoLive, details: dict) -> dict:
    """Put the release that was current back, with its unit, restarted and checked; return its result."""
    back = GoLive(
        release_id=details["previous"],
        unit_path=failed.unit_path,
        restart_service=failed.restart_service,
        restart_timeout=failed.restart_timeout,
        # Its own deadline (it boots under the load the failed one left) and no body check:
        # the expected text was the failed release's commit.
        health=replace(failed.health, body_contains=None, deadline=failed.revert_deadline) if failed.health else None,
        outage_since=details.get("switched_at", time.time()),
    )
    started = time.monotonic()
    try:
        result = go_live(layout, store, back, check=False, diff=False)
    except DeployError as err:
        # Reported with the first failure, never instead of it.
        result = {"changed": bool(err.details.get("changed", True)), **err.details, "error": err.msg}
    # The revert's share of the call's time (the CLI's Revert column), in seconds.
    result["elapsed"] = round(time.monotonic() - started, 2)
    return result


def _clean(layout: Layout, store: ReleaseStore, keep_releases: int, check: bool) -> dict:
    # After a healthy switch the deploy is done: a cleanup that fails (a damaged record, a
    # busy file) must not revert it; the role reports its error as a warning.
    try:
        return {"removed": clean(layout, store, keep_releases, check)["removed"], "error": ""}
    except (DeployError, OSError, ValueError) as err:
        return {"removed": [], "error": str(err)}
