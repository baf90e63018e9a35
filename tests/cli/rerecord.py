"""Record every event fixture of tests/cli anew, from real runs against the e2e hosts.

    python -m tests.harness.targets up tests/e2e/inventory --vault-id demo@inventories/demo/demo-vault-password.txt
    python -m tests.cli.rerecord

Needed whenever the playbooks' published results or task names change: each scenario is
run with the deployctl CLI as a user would, and its artifacts are trimmed into
tests/cli/events/NAME.jsonl by tests.cli.record. The scenarios run in order: each starts
from the state the previous one left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tests.cli import record

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "tests/e2e/inventory"
PASSWORD_FILE = REPO / "inventories/demo/demo-vault-password.txt"
DEPLOY_TO = "/srv/sample"


def ssh(host: str, command: str, stdin: str = "") -> None:
    hosts = yaml.safe_load((INVENTORY / "hosts.yml").read_text())["all"]["children"]["app"]["hosts"]
    key = Path("~/.cache/deployctl/ssh/id_ed25519").expanduser()
    subprocess.run(
        ["ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "LogLevel=ERROR", "-p", str(hosts[host]["ansible_port"]), "root@127.0.0.1", command],
        input=stdin, text=True, check=True,
    )  # fmt: skip


def plant_lock() -> None:
    holder = {"token": "20260101T000000Z-4242", "user": "alice", "ref": "v9", "release": "20260101T000000Z",
              "controller": "alices-laptop", "pid": 4242, "started_at": "2026-01-01T00:00:00Z",
              "started_epoch": int(time.time())}  # fmt: skip
    ssh("web1", f"cat > {DEPLOY_TO}/.deployctl/lock", json.dumps(holder))


def deployctl(name: str | None, *args: str, inventory: Path = INVENTORY, password: Path = PASSWORD_FILE) -> None:
    """Run one command; record its events as NAME (None: only bring the hosts to a state)."""
    with tempfile.TemporaryDirectory() as cache:
        proc = subprocess.run(
            [str(Path(sys.executable).with_name("deployctl")), args[0], str(inventory), *args[1:], "--json",
             "--vault-password-file", str(password)],
            cwd=REPO, capture_output=True, text=True, env={**os.environ, "XDG_CACHE_HOME": cache},
        )  # fmt: skip
        document = json.loads(proc.stdout)
        print(f"{name or '(setup)'}: exit {proc.returncode}, {document.get('result')}")
        if name:
            record.main(document["artifacts"], name)


def main() -> None:
    deployctl(None, "deploy", "--ref", "v2")
    deployctl("deploy_deployed", "deploy", "--ref", "v1")
    deployctl("deploy_unchanged", "deploy", "--ref", "v1")
    deployctl("deploy_migrated", "deploy", "--ref", "v2")
    deployctl("deploy_reverted", "deploy", "--ref", "v3-unhealthy", "-e", "deploy_health_deadline=8")
    deployctl("deploy_aborted_migration", "deploy", "--ref", "v3-broken-migration")
    deployctl("deploy_invalid", "deploy", "--ref", "v1", "-e", "deploy_keep_releases=0")
    deployctl("deploy_no_ref", "deploy", "--ref", "")
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as wrong:
        wrong.write("not the demo password\n")
        wrong.flush()
        deployctl("vault_wrong", "deploy", "--ref", "v1", password=Path(wrong.name))
    deployctl("preview", "deploy", "--ref", "v3-broken-migration", "--check", "-e", "deploy_keep_releases=2")
    deployctl(None, "deploy", "--ref", "v1")
    deployctl(None, "deploy", "--ref", "v2")
    deployctl("rollback_refused", "rollback")
    deployctl("rollback_forced", "rollback", "-e", "deploy_rollback_force=true")
    deployctl("releases", "releases")
    plant_lock()
    deployctl("status_locked", "status")
    deployctl("unlock", "unlock", "--reason", "alice's laptop died mid-deploy")
    with tempfile.TemporaryDirectory() as tmp:
        hosts = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
        hosts["all"]["children"]["app"]["hosts"] = {
            "web1": hosts["all"]["children"]["app"]["hosts"]["web1"],
            "ghost": {"ansible_port": 2999, "harness_http_port": 3999},
        }
        (Path(tmp) / "group_vars").symlink_to(INVENTORY / "group_vars")
        (Path(tmp) / "hosts.yml").write_text(yaml.safe_dump(hosts))
        deployctl("status_unreachable", "status", inventory=Path(tmp))
    deployctl(None, "deploy", "--ref", "v2")


if __name__ == "__main__":
    main()
