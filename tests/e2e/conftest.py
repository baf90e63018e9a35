"""End-to-end tests: real ansible-playbook runs against container hosts over SSH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import ansible_runner
import pytest
import yaml

from tests.harness import targets

REPO_ROOT = Path(__file__).resolve().parents[2]


def worker_inventory(worker: str) -> Path:
    """The inventory of a pytest-xdist worker (`make e2e` runs two): gw0 deploys to tests/e2e/inventory,
    gwN to a copy of it (written here, not in git) with its own containers, ports and database host, so
    that the workers' deploys never meet."""
    base = Path(__file__).with_name("inventory")
    number = int(worker.removeprefix("gw") or 0)
    if number == 0:
        return base
    inventory = base.with_name(f"inventory-{worker}")
    hosts = yaml.safe_load((base / "hosts.yml").read_text())
    shared = hosts["all"]["vars"]
    shared.update(harness_prefix=f"{shared['harness_prefix']}-{worker}", sample_db_host=f"db.e2e-{worker}.internal")
    for hostvars in hosts["all"]["children"]["app"]["hosts"].values():
        hostvars.update({key: int(hostvars[key]) + 100 * number for key in ("ansible_port", "harness_http_port")})
    inventory.mkdir(exist_ok=True)
    (inventory / "hosts.yml").write_text("---\n" + yaml.safe_dump(hosts, sort_keys=False))
    if not (inventory / "group_vars").is_symlink():
        (inventory / "group_vars").symlink_to(os.readlink(base / "group_vars"))
    return inventory


# DEPLOYCTL_E2E_INVENTORY lets a developer point the suite at other hosts (e.g. the demo's).
INVENTORY = Path(
    os.environ.get("DEPLOYCTL_E2E_INVENTORY") or worker_inventory(os.environ.get("PYTEST_XDIST_WORKER", "gw0"))
)
VAULT_ID = "demo@inventories/demo/demo-vault-password.txt"
DEPLOY_TO = "/srv/sample"
DEMO_PASSWORD = (REPO_ROOT / "inventories/demo/demo-vault-password.txt").read_text().strip()
# What ansible-playbook asks for the demo vault id's password, as AWX's Vault credential answers it.
VAULT_PROMPT = r"^Vault password \(demo\):\s*$"
# What AWX leaves out of a project checkout, and what a project sync would not bring.
NOT_IN_A_PROJECT = shutil.ignore_patterns(".venv", ".cache", ".git", ".ansible", "*_cache", "__pycache__")


def inventory_with_host_vars(dest: Path, host: str, host_vars: str, base: Path | None = None) -> Path:
    """A copy of an inventory (default: this worker's) in `dest`, with a host_vars file for one host: a host
    set apart for a test (a sabotaged health check). Its group_vars link points where the original's does."""
    base = base or INVENTORY
    dest.mkdir(parents=True)
    (dest / "hosts.yml").write_text((base / "hosts.yml").read_text())
    (dest / "group_vars").symlink_to((base / "group_vars").resolve(), target_is_directory=True)
    (dest / "host_vars").mkdir()
    (dest / "host_vars" / f"{host}.yml").write_text(host_vars)
    return dest


@dataclass
class Run:
    rc: int
    output: str


@dataclass
class AwxJob:
    """What AWX shows of a job: its status and rc, its stdout, and the set_stats artifacts."""

    status: str
    rc: int
    stdout: str
    artifacts: dict

    @property
    def hosts(self) -> dict[str, dict]:
        return (self.artifacts.get("deployctl") or {}).get("hosts") or {}


