"""How long deployctl takes to deploy a new commit with one migration, against the floor.

The floor is one bash script over one SSH session per host (floor.sh) doing the
same work with none of deployctl's safety. Both run in this one process, on the
same hosts, for the same v1 -> v2 transition (reset in between, untimed), and
the figures are printed as ratios: the machine is shared, absolute times vary.

    make bench        (about 3 minutes)
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.harness import targets

HERE = Path(__file__).parent
INVENTORY = str(HERE / "inventory")
VAULT_ID = "demo@inventories/demo/demo-vault-password.txt"
ROUNDS = 2


def playbook(name: str, *args: str) -> float:
    started = time.monotonic()
    proc = subprocess.run(
        [targets.tool("ansible-playbook"), f"playbooks/{name}", "-i", INVENTORY, "--vault-id", VAULT_ID, *args],
        cwd=targets.REPO_ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit(f"{name} {' '.join(args)} failed:\n{proc.stdout[-3000:]}")
    return time.monotonic() - started


MIGRATE_DOWN = (
    "cd $(ls -d /srv/sample/releases/*/db/migrate/20240201000000_*.rb | head -1 | xargs dirname)/../.. && "
    "runuser -u sample -- env -i HOME=/home/sample PATH=/usr/bin:/bin RAILS_ENV=production "
    "bin/rails db:migrate VERSION=20240101000000 >/dev/null"
)


def reset_to_v1(hosts: dict[str, dict], first: str) -> None:
    """v1 live with v1's schema, so that v2 brings its migration again (not timed)."""
    playbook("deploy.yml", "-e", "deploy_ref=v1")
    ssh(hosts, first, MIGRATE_DOWN)


def ssh(hosts: dict[str, dict], host: str, command: str, stdin: str = "") -> str:
    proc = subprocess.run(
        ["ssh", *targets.ssh_options(), "-p", str(hosts[host]["ansible_port"]), "root@127.0.0.1", command],
        input=stdin,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit(f"{command[:60]}... failed on {host}: {proc.stderr}")
    return proc.stdout


def floor(hosts: dict[str, dict], names: list[str], config: str) -> float:
    release_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-floor"

    script = shlex.quote((HERE / "floor.sh").read_text())

    def one(host: str) -> None:
        ssh(hosts, host, f"bash -c {script} floor v2 {release_id}", stdin=config)

    started = time.monotonic()
    # The migration runs once, on the first host, before the others (as deployctl does).
    one(names[0])
    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(one, names[1:]))
    return time.monotonic() - started


def main() -> None:
    targets.up(INVENTORY, [VAULT_ID])
    hosts = targets.inventory(INVENTORY, [VAULT_ID])
    names = sorted(hosts)
    try:
        playbook("deploy.yml", "-e", "deploy_ref=v1")  # warm: mirror, user, unit, first release
        config = ssh(hosts, names[0], "cat /srv/sample/current/config/production.yml")
        print(f"{'hosts':>5}  {'floor':>8}  {'deployctl':>9}  {'ratio':>6}  {'no-op redeploy':>14}")
        for count in (1, len(names)):
            limit = ",".join(names[:count])
            floors, ours, noops = [], [], []
            for _ in range(ROUNDS):
                reset_to_v1(hosts, names[0])
                floors.append(floor(hosts, names[:count], config))
                reset_to_v1(hosts, names[0])
                ours.append(playbook("deploy.yml", "-e", "deploy_ref=v2", "--limit", limit))
                noops.append(playbook("deploy.yml", "-e", "deploy_ref=v2", "--limit", limit))
            best_floor, best_ours = min(floors), min(ours)
            print(
                f"{count:>5}  {best_floor:>7.1f}s  {best_ours:>8.1f}s  {best_ours / best_floor:>5.2f}x"
                f"  {min(noops):>13.1f}s"
            )
    finally:
        targets.down(INVENTORY, [VAULT_ID])


if __name__ == "__main__":
    main()
