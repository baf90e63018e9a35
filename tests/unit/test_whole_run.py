"""A deploy or a rollback runs whole, in batches that exist (playbooks/tasks/whole_run.yml), from every entry
point: a tag selection that would cut up the run, and a deploy_serial that holds a size that is none, are
refused on every host before any is touched, and each host is reported as invalid input.

Ansible runs every host at once for a batch size of 0 or below, takes 150% as all, and stops with
"Unexpected Exception, this is probably a bug" on the text 1,50% (an AWX survey's answer); the filter
deployctl.core.serial_batches reads them all. The playbook runs are real ansible-playbook runs of deploy.yml
and rollback.yml against hosts that are never contacted: the refusal is the first task, on the controller.
They run as an AWX job runs them (ansible-runner), which gives what a user reads (ansible-playbook's output
and exit code) and what an AWX workflow reads (the set_stats artifacts) of the one run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner
import pytest

from ansible_collections.deployctl.core.plugins.filter.serial_batches import serial_batches

REPO_ROOT = Path(__file__).resolve().parents[2]
# Unreachable on purpose: any task that contacted a host would fail as unreachable, not with the refusal.
HOSTS = ("web1", "web2", "web3")
COLOUR = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Played:
    """One ansible-playbook run: its exit code, its output (uncoloured, whitespace flattened: wrapped lines read as one)
    and the set_stats data it published (an AWX job's artifacts)."""

    rc: int
    said: str
    artifacts: dict[str, Any]


def play(tmp_path: Path, playbook: str, *args: str, group_vars: Path | None = None) -> Played:
    """playbooks/PLAYBOOK against HOSTS, unreachable, in an inventory of tmp_path (with `group_vars` linked in)."""
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    hosts = {host: {"ansible_host": "192.0.2.1", "ansible_port": 1} for host in HOSTS}
    (inventory / "hosts.yml").write_text(json.dumps({"all": {"hosts": hosts}}))
    if group_vars:
        (inventory / "group_vars").symlink_to(group_vars, target_is_directory=True)
    (tmp_path / "job").mkdir()
    job = ansible_runner.run(
        private_data_dir=str(tmp_path / "job"),
        project_dir=str(REPO_ROOT),
        playbook=str(REPO_ROOT / "playbooks" / playbook),
        inventory=str(inventory),
        cmdline=shlex.join(args),
        envvars={
            "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            # ansible-playbook must be on the runner's PATH (PLATFORM.md).
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
        suppress_env_files=True,
        quiet=True,
    )
    stats: dict[str, Any] = next((event for event in job.events if event["event"] == "playbook_on_stats"), {})
    said = " ".join(COLOUR.sub("", job.stdout.read() if job.stdout else "").split())
    return Played(int(job.rc), said, (stats.get("event_data") or {}).get("artifact_data") or {})


def assert_refused_on_every_host(played: Played, words: str, title: str, run: str = "deploy") -> None:
    """Exit 2 with `words` for every host, before any host was contacted; each host reported as invalid at
    stage preflight with them in the summary (`title` first) and in set_stats (the CLI's --json, AWX)."""
    said = played.said
    assert played.rc == 2, said[-3000:]
    assert words in said, said[-3000:]
    assert "UNREACHABLE" not in said and "Unexpected Exception" not in said
    summary = said[said.index(title) :]
    for host in HOSTS:
        assert re.search(rf"{host} : ok=\d+ changed=0 unreachable=0 failed=1 skipped=\d+ rescued=1", said), said[-2000:]
        assert f"{host} invalid untouched: the input was rejected before any host was touched (" in summary
    assert summary.count(words) == len(HOSTS), summary
    published = played.artifacts["deployctl"]
    assert {host: (result["outcome"], result["stage"]) for host, result in published["hosts"].items()} == dict.fromkeys(
        HOSTS, ("invalid", "preflight")
    ), published
    for result in published["hosts"].values():
        assert words in " ".join(result["message"].split()), result
    assert (sorted(published["play_hosts"]), published["run"]) == (list(HOSTS), run), published


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
    played = play(tmp_path, playbook, "-e", "deploy_ref=v1", *args)
    # One batch: every host refused in it, none left for a later batch.
    run = playbook.removesuffix(".yml")
    assert_refused_on_every_host(played, words, "ROLLBACK SUMMARY" if run == "rollback" else "DEPLOY SUMMARY: v1 ", run)
    assert played.artifacts["deployctl"]["ref"] == ("v1" if run == "deploy" else "")
