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
    (C(whenn)). A task file included or imported by a plain name (not templated) is looked for where Ansible
    looks for it (beside the file that includes it, then the deploy role's C(tasks) and the collection's
    C(playbooks)); one that is in none of them is named, and one found is read and checked as the hook's own
    file is, once. Templated includes and included roles are left to the run. A hook file that does not
    exist is left to the check that names missing files;
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


# Where include_tasks and import_tasks look for a relative file of a hook, after the directories of the files that
# include it (each also with its tasks/): the deploy role's and the collection's playbooks', as Ansible does for a
# task of the role (path_dwim_relative). Looking in more places than Ansible would only lets a problem through;
# looking in fewer would refuse a hook that works.
COLLECTION = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
SEARCHED = tuple(
    os.path.join(COLLECTION, *parts)
    for parts in (("roles", "deploy", "tasks"), ("roles", "deploy"), ("playbooks",), ("playbooks", "tasks"))
)


def _task_problems(tasks: list[Any], loader: DataLoader, dirs: tuple[str, ...], seen: set[str]) -> list[str]:
    """What Ansible would refuse in these tasks (of a file in `dirs[0]`, included from files in the others) when it
    includes them (an action it cannot
    resolve, a keyword it does not know, a task file included or imported that is in none of the places Ansible
    looks), each named by the task's name or its position; the task files they include are checked the same way,
    once each (`seen`). Errors of any other kind are left to include_tasks: this check refuses only what it is sure
    of."""
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
        elif not lists:
            problems += [f"{label}: {problem}" for problem in _included_file_problems(task, loader, dirs, seen)]
        for key in lists:
            problems += _task_problems(task[key] if isinstance(task[key], list) else [task[key]], loader, dirs, seen)
    return problems


def _included_file_problems(
    task: dict[str, Any], loader: DataLoader, dirs: tuple[str, ...], seen: set[str]
) -> list[str]:
    """The problems of the task file that this task includes or imports, when its name is plain text (a templated
    one is known only when the task runs): missing from every place Ansible looks (a run ends there, with no
    rescue), or not a readable list of tasks. A file found is checked as the hook's own file is."""
    try:
        action, args = ModuleArgsParser(task_ds=task).parse()[:2]
    except Exception:
        return []
    target = (args.get("_raw_params") or args.get("file")) if action in C._ACTION_ALL_INCLUDE_IMPORT_TASKS else None
    if not isinstance(target, str) or "{{" in target or "{%" in target:
        return []
    places = list(
        dict.fromkeys([place for each in dirs for place in (each, os.path.join(each, "tasks"))] + [*SEARCHED])
    )
    found = next((os.path.join(place, target) for place in places if os.path.isfile(os.path.join(place, target))), None)
    if found is None:
        return [
            f"includes {target}, which is neither beside this file ({dirs[0]}) nor anywhere else Ansible looks for it "
            "(the files that include this one, the deploy role's tasks, deployctl's playbooks): give its path "
            "relative to this file's directory, or an absolute one"
        ]
    found = os.path.realpath(found)
    if found in seen:
        return []
    seen.add(found)
    tasks, problem = _read_tasks(found, loader)
    if problem:
        return [f"includes {found}, which {problem}"]
    return [f"in {found}: {each}" for each in _task_problems(tasks, loader, (os.path.dirname(found), *dirs), seen)]


def _read_tasks(path: str, loader: DataLoader) -> tuple[list[Any], str | None]:
    """The tasks of the file at `path` and None; or no tasks and why it is no task file Ansible can read, said of the
    file ("is no task file ...", "must be a list of tasks"). A vaulted file is read by include_tasks with the play's
    vault secrets: no tasks, no problem here."""
    try:
        if _vaulted(path):
            return [], None
        tasks = loader.load_from_file(path)
    except AnsibleError as err:
        return [], f"is no task file Ansible can read{_where(err)}: {err.message}"
    except OSError as err:
        return [], f"cannot be read on the controller: {err.strerror}"
    if tasks is not None and not isinstance(tasks, list):
        return [], "must be a list of tasks (YAML items starting with '- name:')"
    return tasks or [], None


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
        tasks, problem = _read_tasks(path, loader)
        if problem:
            problems.append(f"{variable}: {path} {problem}")
            continue
        # Modules and actions resolve only where Ansible set its plugin loader up (ansible-playbook, not a bare import).
        if AnsibleCollectionConfig.collection_finder is not None:
            seen = {os.path.realpath(path)}
            problems += [
                f"{variable}: {path}: {problem}"
                for problem in _task_problems(tasks, loader, (os.path.dirname(path),), seen)
            ]
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"hook_file_problems": hook_file_problems}
