# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with deploy_local_before / deploy_local_after, for the preflight check."""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.deployctl.core.plugins.plugin_utils._local_hook import command_problems

DOCUMENTATION = r"""
---
name: local_command_problems
short_description: Problems of a controller-side hook variable's commands
description:
  - Checks the value of V(deploy_local_before) or V(deploy_local_after) before any host is touched, on the
    controller where the commands run (a value that is not a list, a command that is neither a list of
    words (argv) nor a program's path, a program that does not exist or is not executable (a path with a
    C(/) is read relative to O(chdir); a bare name is looked up on the controller's E(PATH))).
version_added: 0.2.0
author: deployctl contributors
positional: _input, name, chdir
options:
  _input:
    description: The variable's value.
    type: raw
    required: true
  name:
    description: The variable's name, for the messages.
    type: str
    required: true
  chdir:
    description: The directory relative programs are read from (the inventory's directory).
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Refuse hook commands that cannot run
  ansible.builtin.assert:
    that: deploy_local_after | deployctl.core.local_command_problems('deploy_local_after', inventory_dir) | length == 0
"""

RETURN = r"""
_value:
  description: One sentence per problem, each naming the variable and the fix; empty when there is none.
  type: list
  elements: str
"""


def local_command_problems(commands: Any, name: str, chdir: str) -> list[str]:
    return command_problems(name, commands, chdir, os.environ.get("PATH"))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"local_command_problems": local_command_problems}
