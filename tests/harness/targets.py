"""Start and stop container hosts for an inventory: real systemd hosts reached over SSH.

The inventory is the source of truth. Each host gets a podman container named
`<harness_prefix>-<host>` that publishes its SSH port on 127.0.0.1:<ansible_port>
and its app port on 127.0.0.1:<harness_http_port>. When the inventory sets
`sample_db_host`, a PostgreSQL container plays the database server the app hosts
share (as a managed database would), with the role and password from the vault.

    python -m tests.harness.targets up inventories/demo --vault-id demo@FILE
    python -m tests.harness.targets down inventories/demo
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.harness import podman, vault
from tests.harness.image import ensure_target_image

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE = Path.home() / ".cache" / "deployctl"
SSH_KEY = CACHE / "ssh" / "id_ed25519"
UPSTREAM = REPO_ROOT / ".cache" / "upstream"
NETWORK = "deployctl"
APP_PORT_IN_CONTAINER = 3000


def tool(name: str) -> str:
    """An Ansible command from this Python's environment, whether or not it is on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def inventory(path: str, vault_ids: list[str]) -> dict:
    """Each host's variables, vault-encrypted values decrypted."""
    argv = [tool("ansible-inventory"), "-i", path, "--list"]
    for vault_id in vault_ids:
        argv += ["--vault-id", vault_id]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT)
    if proc.returncode != 0:
        sys.exit(f"cannot read inventory {path}: {proc.stderr.strip()}")
    data = json.loads(proc.stdout)
    hostvars = data.get("_meta", {}).get("hostvars", {})
    hosts = sorted(h for h in hostvars if h != "localhost")
    return {h: {k: vault.reveal(v, vault_ids) for k, v in hostvars[h].items()} for h in hosts}


def ensure_ssh_key() -> Path:
    if not SSH_KEY.exists():
        SSH_KEY.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deployctl-test", "-f", str(SSH_KEY)],
            check=True,
        )
    return SSH_KEY


