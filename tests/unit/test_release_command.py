"""release_command: a command run in a release as the app user, with a clean environment and a log."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest

from ansible_collections.deployctl.core.plugins.module_utils._runas import SAFE_PATH
from ansible_collections.deployctl.core.plugins.modules import release, release_command
from tests.unit.conftest import APP_USER, Upstream, journal, release_to, run_module, staged_args

R1, R2 = "20240101T000000Z", "20240102T000000Z"


@pytest.fixture
def staged(open_deploy_to: Path, upstream: Upstream) -> Path:
    """A staged release the app user can enter; returns deploy_to."""
    result = run_module(release, staged_args(open_deploy_to, upstream, R1))
    assert result["changed"] is True, result
    return open_deploy_to


def dies(pid: str, within: float = 5) -> bool:
    """Whether process `pid` is gone (or a zombie) within `within` seconds: SIGKILL takes a moment."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.01)
    return False


def command(deploy_to: Path, argv: list[str], check_mode: bool = False, **overrides: object) -> dict:
    args = {"deploy_to": str(deploy_to), "release_id": R1, "stage": "build", "argv": argv, "user": APP_USER}
    return run_module(release_command, {**args, **overrides}, check_mode=check_mode)


def test_runs_as_the_app_user_in_the_staging_directory_with_a_log(staged: Path) -> None:
    result = command(staged, ["sh", "-c", "id -un; pwd"])

    staging = staged / "releases" / f".staging-{R1}"
    log = staged / ".deployctl" / "logs" / f"{R1}-build.log"
    assert not result.get("failed"), result["msg"]
    assert (result["changed"], result["rc"]) == (True, 0)
    assert result["tail"] == [APP_USER, str(staging)]
    assert (result["chdir"], result["log"]) == (str(staging), str(log))
    assert log.read_text() == f"{APP_USER}\n{staging}\n"
    st = os.stat(log)
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, 0)
    assert os.listdir(staged / ".deployctl" / "running") == []


def test_runs_in_the_release_directory_once_built(staged: Path) -> None:
    release_to(staged, R1, "built")

    result = command(staged, ["pwd"])

    assert result["tail"] == [str(staged / "releases" / R1)]


