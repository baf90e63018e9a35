#!/usr/bin/python
# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Take, release or inspect the per-host deploy lock."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_lock
short_description: An atomic per-host deploy lock that names its holder
description:
  - The lock is the file C(DEPLOY_TO/.deployctl/lock), created atomically with its whole
    content (a hard link of a complete temporary file), holding who took it, for which
    ref and release, when, from which controller, and the AWX job when there is one.
  - O(state=acquired) fails at once, naming the holder, when another deploy holds the lock.
    A stale lock is taken over (the journal records it); a lock is stale when it is older than O(ttl) seconds, or
    when its holder ran on this same O(controller) with a PID not in O(controller_live_pids)
    (its deploy was killed or crashed).
  - O(state=released) removes the lock when O(token) matches its holder's, or whoever
    holds it when O(force=true) (recording O(reason) in the journal).
version_added: 0.1.0
author: deployctl contributors
extends_documentation_fragment:
  - deployctl.core.deploy
  - deployctl.core.deploy.journal
options:
  state:
    description: Take the lock, release it, or only report its holder.
    type: str
    choices: [acquired, released, query]
    default: acquired
  token:
    description: Identifies this deploy (its release ID); only the same token releases the lock.
    type: str
  holder:
    description: What to record about the holder (user, ref, controller, pid, awx_job_id ...).
    type: dict
    default: {}
  ttl:
    description: Seconds after which a held lock counts as stale and is taken over.
    type: int
    default: 3600
  force:
    description: Release the lock whoever holds it.
    type: bool
    default: false
  reason:
    description: Why a lock is forced open; recorded in the journal.
    type: str
    default: ""
  controller:
    description: Name of the controller this deploy runs on (as recorded in O(holder.controller)).
    type: str
    default: ""
  controller_live_pids:
    description: PIDs of the Ansible processes alive on O(controller) (see P(deployctl.core.controller#lookup)).
    type: list
    elements: int
    default: []
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Take the deploy lock
  deployctl.core.deploy_lock:
    deploy_to: /srv/shop
    token: 20261126T145204Z
    holder:
      user: alice
      ref: v1.4.2

- name: Open a lock left by a dead deploy
  deployctl.core.deploy_lock:
    deploy_to: /srv/shop
    state: released
    force: true
    reason: controller rebooted during the 14:00 deploy
"""

RETURN = r"""
holder:
  description: The lock's holder after the call (V(null) when nobody holds it).
  returned: always
  type: dict
previous_holder:
  description: The holder that was released or taken over.
  returned: when a lock was released or taken over
  type: dict
"""

import fcntl
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore, utc_now


def read_holder(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError:
        return {"token": None, "note": "unreadable lock file"}


def describe(holder: dict) -> str:
    facts = [f"{key} {holder[key]}" for key in ("ref", "release", "controller", "pid", "awx_job_id") if holder.get(key)]
    return f"{holder.get('user', 'someone')} since {holder.get('started_at', '?')}" + (
        f" ({', '.join(facts)})" if facts else ""
    )


def is_stale(holder: dict, ttl: int, controller: str, live_pids: list[int]) -> bool:
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


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "deploy_to": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["acquired", "released", "query"], "default": "acquired"},
            "token": {"type": "str", "no_log": False},
            "holder": {"type": "dict", "default": {}},
            "ttl": {"type": "int", "default": 3600},
            "force": {"type": "bool", "default": False},
            "reason": {"type": "str", "default": ""},
            "host_label": {"type": "str", "default": ""},
            "controller": {"type": "str", "default": ""},
            "controller_live_pids": {"type": "list", "elements": "int", "default": []},
        },
        required_if=[("state", "acquired", ["token"])],
        supports_check_mode=True,
    )
    p = module.params
    layout = Layout(p["deploy_to"])
    store = ReleaseStore(layout, p["host_label"])
    if p["state"] == "query":
        module.exit_json(changed=False, holder=read_holder(layout.lock))
    if module.check_mode:
        preview = decide(layout, p, read_holder(layout.lock), check=True)
        if preview.get("failed"):
            module.fail_json(**preview)
        module.exit_json(**preview)
    os.makedirs(layout.meta, mode=0o700, exist_ok=True)
    # Every change to the lock happens under this guard, so two deploys never
    # both judge a lock stale and remove it (one of them removing a fresh one).
    with open(layout.meta + "/lock.guard", "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        holder = read_holder(layout.lock)
        result = decide(layout, p, holder, check=False)
        if result.get("failed"):
            module.fail_json(**result)
        if result.get("previous_holder") and p["state"] == "acquired":
            store.journal("lock_taken_over", p["holder"].get("release"), stale_holder=result["previous_holder"])
        elif result["changed"] and p["force"]:
            store.journal(
                "lock_forced_open", holder.get("release") if holder else None, reason=p["reason"], holder=holder
            )
    module.exit_json(**result)


def decide(layout: Layout, p: dict, holder: dict | None, check: bool) -> dict:
    """Take or release the lock (unless `check`); return the module's result."""
    if p["state"] == "released":
        if holder is None:
            return {"changed": False, "holder": None}
        if not p["force"] and holder.get("token") != p["token"]:
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
            "msg": (
                f"another deploy holds the lock on this host: {describe(holder)}. Wait for it to finish; "
                "if it is dead, run playbooks/unlock.yml with -e deploy_unlock_reason='...' (or wait "
                f"{p['ttl']}s for the lock to go stale)"
            ),
        }
    mine = dict(p["holder"], token=p["token"], started_at=utc_now(), started_epoch=int(time.time()))
    if not check:
        if holder:
            os.unlink(layout.lock)
        create(layout.lock, mine)
    return {"changed": True, "holder": mine, "previous_holder": holder}


if __name__ == "__main__":
    main()
