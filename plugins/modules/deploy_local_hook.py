#!/usr/bin/python
# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the deploy_local_hook action (plugins/action/deploy_local_hook.py): it has no module code."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_local_hook
short_description: Run a deploy's controller-side hook commands with the run's facts in DEPLOYCTL_* variables
description:
  - An action that runs on the controller only (no host is contacted). The deploy role runs
    C(deploy_local_before) with it once per run before the lock is taken, and C(deploy_local_after)
    once the outcome of every host is known (the role's C(local_hooks.yml)).
  - Each command is an argv list (or a program's path alone), run without a shell in O(chdir), one after
    the other; the first that exits non-zero, cannot be started or outlasts O(timeout) fails the task
    with C(stage) (V(local_before) or V(local_after)), the command and its last lines of output.
  - The commands' environment is the controller's, less every C(DEPLOYCTL_*) variable of its own (the
    deployctl CLI reads vault passwords from such variables), plus O(facts). A fact whose value came from
    the vault fails the task before anything runs.
  - In check mode nothing runs (the commands are the user's; nothing says they change nothing).
version_added: 0.2.0
author: deployctl contributors
options:
  name:
    description: The variable the commands came from (V(deploy_local_before), V(deploy_local_after)), named in messages.
    type: str
    required: true
  commands:
    description: The commands, each a list of words (argv) or one string naming a program to run without arguments.
    type: list
    elements: raw
    required: true
  facts:
    description: The run's facts, each name starting with C(DEPLOYCTL_), given to every command as its environment.
    type: dict
    default: {}
  hosts:
    description:
      - After the run, each host's published result (docs/results.md; V({}) for a host that published none, one that
        was lost; the role gives a host of a batch that a stopped rollout never started C(outcome=untouched)).
        Adds C(DEPLOYCTL_OUTCOME) (V(succeeded), V(reverted) when every host serves what it served before the
        run, else V(failed), a part-way rollout too) and C(DEPLOYCTL_HOST_OUTCOMES)
        (C(web1=deployed,web2=reverted,web3=untouched)) to O(facts).
    type: dict
  chdir:
    description: The directory the commands run in (the role passes the inventory's directory).
    type: path
  timeout:
    description: Seconds each command may take before it is killed and the task fails.
    type: float
    default: 600
attributes:
  check_mode:
    support: full
    details: Nothing runs in check mode; the task is skipped.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: "Local before: run the controller-side commands"
  deployctl.core.deploy_local_hook:
    name: deploy_local_before
    commands:
      - [bin/check-ci-status, --ref, main]
      - hooks/pre-deploy
    facts: {DEPLOYCTL_APP: shop, DEPLOYCTL_RELEASE: 20260101T120000Z}
    chdir: /etc/deployctl/production
  run_once: true
"""

RETURN = r"""
commands:
  description: The commands that ran, in order, up to the one that failed, each with C(argv), C(rc) (null when it
    could not start or timed out), C(seconds) and C(output) (its last 20 lines, stdout and stderr together).
  returned: when not skipped
  type: list
  elements: dict
  sample: [{argv: [hooks/post-deploy], rc: 0, seconds: 0.05, output: "told the team"}]
facts:
  description: The DEPLOYCTL_* variables the commands got.
  returned: always
  type: dict
  sample: {DEPLOYCTL_APP: shop, DEPLOYCTL_OUTCOME: succeeded}
stage:
  description: V(local_before) or V(local_after), when a command failed.
  returned: failure
  type: str
"""
