#!/usr/bin/python
# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a host's deploy history from its journal."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_history
short_description: A host's deploys, rollbacks and database restores, read from its deploy journal
description:
  - Reads C(DEPLOY_TO/.deployctl/journal.jsonl) and returns the runs it records, newest first
    (deploys with who, ref, commit, outcome and duration; rollbacks; database restores). Read-only.
  - A deploy killed mid-run, or still running, has the outcome V(unfinished).
version_added: 0.1.0
author: deployctl contributors
extends_documentation_fragment:
  - deployctl.core.deploy
options:
  limit:
    description: How many runs to return (the newest).
    type: int
    default: 20
attributes:
  check_mode:
    support: full
    details: It only reads.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: The last 10 deploys of this host
  deployctl.core.deploy_history:
    deploy_to: /srv/shop
    limit: 10
  register: history
"""

RETURN = r"""
history:
  description:
    - The runs, newest first, each with C(kind) (V(deploy), V(rollback), V(db_restore)), C(release), C(started_at) and
      C(finished_at) (UTC, as the journal records them), C(duration) (seconds, or null), C(outcome) (V(deployed),
      V(reverted), V(failed), V(aborted), V(rolled_back), V(restored) or V(unfinished)), C(by); a deploy also has
      C(ref) and C(commit), a rollback C(from) and the C(commit) its deploy recorded, a failure C(reason).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deployctl.core.plugins.module_utils._history import read
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout


def main() -> None:
    module = AnsibleModule(
        argument_spec={"deploy_to": {"type": "path", "required": True}, "limit": {"type": "int", "default": 20}},
        supports_check_mode=True,
    )
    try:
        history = read(Layout(module.params["deploy_to"]).journal, module.params["limit"])
    except OSError as err:
        module.fail_json(msg=f"cannot read the deploy journal: {err}")
    module.exit_json(changed=False, history=history)


if __name__ == "__main__":
    main()
