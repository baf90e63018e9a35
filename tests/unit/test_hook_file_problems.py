"""The preflight's read of the hook task files (filter hook_file_problems): real files, Ansible's own loader;
the deploy that refuses them is checked end to end (tests/e2e/test_hooks.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ansible_collections.deployctl.core.plugins.filter import hook_file_problems as hook_file_problems_module
from ansible_collections.deployctl.core.plugins.filter.hook_file_problems import hook_file_problems
from tests.harness.targets import tool
from tests.unit.test_plugin_docs import REPO_ROOT


def test_a_file_ansible_cannot_read_is_named_with_its_line_and_column(tmp_path: Path) -> None:
    hook = tmp_path / "restart.yml"
    hook.write_text("---\n- name: Stop the workers\n  ansible.builtin.shell: systemctl stop worker && echo note: ok\n")
    [problem] = hook_file_problems({"before_restart": str(hook)})
    said = f"deploy_before_restart_tasks: {hook} is no task file Ansible can read (line 3, column 24)"
    assert problem.startswith(said)
    assert "Colons in unquoted values must be followed by a non-space character" in problem


def test_a_file_that_is_no_list_of_tasks_is_named(tmp_path: Path) -> None:
    hook = tmp_path / "one.yml"
    hook.write_text("name: Warm the cache\nansible.builtin.command: bin/warm\n")
    assert hook_file_problems({"after_switch": str(hook)}) == [
        f"deploy_after_switch_tasks: {hook} must be a list of tasks (YAML items starting with '- name:')"
    ]


def test_good_empty_missing_and_vaulted_files_are_no_problem_of_this_check(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text("---\n- name: Warm the cache\n  ansible.builtin.command: bin/warm\n  changed_when: false\n")
    empty = tmp_path / "empty.yml"
    empty.write_text("---\n")
    # Vault-encrypted: read by include_tasks with the play's secrets, not here (the header is all this one has).
    vaulted = tmp_path / "vaulted.yml"
    vaulted.write_text("$ANSIBLE_VAULT;1.1;AES256\n6162636465\n")
    # A missing file is the preflight's other check ("names no file on the controller").
    files = {"after_switch": str(good), "before_verify": str(empty), "after_verify": str(tmp_path / "missing.yml"),
             "after_cleanup": str(vaulted)}  # fmt: skip
    assert hook_file_problems(files) == []


def test_a_file_the_controller_cannot_read_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root reads a mode-0 file anyway; the read fails here as it would for a deploy user without the right.
    hook = tmp_path / "locked.yml"
    hook.write_text("- name: Warm\n  ansible.builtin.debug: {msg: 1}\n")

    def denied(path: str) -> bool:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(hook_file_problems_module, "_vaulted", denied)
    assert hook_file_problems({"after_switch": str(hook)}) == [
        f"deploy_after_switch_tasks: {hook} cannot be read on the controller: Permission denied"
    ]


def problems_in_ansible(tmp_path: Path, files: dict[str, str]) -> list[str]:
    """The filter as the preflight runs it: inside Ansible, whose plugin loader resolves modules and actions."""
    out, variables = tmp_path / "problems.json", tmp_path / "vars.json"
    variables.write_text(json.dumps({"hook_files": files}))
    proc = subprocess.run(
        [tool("ansible"), "localhost", "-c", "local", "-m", "ansible.builtin.copy", "-e", f"@{variables}",
         "-a", f"content={{{{ hook_files | deployctl.core.hook_file_problems | to_json }}}} dest={out}"],
        capture_output=True, text=True, cwd=REPO_ROOT,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(REPO_ROOT / "collections")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return list(json.loads(out.read_text()))


def test_a_task_ansible_would_refuse_when_it_includes_the_file_is_named(tmp_path: Path) -> None:
    # Valid YAML that include_tasks refuses, ending the whole run there (after the switch too): a module misspelt,
    # a keyword misspelt, a misspelt module in a block's rescue. An include's file is read when it runs.
    (tmp_path / "typo.yml").write_text("- name: Warm the cache\n  ansible.builtin.debgu:\n    msg: hi\n")
    (tmp_path / "keyword.yml").write_text("- name: Warm\n  ansible.builtin.debug:\n    msg: hi\n  whenn: true\n")
    (tmp_path / "block.yml").write_text(
        "- name: Outer\n  block:\n    - name: Fine\n      ansible.builtin.debug: {msg: 1}\n"
        "  rescue:\n    - name: Say so\n      ansible.builtin.comand: 'true'\n"
        "- name: Later\n  ansible.builtin.include_tasks: '{{ hooks_dir }}/more.yml'\n"
        "- name: Good\n  ansible.builtin.command: echo {{ item }}\n  loop: [1]\n  changed_when: false\n"
    )
    names = {"after_switch": "typo.yml", "before_restart": "keyword.yml", "after_restart": "block.yml"}
    files = {point: str(tmp_path / name) for point, name in names.items()}
    typo, keyword, block = problems_in_ansible(tmp_path, files)
    assert typo.startswith(f"deploy_after_switch_tasks: {files['after_switch']}: task 'Warm the cache': ")
    assert "couldn't resolve module/action 'ansible.builtin.debgu'" in typo
    assert keyword.endswith("task 'Warm': conflicting action statements: ansible.builtin.debug, whenn")
    assert block.startswith(f"deploy_after_restart_tasks: {files['after_restart']}: task 'Say so': ")
    assert "couldn't resolve module/action 'ansible.builtin.comand'" in block


def test_a_task_file_a_hook_includes_is_found_where_ansible_looks_and_read_as_the_hook_is(tmp_path: Path) -> None:
    # A missing include ends the whole run where it runs, with no rescue (session 17's trial: after the switch,
    # `current` on the new release, the old code serving, the lock held). Its file is looked for beside the file
    # that includes it, then where Ansible looks for a task of the deploy role.
    (tmp_path / "missing.yml").write_text("- name: More\n  ansible.builtin.include_tasks: steps/gone.yml\n")
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "warm.yml").write_text(
        "- name: Warm\n  ansible.builtin.debgu: {msg: 1}\n"
        # Beside the hook, not beside this file: Ansible finds it through the file that included this one.
        "- name: Common\n  ansible.builtin.include_tasks: common.yml\n"
    )
    (tmp_path / "common.yml").write_text("- name: Shared step\n  ansible.builtin.debug: {msg: 1}\n")
    (tmp_path / "nested.yml").write_text(
        "- name: Steps\n  ansible.builtin.import_tasks:\n    file: steps/warm.yml\n"
        "- name: Again, and itself\n  block:\n    - name: Self\n      ansible.builtin.include_tasks: nested.yml\n"
    )
    files = {"after_switch": str(tmp_path / "missing.yml"), "before_restart": str(tmp_path / "nested.yml")}

    missing, nested = problems_in_ansible(tmp_path, files)

    assert missing.startswith(
        f"deploy_after_switch_tasks: {files['after_switch']}: task 'More': includes steps/gone.yml, which is neither "
        f"beside this file ({tmp_path}) nor anywhere else Ansible looks for it"
    )
    assert missing.endswith("give its path relative to this file's directory, or an absolute one")
    # The included file's own problem, named by its path; a file included twice (here: itself) is read once.
    assert nested.startswith(
        f"deploy_before_restart_tasks: {files['before_restart']}: task 'Steps': in {tmp_path}/steps/warm.yml: "
        "task 'Warm': "
    )
    assert "couldn't resolve module/action 'ansible.builtin.debgu'" in nested
