# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-host deploy lock (DEPLOY_TO/.deployctl/lock): used by the deploy_lock module and
by release state=staged, which takes it in the same call as the fetch."""

from __future__ import annotations

import fcntl
import json
import os
import time

from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore, utc_now

# The options that describe a claim on the lock, in deploy_lock and in release's `lock`.
LOCK_OPTIONS: dict = {
    "token": {"type": "str", "no_log": False},
    "holder": {"type": "dict", "default": {}},
    "ttl": {"type": "int", "default": 3600},
    "controller": {"type": "str", "default": ""},
    "controller_live_pids": {"type": "list", "elements": "int", "default": []},
}


def read_holder(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError:
        return {"token": None, "note": "unreadable lock file"}


def holder_user(layout: Layout) -> str | None:
    """Who the run holding the lock is for (the journal's `by` of a switch or a restore); None when unlocked."""
    holder = read_holder(layout.lock)
    return str(holder["user"]) if holder and holder.get("user") else None


def describe(holder: dict) -> str:
    facts = [f"{key} {holder[key]}" for key in ("ref", "release", "controller", "pid", "awx_job_id") if holder.get(key)]
    return (
        f"{holder.get('user', 'someone')} since {holder.get('started_at', '?')}"
        + (f" ({', '.join(facts)})" if facts else "")
        + (f": {holder['message']!r}" if holder.get("message") else "")
    )


def refusal(holder: dict, ttl: int) -> str:
    """Why a deploy cannot take the lock `holder` holds, and what to do about it."""
    unlock = "deployctl unlock ENV --reason TEXT (playbooks/unlock.yml -e deploy_unlock_reason=TEXT)"
    if holder.get("manual"):
        return (
            f"the deploy lock on this host was taken by hand: {describe(holder)}. Deploys and rollbacks are refused "
            f"until it is released: {unlock}"
        )
    return (
        f"another deploy holds the lock on this host: {describe(holder)}. Wait for it to finish; if it is dead, "
        f"run {unlock} (or wait {ttl}s for the lock to go stale)"
    )


def is_stale(holder: dict, ttl: int, controller: str, live_pids: list[int]) -> bool:
    """Whether a deploy may take `holder`'s lock over; one taken by hand (a maintenance window) never goes stale."""
    if holder.get("manual"):
        return False
    if time.time() - float(holder.get("started_epoch", 0)) > ttl:
        return True
    pid = holder.get("pid")
    # A PID means something only on the controller that recorded it.
    return bool(controller and pid and holder.get("controller") == controller and int(pid) not in live_pids)


def create(path: str, content: dict) -> None:
    """Create the lock file with its whole content at once (a crash never leaves half a lock)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(content, handle, sort_keys=True)
    try:
        os.link(tmp, path)
    finally:
        os.unlink(tmp)


def change(layout: Layout, store: ReleaseStore, p: dict, check: bool) -> dict:
    """Take (p["state"] == "acquired") or release the lock; return the result.

    p: the deploy_lock module's parameters (token, holder, ttl, force, reason, controller,
    controller_live_pids). Raises DeployError, with `stage` "lock" and the `holder`, when
    another deploy holds the lock and it is not stale. In check mode nothing changes.
    """
    if check:
        result = decide(layout, p, read_holder(layout.lock), check=True)
    else:
        os.makedirs(layout.meta, mode=0o700, exist_ok=True)
        # Every change to the lock happens under this guard, so two deploys never
        # both judge a lock stale and remove it (one of them removing a fresh one).
        with open(layout.meta + "/lock.guard", "a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            holder = read_holder(layout.lock)
            result = decide(layout, p, holder, check=False)
            if not result.get("failed"):
                if result["changed"] and p["state"] == "acquired" and p["holder"].get("manual"):
                    store.journal("lock_held", None, by=p["holder"].get("user"), message=p["holder"].get("message"))
                if result.get("previous_holder") and p["state"] == "acquired":
                    store.journal("lock_taken_over", p["holder"].get("release"), stale_holder=result["previous_holder"])
                elif result["changed"] and p.get("force"):
                    store.journal(
                        "lock_forced_open", holder.get("release") if holder else None, reason=p["reason"], holder=holder
                    )
    if result.pop("failed", False):
        raise DeployError(result.pop("msg"), stage="lock", input_error=False, **result)
    return result


def decide(layout: Layout, p: dict, holder: dict | None, check: bool) -> dict:
    """Take or release the lock (unless `check`); return the module's result."""
    if p["state"] == "released":
        if holder is None:
            return {"changed": False, "holder": None}
        if not p.get("force") and holder.get("token") != p["token"]:
            return {"changed": False, "holder": holder, "msg": "the lock belongs to another deploy; left in place"}
        if not check:
            os.unlink(layout.lock)
        return {"changed": True, "holder": None, "previous_holder": holder}

    if holder and holder.get("token") == p["token"]:
        return {"changed": False, "holder": holder}
    if holder and not is_stale(holder, p["ttl"], p["controller"], p["controller_live_pids"]):
        return {
            "failed": True,
            "changed": False,
            "holder": holder,
            "msg": refusal(holder, p["ttl"]),
        }
    # One clock reading for both: two would differ by a second when a second ends between them.
    now = int(time.time())
    mine = dict(p["holder"], token=p["token"], started_at=utc_now(now), started_epoch=now)
    if not check:
        if holder:
            os.unlink(layout.lock)
        create(layout.lock, mine)
    return {"changed": True, "holder": mine, "previous_holder": holder}
