"""How deployctl's deploy scales with the fleet on one controller (issue #15): wall time, controller
CPU and peak memory for 2, 4 and 8 container hosts (inventory-fleet/hosts.yml), by ansible-playbook
and, with --ee, by ansible-navigator inside the execution environment (tests/harness/ee_image.py).

Each run deploys a new commit with one migration (v1 live -> deploy v2, v1 and its schema put
back on those hosts, untimed, before it: deploy_speed.reset_to_v1, a host's first deploy too). The
ways of running interleave in every round, and at the largest host count ansible-playbook also runs
with --forks below the host count (default: half of it), to show what forks buys. Printed: the
medians of the rounds per host count and way, per host (wall seconds / hosts, CPU seconds / hosts),
each way's ratio to ansible-playbook at the same count, the 1-minute load average at the end of the
runs (median), and a straight line fitted through ansible-playbook's medians (wall = a + b x hosts),
with the number of hosts it reaches within 5 and 15 minutes: an extrapolation beyond the hosts
measured.

CPU s: the controller's CPU seconds (user+sys of the run and all its descendants: ansible-playbook's
workers and SSH masters; for the EE, podman, conmon and every process in the EE's container).
RSS MiB: the peak RSS of the largest process. The machine is shared: compare the ratios of one run.

    make bench-fleet       (2, 4 and 8 hosts, 2 rounds, the EE at 8 hosts and forks 4 at 8 hosts)
    python -m tests.bench.fleet_speed --hosts 2,4,8 --rounds 2 --ee 8 --forks 4
    DEPLOYCTL_KEEP_HOSTS=1 python -m tests.bench.fleet_speed ...   (reuse running hosts, leave them)
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.bench.deploy_speed import (
    PR_SET_CHILD_SUBREAPER,
    VAULT_ID,
    Run,
    ansible_playbook,
    median,
    reset_to_v1,
    table,
    timed,
)
from tests.harness import navigator, podman, targets
from tests.harness.ee_image import ensure_ee_image

INVENTORY = str(Path(__file__).parent / "inventory-fleet")
PLAYBOOK = "ansible-playbook"
EE = "EE (navigator)"
BUDGETS = (5 * 60, 15 * 60)  # seconds: how many hosts one controller deploys within these


@dataclass(frozen=True)
class Way:
    """One way of running the deploy: ansible-playbook or ansible-navigator in the EE, and --forks."""

    how: str
    forks: int | None = None  # None: ansible.cfg's (20)

    def label(self) -> str:
        return self.how if self.forks is None else f"{self.how}, forks {self.forks}"


@dataclass
class Measured:
    """A way's medians at one host count."""

    hosts: int
    way: Way
    runs: list[Run]
    loads: list[float]  # 1-minute load average at the end of each run

    @property
    def seconds(self) -> float:
        return median(self.runs)

    @property
    def cpu(self) -> float:
        return median(self.runs, "cpu")

    @property
    def rss(self) -> float:
        return median(self.runs, "rss_mib")


def deploy_v2(names: list[str], way: Way, image: str) -> Run:
    """One timed v1 -> v2 deploy of these hosts, the way given."""
    args = ["-e", "deploy_ref=v2", "--limit", ",".join(names)]
    if way.forks is not None:
        args += ["--forks", str(way.forks)]
    if way.how == PLAYBOOK:
        return ansible_playbook("playbooks/deploy.yml", *args, inventory=INVENTORY)
    with tempfile.TemporaryDirectory(prefix="deployctl-bench-navigator-") as logs:
        argv = navigator.run_command(
            "playbooks/deploy.yml", INVENTORY, image, Path(logs) / "navigator.log", "--vault-id", VAULT_ID, *args
        )
        return timed(argv, podman.environment())


def answers(port: int) -> bool:
    """Whether the host on this SSH port answers."""
    argv = ["ssh", *targets.ssh_options(), "-p", str(port), "root@127.0.0.1", "true"]
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def ways_at(count: int, largest: int, ee_counts: set[int], forks: int) -> list[Way]:
    ways = [Way(PLAYBOOK)]
    if count in ee_counts:
        ways.append(Way(EE))
    if count == largest and forks < count:
        ways.append(Way(PLAYBOOK, forks))
    return ways