def awx_job(
    private_data_dir: Path,
    playbook: str,
    survey: dict,
    limit: str = "web1,web2",
    inventory: Path | None = None,
    job_tags: str = "",
    vault_password: str = DEMO_PASSWORD,
) -> AwxJob:
    """An AWX-like job: the project copied into project/ (once per directory), the survey's answers
    as extra vars, the vault password answered at its prompt as AWX's Vault credential does.
    `inventory`: the job's own (a job slice's holds only its hosts); the project's e2e inventory by default.
    `job_tags`: the job template's Job Tags, which AWX passes as --tags. `vault_password`: the Vault
    credential's (the demo's by default)."""
    project = copy_project(private_data_dir)
    (private_data_dir / "env").mkdir(exist_ok=True)
    (private_data_dir / "env" / "extravars").write_text(json.dumps(survey))
    job = ansible_runner.run(
        private_data_dir=str(private_data_dir),
        playbook=playbook,
        inventory=str(inventory or project / INVENTORY.relative_to(REPO_ROOT)),
        cmdline=f"--vault-id demo@prompt --limit {limit}" + (f" --tags {job_tags}" if job_tags else ""),
        passwords={VAULT_PROMPT: vault_password},
        # ansible-playbook must be on the runner's PATH (PLATFORM.md).
        envvars={"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},
        suppress_env_files=True,
        quiet=True,
    )
    stdout = job.stdout.read() if job.stdout else ""
    return AwxJob(str(job.status), int(job.rc), stdout, set_stats(job.events))


def copy_project(private_data_dir: Path) -> Path:
    """The project as AWX syncs it into a job's private data dir: project/ (copied once per directory)."""
    project = private_data_dir / "project"
    if not project.exists():
        shutil.copytree(REPO_ROOT, project, symlinks=True, ignore=NOT_IN_A_PROJECT)
    return project


def set_stats(events: Iterable[dict]) -> dict:
    """What AWX keeps as a job's artifacts: the set_stats data of its playbook_on_stats event."""
    stats: dict = next((e for e in events if e["event"] == "playbook_on_stats"), {})
    return (stats.get("event_data") or {}).get("artifact_data") or {}


class Fleet:
    """The e2e hosts, and the ways a user acts on them."""

    def __init__(self, inventory: Path = INVENTORY) -> None:
        self.inventory = inventory
        self.hosts = targets.inventory(str(inventory), [VAULT_ID])

    def playbook(self, playbook: str, *args: str, env: dict[str, str] | None = None, vault_id: str = VAULT_ID) -> Run:
        """ansible-playbook as an operator runs it (with the demo vault password unless told otherwise)."""
        proc = subprocess.run(
            [
                targets.tool("ansible-playbook"),
                f"playbooks/{playbook}",
                "-i",
                str(self.inventory),
                "--vault-id",
                vault_id,
                *args,
            ],
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
        """The release ID `current` points at."""
        return self.ssh(host, f"readlink {DEPLOY_TO}/current").strip().rsplit("/", 1)[-1]

    def records(self, host: str) -> dict[str, dict]:
        """deployctl's recorded release states on a host, by release ID."""
        script = (
            "import glob, json; print(json.dumps([json.load(open(f)) for f in "
            f"sorted(glob.glob('{DEPLOY_TO}/.deployctl/releases/*.json'))]))"
        )
        return {r["id"]: r for r in json.loads(self.ssh(host, f'python3 -c "{script}"'))}

    def newest(self, host: str) -> dict:
        records = self.records(host)
        return records[max(records)]

    def journal(self, host: str) -> list[dict]:
        return [json.loads(line) for line in self.ssh(host, f"cat {DEPLOY_TO}/.deployctl/journal.jsonl").splitlines()]

    def http_port(self, host: str) -> int:
        return int(self.hosts[host]["harness_http_port"])

    def health(self, host: str) -> tuple[int | None, dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port(host)}/up", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, {}
        except OSError:
            return None, {}

    def schema_migrations(self, host: str) -> list[str]:
        """Rows of schema_migrations, read with the app's credentials (the password via stdin)."""
        v = self.hosts[host]
        out = self.ssh(
            host,
            "read -r PGPASSWORD; export PGPASSWORD; "
            f"psql -h {v['sample_db_host']} -U {v['sample_db_user']} -d {v['sample_db_name']} "
            "-tAc 'SELECT version FROM schema_migrations ORDER BY version'",
            stdin=v["vault_sample_db_password"] + "\n",
        )
        return out.split()


@pytest.fixture(scope="session")
def fleet() -> Iterator[Fleet]:
    targets.up(str(INVENTORY), [VAULT_ID])
    yield Fleet()
    if not os.environ.get("DEPLOYCTL_KEEP_HOSTS"):
        targets.down(str(INVENTORY), [VAULT_ID])


@pytest.fixture(scope="session")
def vault_secrets(fleet: Fleet) -> dict[str, str]:
    """The demo vault's values, decrypted."""
    hostvars = next(iter(fleet.hosts.values()))
    return {k: v for k, v in hostvars.items() if k.startswith("vault_")}


@pytest.fixture(scope="session")
def commits(fleet: Fleet) -> dict[str, str]:
    """Commit of each tag of the sample app, read from its upstream repository."""
    return targets.sample_commits()


def serve(fleet: Fleet, commits: dict[str, str], tag: str) -> dict[str, str]:
    """Every host serving tag (a no-op when it already does); returns the live release per host."""
    run = fleet.deploy(tag)
    assert run.rc == 0, run.output[-3000:]
    for host in fleet.hosts:
        assert fleet.health(host)[1].get("revision") == commits[tag]
    return {host: fleet.current(host) for host in fleet.hosts}


@pytest.fixture
def on_v2(fleet: Fleet, commits: dict[str, str]) -> dict[str, str]:
    """Every host serving v2; returns the live release per host."""
    return serve(fleet, commits, "v2")
