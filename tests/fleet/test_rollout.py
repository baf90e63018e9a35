"""Rolling deploys that hold together: one commit for every batch, the run's lock on every host from
start to end, revert_all, and a rollback in batches that stops at a failing batch."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import DEPLOY_TO, REPO_ROOT, VAULT_ID, Run
from tests.e2e.recorder import Recorder
from tests.e2e.test_metrics import TEXTFILE, labels_of, parse
from tests.fleet.conftest import FleetHosts, inventory_with_host_vars
from tests.fleet.test_fleet import BATCHES, ROLLING, batches, fleet_state
from tests.harness import targets

pytestmark = pytest.mark.fleet

UPSTREAM = targets.UPSTREAM / "sample-app.git"
BRANCH = "rollout-test"
PASSWORD_FILE = "inventories/demo/demo-vault-password.txt"

# web4 (third batch) gets a database host that does not exist: its new release answers 503 (as BROKEN_WEB3
# in test_fleet.py); the release it ran before keeps its own config, so going back to it is healthy.
# The candidate check is off for web4: this test is about the hosts switched before web4's failure, and
# web4's own failure after its switch (checked before it, it would never switch: test_zero_downtime).
BROKEN_WEB4 = """\
---
sample_db_host: nowhere.fleet.internal
deploy_health_deadline: 15
deploy_candidate_check: false
deploy_metrics_textfile_dir: /tmp
"""
# web4's own metrics directory (above): the revert of the hosts switched before web4's failure, which runs in web4's
# turn, must use their own settings (their default directory, node_exporter's: TEXTFILE), not web4's.
METRICS = Path(TEXTFILE).name
# web3's rollback target will not say its commit (the test overwrites its REVISION): its check fails fast.
QUICK_WEB3 = """\
---
deploy_health_deadline: 5
"""


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(UPSTREAM), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def new_commit(parent: str, message: str) -> str:
    """A commit of the sample app with `parent`'s files (its schema too): a new release everywhere, no migration."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@x"
    return subprocess.run(
        ["git", "--git-dir", str(UPSTREAM), "commit-tree", f"{parent}^{{tree}}", "-p", parent, "-m", message],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()


def deployctl(*args: str) -> Run:
    """The deployctl CLI as a user runs it (the demo vault password from its file)."""
    installed = Path(sys.executable).with_name("deployctl")
    command = [str(installed)] if installed.exists() else [sys.executable, "-m", "deployctl"]
    proc = subprocess.run(
        [*command, *args, "--vault-password-file", PASSWORD_FILE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )
    return Run(proc.returncode, proc.stdout + proc.stderr)


def rollout_with(fleet: FleetHosts, args: list[str], hooks: dict[str, Callable[[], None]]) -> Run:
    """A deploy by ansible-playbook whose output is read as it comes: each hook runs (once, in order) when
    the first line that starts with its key is printed, while the rollout goes on."""
    proc = subprocess.Popen(
        [
            targets.tool("ansible-playbook"),
            "playbooks/deploy.yml",
            "-i",
            str(fleet.inventory),
            "--vault-id",
            VAULT_ID,
            *args,
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    pending = list(hooks.items())
    threads: list[threading.Thread] = []
    for line in proc.stdout:
        lines.append(line)
        if pending and line.startswith(pending[0][0]):
            # In a thread: the rollout's output keeps being read meanwhile.
            threads.append(threading.Thread(target=pending.pop(0)[1]))
            threads[-1].start()
    for thread in threads:
        thread.join()
    assert not pending, f"never seen: {[key for key, _ in pending]}"
    return Run(proc.wait(), "".join(lines))


@pytest.fixture(scope="module")
def on_v2(fleet: FleetHosts, commits: dict[str, str]) -> Iterator[dict[str, str]]:
    """Every host on v2; the test branch removed from the upstream repository at the end."""
    run = fleet.deploy("v2")
    assert run.rc == 0, run.output[-3000:]
    yield {host: fleet.current(host) for host in fleet.hosts}
    git("update-ref", "-d", f"refs/heads/{BRANCH}")


@pytest.fixture(scope="module")
def moved_ref(fleet: FleetHosts, commits: dict[str, str], on_v2: dict[str, str]) -> dict:
    """A rollout of BRANCH; once the first batch has fetched, the branch is pushed to, and once the second
    batch starts, a deploy of web4 (the third batch) is started with the CLI."""
    pinned = new_commit(commits["v2"], "rollout: the commit the first batch resolves")
    pushed = new_commit(pinned, "rollout: pushed during the rollout")
    git("update-ref", f"refs/heads/{BRANCH}", pinned)
    seen: dict = {"web4_before": fleet.journal("web4")}

    def push() -> None:
        git("update-ref", f"refs/heads/{BRANCH}", pushed)

    def second_deploy() -> None:
        seen["second"] = deployctl("deploy", str(fleet.inventory), "--ref", "v2", "--limit", "web4")
        seen["web4_journal"] = fleet.journal("web4")

    run = rollout_with(
        fleet,
        ["-e", f"deploy_ref={BRANCH}", *ROLLING],
        {
            # The first batch's fetch is done when its next stage starts.
            "TASK [deployctl.core.deploy : Build": push,
            # The next include after the first batch's build is the second batch's (its hosts in any order).
            "included: deployctl.core.deploy for ": second_deploy,
        },
    )
    return {"run": run, "pinned": pinned, "pushed": pushed, "after": fleet_state(fleet), **seen}


def test_a_branch_pushed_to_during_the_rollout_changes_nothing(fleet, moved_ref):
    run, pinned, after = moved_ref["run"], moved_ref["pinned"], moved_ref["after"]
    assert run.rc == 0, run.output[-3000:]
    assert batches(run.output) == BATCHES
    assert git("rev-parse", BRANCH) == moved_ref["pushed"]

    (release,) = {state.current for state in after.values()}
    for host, state in after.items():
        record = state.records[release]
        # The ref as the user gave it; the commit the first batch resolved it to.
        assert (record["ref"], record["commit"]) == (BRANCH, pinned), host
        assert fleet.ssh(host, f"cat {DEPLOY_TO}/current/REVISION").strip() == pinned, host
        status, answer = state.health
        assert (status, answer.get("revision")) == (200, pinned), host
    assert f"DEPLOY SUMMARY: {BRANCH} as release {release}" in run.output


def test_a_deploy_started_between_batches_is_refused_naming_the_rollout(fleet, moved_ref):
    second, after = moved_ref["second"], moved_ref["after"]
    (release,) = {state.current for state in after.values()}
    # web4 is the rollout's third batch, not started yet: its lock is the rollout's already.
    assert second.rc == 3, second.output
    words = " ".join(second.output.split())
    # A deploy of one host takes its lock in its first call: its refusal says "this host", after the host's name.
    holder = (
        rf"failed on web4 at stage lock: another deploy holds the lock on this host: \S+ since \S+ "
        rf"\(ref {BRANCH}, release {release},"
    )
    assert re.search(holder, words), words
    assert "exit 3: the deploy lock is held on a host" in words
    # Refused before it changed anything on web4: its journal was as before the rollout (no release staged,
    # no lock taken over); then the rollout staged its release there.
    assert moved_ref["web4_journal"] == moved_ref["web4_before"]
    assert [e["ref"] for e in after["web4"].journal if e["event"] == "staged"][-1] == BRANCH
    for host in fleet.hosts:
        assert fleet.ssh(host, f"test -e {DEPLOY_TO}/.deployctl/lock && echo held || echo free").strip() == "free"


@pytest.fixture(scope="module")
def reverted_all(fleet: FleetHosts, commits, moved_ref, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """From the moved_ref rollout's release, a rollout of a newer commit whose third batch fails on web4,
    with deploy_on_batch_failure revert_all, through the CLI."""
    before = fleet_state(fleet)
    for host in fleet.hosts:
        fleet.ssh(host, f"rm -f /tmp/{METRICS}")
    newer = new_commit(moved_ref["pinned"], "rollout: the release web4 cannot run")
    git("update-ref", f"refs/heads/{BRANCH}", newer)
    inventory = inventory_with_host_vars(tmp_path_factory.mktemp("revert_all") / "inventory", "web4", BROKEN_WEB4)
    report = inventory.parent / "report.json"
    with Recorder() as webhook:
        run = deployctl(
            "deploy", str(inventory), "--ref", BRANCH, "--serial", "1,50%",
            "--on-batch-failure", "revert_all", "--report", str(report),
            "-e", f"deploy_webhook_url={webhook.url}/hooks/deploy",
        )  # fmt: skip
    return {"run": run, "before": before, "after": fleet_state(fleet), "report": json.loads(report.read_text()),
            "webhook": [call.json() for call in webhook.take()]}  # fmt: skip


def test_revert_all_puts_every_host_back_on_its_previous_release_after_a_third_batch_failure(fleet, reverted_all):
    run, before, after, report = (reverted_all[key] for key in ("run", "before", "after", "report"))
    words = " ".join(run.output.split())
    # Exit 1: failed, and what served before serves again everywhere.
    assert run.rc == 1, run.output[-4000:]
    assert "exit 1: failed, and what was serving before serves again" in words
    hosts = report["hosts"]
    (release,) = {result["release"] for result in hosts.values()}
    assert release not in before["web1"].records

    for host, state in after.items():
        assert state.current == before[host].current, host
        status, answer = state.health
        assert (status, answer.get("revision")) == (200, before[host].health[1]["revision"]), host
        assert hosts[host]["outcome"] == "reverted", (host, hosts[host])
        # The new release is kept, not a rollback target: failed on web4, rolled back on the others.
        assert state.records[release]["state"] == ("failed" if host == "web4" else "rolled_back"), host
    assert hosts["web4"]["stage"] == "verify"
    rollout = f"switched back to the release it ran before: the rollout of {release} stopped when web4 failed"
    for host in ["web1", "web2", "web3"]:
        assert hosts[host]["stage"] == "rollout", host
        assert hosts[host]["message"].startswith(rollout), hosts[host]
    # The CLI says it once for all of them, as its closing words.
    assert f"web1, web2, web3: {rollout}, and deploy_on_batch_failure is revert_all" in words
    for host in ["web1", "web2", "web3"]:
        # Each switched back with its own settings: its metrics where it deployed with them, its revert's
        # seconds its own (the revert ran in web4's turn).
        info = parse(fleet.ssh(host, f"cat {TEXTFILE}"))
        last = labels_of(info, "deployctl_last_run_info")
        assert (last["outcome"], last["release"]) == ("reverted", release), (host, last)
        assert fleet.ssh(host, f"test -e /tmp/{METRICS} && echo written || echo none").strip() == "none", host
        assert hosts[host]["stages"].get("revert", 0) > 0, (host, hosts[host]["stages"])
        assert not hosts[host].get("warning"), hosts[host]
    web4 = labels_of(parse(fleet.ssh("web4", f"cat /tmp/{METRICS}")), "deployctl_last_run_info")
    assert web4["outcome"] == "reverted", web4
    for host in fleet.hosts:
        assert fleet.ssh(host, f"test -e {DEPLOY_TO}/.deployctl/lock && echo held || echo free").strip() == "free"

    # The notifications tell the same: every host reverted, none deployed (one call, at the run's end).
    [told] = reverted_all["webhook"]
    assert told["outcome"] == "reverted"
    assert {host: result["outcome"] for host, result in told["hosts"].items()} == dict.fromkeys(fleet.hosts, "reverted")
    assert told["hosts"]["web1"]["current"] == before["web1"].current
    assert told["hosts"]["web1"]["message"].startswith(rollout)


def test_a_rollback_in_batches_stops_after_the_failing_batch(fleet, on_v2, reverted_all, tmp_path: Path):
    before = fleet_state(fleet)
    target = on_v2["web3"]
    # web3's rollback target no longer names its commit: its health check after the switch fails.
    revision = f"{DEPLOY_TO}/releases/{target}/REVISION"
    fleet.ssh("web3", f"cp {revision} {revision}.orig && echo tampered > {revision}")
    try:
        broken = FleetHosts(inventory_with_host_vars(tmp_path / "inventory", "web3", QUICK_WEB3), "web3 quick")
        run = broken.playbook("rollback.yml", *ROLLING)
    finally:
        fleet.ssh("web3", f"mv {revision}.orig {revision}")
    after = fleet_state(fleet)

    assert run.rc == 2, run.output[-3000:]
    assert batches(run.output) == BATCHES[:2]
    for host in ["web1", "web2"]:
        assert after[host].current == on_v2[host], host
        assert after[host].health[1].get("revision") == after[host].records[on_v2[host]]["commit"], host
    # web3 went back to the release it ran, and says why.
    assert after["web3"].current == before["web3"].current
    assert "Rollback failed on web3" in run.output
    assert f"current points at {before['web3'].current} again and the app was restarted" in " ".join(run.output.split())
    # The third batch was never started.
    for host in BATCHES[2]:
        assert (after[host].current, after[host].journal) == (before[host].current, before[host].journal), host
        assert re.search(rf"^  {host} +untouched: not reached", run.output, re.M), run.output[-2000:]
    for host in fleet.hosts:
        assert fleet.ssh(host, f"test -e {DEPLOY_TO}/.deployctl/lock && echo held || echo free").strip() == "free"
