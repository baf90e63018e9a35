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
    description: Take the lock, release it, or only report its holder (and RV(stale), judged with O(ttl), O(controller)
      and O(controller_live_pids) as O(state=acquired) would).
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
stale:
  description:
    - For O(state=query), whether a deploy would take the held lock over (older than O(ttl) seconds, or its
      process on O(controller) is gone); V(false) when nobody holds it. A lock taken by hand is never stale.
  returned: state is query
  type: bool
previous_holder:
  description: The holder that was released or taken over.
  returned: when a lock was released or taken over
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._lock import (
    LOCK_OPTIONS,
    change,
    create,
    is_stale,
    read_holder,
)
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore

__all__ = ["create", "main"]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "deploy_to": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["acquired", "released", "query"], "default": "acquired"},
            **LOCK_OPTIONS,
            "force": {"type": "bool", "default": False},
            "reason": {"type": "str", "default": ""},
            "host_label": {"type": "str", "default": ""},
        },
        required_if=[("state", "acquired", ["token"])],
        supports_check_mode=True,
    )
    p = module.params
    layout = Layout(p["deploy_to"])
    if p["state"] == "query":
        holder = read_holder(layout.lock)
        stale = holder is not None and is_stale(holder, p["ttl"], p["controller"], p["controller_live_pids"])
        module.exit_json(changed=False, holder=holder, stale=stale)
    try:
        result = change(layout, ReleaseStore(layout, p["host_label"]), p, module.check_mode)
    except DeployError as err:
        module.fail_json(msg=err.msg, **{k: v for k, v in err.details.items() if k not in ("stage", "input_error")})
    module.exit_json(**result)


if __name__ == "__main__":
    main()
