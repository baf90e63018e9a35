"""A deploy or a rollback runs whole, in batches that exist (playbooks/tasks/whole_run.yml), from every entry
point: a tag selection that would cut up the run, and a deploy_serial that holds a size that is none, are
refused on every host before any is touched, and each host is reported as invalid input.

Ansible runs every host at once for a batch size of 0 or below, takes 150% as all, and stops with
"Unexpected Exception, this is probably a bug" on the text 1,50% (an AWX survey's answer); the filter
deployctl.core.serial_batches reads them all. The playbook runs are real ansible-playbook runs of deploy.yml
and rollback.yml against hosts that are never contacted: the refusal is the first task, on the controller.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.deployctl.core.plugins.filter.serial_batches import serial_batches

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


@pytest.mark.parametrize(
    ("value", "batches"),
    [
        ("100%", ["100%"]),
        (3, [3]),
        ("3", [3]),
        ([1, "50%"], [1, "50%"]),
        ("1,50%", [1, "50%"]),
        ("1, 50%, 100%", [1, "50%", "100%"]),
        ('[1, "50%"]', [1, "50%"]),
        # An AWX survey's answer left empty: unset.
        ("", ["100%"]),
        (None, ["100%"]),
    ],
)
def test_a_size_in_any_form_is_the_play_s_batches(value: Any, batches: list[Any]) -> None:
    assert serial_batches(value) == {"batches": batches, "problems": []}


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (0, "deploy_serial 0 is not a batch size"),
        ("150%", "deploy_serial 150% is not a batch size"),
        ("1,half", "deploy_serial 1,half: half is not a batch size"),
        ([0, "50%", -1], "deploy_serial [0, '50%', -1]: 0, -1 are not batch sizes"),
        ("[1, 50%", "deploy_serial [1, 50% is not a batch size"),
        (True, "deploy_serial True is not a batch size"),
        ([], "deploy_serial [] is not a batch size"),
    ],
)
def test_a_size_that_is_none_is_one_batch_and_a_problem(value: Any, named: str) -> None:
    found = serial_batches(value)
    assert found["batches"] == ["100%"]
    [problem] = found["problems"]
    assert problem.startswith(named)
    assert ": a batch is a number of hosts (1 or more) or a percentage of them (1% to 100%). Give e.g." in problem


@pytest.mark.parametrize(
    ("playbook", "args", "words"),
    [
        ("deploy.yml", ["-e", "deploy_serial=0"], "deploy_serial 0 is not a batch size: a batch is a number of hosts"),
        ("deploy.yml", ["-e", "deploy_serial=1,150%"], "deploy_serial 1,150%: 150% is not a batch size"),
        ("rollback.yml", ["-e", '{"deploy_serial": [1, "0%"]}'], ": 0% is not a batch size"),
        # Each of Ansible's special tags skips a copy of the refusal: another one catches it.
        ("deploy.yml", ["--tags", "switch"], "--tags switch would run only the tasks of those stages"),
        ("deploy.yml", ["--skip-tags", "always"], "--skip-tags always would leave out what a deploy needs (always)"),
        ("deploy.yml", ["--skip-tags", "tagged"], "--skip-tags tagged would leave out what a deploy needs (tagged)"),
        (
            "rollback.yml",
            ["--skip-tags", "untagged,always"],
            "--skip-tags always,untagged would leave out what a rollback needs (always, untagged)",
        ),
    ],
)
def test_the_playbooks_refuse_it_on_every_host_before_touching_one(
    tmp_path: Path, playbook: str, args: list[str], words: str
) -> None:
    inventory = tmp_path / "hosts.yml"
    # Unreachable on purpose: any task that contacted a host would fail as unreachable, not with the refusal.
    hosts = {f"web{n}": {"ansible_host": "192.0.2.1", "ansible_port": 1} for n in (1, 2, 3)}
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
    played = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), f"playbooks/{playbook}", "-i", str(inventory), "-e", "deploy_ref=v1", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    said = " ".join((played.stdout + played.stderr).split())
    assert played.returncode == 2, said[-3000:]
    assert words in said, said[-3000:]
    assert "UNREACHABLE" not in said and "Unexpected Exception" not in said
    # One batch: every host refused in it, none left for a later batch, each reported (set_stats: the summary,
    # the CLI's --json, an AWX workflow) as invalid.
    summary = said[said.index("ROLLBACK SUMMARY" if playbook == "rollback.yml" else "DEPLOY SUMMARY: v1 ") :]
    for host in hosts:
        assert f"{host} : ok=1 changed=0 unreachable=0 failed=1 skipped=0 rescued=1" in said, said[-2000:]
        assert f"{host} invalid untouched: the input was rejected before any host was touched (" in summary
        assert summary.count(words) == len(hosts), summary
