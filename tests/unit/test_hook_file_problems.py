"""The preflight's read of the hook task files (filter hook_file_problems): real files, Ansible's own loader;
the deploy that refuses them is checked end to end (tests/e2e/test_hooks.py)."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.deployctl.core.plugins.filter.hook_file_problems import hook_file_problems


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
