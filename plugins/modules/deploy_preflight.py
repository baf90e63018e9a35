#!/usr/bin/python
# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the deploy_preflight action (plugins/action/deploy_preflight.py): it has no module code."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_preflight
short_description: Check a deploy's inputs and say which hooks a host runs, on the controller
description:
  - An action that runs on the controller only (no host is contacted). The deploy role runs it per host in its
    preflight, before the lock (the role's C(preflight.yml)), and fixes the settings it returns as facts.
  - Reads the host's hook variables (C(deploy_POINT_tasks), README "Hooks") from its variables, and the names of
    all its variables (a C(deploy_*) name that is a setting misspelt, or a hook point or C(deploy_local_*) setting
    that does not exist, is a problem).
  - First checks the variables the role's argument spec (C(ROLE/meta/argument_specs.yml)) names against it, with
    Ansible's own validator. When one breaks it, fails with Ansible's words (C(Validation of arguments failed:) and
    its errors, joined by C(; ) where M(ansible.builtin.validate_argument_spec) puts one per line), and checks nothing
    else. A setting whose value uses a variable that is set nowhere is named (Ansible's error names the variable).
  - Then fails, with one sentence per problem in C(msg) (joined by C(; )), when an input is wrong (an empty ref, a
    relative O(deploy_to), O(keep_releases) below 1, a migrate host outside the play, a sliced run without its
    coordinator, O(service_environment) that is no mapping or holds a vault value, a HEAD health check that expects
    the revision, O(health_command) that is no command, a hook file that is missing or that Ansible cannot read, a
    controller-side command that cannot run, a misspelt setting, a hook variable that is no path).
version_added: 0.1.0
author: deployctl contributors
options:
  ref:
    description: The ref to deploy (C(deploy_ref)).
    type: raw
    required: true
  deploy_to:
    description: The app's directory on the hosts (C(deploy_to)).
    type: raw
    required: true
  keep_releases:
    description: How many releases the cleanup keeps (C(deploy_keep_releases)).
    type: raw
    required: true
  migrate_host:
    description: The host that runs the migrations (C(deploy_migrate_host)); empty for the play's first.
    type: str
  run_key:
    description: The sliced run's ID, empty when the run is not sliced.
    type: str
  coordinator:
    description: The sliced run's coordinator host.
    type: str
  run_coordinator:
    description: C(deploy_run_coordinator), whose C(host) reaches a coordinator outside the inventory.
    type: dict
  service_environment:
    description: C(deploy_service_environment); a value from the vault is a problem (the unit file is world-readable).
    type: dict
  service_name:
    description: The app's systemd service, named in the problem above.
    type: str
  health_url:
    description: C(deploy_health_url).
    type: str
  health_method:
    description: C(deploy_health_method).
    type: str
  health_expect_revision:
    description: C(deploy_health_expect_revision).
    type: bool
  health_command:
    description: C(deploy_health_command); when set, the switch's call leaves the cleanup and the unlock to tasks.
    type: raw
  hook_dir:
    description: The directory a relative hook path or controller-side command is read from (the inventory's).
    type: path
    required: true
  local_before:
    description: C(deploy_local_before), checked (each program must exist on the controller).
    type: list
    elements: raw
  local_after:
    description: C(deploy_local_after), checked the same way.
    type: list
    elements: raw
  role_path:
    description: The deploy role's directory, whose argument spec and variables list the settings.
    type: path
    required: true
attributes:
  check_mode:
    support: full
    details: Reads only; the same in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: "Preflight: check the deploy inputs"
  deployctl.core.deploy_preflight:
    ref: "{{ deploy_ref }}"
    deploy_to: "{{ deploy_to }}"
    keep_releases: "{{ deploy_keep_releases }}"
    hook_dir: "{{ inventory_dir }}"
    role_path: "{{ role_path }}"
  register: preflight
"""

RETURN = r"""
facts:
  description:
    - C(hook_files), the task file of each hook point that is set ({point, path}, in the deploy's order; a relative
      path made absolute from O(hook_dir)), and C(hook_dir).
    - How far the switch's one module call goes given those hooks, C(switch_restarts) (no hook between the switch
      and the restart), C(switch_checks) (nor before the HTTP check) and C(switch_finishes) (nor after it, and no
      O(health_command), so the cleanup and the unlock are the call's too).
  returned: success
  type: dict
  sample: {hook_files: {after_switch: /etc/deployctl/production/hooks/warm.yml}, hook_dir: /etc/deployctl/production,
           switch_restarts: false, switch_checks: false, switch_finishes: false}
"""
