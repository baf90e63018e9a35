#!/usr/bin/python
# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run record that the slices of one sliced deploy share, on the coordinator host."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_run
short_description: The run record shared by the slices of a sliced deploy (AWX job slicing)
description:
  - Several C(ansible-playbook) processes that deploy disjoint slices of one inventory at the same time
    agree through C(DEPLOY_TO/.deployctl/runs/RUN_ID.json) on the coordinator host, changed under an
    flock of C(RUN_ID.lock) and written atomically.
  - O(state=joined) creates the record with O(release_id), or adopts the release ID (and the commit, once
    known) of the slice that created it.
  - O(state=gate), before a slice's switch, records O(commit) (the first slice sets it; a slice with another
    commit fails), then, unless O(migrating=true), waits up to O(wait_timeout) seconds for the slice that holds
    the migrate host to report. It fails, naming the hosts and the record, when a host of another slice failed,
    or when the wait timed out.
  - O(state=reported) records the O(outcomes) of this slice's hosts and, from the slice that migrates, O(migration).
version_added: 0.2.0
author: deployctl contributors
extends_documentation_fragment:
  - deployctl.core.deploy
options:
  run_id:
    description: The run's ID, the same in every slice (deploy_run_id, else AWX's awx_workflow_job_id).
    type: str
    required: true
  state:
    description: Join the run, pass the gate before the switch, or report this slice's outcomes.
    type: str
    choices: [joined, gate, reported]
    default: joined
  slice:
    description: Names this slice in the record and in messages (the AWX job ID of the slice).
    type: str
    required: true
  hosts:
    description: This slice's hosts (O(state=joined)).
    type: list
    elements: str
    default: []
  release_id:
    description: The release ID this slice proposes; the record's wins when it exists (O(state=joined)).
    type: str
  ref:
    description:
      - The ref this slice deploys (O(state=joined)), recorded by the first slice; a slice with another ref
        fails (the run ID was used before; adopting the record would deploy its commit under this ref).
    type: str
    default: ""
  commit:
    description: The commit this slice deploys (O(state=gate)).
    type: str
    default: ""
  migrating:
    description: Whether this slice holds the migrate host (O(state=gate) does not wait then).
    type: bool
    default: false
  wait_timeout:
    description: Seconds O(state=gate) waits for the migrating slice's report.
    type: int
    default: 900
  outcomes:
    description: This slice's hosts' outcomes (docs/results.md), by host (O(state=reported)).
    type: dict
    default: {}
  migration:
    description: From the migrating slice, how its migrations went (status, host) (O(state=reported)).
    type: dict
  coordinator:
    description: The coordinator's inventory name, for messages.
    type: str
    default: ""
attributes:
  check_mode:
    support: partial
    details: O(state=joined) reads the record; O(state=gate) and O(state=reported) do nothing.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Join the sliced run (on the coordinator)
  deployctl.core.deploy_run:
    deploy_to: /srv/shop
    run_id: "{{ awx_workflow_job_id }}"
    slice: "{{ awx_job_id }}"
    hosts: "{{ ansible_play_hosts_all }}"
    release_id: 20261126T145204Z
  delegate_to: web1
  run_once: true
"""

RETURN = r"""
release_id:
  description: The run's release ID (the record's).
  returned: O(state=joined)
  type: str
  sample: 20261126T145204Z
commit:
  description: The run's commit ('' until the first slice reached its gate).
  returned: O(state=joined)
  type: str
created:
  description: Whether this call created the record (this slice arrived first).
  returned: O(state=joined)
  type: bool
record:
  description: The whole record after the call (run_id, release_id, commit, slices, migration, hosts).
  returned: always
  type: dict
record_path:
  description: The record's path on the coordinator (not C(path), which would add the file's attributes to the result).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._run_record import RunRecord


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "deploy_to": {"type": "path", "required": True},
            "run_id": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["joined", "gate", "reported"], "default": "joined"},
            "slice": {"type": "str", "required": True},
            "hosts": {"type": "list", "elements": "str", "default": []},
            "release_id": {"type": "str"},
            "ref": {"type": "str", "default": ""},
            "commit": {"type": "str", "default": ""},
            "migrating": {"type": "bool", "default": False},
            "wait_timeout": {"type": "int", "default": 900},
            "outcomes": {"type": "dict", "default": {}},
            "migration": {"type": "dict"},
            "coordinator": {"type": "str", "default": ""},
        },
        required_if=[("state", "joined", ["release_id"])],
        supports_check_mode=True,
    )
    p = module.params
    try:
        run = RunRecord(Layout(p["deploy_to"]), p["run_id"], p["coordinator"])
    except DeployError as err:
        module.fail_json(msg=err.msg)
    try:
        if p["state"] == "joined":
            record, created = run.join(p["slice"], p["hosts"], p["release_id"], module.check_mode, p["ref"])
            module.exit_json(
                changed=created,
                release_id=record["release_id"],
                commit=record.get("commit", ""),
                created=created,
                record=record,
                record_path=run.path,
            )
        if module.check_mode:
            module.exit_json(changed=False, record=run.read(), record_path=run.path)
        if p["state"] == "gate":
            record = run.gate(p["slice"], p["commit"], p["migrating"], p["wait_timeout"])
        else:
            record = run.report(p["slice"], p["outcomes"], p["migration"])
    except DeployError as err:
        module.fail_json(msg=err.msg, record_path=run.path, **err.details)
    module.exit_json(changed=p["state"] == "reported", record=record, record_path=run.path)


if __name__ == "__main__":
    main()
