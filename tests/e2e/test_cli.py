"""The deployctl command, run as a user runs it, against the container hosts."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import DEPLOY_TO, INVENTORY, REPO_ROOT, Fleet, awx_job

PASSWORD_FILE = "inventories/demo/demo-vault-password.txt"
ENV = str(INVENTORY)


@dataclass
class Cli:
    rc: int
    out: str
    err: str

    @property
    def doc(self) -> dict[str, Any]:
        return json.loads(self.out)

    @property
    def hosts(self) -> dict[str, dict[str, Any]]:
        return self.doc["hosts"]

    def outcomes(self) -> dict[str, str]:
        return {host: result["outcome"] for host, result in self.hosts.items()}


def deployctl(*args: str, password: bool = True, env: dict[str, str] | None = None) -> Cli:
    """`deployctl ARGS` from the repository, as the installed command (or `python -m deployctl`)."""
    installed = Path(sys.executable).with_name("deployctl")
    command = [str(installed)] if installed.exists() else [sys.executable, "-m", "deployctl"]
    proc = subprocess.run(
        [*command, *args, *(["--vault-password-file", PASSWORD_FILE] if password else [])],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "160", **(env or {})},
    )
    return Cli(proc.returncode, proc.stdout, proc.stderr)


def journal_length(fleet: Fleet, host: str) -> int:
    return int(fleet.ssh(host, f"cat {DEPLOY_TO}/.deployctl/journal.jsonl 2>/dev/null | wc -l").strip())


def lock_state(fleet: Fleet, host: str) -> str:
    return fleet.ssh(host, f"test -e {DEPLOY_TO}/.deployctl/lock && echo held || echo free").strip()


def plant_lock(fleet: Fleet, host: str) -> None:
    """A lock held by a live deploy from another controller."""
    holder = {
        "token": "20260101T000000Z-4242", "user": "alice", "ref": "v9", "release": "20260101T000000Z",
        "controller": "alices-laptop", "pid": 4242, "started_at": "2026-01-01T00:00:00Z",
        "started_epoch": int(time.time()),
    }  # fmt: skip
    fleet.ssh(host, f"cat > {DEPLOY_TO}/.deployctl/lock", stdin=json.dumps(holder))


def test_deploy_shows_each_host_s_stages_and_a_summary_table(fleet: Fleet, commits: dict[str, str], on_v2: Any) -> None:
    run = deployctl("deploy", ENV, "--ref", "v1")
    assert run.rc == 0, run.out + run.err
    lines = run.out.splitlines()
    assert lines[0] == f"Deploying v1 to {INVENTORY.name}"
    # Off a terminal, each stage a host finishes is a line: host, stage, seconds.
    progress = [line.split() for line in lines if line.startswith("  web")]
    for host in fleet.hosts:
        # The lock and the app user are part of the fetch call (the first host's lock is also
        # taken once before it, for all); publishing is part of the build call.
        # The health check and the cleanup are in the switch call: no stage line of their own.
        stages = [row[1] for row in progress if row[0] == host and row[1] not in ("lock", "migrate")]
        assert stages[:4] == ["preflight", "fetch", "build", "switch"]
        assert "verify" not in stages and "cleanup" not in stages
    assert [row[1] for row in progress if row[0] == min(fleet.hosts)][:2] == ["preflight", "lock"]
    header = next(line for line in lines if line.lstrip().startswith("Host"))
    assert header.split()[:3] == ["Host", "Release", "Result"] and header.split()[-1] == "Total"
    # The restart, the health check and the cleanup are part of the switch's call: their
    # time counts in the Switch column.
    assert {"Lock", "Fetch", "Build", "Switch"} <= set(header.split())
    for host in fleet.hosts:
        row = next(line.split() for line in lines if line.startswith(f" {host} "))
        assert row[1:3] == [fleet.current(host), "deployed"]
        assert all(cell == "-" or float(cell) >= 0 for cell in row[3:])
        assert fleet.health(host)[1]["revision"] == commits["v1"]
    assert "exit 0: success" in run.out
    # v1 over v2: the database keeps v2's migration, which v1's code has never run on. Said, not refused.
    assert (
        "warning: the database keeps the schema of the release this one replaced, with migrations this release "
        "does not have (20240201000000): its code runs on that newer schema" in " ".join(run.out.split())
    ), run.out


def test_deploy_json_reports_each_host(fleet: Fleet, commits: dict[str, str]) -> None:
    if any(fleet.health(host)[1].get("revision") != commits["v1"] for host in fleet.hosts):
        assert fleet.deploy("v1").rc == 0
    before = {host: fleet.current(host) for host in fleet.hosts}
    run = deployctl("deploy", ENV, "--ref", "v2", "--json")
    assert run.rc == 0, run.out + run.err
    doc = run.doc
    assert (doc["command"], doc["ref"], doc["exit_code"], doc["result"], doc["errors"]) == ("deploy", "v2", 0, "ok", [])
    first = min(fleet.hosts)
    for host, result in run.hosts.items():
        assert result["outcome"] == "deployed"
        assert result["release"] == doc["release"] == fleet.current(host)
        assert result["commit"] == commits["v2"]
        assert result["previous"] == before[host]
        # v2 brings a migration: this deploy ran it, once, from the first host.
        assert result["migrated"] is True
        assert ("migrate" in result["stages"]) == (host == first)
        assert result["duration"] > result["stages"]["build"] > 0


def test_releases_shows_a_table_per_host_marking_the_current_release(
    fleet: Fleet, commits: dict[str, str], on_v2: Any
) -> None:
    text = deployctl("releases", ENV)
    assert text.rc == 0, text.out + text.err
    for host in fleet.hosts:
        table = text.out.split(host, 1)[1]
        assert "Release" in table and "Deployed at" in table and "Schema" in table
        current = next(line for line in table.splitlines() if fleet.current(host) in line)
        assert current.split("│")[1].strip() == "*"
        assert [cell.strip() for cell in current.split("│")[3:6]] == ["active", commits["v2"][:8], "v2"]
        assert "20240201000000" in current
    data = deployctl("releases", ENV, "--json")
    assert data.rc == 0
    for host, result in data.hosts.items():
        live = [r for r in result["releases"] if r["current"]]
        assert [r["id"] for r in live] == [result["current"]] == [fleet.current(host)]
        assert {"id", "state", "commit", "ref", "created_at", "deployed_by", "schema_version"} <= set(live[0])


def test_status_shows_the_current_release_the_lock_and_health(
    fleet: Fleet, commits: dict[str, str], on_v2: Any
) -> None:
    run = deployctl("status", ENV, "--json")
    assert run.rc == 0, run.out + run.err
    for host, result in run.hosts.items():
        assert result["current"] == fleet.current(host)
        assert result["current_release"]["commit"] == commits["v2"]
        assert result["lock"] is None
        assert result["health"]["healthy"] is True and result["health"]["status"] == 200
    # Nothing of the vault is needed to look: no password given, no terminal, no refusal.
    text = deployctl("status", ENV, password=False)
    assert text.rc == 0, text.out + text.err
    for host in fleet.hosts:
        row = next(line for line in text.out.splitlines() if line.startswith(f"│ {host} "))
        assert fleet.current(host) in row and "free" in row and "200 in" in row


def test_status_fails_on_a_host_whose_app_does_not_answer(
    fleet: Fleet, commits: dict[str, str], on_v2: Any, tmp_path: Path
) -> None:
    """A status is a check a script or an AWX job can rely on: a host whose app does not answer fails it, through
    every entry point, naming the host and what it answered; the other host and the lock status are fine."""
    down = "the app does not answer as it should at http://127.0.0.1:3000/up"
    fleet.ssh("web1", "systemctl stop sample.socket sample.service")
    try:
        run = deployctl("status", ENV, "--json", password=False)
        assert run.rc == 2, run.out + run.err
        assert run.outcomes() == {"web1": "unhealthy", "web2": "ok"}
        assert run.hosts["web1"]["health"]["healthy"] is False
        assert down in run.hosts["web1"]["message"] and on_v2["web1"] in run.hosts["web1"]["message"]
        assert run.hosts["web2"]["health"]["healthy"] is True

        text = deployctl("status", ENV, password=False)
        assert text.rc == 2, text.out + text.err
        web1 = next(line for line in text.out.splitlines() if line.startswith("│ web1 "))
        assert on_v2["web1"] in web1 and "unhealthy" in web1
        assert f"web1: {down}" in " ".join(text.out.split())
        closing = " ".join(text.out.split())
        assert "exit 2: the app on web1 does not answer as it should (see above); status only reads" in closing

        # The lock's own status asks nothing of the app.
        assert deployctl("lock", "status", ENV, password=False).rc == 0

        played = fleet.playbook("status.yml")
        assert played.rc == 2, played.output[-3000:]
        assert down in played.output and "web2" in played.output

        job = awx_job(tmp_path, "playbooks/status.yml", {})
        assert (job.status, job.rc) == ("failed", 2)
        assert job.hosts["web1"]["outcome"] == "unhealthy" and job.hosts["web2"]["outcome"] == "ok"
    finally:
        fleet.ssh("web1", "systemctl start sample.socket sample.service")
    assert deployctl("status", ENV, password=False).rc == 0


def test_check_previews_a_deploy_and_changes_nothing(fleet: Fleet, commits: dict[str, str], on_v2: Any) -> None:
    def snapshot() -> dict[str, Any]:
        return {
            h: (fleet.records(h), journal_length(fleet, h), fleet.current(h), lock_state(fleet, h)) for h in fleet.hosts
        }

    # v2 live with this inventory's own variables: a test before this one (same worker, same hosts) may have
    # left v2 live with another unit or config, and the preview of v2 would then rightly say "would deploy".
    assert fleet.deploy("v2").rc == 0
    live = {host: fleet.current(host) for host in fleet.hosts}
    before = snapshot()
    run = deployctl("deploy", ENV, "--ref", "v3-broken-migration", "--check", "--json")
    assert run.rc == 0, run.out + run.err
    assert run.doc["check"] is True
    for host, result in run.hosts.items():
        assert result["outcome"] == "would_deploy"
        assert result["commit"] == commits["v3-broken-migration"]
        assert result["pending_migrations"] == ["20240301000000"]
        assert result["current"] == live[host]
        assert set(result["would_remove"]) <= set(before[host][0])
    same = deployctl("deploy", ENV, "--ref", "v2", "--check")
    assert same.rc == 0
    assert "Preview of a deploy v2" in same.out
    assert [line.split("│")[-2].strip() for line in same.out.splitlines() if line.startswith("│ web")] == [
        "unchanged"
    ] * len(fleet.hosts)
    assert snapshot() == before

    # ansible-playbook --check says the same, with an abbreviated commit as the ref.
    short = commits["v3-broken-migration"][:10]
    playbook = fleet.deploy(short, "--check")
    assert playbook.rc == 0, playbook.output[-3000:]
    for host in fleet.hosts:
        assert f"{host} would_deploy check mode: would deploy commit {short[:8]} as release" in " ".join(
            playbook.output.split()
        )
    assert "migrations to run: 20240301000000" in playbook.output
    assert " deployed " not in playbook.output
    assert snapshot() == before


def test_two_deploys_started_together_with_20_stored_runs_one_proceeds_one_exits_3(
    fleet: Fleet, commits: dict[str, str], on_v2: Any, tmp_path: Path
) -> None:
    # A controller that already stores runs of this and of another environment.
    cache = tmp_path / "cache"
    for n in range(22):
        old = (
            cache / "deployctl" / "artifacts" / INVENTORY.name / f"20260101T0000{n:02d}Z-deploy-{INVENTORY.name}-old{n}"
        )
        old.mkdir(parents=True)
        (old / "status").write_text("successful")
    slow = ["-e", '{"deploy_build_command": ["sh", "-c", "sleep 6 && exec make deploy"]}']
    command = [str(Path(sys.executable).with_name("deployctl")), "deploy", ENV, "--ref", "v1", "--json", *slow]
    runs = [
        subprocess.Popen(
            [*command, "--vault-password-file", PASSWORD_FILE],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "XDG_CACHE_HOME": str(cache)},
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600) for run in runs]
    codes = [run.returncode for run in runs]
    assert sorted(codes) == [0, 3], outputs
    assert all("Traceback" not in err for _out, err in outputs)
    loser = json.loads(outputs[codes.index(3)][0])
    for host, result in loser["hosts"].items():
        assert result["outcome"] == "locked"
        # The first host's lock stops them all; the others name it.
        assert f"another deploy holds the lock on {'this host' if host == 'web1' else 'web1'}" in result["message"]
    for host in fleet.hosts:
        assert fleet.health(host)[1]["revision"] == commits["v1"]
        assert lock_state(fleet, host) == "free"
    # Both runs' logs are kept: the loser's can be read after the fact.
    kept = list((cache / "deployctl" / "artifacts" / INVENTORY.name).iterdir())
    assert {Path(json.loads(out)["artifacts"]) for out, _err in outputs} <= set(kept)


def test_a_failed_health_check_is_reverted_exit_1(fleet: Fleet, commits: dict[str, str], on_v2: Any) -> None:
    # Past the candidate check (which would stop v3-unhealthy before the switch): the revert after it.
    run = deployctl(
        "deploy", ENV, "--ref", "v3-unhealthy", "-e", "deploy_health_deadline=8", "-e", "deploy_candidate_check=false",
        "--json",
    )  # fmt: skip
    assert run.rc == 1, run.out + run.err
    assert run.doc["result"] == "reverted"
    for host, result in run.hosts.items():
        assert (result["outcome"], result["stage"]) == ("reverted", "verify")
        assert result["current"] == result["previous"] == on_v2[host] == fleet.current(host)
        assert "is not healthy" in result["message"]
        assert f"REVERTED: current points at {on_v2[host]} again" in result["detail"]
        # The switch back (in the switch's call: a restart of the previous release and its health check) is
        # the revert's time, not the switch's: a Rails app takes more than a second to boot.
        assert result["stages"]["revert"] >= 1.0, result["stages"]
        assert fleet.health(host)[1]["revision"] == commits["v2"]
    text = deployctl("deploy", ENV, "--ref", "v3-broken-build")
    assert text.rc == 1, text.out + text.err
    for host in fleet.hosts:
        assert next(line for line in text.out.splitlines() if line.startswith(f" {host} ")).split()[2] == "aborted"
        assert f"{host}: Deploy of v3-broken-build" in text.out
        assert fleet.current(host) == on_v2[host]
    assert "exit 1: failed, and what was serving before serves again" in text.out


def test_a_sliced_run_id_used_before_for_another_ref_is_refused_before_any_host_is_touched(
    fleet: Fleet, commits: dict[str, str], on_v2: Any
) -> None:
    """Adopting the old run record would deploy its commit under the new ref: exit 5, naming both refs."""
    run_id = f"reused-{int(time.time())}"
    sliced = ["-e", f"deploy_run_id={run_id}", "-e", "deploy_migrate_host=web1"]
    try:
        first = deployctl("deploy", ENV, "--ref", "v2", *sliced)
        assert first.rc == 0, first.out + first.err
        journals = {host: journal_length(fleet, host) for host in fleet.hosts}
        again = deployctl("deploy", ENV, "--ref", "v1", *sliced)
        assert again.rc == 5, again.out + again.err
        said = " ".join((again.out + again.err).split())
        assert f"sliced run {run_id}: its run record was made for ref v2 (commit {commits['v2'][:12]})" in said, said
        assert "this slice deploys v1: the run ID was used before. Give each run its own deploy_run_id" in said
        playbook = fleet.deploy("v1", *sliced)
        assert playbook.rc == 2, playbook.output[-3000:]
        summary = " ".join(playbook.output[playbook.output.rindex("DEPLOY SUMMARY") :].split())
        assert "invalid untouched: the input was rejected before any host was touched (sliced run" in summary, summary
        assert {host: journal_length(fleet, host) for host in fleet.hosts} == journals
        for host in fleet.hosts:
            assert fleet.current(host) == on_v2[host] and fleet.health(host)[1]["revision"] == commits["v2"]
            assert lock_state(fleet, host) == "free"
    finally:
        fleet.ssh("web1", f"rm -f {DEPLOY_TO}/.deployctl/runs/{run_id}.json {DEPLOY_TO}/.deployctl/runs/{run_id}.lock")


def test_a_failure_with_nothing_to_go_back_to_exits_2(fleet: Fleet, commits: dict[str, str], on_v2: Any) -> None:
    """The first deploy into a new directory has no previous release: it fails and stays failed."""
    host = min(fleet.hosts)
    fresh = "/srv/sample-first-deploy"
    try:
        run = deployctl(
            "deploy", ENV, "--ref", "v3-unhealthy", "--limit", host, "--json",
            "-e", f"deploy_to={fresh}", "-e", "deploy_health_deadline=5", "-e", "deploy_candidate_check=false",
        )  # fmt: skip
        assert run.rc == 2, run.out + run.err
        assert list(run.hosts) == [host]
        result = run.hosts[host]
        assert (result["outcome"], result["stage"], result["current"]) == ("failed", "verify", result["release"])
        assert "NOT REVERTED" in result["detail"]
        assert "exit 2" not in run.out  # --json prints only the document
    finally:
        fleet.ssh(host, f"rm -rf {fresh}")
        restored = fleet.deploy("v2")  # puts the unit back on /srv/sample
        assert restored.rc == 0, restored.output[-3000:]
    assert fleet.health(host)[1]["revision"] == commits["v2"]


def test_rollback_refuses_an_older_schema_then_goes_back_and_forth(
    fleet: Fleet, commits: dict[str, str], on_v2: Any
) -> None:
    if not all(any(r["ref"] == "v1" and r["state"] == "built" for r in fleet.records(h).values()) for h in fleet.hosts):
        assert fleet.deploy("v1").rc == 0 and fleet.deploy("v2").rc == 0
    v2 = {host: fleet.current(host) for host in fleet.hosts}

    refused = deployctl("rollback", ENV, "--json")
    # A refusal changed nothing: bad input the user fixes with one of the options it names.
    assert refused.rc == 5, refused.out + refused.err
    for host, result in refused.hosts.items():
        assert (result["outcome"], result["bad_input"]) == ("aborted", True)
        assert "would run on a newer schema" in result["message"]
        assert fleet.current(host) == v2[host]

    back = deployctl("rollback", ENV, "-e", "deploy_rollback_force=true", "--json")
    assert back.rc == 0, back.out + back.err
    for host, result in back.hosts.items():
        assert (result["outcome"], result["from"]) == ("rolled_back", v2[host])
        assert fleet.current(host) == result["to"] != v2[host]
        assert fleet.health(host)[1]["revision"] == commits["v1"]

    release = v2[min(fleet.hosts)]
    forth = deployctl("rollback", ENV, "--to", release)
    assert forth.rc == 0, forth.out + forth.err
    for host in fleet.hosts:
        row = next(line for line in forth.out.splitlines() if line.startswith(f"│ {host} "))
        assert [cell.strip() for cell in row.split("│")[3:5]] == [release, "rolled back"]
        assert fleet.current(host) == release
        assert fleet.health(host)[1]["revision"] == commits["v2"]


def test_a_held_lock_exits_3_and_unlock_opens_it(fleet: Fleet, on_v2: Any) -> None:
    host = min(fleet.hosts)
    plant_lock(fleet, host)
    try:
        blocked = deployctl("deploy", ENV, "--ref", "v1", "--json")
        assert blocked.rc == 3, blocked.out + blocked.err
        assert blocked.doc["result"] == "locked"
        assert blocked.hosts[host]["outcome"] == "locked"
        assert "another deploy holds the lock on this host: alice" in blocked.hosts[host]["message"]
        assert all(fleet.current(h) == on_v2[h] for h in fleet.hosts)

        status = deployctl("status", ENV, "--json")
        assert status.rc == 0
        assert status.hosts[host]["lock"]["user"] == "alice"
        preview = deployctl("deploy", ENV, "--ref", "v1", "--check", "--json")
        assert (preview.rc, preview.hosts[host]["outcome"]) == (3, "locked")

        opened = deployctl("unlock", ENV, "--reason", "alice's deploy died with her laptop", "--json")
        assert opened.rc == 0, opened.out + opened.err
        assert opened.hosts[host]["outcome"] == "unlocked"
        assert opened.hosts[host]["previous_holder"]["user"] == "alice"
        assert all(r["outcome"] == "ok" for h, r in opened.hosts.items() if h != host)
        forced = [e for e in fleet.journal(host) if e["event"] == "lock_forced_open"]
        assert forced[-1]["reason"] == "alice's deploy died with her laptop"
        assert deployctl("status", ENV, "--json").hosts[host]["lock"] is None
    finally:
        fleet.ssh(host, f"rm -f {DEPLOY_TO}/.deployctl/lock")


@pytest.mark.parametrize(
    ("args", "password", "env", "says"),
    [
        (["releases", "no-such-environment"], True, {}, "unknown environment 'no-such-environment'"),
        (["deploy", ENV], True, {}, "the following arguments are required: --ref"),
        (["deploy", ENV, "--ref", ""], True, {}, "--ref is empty: give the branch, tag or commit to deploy"),
        (["deploy", ENV, "--ref", "v1"], False, {"DEPLOYCTL_VAULT_PASSWORD": "wrong"}, "vault id demo, for which no"),
        (["deploy", ENV, "--ref", "v1", "-e", "deploy_keep_releases=0"], True, {}, "must be at least 1"),
        (["deploy", ENV, "--ref", "v1", "-e", "deploy_keep_releases=many"], True, {}, "Validation of arguments failed"),
        # A deploy reads secrets (status, releases and unlock do not, and need no password).
        (["deploy", ENV, "--ref", "v1"], False, {}, "has vault-encrypted content: give --vault-password-file"),
        (["status", ENV, "--limit", "no-such-host"], True, {}, "no host of the inventory matched --limit no-such-host"),
        (["unlock", ENV, "--reason", ""], True, {}, "--reason is empty"),
        (["deploy", ENV, "--ref", "v1", "-e", '{"deploy_local_after": "bin/notify"}'], True, {},
         "deploy_local_after must be a list of commands, each a list of words (argv) or a program's path"),
        (["deploy", ENV, "--ref", "v1", "-e", '{"deploy_local_before": [42]}'], True, {},
         "deploy_local_before: a command is a list of words (argv) or a program's path, not 42"),
        (["deploy", ENV, "--ref", "v1", "-e", '{"deploy_local_after": [["bin/notfy", "--ref"]]}'], True, {},
         "deploy_local_after: no program 'bin/notfy' to run (relative to the inventory's directory"),
        (["deploy", ENV, "--ref", "v1", "-e", '{"deploy_after_switch_tasks": ["hooks/a.yml"]}'], True, {},
         "deploy_after_switch_tasks must be the path of one task file (a string)"),
        (["deploy", ENV, "--ref", "v1", "-e", '{"deploy_after_swtich_tasks": "hooks/a.yml"}'], True, {},
         "deploy_after_swtich_tasks names no hook point: the points are deploy_before_lock_tasks, deploy_after_lock"),
        (["deploy", ENV, "--ref", "v1", "-e", '{"deploy_aftr_switch_tasks": "hooks/a.yml"}'], True, {},
         "deploy_aftr_switch_tasks names no hook point"),
        (["deploy", ENV, "--ref", "v1", "-e", '{"deploy_local_aftr": ["bin/notify"]}'], True, {},
         "deploy_local_aftr is no setting of deployctl: the commands on the controller are deploy_local_before and"),
    ],
    ids=["unknown-env", "no-ref", "empty-ref", "wrong-vault-password", "preflight", "argument-spec", "no-password",
         "no-host", "no-reason", "local-hook-not-a-list", "local-hook-not-argv", "local-hook-no-program",
         "hook-not-a-path", "hook-misspelt", "hook-misspelt-stage", "local-hook-misspelt"],
)  # fmt: skip
def test_bad_input_exits_5_and_touches_no_host(
    fleet: Fleet, args: list[str], password: bool, env: dict[str, str], says: str
) -> None:
    journals = {host: journal_length(fleet, host) for host in fleet.hosts}
    run = deployctl(*args, password=password, env=env)
    assert run.rc == 5, run.out + run.err
    # rich wraps long messages at the terminal's width.
    assert says in " ".join((run.out + run.err).split())
    assert {host: journal_length(fleet, host) for host in fleet.hosts} == journals
    assert all(lock_state(fleet, host) == "free" for host in fleet.hosts)


def test_an_unreachable_host_exits_4(fleet: Fleet, tmp_path: Path) -> None:
    inventory = tmp_path / "with-ghost"
    shutil.copytree(INVENTORY, inventory)
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    hosts["all"]["children"]["app"]["hosts"]["ghost"] = {"ansible_port": 2999, "harness_http_port": 3999}
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    run = deployctl("status", str(inventory), "--json")
    assert run.rc == 4, run.out + run.err
    assert run.outcomes() == {"ghost": "unreachable", **{host: "ok" for host in fleet.hosts}}
    assert "port 2999: Connection refused" in run.hosts["ghost"]["message"]


def test_the_vault_password_and_secrets_stay_out_of_output_and_artifacts(
    fleet: Fleet, vault_secrets: dict[str, str], tmp_path: Path, on_v2: Any
) -> None:
    password = (REPO_ROOT / PASSWORD_FILE).read_text().strip()
    cache = tmp_path / "cache"
    run = deployctl(
        "deploy", ENV, "--ref", "v2", "-vvv",
        password=False, env={"DEPLOYCTL_VAULT_PASSWORD": password, "XDG_CACHE_HOME": str(cache)},
    )  # fmt: skip
    assert run.rc == 0, run.out + run.err
    # -v passes ansible-playbook's own output through.
    assert "TASK [deployctl.core.deploy : " in run.out and "ESTABLISH SSH CONNECTION" in run.out

    root = cache / "deployctl"
    [artifacts] = (root / "artifacts" / INVENTORY.name).iterdir()
    for directory in (root, root / "artifacts", artifacts.parent, artifacts, root / "runs"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    # The run's private data dir (and with it anything written for ansible-runner) is gone.
    assert list((root / "runs").iterdir()) == []
    command = json.loads((artifacts / "command").read_text())
    assert "DEPLOYCTL_VAULT_PASSWORD" not in command["env"]
    assert command["command"][1:3] == ["--vault-id", f"{INVENTORY.name}@prompt"]
    # The whole run is there to read after the fact: its events, down to the published results.
    events = [json.loads(path.read_text()) for path in (artifacts / "job_events").iterdir()]
    [stats] = [event for event in events if event["event"] == "playbook_on_stats"]
    assert set(stats["event_data"]["artifact_data"]["deployctl"]["hosts"]) == set(fleet.hosts)

    for name, secret in {"vault password": password, **vault_secrets}.items():
        assert secret not in run.out + run.err, f"{name} in deployctl's output"
        leaks = [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
        assert leaks == [], f"{name} found in {leaks}"
