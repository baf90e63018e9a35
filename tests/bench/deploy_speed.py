"""How long deployctl takes to deploy, against the floor and against ansible-playbook alone.

For 1, 2 and 4 container hosts (inventory/hosts.yml), on the same hosts, in rounds
that interleave floor and deployctl (and deployctl under Mitogen, with --mitogen; with the
opt-in strategy deployctl.core.linear, with --with-strategy; and, with --compare CHECKOUT,
deployctl from another checkout of this repository, as "other"):

- new commit: v1 live -> deploy v2, which brings one migration (v1 and v1's schema
  are put back, untimed, before each of these runs);
- no-op: deploy v2 again, right after that run made it live;
- ansible-playbook alone, with the same inventory and settings: a play with no task
  (its start-up: no host is contacted) and a play with one ping per host;
- the safe floor: floor.sh with the dump and the candidate check that deployctl does by default;
- the database dump taken before the migration, next to the migration: two more v1 -> v2
  deploys per round, through `deployctl deploy --json`, without and with the dump (it is taken
  in the migrate call): the difference of their migrate calls is what the dump costs
  (--no-dump: not measured, and every deploy runs with deploy_db_backup=false).

With --compare CHECKOUT (e.g. a git worktree of main), the other checkout's deploys run with its
playbooks/deploy.yml, its ansible.cfg and so its collection (cwd CHECKOUT), on the same hosts, with
this checkout's inventory and ansible-playbook: A/B, the ratios of the medians this / other.

The floor (floor.sh) does the deploy's work as plain bash over SSH in deployctl's
shape: stage on every host at once, migrate on the first host, switch on every host
at once. Printed, next to the issue's targets: the medians of the rounds, deployctl's
ratio to the floor, and deployctl's controller CPU seconds (user+sys of ansible-playbook
and all its descendants, SSH ControlPersist masters included) and peak RSS (its largest
process). Every ansible-playbook run starts without SSH connections and closes its own.
The machine is shared: absolute times vary, ratios less so.

    make bench            (3 rounds at 1, 2 and 4 hosts: about 20 minutes, 30 with --mitogen)
    python -m tests.bench.deploy_speed --hosts 1,2 --rounds 1
    python -m tests.bench.deploy_speed --mitogen    (ansible_mitogen importable: pip install mitogen)
    python -m tests.bench.deploy_speed --hosts 1 --rounds 1 --compare ../wt-base --no-dump
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness import targets

HERE = Path(__file__).parent
INVENTORY = str(HERE / "inventory")
VAULT_ID = "demo@inventories/demo/demo-vault-password.txt"
FLOOR = shlex.quote((HERE / "floor.sh").read_text())
PR_SET_CHILD_SUBREAPER = 36
TARGET_RATIO = 1.3  # new commit + migration, 1 and 4 hosts: at most this many times the floor
TARGET_NOOP = 1.0  # no-op redeploy: at most this many seconds above the empty play
REFERENCE_CPU = 0.9  # controller CPU seconds per host of a hand-written playbook

# v2's migration undone on the shared database, from any release that has it (not timed).
MIGRATE_DOWN = """
migration=$(ls -d /srv/sample/releases/*/db/migrate/20240201000000_*.rb 2>/dev/null | head -1)
[ -n "$migration" ] || exit 0  # no v2 release yet: its migration never ran
cd "${migration%/db/migrate/*}"
runuser -u sample -- env -i HOME=/home/sample PATH=/usr/bin:/bin RAILS_ENV=production \
  bin/rails db:migrate VERSION=20240101000000 >/dev/null
"""


@dataclass
class Run:
    seconds: float
    cpu: float = 0.0  # controller CPU seconds, user+sys
    rss_mib: float = 0.0  # peak RSS of the largest process


@dataclass
class Variant:
    """How deployctl's deploys run: from which checkout (its playbooks/deploy.yml, ansible.cfg and
    collection), with which environment variables."""

    checkout: Path = targets.REPO_ROOT
    env: dict[str, str] = field(default_factory=dict)


def ansible_playbook(
    play: str,
    *args: str,
    env: dict[str, str] | None = None,
    inventory: str = INVENTORY,
    checkout: Path = targets.REPO_ROOT,
) -> Run:
    """One ansible-playbook run from checkout (a relative play is that checkout's; its ansible.cfg), timed."""
    argv = [targets.tool("ansible-playbook"), play, "-i", inventory, "--vault-id", VAULT_ID, *args]
    return timed(argv, {"ANSIBLE_CONFIG": str(checkout / "ansible.cfg"), **(env or {})}, cwd=checkout)


def timed(argv: list[str], env: dict[str, str] | None = None, cwd: Path = targets.REPO_ROOT) -> Run:
    """One run of argv (from cwd, by default this repository) with its own SSH control path dir: no
    connection of an earlier run is reused. Exits with the end of its output when it fails."""
    with tempfile.TemporaryDirectory(prefix="deployctl-bench-") as control_dir, tempfile.TemporaryFile("w+") as log:
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ANSIBLE_SSH_CONTROL_PATH_DIR": control_dir, **(env or {})},
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        left_cpu, left_rss = close_masters(control_dir)
        if proc.returncode != 0:
            log.seek(0)
            sys.exit(f"{' '.join(argv[1:])} failed:\n{log.read()[-3000:]}")
    return Run(seconds, usage.ru_utime + usage.ru_stime + left_cpu, max(usage.ru_maxrss, left_rss) / 1024)


def close_masters(control_dir: str) -> tuple[float, int]:
    """Stop the SSH masters a run left (ControlPersist): the CPU seconds of them and of any other
    process the run left behind, reaped here as their subreaper (an EE's conmon, with the container's
    processes it reaped), and the peak RSS in KiB of the largest of them."""
    for sock in Path(control_dir).iterdir():
        if sock.is_socket():
            subprocess.run(["ssh", "-S", str(sock), "-O", "exit", "localhost"], capture_output=True)
    cpu, rss, deadline = 0.0, 0, time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:  # none left
            return cpu, rss
        if pid == 0:
            time.sleep(0.02)
            continue
        cpu += usage.ru_utime + usage.ru_stime
        rss = max(rss, usage.ru_maxrss)
    print("warning: a process left by the run outlived it by 10 s", file=sys.stderr)
    return cpu, rss


def ssh(port: int, command: str, stdin: str = "") -> str:
    proc = subprocess.run(
        ["ssh", *targets.ssh_options(), "-p", str(port), "root@127.0.0.1", command],
        input=stdin,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit(f"{command[:60]}... failed on port {port}: {proc.stderr}")
    return proc.stdout


def floor(ports: list[int], ref: str, config: str, dump: bool = False, candidate: bool = False) -> Run:
    """floor.sh's deploy of ref on these hosts; with the dump before the migration and the candidate
    check before the switch when told (the safe floor)."""
    release = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-floor"

    def phase(port: int, *args: str, stdin: str = "") -> str:
        flags = f"DUMP={int(dump)} CANDIDATE={int(candidate)}"
        return ssh(port, f"{flags} bash -c {FLOOR} floor.sh {shlex.join(args)}", stdin).strip()

    started = time.monotonic()
    with ThreadPoolExecutor(len(ports)) as pool:
        outputs = list(pool.map(lambda port: phase(port, "stage", ref, release, stdin=config), ports))
        staged = [port for port, out in zip(ports, outputs, strict=True) if out == "staged"]
        if staged:
            phase(staged[0], "migrate", release)
            list(pool.map(lambda port: phase(port, "switch", release), staged))
    return Run(time.monotonic() - started)


def reset_to_v1(first_port: int, *args: str, inventory: str = INVENTORY, checkout: Path = targets.REPO_ROOT) -> None:
    """v1 live on every host (or those args --limit to) with v1's schema, deployed by checkout, so that
    v2 brings its migration again (not timed)."""
    ansible_playbook("playbooks/deploy.yml", "-e", "deploy_ref=v1", *args, inventory=inventory, checkout=checkout)
    ssh(first_port, MIGRATE_DOWN)


def mitogen_env() -> dict[str, str]:
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or spec.origin is None:
        sys.exit("--mitogen: ansible_mitogen is not importable (pip install mitogen, or put it on PYTHONPATH)")
    return {
        "ANSIBLE_STRATEGY_PLUGINS": str(Path(spec.origin).parent / "plugins" / "strategy"),
        "ANSIBLE_STRATEGY": "mitogen_linear",
        # Mitogen's SSH applies ansible.cfg's host_key_checking ahead of the inventory's
        # StrictHostKeyChecking=no, and the container hosts' keys are new on every run.
        "ANSIBLE_HOST_KEY_CHECKING": "false",
    }


def one_round(
    names: list[str],
    ports: dict[str, int],
    config: str,
    variants: dict[str, Variant],
    deploy_args: list[str],
    dump: bool,
) -> dict[str, Run]:
    """Every figure for these hosts, once: "new floor", "noop floor", "new safe floor", "new deployctl", ...,
    "ping play". deploy_args go to every deploy (e.g. -e deploy_db_backup=false); dump: whether they dump
    the database before the migration (the safe floor does when they do)."""
    limit = ("--limit", ",".join(names))
    deploy_v2 = ("playbooks/deploy.yml", "-e", "deploy_ref=v2", *limit, *deploy_args)
    runs = {}
    reset_to_v1(ports[names[0]], *limit, *deploy_args)
    runs["new floor"] = floor([ports[name] for name in names], "v2", config)
    runs["noop floor"] = floor([ports[name] for name in names], "v2", config)
    reset_to_v1(ports[names[0]], *limit, *deploy_args)
    runs["new safe floor"] = floor([ports[name] for name in names], "v2", config, dump=dump, candidate=True)
    for name, variant in variants.items():
        reset_to_v1(ports[names[0]], *limit, *deploy_args, checkout=variant.checkout)
        runs[f"new {name}"] = ansible_playbook(*deploy_v2, env=variant.env, checkout=variant.checkout)
        runs[f"noop {name}"] = ansible_playbook(*deploy_v2, env=variant.env, checkout=variant.checkout)
    runs["empty play"] = ansible_playbook(str(HERE / "empty_play.yml"), *limit)
    runs["ping play"] = ansible_playbook(str(HERE / "ping_play.yml"), *limit)
    return runs


@dataclass
class BackupCost:
    with_dump: float  # seconds of the migrate call, which takes the dump first (stages migrate + backup)
    without: float  # seconds of the migrate call with deploy_db_backup=false
    dump_kib: float


def backup_and_migration(first: str, first_port: int) -> BackupCost:
    """Two v1 -> v2 deploys of the first host through the CLI, without and with the dump, whose
    migrate calls (--json: stages migrate + backup) differ by what the dump costs."""
    seconds = []
    for backup in ("false", "true"):
        reset_to_v1(first_port, "--limit", first)
        proc = subprocess.run(
            [sys.executable, "-m", "deployctl", "deploy", INVENTORY, "--ref", "v2", "--limit", first, "--json",
             "--vault-id", VAULT_ID, "-e", f"deploy_db_backup={backup}"],
            capture_output=True, text=True, check=False, cwd=targets.REPO_ROOT,
        )  # fmt: skip
        host = json.loads(proc.stdout)["hosts"][first]
        if host.get("outcome") != "deployed" or "migrate" not in host.get("stages", {}):
            sys.exit(f"the timed deploy (deploy_db_backup={backup}) did not deploy: {host}")
        # The CLI counts the dump's part of the call as stage backup: the call is both.
        seconds.append(host["stages"]["migrate"] + host["stages"].get("backup", 0.0))
    dump = ssh(first_port, "ls -t /srv/sample/shared/backups/*.dump | head -1 | xargs stat -c %s").strip()
    return BackupCost(seconds[1], seconds[0], int(dump) / 1024)


def median(runs: list[Run], figure: str = "seconds") -> float:
    return statistics.median(getattr(run, figure) for run in runs)


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def this_over_other(runs: dict[str, list[Run]], kind: str, figure: str) -> str:
    """The A/B ratio of medians: deployctl from this checkout / from the other (--compare)."""
    return f"{median(runs[f'{kind} deployctl'], figure) / median(runs[f'{kind} other'], figure):.2f}x"


def report(results: dict[int, dict[str, list[Run]]], variants: list[str], rounds: int, costs: list[BackupCost]) -> None:
    header = ["hosts", "floor"]
    for variant in variants:
        header += [variant, "ratio", "CPU s", "CPU s/host", "RSS MiB"]
    compare = "other" in variants
    if compare:
        header += ["this/other s", "this/other CPU"]

    def cells(runs: dict[str, list[Run]], kind: str, count: int) -> list[str]:
        row = [str(count), f"{median(runs[f'{kind} floor']):.1f}s"]
        for variant in variants:
            key = f"{kind} {variant}"
            ratio = median(runs[key]) / median(runs[f"{kind} floor"])
            cpu = median(runs[key], "cpu")
            row += [f"{median(runs[key]):.1f}s", f"{ratio:.2f}x", f"{cpu:.1f}", f"{cpu / count:.2f}"]
            row.append(f"{median(runs[key], 'rss_mib'):.0f}")
        if compare:
            row += [this_over_other(runs, kind, "seconds"), this_over_other(runs, kind, "cpu")]
        return row

    rows = []
    for count, runs in results.items():
        ratio = median(runs["new deployctl"]) / median(runs["new floor"])
        safe = median(runs["new safe floor"])
        rows.append(
            [
                *cells(runs, "new", count),
                verdict(ratio <= TARGET_RATIO) if count in (1, 4) else "-",
                f"{safe:.1f}s",
                *(f"{median(runs[f'new {variant}']) / safe:.2f}x" for variant in variants),
            ]
        )
    title = f"New commit with one migration (v1 live -> deploy v2), median of {rounds} rounds"
    safe_header = ["safe floor", *(f"{variant}/safe floor" for variant in variants)]
    table(title, [*header, f"target <={TARGET_RATIO}x (1, 4 hosts)", *safe_header], rows)

    rows = []
    for count, runs in results.items():
        above = [median(runs[f"noop {variant}"]) - median(runs["empty play"]) for variant in variants]
        rows.append([*cells(runs, "noop", count), *(f"{s:+.1f}s" for s in above), verdict(above[0] <= TARGET_NOOP)])
    title = f"No-op redeploy (v2 live -> deploy v2 again), median of {rounds} rounds"
    table(title, [*header, *(f"{v} above empty play" for v in variants), f"target <={TARGET_NOOP}s above"], rows)

    rows = []
    for count, runs in results.items():
        row = [str(count)]
        for play in ("empty play", "ping play"):
            row += [
                f"{median(runs[play]):.1f}s",
                f"{median(runs[play], 'cpu'):.1f}",
                f"{median(runs[play], 'rss_mib'):.0f}",
            ]
        rows.append(row)
    title = f"ansible-playbook alone (same inventory and ansible.cfg), median of {rounds} rounds"
    table(title, ["hosts", "empty play", "CPU s", "RSS MiB", "ping play", "CPU s", "RSS MiB"], rows)

    if costs:
        dump_table(costs, rounds)

    print(f"""
floor: floor.sh, the same work as plain bash over SSH, no safety (stage on every host at once,
  migrate on the first host, switch on every host at once). ratio: deployctl's time / the floor's.
safe floor: floor.sh doing the work of deployctl's safety too: the database dump before the migration
  (not with --no-dump) and the candidate check (the release started on a side port and checked before
  the switch); deployctl/safe floor: what deployctl's own machinery costs beyond that work.
Times: wall seconds from start to exit. CPU s: controller CPU (user+sys) of ansible-playbook and all
  its descendants, SSH masters included; CPU s/host: that / hosts. RSS MiB: peak RSS, largest process.
empty play: no task, no host contacted (ansible-playbook's own start-up); ping play: one
  ansible.builtin.ping per host. above empty play: the no-op's median minus the empty play's.
Targets (issue): new commit + migration <= {TARGET_RATIO}x the floor at 1 and 4 hosts; no-op redeploy
  <= {TARGET_NOOP} s above the empty play; controller CPU per host per deploy: compare CPU s/host with
  about {REFERENCE_CPU} s per host for a hand-written playbook (reference).""")
    if compare:
        print("""other: deployctl from the --compare checkout (its deploy.yml, ansible.cfg, collection); this/other:
  this checkout's median / the other's, in seconds and in controller CPU seconds (so also per host).""")


def dump_table(costs: list[BackupCost], rounds: int) -> None:
    """The medians of the migrate call's seconds with and without the dump, and what the dump costs."""
    with_dump = statistics.median(cost.with_dump for cost in costs)
    without = statistics.median(cost.without for cost in costs)
    cost = with_dump - without
    table(
        f"The dump before the migration (deploy v1 -> v2 on one host, the migrate call), median of {rounds} rounds",
        ["migrate with the dump", "without", "the dump costs", "cost / migration", "dump KiB"],
        [
            [
                f"{with_dump:.1f}s",
                f"{without:.1f}s",
                f"{cost:.1f}s",
                f"{cost / without:.2f}x",
                f"{costs[-1].dump_kib:.0f}",
            ]
        ],
    )


def other_checkout(path: Path) -> Path:
    """The --compare checkout, absolute; exits unless it has the deploy playbook and ansible.cfg."""
    checkout = path.resolve()
    for needed in ("playbooks/deploy.yml", "ansible.cfg"):
        if not (checkout / needed).is_file():
            sys.exit(f"--compare: {checkout} has no {needed}: not a checkout of deployctl")
    return checkout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="1,2,4", help="host counts, comma-separated (default 1,2,4)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per host count (default 3)")
    parser.add_argument("--mitogen", action="store_true", help="also time deployctl under Mitogen for Ansible")
    parser.add_argument(
        "--with-strategy",
        action="store_true",
        help="also time deployctl with the strategy deployctl.core.linear (skipped tasks without a worker)",
    )
    parser.add_argument(
        "--compare", type=Path, metavar="CHECKOUT", help="also time deployctl from another checkout (A/B)"
    )
    parser.add_argument(
        "--no-dump", action="store_true", help="deploy with deploy_db_backup=false; do not measure the dump"
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.hosts.split(",")]
    variants = {"deployctl": Variant()}
    if args.mitogen:
        variants["mitogen"] = Variant(env=mitogen_env())
    if args.with_strategy:
        variants["strategy"] = Variant(env={"ANSIBLE_STRATEGY": "deployctl.core.linear"})
    if args.compare:
        variants["other"] = Variant(checkout=other_checkout(args.compare))
    deploy_args = ["-e", "deploy_db_backup=false"] if args.no_dump else []

    started = time.monotonic()
    targets.up(INVENTORY, [VAULT_ID])
    hosts = targets.inventory(INVENTORY, [VAULT_ID])
    names = sorted(hosts)
    ports = {name: int(hosts[name]["ansible_port"]) for name in names}
    if max(counts) > len(names):
        sys.exit(f"--hosts: the inventory has {len(names)} hosts")
    # From here on, the SSH masters that ansible-playbook leaves behind are reparented to this
    # process, which counts their CPU. (After targets.up: podman's conmon processes are not ours.)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        warm = ("playbooks/deploy.yml", "-e", "deploy_ref=v1", "--limit", ",".join(names[: max(counts)]))
        for checkout in dict.fromkeys(v.checkout for v in variants.values()):  # mirror, user, unit, first release
            ansible_playbook(*warm, *deploy_args, checkout=checkout)
        config = ssh(ports[names[0]], "cat /srv/sample/current/config/production.yml")
        results: dict[int, dict[str, list[Run]]] = {count: defaultdict(list) for count in counts}
        costs: list[BackupCost] = []
        for round_ in range(1, args.rounds + 1):
            if not args.no_dump:
                costs.append(backup_and_migration(names[0], ports[names[0]]))
            for count in counts:
                figures = one_round(names[:count], ports, config, variants, deploy_args, dump=not args.no_dump)
                for key, run in figures.items():
                    results[count][key].append(run)
                progress = ", ".join(f"{key} {run.seconds:.1f}s" for key, run in figures.items())
                print(f"round {round_}/{args.rounds}, {count} host(s): {progress}", file=sys.stderr, flush=True)
        report(results, list(variants), args.rounds, costs)
    finally:
        targets.down(INVENTORY, [VAULT_ID])
    print(f"\nbench took {(time.monotonic() - started) / 60:.1f} minutes")


if __name__ == "__main__":
    main()