def test_environment_is_clean(staged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_IN_PARENT", "leaked")

    result = command(staged, ["env"], env={"RAILS_ENV": "production", "JOBS": 4})

    assert sorted(result["tail"]) == [
        "HOME=/nonexistent",
        "JOBS=4",
        "LANG=C.UTF-8",
        f"LOGNAME={APP_USER}",
        f"PATH={SAFE_PATH}",
        "RAILS_ENV=production",
        f"USER={APP_USER}",
    ]


def test_only_the_last_lines_are_returned(staged: Path) -> None:
    result = command(staged, ["seq", "1", "100"], tail_lines=3)

    assert result["tail"] == ["98", "99", "100"]
    assert len(Path(result["log"]).read_text().splitlines()) == 100


def test_failure_names_the_stage_exit_code_log_and_last_lines(staged: Path) -> None:
    result = command(staged, ["sh", "-c", "echo compiling; echo 'error: no Gemfile.lock' >&2; exit 3"])

    staging = staged / "releases" / f".staging-{R1}"
    log = staged / ".deployctl" / "logs" / f"{R1}-build.log"
    assert result["failed"] is True
    assert result["rc"] == 3
    assert result["msg"] == (
        f"build: `sh -c 'echo compiling; echo '\"'\"'error: no Gemfile.lock'\"'\"' >&2; exit 3'` exited 3 "
        f"after {result['seconds']}s in {staging} (whole output: {log}). Last lines:\ncompiling\nerror: no Gemfile.lock"
    )


def test_timeout_kills_the_command_and_its_children(staged: Path) -> None:
    started = time.monotonic()

    result = command(staged, ["sh", "-c", "sleep 60 & echo $! > child.pid; echo started; wait"], timeout=1)

    assert time.monotonic() - started < 10
    assert result["failed"] is True
    assert result["rc"] == -9
    staging = staged / "releases" / f".staging-{R1}"
    assert result["msg"].startswith(
        "build: `sh -c 'sleep 60 & echo $! > child.pid; echo started; wait'` was killed at its timeout of 1s"
    )
    assert result["msg"].endswith(f"in {staging} (whole output: {result['log']}). Last lines:\nstarted")
    assert dies((staging / "child.pid").read_text().strip())


def test_missing_release_is_named(open_deploy_to: Path) -> None:
    result = command(open_deploy_to, ["true"])

    assert result["failed"] is True
    assert result["msg"] == f"build: release {R1} does not exist under {open_deploy_to / 'releases'}"


def test_unknown_user_is_named(staged: Path) -> None:
    result = command(staged, ["true"], user="no-such-user")

    assert result["failed"] is True
    assert result["msg"] == (
        "build: user 'no-such-user' does not exist on the host: create it, "
        "or let the role create it (deploy_app_user_manage: true)"
    )


def test_missing_program_is_a_message_not_a_traceback(staged: Path) -> None:
    result = command(staged, ["no-such-program", "--now"])

    assert result["failed"] is True
    assert result["msg"].startswith(
        f"build: cannot run `no-such-program --now` in {staged / 'releases' / ('.staging-' + R1)}: "
    )
    assert "No such file or directory" in result["msg"]


def test_check_mode_runs_nothing(staged: Path) -> None:
    result = command(staged, ["touch", "ran"], check_mode=True)

    assert (result["changed"], result["msg"]) == (True, f"would run `touch ran` as {APP_USER}")
    assert not (staged / "releases" / f".staging-{R1}" / "ran").exists()
    assert not (staged / ".deployctl" / "logs" / f"{R1}-build.log").exists()


def _build_then_die(deploy_to: Path) -> None:
    command(deploy_to, ["sleep", "60"], timeout=600)


def test_a_build_left_running_by_a_dead_deploy_is_killed_by_the_next_one(staged: Path, upstream: Upstream) -> None:
    pidfile = staged / ".deployctl" / "running" / "build.json"
    deploy = multiprocessing.get_context("fork").Process(target=_build_then_die, args=(staged,))
    deploy.start()
    try:
        deadline = time.monotonic() + 10
        running = None
        while running is None:
            assert time.monotonic() < deadline, "the build never started"
            with contextlib.suppress(FileNotFoundError, ValueError):
                running = json.loads(pidfile.read_text())
            time.sleep(0.01)
    finally:
        deploy.kill()  # kill -9 of the deploy: the build outlives it
        deploy.join()
    assert not dies(str(running["pid"]), within=0.2)

    result = run_module(release, staged_args(staged, upstream, R2, version="v2"))

    staging = staged / "releases" / f".staging-{R1}"
    assert result["killed"] == [{"pid": running["pid"], "argv": ["sleep", "60"], "chdir": str(staging), "killed": True}]
    assert result["removed"] == [f".staging-{R1}"]
    assert dies(str(running["pid"]))
    assert os.listdir(staged / ".deployctl" / "running") == []
    [line] = [line for line in journal(staged) if line["event"] == "killed_leftover"]
    assert (line["argv"], line["pid"]) == (["sleep", "60"], running["pid"])


def test_the_tests_run_after_the_build_in_the_same_release_before_it_is_published(staged: Path) -> None:
    result = command(
        staged, ["sh", "-c", "echo built > built.txt"], test_argv=["sh", "-c", "cat built.txt; pwd"], publish=True
    )

    assert not result.get("failed"), result["msg"]
    staging = staged / "releases" / f".staging-{R1}"
    test_log = staged / ".deployctl" / "logs" / f"{R1}-test.log"
    assert result["test"]["rc"] == 0
    assert result["test"]["tail"] == ["built", str(staging)], "the tests ran before the release was published"
    assert result["test"]["log"] == str(test_log)
    assert test_log.read_text() == f"built\n{staging}\n"
    assert result["path"] == str(staged / "releases" / R1)


def test_failing_tests_name_the_stage_test_and_publish_nothing(staged: Path) -> None:
    result = command(staged, ["true"], test_argv=["sh", "-c", "echo '1 runs, 1 failures'; exit 1"], publish=True)

    staging = staged / "releases" / f".staging-{R1}"
    log = staged / ".deployctl" / "logs" / f"{R1}-test.log"
    assert (result["failed"], result["stage"], result["rc"]) == (True, "test", 1)
    assert result["msg"] == (
        f"test: `sh -c 'echo '\"'\"'1 runs, 1 failures'\"'\"'; exit 1'` exited 1 after {result['seconds']}s "
        f"in {staging} (whole output: {log}). Last lines:\n1 runs, 1 failures"
    )
    assert staging.is_dir() and not (staged / "releases" / R1).exists()


def test_a_failing_build_runs_no_tests(staged: Path) -> None:
    result = command(staged, ["false"], test_argv=["sh", "-c", "touch tested"])

    assert result["failed"] is True and "stage" not in result
    assert not (staged / "releases" / f".staging-{R1}" / "tested").exists()


def dump_options(tmp_path: Path, pg_dump: str) -> dict:
    """The `backup` option with stand-in clients: psql prints a size of 1 KiB and no schema."""
    psql = tmp_path / "psql"
    psql.write_text("#!/bin/sh\necho 1024\n")
    psql.chmod(0o755)
    return {
        "connection": {"host": "db.internal", "database": "shop", "username": "shop", "password": "s3cret"},
        "command": ["sh", "-c", pg_dump],
        "size_command": [str(psql)],
        "schema_command": [],
        "schema_version": "20240101000000",
    }


def test_the_dump_of_the_backup_option_is_taken_before_the_command_runs(staged: Path, tmp_path: Path) -> None:
    dump = staged / "shared" / "backups" / f"{R1}.dump"
    # The migration (the app user, who cannot read the dumps) sees that pg_dump ran: the dump
    # came first, in the same call.
    marker = staged / "dumped"
    result = command(
        staged, ["sh", "-c", f"test -e {marker} && echo migrated"], stage="migrate",
        backup=dump_options(tmp_path, f"touch {marker}; echo PGDMP-data"), host_label="web1",
    )  # fmt: skip

    assert not result.get("failed"), result["msg"]
    assert result["tail"] == ["migrated"]
    assert (result["backup"]["path"], result["backup"]["schema_version"]) == (str(dump), "20240101000000")
    assert result["backup"]["removed"] == []
    assert result["backup"]["elapsed"] >= result["backup"]["seconds"], "the whole step, the dump command in it"
    assert dump.read_text() == "PGDMP-data\n"
    assert stat.S_IMODE(os.stat(dump).st_mode) == 0o600
    assert [line["event"] for line in journal(staged)][-1] == "backup"
    assert "s3cret" not in json.dumps(result)


def test_a_dump_that_cannot_be_taken_fails_at_stage_backup_and_runs_no_command(staged: Path, tmp_path: Path) -> None:
    result = command(
        staged, ["sh", "-c", "touch migrated"], stage="migrate",
        backup=dump_options(tmp_path, "echo 'pg_dump: error: connection refused' >&2; exit 1"),
    )  # fmt: skip

    assert (result["failed"], result["stage"]) == (True, "backup")
    assert result["msg"].startswith("backup: ")
    assert "connection refused" in result["msg"]
    assert not (staged / "releases" / f".staging-{R1}" / "migrated").exists()
    assert os.listdir(staged / "shared" / "backups") == [], "no partial dump is left"


# release state=staged's `build`: the same build, tests and publish in the stage's own call.


def test_the_stage_call_builds_tests_and_publishes_the_release_it_staged(
    open_deploy_to: Path, upstream: Upstream
) -> None:
    build = {"argv": ["sh", "-c", "id -un > built.txt"], "user": APP_USER, "test_argv": ["cat", "built.txt"]}
    result = run_module(release, staged_args(open_deploy_to, upstream, R1, build=build))

    assert not result.get("failed"), result["msg"]
    published = open_deploy_to / "releases" / R1
    assert (published / "built.txt").read_text() == f"{APP_USER}\n"
    assert not (open_deploy_to / "releases" / f".staging-{R1}").exists()
    assert result["build"]["rc"] == 0 and result["build"]["path"] == str(published)
    assert result["build"]["test"]["tail"] == [APP_USER]
    assert 0 <= result["build"]["elapsed"] <= result["elapsed"]
    assert [line["event"] for line in journal(open_deploy_to)][-2:] == ["staged", "built"]


def test_a_build_that_fails_in_the_stage_call_names_stage_build_and_what_was_staged(
    open_deploy_to: Path, upstream: Upstream
) -> None:
    build = {"argv": ["sh", "-c", "echo 'make: *** [deploy] Error 2'; exit 2"], "user": APP_USER}
    result = run_module(release, staged_args(open_deploy_to, upstream, R1, build=build))

    staging = open_deploy_to / "releases" / f".staging-{R1}"
    log = open_deploy_to / ".deployctl" / "logs" / f"{R1}-build.log"
    assert (result["failed"], result["stage"], result["rc"]) == (True, "build", 2)
    assert result["msg"] == (
        f"build: `sh -c 'echo '\"'\"'make: *** [deploy] Error 2'\"'\"'; exit 2'` exited 2 after {result['seconds']}s "
        f"in {staging} (whole output: {log}). Last lines:\nmake: *** [deploy] Error 2"
    )
    # The role's report reads these from the failed call: the release to mark failed, its commit.
    assert (result["created"], result["release_id"], result["input_error"]) == (True, R1, False)
    assert len(result["commit"]) == 40
    # The seconds of the call and of its build: the CLI splits them between stages fetch and build.
    assert 0 <= result["build"]["elapsed"] <= result["elapsed"]
    assert staging.is_dir() and not (open_deploy_to / "releases" / R1).exists()


def test_failing_tests_in_the_stage_call_name_stage_test(open_deploy_to: Path, upstream: Upstream) -> None:
    build = {"argv": ["true"], "user": APP_USER, "test_argv": ["false"]}
    result = run_module(release, staged_args(open_deploy_to, upstream, R1, build=build))

    assert (result["failed"], result["stage"]) == (True, "test")
    assert not (open_deploy_to / "releases" / R1).exists()


def test_the_stage_call_builds_nothing_in_check_mode_or_when_the_commit_is_live(
    open_deploy_to: Path, upstream: Upstream
) -> None:
    build = {"argv": ["sh", "-c", "touch built.txt"], "user": APP_USER}
    preview = run_module(release, staged_args(open_deploy_to, upstream, R1, build=build), check_mode=True)
    assert not preview.get("failed") and "build" not in preview

    run_module(release, staged_args(open_deploy_to, upstream, R1, build=build))
    release_to(open_deploy_to, R1, "active")
    again = run_module(release, staged_args(open_deploy_to, upstream, R2, build=build))
    assert again["already_live"] is True and "build" not in again
    assert not (open_deploy_to / "releases" / R2).exists()
