"""A one-host batch deploys a new release in one module call: the fetch's call builds it, dumps the database,
runs the migrations and switches to it (candidate check, restart, health check, switch back on failure), with
nothing to wait for between them. What the user reads and gets is what the separate calls give: the same stages,
the same words, the same exit codes, through every entry point."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO_ROOT, Fleet, awx_job
from tests.e2e.test_cli import ENV, PASSWORD_FILE, deployctl
from tests.e2e.test_failure_matrix import MATRIX, Failure, awx_dir, check_hosts, flat, snapshot
from tests.e2e.test_interrupted import migrate_log_count, wait_for_build

# The build waits long enough for the run to be interrupted during it.
SLOW_BUILD = '{"deploy_build_command": ["sh", "-c", "sleep 8 && exec make deploy"]}'

__all__ = ["awx_dir"]  # the fixture, shared with the failure matrix

BACKUPS = "/srv/sample/shared/backups"


def job_events(artifacts: str) -> list[dict]:
    """The job events of a CLI run, from its artifacts directory (--json's `artifacts`)."""
    return [json.loads(path.read_text()) for path in (Path(artifacts) / "job_events").iterdir()]


def test_a_one_host_deploy_with_a_migration_is_one_call_on_the_host(fleet: Fleet, commits) -> None:
    assert deployctl("deploy", ENV, "--ref", "v1", "--limit", "web1").rc == 0
    web2 = fleet.ssh("web2", "readlink /srv/sample/current || true")

    run = deployctl("deploy", ENV, "--ref", "v2", "--limit", "web1", "--json")

    assert run.rc == 0, run.out + run.err
    result = run.hosts["web1"]
    release = fleet.current("web1")
    assert (result["outcome"], result["release"], result["migrated"]) == ("deployed", release, True)
    assert fleet.health("web1")[1]["revision"] == commits["v2"]
    assert fleet.ssh("web2", "readlink /srv/sample/current || true") == web2
    # The dump before the migrations, recorded with the release.
    assert fleet.records("web1")[release]["backup"]["path"] == f"{BACKUPS}/{release}.dump"
    assert "20240201000000" in fleet.schema_migrations("web1")
    # Each stage's seconds, split from the one call by its result.
    assert {"fetch", "build", "backup", "migrate", "switch"} <= set(result["stage_seconds"]), result
    # One module call did it: the migrate and switch tasks of their own were skipped.
    ran = [
        (event["event_data"]["task"], event["event"])
        for event in job_events(run.doc["artifacts"])
        if event["event"].startswith("runner_on_") and event["event_data"].get("host") == "web1"
    ]
    for task in ("Migrate: dump the database, then run the migrations once",
                 "Switch: point current at the new release, restart the app and check its health"):  # fmt: skip
        assert (task, "runner_on_skipped") in ran and (task, "runner_on_ok") not in ran, ran


# The rows of the failure matrix whose stages a one-host batch's one call goes through after its build.
ONE_HOST = [case for case in MATRIX if case.stage in ("backup", "migrate", "verify")]
TASKS = {
    "backup": "Migrate: the dump and the migrations, in the fetch call (a one-host batch)",
    "migrate": "Migrate: the dump and the migrations, in the fetch call (a one-host batch)",
    "verify": "Switch: the new release, in the fetch call (a one-host batch)",
}


@pytest.mark.parametrize("case", ONE_HOST, ids=[case.stage for case in ONE_HOST])
def test_a_failure_in_a_one_host_deploy_s_call_through_every_entry_point(
    fleet: Fleet, commits, on_v2, awx_dir: Path, case: Failure
) -> None:
    """Stage, words, exit codes, what serves: as the two-host rows of the failure matrix say them."""
    extra = json.dumps(case.extra)
    before = {"web1": snapshot(fleet)["web1"]}
    web2 = fleet.current("web2")

    run = fleet.deploy(case.ref, "-e", extra, "--limit", "web1")
    assert run.rc == case.playbook_rc, run.output[-4000:]
    text = flat(run.output)
    assert f"failed on web1 at stage {case.stage} ({TASKS[case.stage]})" in text, text[-4000:]
    assert flat(case.words) in text
    for words in case.extra_words:
        assert words in text
    if case.stage != "verify":
        assert "Nothing live was changed" in text
    assert "Traceback" not in run.output
    check_hosts(fleet, case, before, commits)

    cli = deployctl("deploy", ENV, "--ref", case.ref, "--limit", "web1", "-e", extra, "--json")
    assert cli.rc == case.cli_exit, cli.out + cli.err
    web1 = cli.hosts["web1"]
    assert (web1["outcome"], web1["stage"]) == (case.outcome, case.stage), web1
    assert flat(case.words) in flat(web1["message"]), web1
    check_hosts(fleet, case, before, commits)

    job = awx_job(awx_dir, "playbooks/deploy.yml", {"deploy_ref": case.ref, **case.extra}, limit="web1")
    assert (job.status, job.rc) == (case.awx_status, case.playbook_rc), job.stdout[-4000:]
    web1 = job.hosts["web1"]
    assert (web1["outcome"], web1["stage"], web1["current"]) == (case.outcome, case.stage, before["web1"]["current"])
    assert flat(case.words) in flat(web1["message"]), web1
    check_hosts(fleet, case, before, commits)
    assert fleet.current("web2") == web2


def test_ctrl_c_of_a_one_host_deploy_stops_its_call_after_the_build(fleet: Fleet, commits) -> None:
    """The call on the host outlives the run (nothing on the controller can stop it); it asks before the migrations
    whether its run still reads it, and stops: nothing migrated, nothing switched, no candidate left running."""
    assert deployctl("deploy", ENV, "--ref", "v1", "--limit", "web1").rc == 0
    live, schema = fleet.current("web1"), fleet.schema_migrations("web1")
    migrate_logs = migrate_log_count(fleet, "web1")
    installed = Path(sys.executable).with_name("deployctl")
    command = [str(installed)] if installed.exists() else [sys.executable, "-m", "deployctl"]
    # A new session: the signal goes to the CLI's process group, as a terminal's Ctrl-C does.
    cli = subprocess.Popen(
        [*command, "deploy", ENV, "--ref", "v2", "--limit", "web1", "-e", SLOW_BUILD,
         "--vault-password-file", PASSWORD_FILE],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        start_new_session=True, env={**os.environ, "COLUMNS": "160"},
    )  # fmt: skip
    wait_for_build(fleet, "web1")
    os.killpg(cli.pid, signal.SIGINT)
    said = cli.communicate(timeout=120)[0]
    assert cli.returncode == 130, said
    assert "interrupted" in said

    # The build runs on; then the call finds its run gone and stops, and says so in the host's journal.
    deadline = time.monotonic() + 120
    while fleet.journal("web1")[-1]["event"] != "aborted":
        assert time.monotonic() < deadline, fleet.journal("web1")[-3:]
        time.sleep(1)
    aborted = fleet.journal("web1")[-1]
    assert "the run that called it is gone" in aborted["reason"]
    assert "stopped after its build, before the migrations and the switch" in aborted["reason"]
    assert (fleet.current("web1"), fleet.schema_migrations("web1")) == (live, schema)
    assert fleet.health("web1")[1]["revision"] == commits["v1"]
    assert migrate_log_count(fleet, "web1") == migrate_logs
    assert fleet.ssh("web1", "systemctl is-active sample-candidate || true").strip() in ("inactive", "unknown")
    # The next deploy takes the lock over and goes through.
    assert deployctl("deploy", ENV, "--ref", "v2", "--limit", "web1").rc == 0
    assert fleet.health("web1")[1]["revision"] == commits["v2"]
