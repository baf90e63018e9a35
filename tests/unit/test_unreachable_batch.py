"""A rolling deploy whose first batch cannot be reached: every entry point names every host, the lost one
unreachable (Ansible's own words) and those of the later batches untouched.

No host publishes its outcome then (none got that far), so the run's hosts and ref are published before any
host is contacted (roles/deploy/tasks/identity.yml) and the summary callback lists the host it lost. The runs
are real: ansible-playbook, the deployctl CLI and an AWX-style ansible-runner job, against hosts whose SSH
port refuses the connection (the demo environment's variables and vault, so that the deploy gets as far as
its first host contact).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import awx_job
from tests.e2e.test_cli import deployctl

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO = REPO_ROOT / "inventories/demo"
HOSTS = ["web1", "web2", "web3"]
REFUSED = "ssh: connect to host 127.0.0.1 port 1: Connection refused"
UNTOUCHED = "not reached: an earlier batch failed, so this one was not started; it serves what it served before"


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo environment (its group_vars and vault), its hosts on a port that refuses connections."""
    path = tmp_path_factory.mktemp("unreachable") / "inventory"
    shutil.copytree(DEMO / "group_vars", path / "group_vars")
    hosts = {name: {"ansible_port": 1} for name in HOSTS}
    (path / "hosts.yml").write_text(json.dumps({"all": {"vars": {"sample_db_host": "db.invalid"}, "hosts": hosts}}))
    return path


def test_ansible_playbook_lists_the_lost_host_and_the_hosts_no_batch_reached(inventory: Path) -> None:
    played = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "playbooks/deploy.yml", "-i", str(inventory),
         "--vault-id", f"demo@{DEMO}/demo-vault-password.txt", "-e", "deploy_ref=v1", "-e", "deploy_serial=1"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    output = played.stdout + played.stderr
    assert played.returncode == 4, output[-3000:]
    summary = output[output.index("DEPLOY SUMMARY: v1\n") :]
    assert re.search(rf"^  web1 +unreachable could not be reached, so this run cannot say what it serves: .*{REFUSED}",
                     summary, re.M), summary  # fmt: skip
    for host in HOSTS[1:]:
        assert re.search(rf"^  {host} +untouched: {UNTOUCHED}$", summary, re.M), summary


def test_the_cli_lists_the_lost_host_and_the_hosts_no_batch_reached(inventory: Path, tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    cli = deployctl("deploy", str(inventory), "--ref", "v1", "--serial", "1", "--report", str(result))
    said = " ".join((cli.out + cli.err).split())
    assert cli.rc == 4, said[-3000:]
    hosts = json.loads(result.read_text())["hosts"]
    assert {host: result["outcome"] for host, result in hosts.items()} == {
        "web1": "unreachable", "web2": "untouched", "web3": "untouched",
    }  # fmt: skip
    assert REFUSED in hosts["web1"]["message"]
    assert hosts["web2"]["message"] == UNTOUCHED
    # What the operator reads under the table.
    assert f"web2, web3: {UNTOUCHED}" in said
    assert "exit 4: web1 could not be reached" in said


def test_an_awx_job_gets_the_run_s_hosts_and_ref(inventory: Path, tmp_path: Path) -> None:
    job = awx_job(tmp_path, "playbooks/deploy.yml", {"deploy_ref": "v1", "deploy_serial": "1"}, "all", inventory)
    assert (job.status, job.rc) == ("failed", 4), job.stdout[-3000:]
    published = job.artifacts["deployctl"]
    # Nothing per host (no host got far enough to say what it serves): the hosts and the ref, for a workflow to
    # match against the job's host summary (web1 unreachable there, web2 and web3 never started).
    assert (published["ref"], published["play_hosts"], published.get("hosts")) == ("v1", HOSTS, None)
    assert "DEPLOY SUMMARY: v1\n  web1" in job.stdout