def build_sample_repo() -> Path:
    """The sample app's upstream repository, (re)made when its fixtures changed since it was made.

    Hosts fetch from it while tests run: another test session (a pytest-xdist worker) must not
    remake it under them, and an unchanged one needs no remaking (its SHAs are fixed anyway)."""
    UPSTREAM.mkdir(parents=True, exist_ok=True)
    dest = UPSTREAM / "sample-app.git"
    fixtures = REPO_ROOT / "tests/fixtures"
    digest = hashlib.sha256()
    for path in sorted(p for p in fixtures.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(f"{path.relative_to(fixtures)}\0{path.stat().st_mode & 0o111}\0".encode())
        digest.update(path.read_bytes())
    stamp = dest / "deployctl-fixtures.sha256"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return dest
    subprocess.run(["bash", str(fixtures / "make_sample_repo.sh"), str(dest)], check=True, stdout=subprocess.DEVNULL)
    stamp.write_text(digest.hexdigest())
    return dest


@contextlib.contextmanager
def shared_setup() -> Iterator[None]:
    """Held while the parts every set of hosts shares are made (image, upstream repository, network,
    SSH key): two test sessions starting at once (pytest-xdist workers) make them once."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "targets.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def sample_commits() -> dict[str, str]:
    """Commit of each tag of the sample app, read from the repository build_sample_repo made."""
    out = subprocess.run(
        ["git", "--git-dir", str(UPSTREAM / "sample-app.git"), "show-ref", "--tags", "-d"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {
        ref.removeprefix("refs/tags/").removesuffix("^{}"): sha
        for sha, ref in (line.split() for line in out.splitlines())
        if ref.endswith("^{}")
    }


def container_ip(name: str) -> str:
    return podman.run("inspect", name, "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")


def _start(prefix: str, host: str, image: str, *options: str) -> str:
    name = f"{prefix}-{host}"
    podman.run(
        "run", "-d", "--name", name, "--hostname", host, "--network", NETWORK,
        "--systemd=always", "--label", f"deployctl.harness={prefix}",
        *options, image, "/sbin/init",
    )  # fmt: skip
    return name


def _wait_systemd(name: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        state = podman.run("exec", name, "systemctl", "is-system-running", check=False)
        if state in ("running", "degraded"):
            return
        time.sleep(0.3)
    sys.exit(f"{name}: systemd did not come up in time")


def _wait_ssh(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        proc = subprocess.run(
            ["ssh", *ssh_options(), "-p", str(port), "root@127.0.0.1", "true"],
            capture_output=True,
        )
        if proc.returncode == 0:
            return
        time.sleep(0.3)
    sys.exit(f"ssh to 127.0.0.1:{port} did not answer in time")


def ssh_options() -> list[str]:
    return [
        "-i", str(SSH_KEY), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=3",
    ]  # fmt: skip


def _start_database(prefix: str, image: str, hostvars: dict) -> str:
    name = _start(prefix, "db", image)
    _wait_systemd(name, time.monotonic() + 60)
    podman.run("exec", name, "systemctl", "enable", "--now", "postgresql")
    user, database = hostvars["sample_db_user"], hostvars["sample_db_name"]
    password = hostvars["vault_sample_db_password"].replace("'", "''")
    sql = f'CREATE ROLE "{user}" LOGIN PASSWORD \'{password}\'; CREATE DATABASE "{database}" OWNER "{user}";'
    deadline = time.monotonic() + 30
    while True:
        # The password goes through stdin, never argv.
        proc = subprocess.run(
            ["podman", "exec", "-i", "-u", "postgres", name, "psql", "-q", "-v", "ON_ERROR_STOP=1"],
            input=sql.encode(),
            capture_output=True,
            env=podman.environment(),
        )
        if proc.returncode == 0:
            return container_ip(name)
        if time.monotonic() > deadline:
            sys.exit(f"{name}: cannot create the database: {proc.stderr.decode(errors='replace')}")
        time.sleep(0.5)


def up(inventory_path: str, vault_ids: list[str]) -> None:
    hosts = inventory(inventory_path, vault_ids)
    if not hosts:
        sys.exit(f"inventory {inventory_path} has no hosts")
    first = next(iter(hosts.values()))
    prefix = first["harness_prefix"]
    down_prefix(prefix)
    with shared_setup():
        key = ensure_ssh_key()
        image = ensure_target_image()
        build_sample_repo()
        if not podman.exists("network", NETWORK):
            podman.run("network", "create", NETWORK)

    options: list[str] = []
    if "sample_db_host" in first:
        options += ["--add-host", f"{first['sample_db_host']}:{_start_database(prefix, image, first)}"]
    for host, hostvars in hosts.items():
        _start(
            prefix, host, image, *options,
            "-p", f"127.0.0.1:{hostvars['ansible_port']}:22",
            "-p", f"127.0.0.1:{hostvars['harness_http_port']}:{APP_PORT_IN_CONTAINER}",
            "-v", f"{key}.pub:/root/.ssh/authorized_keys:ro",
            "-v", f"{UPSTREAM}:/srv/upstream:ro",
        )  # fmt: skip
    deadline = time.monotonic() + 90
    for host, hostvars in hosts.items():
        _wait_ssh(int(hostvars["ansible_port"]), deadline)
        print(f"{host}: ssh 127.0.0.1:{hostvars['ansible_port']}, http://127.0.0.1:{hostvars['harness_http_port']}")


def down_prefix(prefix: str) -> None:
    names = podman.run("ps", "-a", "--filter", f"label=deployctl.harness={prefix}", "--format", "{{.Names}}").split()
    if names:
        podman.run("rm", "-f", "-t", "0", *names)


def down(inventory_path: str, vault_ids: list[str]) -> None:
    hosts = inventory(inventory_path, vault_ids)
    prefixes = {h["harness_prefix"] for h in hosts.values()}
    for prefix in prefixes:
        down_prefix(prefix)


def show(inventory_path: str, vault_ids: list[str]) -> None:
    """Print where each host's app answers, and what it answers."""
    for host, hostvars in inventory(inventory_path, vault_ids).items():
        url = f"http://127.0.0.1:{hostvars['harness_http_port']}/up"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                answer = f"{response.status} {response.read().decode()}"
        except (urllib.error.URLError, OSError) as err:
            answer = f"no answer ({err})"
        print(f"{host}: {url} -> {answer}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down", "show"])
    parser.add_argument("inventory")
    parser.add_argument("--vault-id", action="append", default=[], dest="vault_ids")
    args = parser.parse_args()
    {"up": up, "down": down, "show": show}[args.action](args.inventory, args.vault_ids)


if __name__ == "__main__":
    main()
