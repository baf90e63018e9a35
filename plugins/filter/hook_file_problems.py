# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with the hook task files, for the preflight check: a file Ansible cannot read stops the run
where its hook is included, after the switch too (no rescue runs for a parse error), so it is read first."""

from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader

DOCUMENTATION = r"""
---
name: hook_file_problems
short_description: Problems of the deploy's hook task files
description:
  - Reads each hook's task file on the controller before any host is touched, as Ansible's C(include_tasks)
    will (YAML with Ansible's tags), and names each one that cannot be read or is not a list of tasks, with the
    line and column of a YAML error. A file that does not exist is left to the check that names missing files;
    a vault-encrypted one is not read, for want of a vault secret here (C(include_tasks) decrypts it with the play's).
version_added: 0.2.0
author: deployctl contributors
positional: _input
options:
  _input:
    description: The hook task files by hook point (C(after_switch) -> absolute path).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Refuse hook files Ansible cannot read
  ansible.builtin.assert:
    that: __deploy_hook_files | deployctl.core.hook_file_problems | length == 0
"""

RETURN = r"""
_value:
  description: One sentence per problem, each naming the hook variable, the file and the fix; empty when there is none.
  type: list
  elements: str
"""


def _where(err: AnsibleError) -> str:
    """The error's place, e.g. ' (line 3, column 24)', from its origin when Ansible gives one; '' otherwise."""
    origin = getattr(err, "obj", None)
    line, column = getattr(origin, "line_num", None), getattr(origin, "col_num", None)
    return f" (line {line}, column {column})" if line else ""


def _vaulted(path: str) -> bool:
    """A vault-encrypted file: this filter has no vault secret to read it with (include_tasks has the play's)."""
    with open(path, "rb") as handle:
        return handle.read(len(b"$ANSIBLE_VAULT")) == b"$ANSIBLE_VAULT"


def hook_file_problems(hook_files: dict[str, Any]) -> list[str]:
    problems = []
    loader = DataLoader()
    for point, path in hook_files.items():
        if not isinstance(path, str) or not os.path.isfile(path) or _vaulted(path):
            continue
        variable = f"deploy_{point}_tasks"
        try:
            tasks = loader.load_from_file(path)
        except AnsibleError as err:
            problems.append(f"{variable}: {path} is no task file Ansible can read{_where(err)}: {err.message}")
            continue
        if tasks is not None and not isinstance(tasks, list):
            problems.append(f"{variable}: {path} must be a list of tasks (YAML items starting with '- name:')")
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"hook_file_problems": hook_file_problems}