def fit(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares line y = a + b x through (x, y) points, at least two distinct x: (a, b)."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    slope, intercept = statistics.linear_regression(xs, ys)
    return intercept, slope


def hosts_within(budget: float, line: tuple[float, float]) -> int:
    """Hosts a deploy reaches within budget seconds on the line wall = a + b x hosts (0 when even
    its fixed part a does not fit; raises ValueError for a line that does not grow with hosts)."""
    intercept, slope = line
    if slope <= 0:
        raise ValueError(f"the wall time does not grow with the hosts (slope {slope:.2f} s/host): no extrapolation")
    return max(0, int((budget - intercept) // slope))


def rows(measured: list[Measured]) -> list[list[str]]:
    """The table's rows, each way's ratio to ansible-playbook (default forks) at the same count."""
    base = {m.hosts: m for m in measured if m.way == Way(PLAYBOOK)}
    return [
        [
            str(m.hosts),
            m.way.label(),
            f"{m.seconds:.1f}",
            f"{m.seconds / m.hosts:.1f}",
            f"{m.cpu:.1f}",
            f"{m.cpu / m.hosts:.2f}",
            f"{m.rss:.0f}",
            f"{m.seconds / base[m.hosts].seconds:.2f}x",
            f"{statistics.median(m.loads):.1f}",
        ]
        for m in measured
    ]


def report(measured: list[Measured], rounds: int) -> None:
    header = ["hosts", "how", "wall s", "s/host", "CPU s", "CPU s/host", "RSS MiB", "wall / playbook", "load"]
    table(f"Deploy of a new commit with one migration (v1 -> v2), median of {rounds} rounds", header, rows(measured))
    playbook = [m for m in measured if m.way == Way(PLAYBOOK)]
    if len({m.hosts for m in playbook}) < 2:
        return
    wall = fit([(m.hosts, m.seconds) for m in playbook])
    cpu = fit([(m.hosts, m.cpu) for m in playbook])
    print(f"\nansible-playbook (forks 20), fitted over {', '.join(str(m.hosts) for m in playbook)} hosts:")
    print(f"  wall = {wall[0]:.1f} s + {wall[1]:.2f} s x hosts", end="; ")
    print(f"controller CPU = {cpu[0]:.1f} s + {cpu[1]:.2f} s x hosts")
    try:
        reach = ", ".join(f"{hosts_within(budget, wall)} hosts within {budget // 60} min" for budget in BUDGETS)
    except ValueError as err:
        reach = str(err)
    print(f"  on that line (an extrapolation beyond {max(m.hosts for m in playbook)} hosts): {reach}")
    print(f"  the controller's {os.cpu_count()} cores are busy {cpu[1] / wall[1]:.1f} cores' worth per added host")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="2,4,8", help="host counts, comma-separated (default 2,4,8)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (default 2)")
    parser.add_argument(
        "--ee", nargs="?", const="all", default="", help="also through the EE: at every count, or at these (e.g. 8)"
    )
    parser.add_argument("--forks", type=int, help="forks of the extra run at the largest count (default: half of it)")
    args = parser.parse_args()
    counts = [int(n) for n in args.hosts.split(",")]
    largest = max(counts)
    ee_counts = set(counts) if args.ee == "all" else {int(n) for n in args.ee.split(",") if n}
    forks = args.forks or largest // 2

    started = time.monotonic()
    image = ensure_ee_image() if ee_counts else ""
    hosts = targets.inventory(INVENTORY, [VAULT_ID])
    names = sorted(hosts, key=lambda name: int(hosts[name]["ansible_port"]))
    # DEPLOYCTL_KEEP_HOSTS=1, as for the e2e tests: hosts that answer are reused and left running (on a
    # loaded machine, eight hosts can take longer to start than targets.up waits).
    keep = os.environ.get("DEPLOYCTL_KEEP_HOSTS") == "1"
    if not (keep and all(answers(int(hosts[name]["ansible_port"])) for name in names)):
        targets.up(INVENTORY, [VAULT_ID])
    first_port = int(hosts[names[0]]["ansible_port"])
    if largest > len(names):
        sys.exit(f"--hosts: the inventory has {len(names)} hosts")
    # SSH masters and an EE's conmon are reparented to this process, which counts their CPU
    # (after targets.up: the hosts' conmon processes are not the benchmark's).
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    print(f"load average at the start: {os.getloadavg()[0]:.1f}", file=sys.stderr)
    try:
        results: dict[tuple[int, Way], Measured] = {}
        loads: dict[tuple[int, Way], list[float]] = defaultdict(list)
        for round_ in range(1, args.rounds + 1):
            for count in counts:
                limit = ("--limit", ",".join(names[:count]))
                for way in ways_at(count, largest, ee_counts, forks):
                    reset_to_v1(first_port, *limit, inventory=INVENTORY)
                    run = deploy_v2(names[:count], way, image)
                    load = os.getloadavg()[0]
                    results.setdefault((count, way), Measured(count, way, [], loads[count, way])).runs.append(run)
                    loads[count, way].append(load)
                    print(
                        f"round {round_}/{args.rounds}, {count} hosts, {way.label()}: {run.seconds:.1f}s, "
                        f"CPU {run.cpu:.1f}s, RSS {run.rss_mib:.0f} MiB, load {load:.1f}",
                        file=sys.stderr,
                        flush=True,
                    )
            report(list(results.values()), round_)  # after each round: a run cut short still tells
    finally:
        if not keep:
            targets.down(INVENTORY, [VAULT_ID])
    print(f"\nbench took {(time.monotonic() - started) / 60:.1f} minutes")


if __name__ == "__main__":
    main()
