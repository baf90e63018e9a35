"""The strategy deployctl.core.linear gives what Ansible's linear gives, without a worker per skipped task.

One playbook on two local hosts, run with each strategy: the same output (registered skipped results,
run_once, a loop, a block's rescue, no_log, an undefined variable in a condition), and the conditions
that were false evaluated in one process (the controller's) instead of one forked worker each.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.harness.targets import tool

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPRECATION = "[DEPRECATION WARNING]: Use of strategy plugins not included in ansible.builtin"

PLAYBOOK = """
- hosts: all
  gather_facts: false
  vars:
    # Evaluated where the condition is: its process ID, appended to a file.
    seen_by: "{{ lookup('ansible.builtin.pipe', 'echo $PPID >> ' ~ pids_file) }}"
  tasks:
    - name: Skipped, registered
      ansible.builtin.command: /bin/false
      when: seen_by is string and inventory_hostname == 'nobody'
      register: skipped
    - name: Show the registered result
      ansible.builtin.debug:
        msg: "{{ skipped | dict2items | rejectattr('key', 'eq', '_ansible_no_log') | items2dict }}"
    - name: Skipped once for every host
      ansible.builtin.command: /bin/false
      run_once: true
      when: seen_by is string and false
      register: once
    - name: Show that every host has it
      ansible.builtin.debug:
        msg: "{{ once.skipped }} {{ once.false_condition }}"
    - name: Skipped for one host only
      ansible.builtin.debug:
        msg: "runs on {{ inventory_hostname }}"
      when: seen_by is string and inventory_hostname == 'a'
    - name: A loop (each item's condition is a worker's)
      ansible.builtin.debug:
        msg: "{{ item }}"
      loop: [1, 2]
      when: item == 2
    - name: Secret and skipped
      ansible.builtin.debug:
        msg: secret
      no_log: true
      when: false
    - name: A block whose task fails
      block:
        - name: Fail
          ansible.builtin.fail:
            msg: on purpose
      rescue:
        - name: Skipped in a rescue
          ansible.builtin.debug:
            msg: never
          when: ansible_failed_result.msg == 'something else'
        - name: Rescued
          ansible.builtin.debug:
            msg: "rescued from {{ ansible_failed_result.msg }}"
    - name: A condition on an undefined variable
      ansible.builtin.debug:
        msg: never
      when: no_such_variable
"""


def run_playbook(tmp_path: Path, strategy: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Runs PLAYBOOK with the strategy; returns the run and the process IDs that evaluated seen_by."""
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "hosts").write_text("a ansible_connection=local\nb ansible_connection=local\n")
    pids = tmp_path / f"pids-{strategy}"
    proc = subprocess.run(
        [tool("ansible-playbook"), "-i", "hosts", "play.yml", "-e", f"pids_file={pids}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(REPO_ROOT / "collections"),
            "ANSIBLE_STRATEGY": strategy,
            "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
            "ANSIBLE_NOCOLOR": "1",
        },
    )
    return proc, pids.read_text().split()


def tasks(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("TASK [")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], list[str]]]:
    tmp_path = tmp_path_factory.mktemp("strategy")
    return {strategy: run_playbook(tmp_path, strategy) for strategy in ("linear", "deployctl.core.linear")}


def test_the_output_is_ansibles_own(runs: dict) -> None:
    stock, _ = runs["linear"]
    ours, _ = runs["deployctl.core.linear"]
    assert stock.returncode == ours.returncode == 2
    # Line for line; the hosts of one task answer in the order their results arrive, with either strategy.
    assert sorted(ours.stdout.splitlines()) == sorted(stock.stdout.splitlines())
    assert tasks(ours.stdout) == tasks(stock.stdout)
    # The undefined variable is reported by a worker, in Ansible's words.
    assert "'no_such_variable' is undefined" in ours.stdout
    assert "rescued from on purpose" in ours.stdout
    assert '"skip_reason": "Conditional result was False"' in ours.stdout or "skip_reason: Conditional" in ours.stdout
    assert "secret" not in ours.stdout
    assert DEPRECATION in ours.stderr  # ansible-core's warning for any strategy not its own


def test_false_conditions_are_decided_without_a_worker(runs: dict) -> None:
    _, stock_pids = runs["linear"]
    _, our_pids = runs["deployctl.core.linear"]
    # Three tasks' conditions (two hosts, one of them run_once): one worker each under Ansible's linear.
    assert len(stock_pids) == len(set(stock_pids)) == 5
    # Here the controller's process evaluated them all (the task that runs on host a is evaluated again
    # by its worker, which runs it).
    assert len(our_pids) == 6 and len(set(our_pids)) == 2
