"""End-to-end tests: real ansible-playbook runs against container hosts over SSH."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.harness import targets

REPO_ROOT = Path(__file__).resolve().parents[2]
# DEPLOYCTL_E2E_INVENTORY lets a developer point the suite at other hosts (e.g. the demo's).
INVENTORY = Path(os.environ.get("DEPLOYCTL_E2E_INVENTORY", Path(__file__).with_name("inventory")))
VAULT_ID = "demo@inventories/demo/demo-vault-password.txt"
DEPLOY_TO = "/srv/sample"


@dataclass
class Run:
    rc: int
    output: str


class Fleet:
    """The e2e hosts, and the ways a user acts on them."""

    def __init__(self) -> None:
        self.hosts = targets.inventory(str(INVENTORY), [VAULT_ID])

    def playbook(self, playbook: str, *args: str, env: dict[str, str] | None = None) -> Run:
        proc = subprocess.run(
            ["ansible-playbook", f"playbooks/{playbook}", "-i", str(INVENTORY), "--vault-id", VAULT_ID, *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
        )
        return Run(proc.returncode, proc.stdout + proc.stderr)

    def deploy(self, ref: str, *args: str) -> Run:
        return self.playbook("deploy.yml", "-e", f"deploy_ref={ref}", *args)

    def ssh(self, host: str, command: str, stdin: str = "") -> str:
        port = self.hosts[host]["ansible_port"]
        proc = subprocess.run(
            ["ssh", *targets.ssh_options(), "-p", str(port), "root@127.0.0.1", command],
            input=stdin,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, f"{command!r} on {host}: {proc.stderr}"
        return proc.stdout

    def current(self, host: str) -> str:
        return self.ssh(host, f"readlink {DEPLOY_TO}/current").strip()

    def http_port(self, host: str) -> int:
        return int(self.hosts[host]["harness_http_port"])


@pytest.fixture(scope="session")
def fleet() -> Iterator[Fleet]:
    targets.up(str(INVENTORY), [VAULT_ID])
    yield Fleet()
    if not os.environ.get("DEPLOYCTL_KEEP_HOSTS"):
        targets.down(str(INVENTORY), [VAULT_ID])


@pytest.fixture(scope="session")
def vault_secrets() -> dict[str, str]:
    """The demo vault's values, decrypted the way an operator would."""
    out = subprocess.run(
        ["ansible-vault", "view", "--vault-id", VAULT_ID, "inventories/demo/group_vars/all/vault.yml"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {k: str(v) for k, v in yaml.safe_load(out).items()}
