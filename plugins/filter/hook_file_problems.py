# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with the hook task files, for the preflight check: a file Ansible cannot read stops the run
where its hook is included, after the switch too (no rescue runs for a parse error), so it is read first."""

from __future__ import annotations

import os
from typing import Any

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.mod_args import ModuleArgsParser
from ansible.playbook.helpers import load_list_of_blocks
from ansible.playbook.play import Play
from ansible.utils.collection_loader import AnsibleCollectionConfig

DOCUMENTATION = r"""
---
name: hook_file_problems
short_description: Problems of the deploy's hook task files
description:
  - Reads each hook's task file on the controller before any host is touched, as Ansible's C(include_tasks)
    will (YAML with Ansible's tags), and names each one that cannot be read or is not a list of tasks, with the
    line and column of a YAML error; then loads each task as Ansible does (blocks too), and names a task whose
    module or action Ansible cannot resolve (C(ansible.builtin.debgu)) or with a keyword it does not know
    (C(whenn)). The tasks that include or import other files are checked for their action only (their files are
    read when they run). A file that does not exist is left to the check that names missing files;
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


# Blocks hold tasks in these lists; their own keywords are checked with the lists emptied.
BLOCK_LISTS = ("block", "rescue", "always")
# The tasks whose file is read when they run: only their action is checked here. Ansible's own lists, the ones
# include_tasks and include_role are told apart by (private names: ansible-core has no public ones).
INCLUDES = frozenset(C._ACTION_ALL_INCLUDE_IMPORT_TASKS + C._ACTION_ALL_PROPER_INCLUDE_IMPORT_ROLES)


def _task_problems(tasks: list[Any], loader: DataLoader) -> list[str]:
    """What Ansible would refuse in these tasks when it includes them (an action it cannot resolve, a keyword it does
    not know), each named by the task's name or its position. Errors of any other kind are left to include_tasks:
    this check refuses only what it is sure of."""
    problems = []
    for number, task in enumerate(tasks, start=1):
        if not isinstance(task, dict):
            problems.append(f"task {number} is not a task (a mapping): {task!r}")
            continue
        label = f"task {str(task.get('name') or number)!r}"
        lists = [key for key in BLOCK_LISTS if key in task]
        refusal = _refusal(task, lists, loader)
        if refusal:
            problems.append(f"{label}: {refusal}")
        for key in lists:
            problems += _task_problems(task[key] if isinstance(task[key], list) else [task[key]], loader)
    return problems


def _refusal(task: dict[str, Any], lists: list[str], loader: DataLoader) -> str | None:
    """Ansible's words refusing this task as include_tasks would load it (a block with its lists emptied: their
    tasks are checked one by one); None when it takes it, or fails in a way that is not a refusal of the task."""
    try:
        if lists:
            load_list_of_blocks([{**task, **{key: [] for key in lists}}], play=Play(), loader=loader)
        elif ModuleArgsParser(task_ds=task).parse()[0] not in INCLUDES:
            load_list_of_blocks([task], play=Play(), loader=loader)
    except AnsibleError as err:
        return str(err.message)
    except Exception:
        return None
    return None


def _vaulted(path: str) -> bool:
    """A vault-encrypted file: this filter has no vault secret to read it with (include_tasks has the play's)."""
    with open(path, "rb") as handle:
        return handle.read(len(b"$ANSIBLE_VAULT")) == b"$ANSIBLE_VAULT"


def hook_file_problems(hook_files: dict[str, Any]) -> list[str]:
    problems = []
    loader = DataLoader()
    for point, path in hook_files.items():
        if not isinstance(path, str) or not os.path.isfile(path):
            continue
        variable = f"deploy_{point}_tasks"
        try:
            if _vaulted(path):
                continue
            tasks = loader.load_from_file(path)
        except AnsibleError as err:
            problems.append(f"{variable}: {path} is no task file Ansible can read{_where(err)}: {err.message}")
            continue
        except OSError as err:
            problems.append(f"{variable}: {path} cannot be read on the controller: {err.strerror}")
            continue
        if tasks is not None and not isinstance(tasks, list):
            problems.append(f"{variable}: {path} must be a list of tasks (YAML items starting with '- name:')")
            continue
        # Modules and actions resolve only where Ansible set its plugin loader up (ansible-playbook, not a bare import).
        if AnsibleCollectionConfig.collection_finder is not None:
            problems += [f"{variable}: {path}: {problem}" for problem in _task_problems(tasks or [], loader)]
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"hook_file_problems": hook_file_problems}
