"""The command line: arguments, what each command asks ansible-playbook for, and what it prints.

ansible-playbook is replaced by the replay of a recorded run.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from deployctl import cli, outcome, progress, runner
from deployctl.outcome import EXIT_MEANING, ExitCode, Run
from tests.cli.conftest import Requests, events, replay


def test_deploy_prints_a_summary_table_and_exits_0(replaying: Callable[..., Requests], capsys: Any) -> None:
    requests = replaying("deploy_migrated", 0)
    assert cli.main(["deploy", "staging", "--ref", "v2", "--limit", "web*"]) == 0
    [request] = requests
    assert (request.playbook, request.check) == ("deploy.yml", False)
    assert request.extravars == {"deploy_ref": "v2", "deploy_hosts": "web*"}
    out = capsys.readouterr().out
    assert out.startswith("Deploying v2 to staging\n")
    header = next(line for line in out.splitlines() if "Host" in line)
    assert header.split() == [
        "Host", "Release", "Result", "Lock", "Setup", "Fetch", "Build", "Migrate", "Switch", "Restart", "Verify",
        "Cleanup", "Total",
    ]  # fmt: skip
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("web")]
    # Off a terminal, progress is a line per stage a host finished; then the table's rows.
    assert ["web1", "build"] in [row[:2] for row in rows]
    table = [row for row in rows if "deployed" in row]
    assert [row[0] for row in table] == ["web1", "web2"]
    assert [row[header.split().index("Migrate")] for row in table] == [table[0][7], "-"] != ["-", "-"]
    assert "exit 0: success" in out


def test_deploy_json_says_what_happened(replaying: Callable[..., Requests], capsys: Any) -> None:
    replaying("deploy_reverted", 2)
    assert cli.main(["deploy", "staging", "--ref", "v3-unhealthy", "--json", "-e", "deploy_health_deadline=8"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["exit_code"] == 1 and document["result"] == "reverted"
    assert document["command"] == "deploy" and document["check"] is False and document["ref"] == "v3-unhealthy"
    assert document["environment"] == "staging"
    web1 = document["hosts"]["web1"]
    assert web1["outcome"] == "reverted" and web1["stage"] == "verify" and web1["current"] == web1["previous"]
    assert document["release"] == web1["release"]
    assert set(web1["stages"]) >= {"lock", "build", "switch", "verify", "revert"}


def test_report_writes_the_json_result_to_a_file_and_keeps_the_tables(
    replaying: Callable[..., Requests], capsys: Any, tmp_path: Path
) -> None:
    replaying("deploy_reverted", 2)
    report = tmp_path / "deployctl-deploy.json"
    assert cli.main(["deploy", "staging", "--ref", "v3-unhealthy", "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "Host" in out and "reverted" in out, "the job log still shows the tables"
    document = json.loads(report.read_text())
    assert (document["exit_code"], document["result"]) == (1, "reverted")
    assert document["hosts"]["web1"]["stage"] == "verify"


def test_a_report_file_in_a_missing_directory_is_refused_before_anything_runs(
    replaying: Callable[..., Requests], capsys: Any, tmp_path: Path
) -> None:
    requests = replaying("deploy_deployed", 0)
    with pytest.raises(SystemExit) as exited:
        cli.main(["deploy", "staging", "--ref", "v2", "--report", str(tmp_path / "no-such-dir" / "r.json")])
    assert exited.value.code == ExitCode.BAD_INPUT and requests == []
    assert "no-such-dir/r.json': not a file in an existing directory" in capsys.readouterr().err


def test_deploy_check_runs_the_deploy_playbook_in_check_mode(replaying: Callable[..., Requests], capsys: Any) -> None:
    requests = replaying("preview", 0)
    assert cli.main(["deploy", "staging", "--ref", "v3-broken-migration", "--check"]) == 0
    [request] = requests
    assert (request.playbook, request.check, request.command) == ("deploy.yml", True, "check")
    assert request.extravars == {"deploy_ref": "v3-broken-migration"}
    out = capsys.readouterr().out
    assert "Preview of a deploy v3-broken-migration to staging" in out
    assert "would deploy" in out and "20240301000000" in out


@pytest.mark.parametrize(
    ("argv", "playbook", "extravars"),
    [
        (["rollback", "staging"], "rollback.yml", {}),
        (["rollback", "staging", "--to", "20261126T1525Z"], "rollback.yml", {"deploy_rollback_to": "20261126T1525Z"}),
        (["releases", "staging"], "releases.yml", {}),
        (["status", "staging", "--limit", "web1"], "status.yml", {"deploy_hosts": "web1"}),
        (["unlock", "staging", "--reason", "deploy killed"], "unlock.yml", {"deploy_unlock_reason": "deploy killed"}),
        # As text, as an AWX survey gives it: the playbook reads it (filter deployctl.core.serial_batches).
        (["rollback", "staging", "--serial", "1, 50%"], "rollback.yml", {"deploy_serial": "1, 50%"}),
    ],
)
def test_each_command_runs_its_playbook(
    replaying: Callable[..., Requests], argv: list[str], playbook: str, extravars: dict[str, str]
) -> None:
    requests = replaying("releases", 0)
    cli.main([*argv, "--json", "-vv"])
    [request] = requests
    assert (request.playbook, request.extravars, request.verbosity, request.check) == (playbook, extravars, 2, False)


def test_releases_prints_a_table_per_host(replaying: Callable[..., Requests], capsys: Any) -> None:
    replaying("releases", 0)
    assert cli.main(["releases", "staging"]) == 0
    out = capsys.readouterr().out
    web1 = outcome.results(replay("releases"))["web1"]
    current = next(line for line in out.splitlines() if web1["current"] in line and "*" in line)
    assert "active" in current
    assert f"< rollback target: {web1['rollback_target']}" in out
    target = next(line for line in out.splitlines() if web1["rollback_target"] in line and "<" in line)
    assert "replaced" in target or "rolled_back" in target
    assert out.count("Deployed at") == 2
    # The releases that served and were replaced by a later deploy (state built, deactivated_at) say so.
    replaced = [r["id"] for r in web1["releases"] if r["state"] == "built" and r.get("deactivated_at")]
    assert replaced
    for release in replaced:
        assert " replaced " in next(line for line in out.splitlines() if release in line and "│" in line)


def test_a_stale_lock_is_marked_as_one_the_next_deploy_takes_over() -> None:
    holder = {"user": "alice", "ref": "v9", "started_at": "2026-01-01T00:00:00Z"}
    results: dict[str, dict[str, Any]] = {
        "web1": {"outcome": "ok", "lock": {**holder, "stale": True}},
        "web2": {"outcome": "ok", "lock": {**holder, "stale": False}},
        "web3": {"outcome": "ok", "lock": None},
    }
    console = Console(width=200, record=True)
    console.print(progress.lock_table(results))
    rows = {line.split()[1]: line for line in console.export_text().splitlines() if line.startswith("│ web")}
    assert "alice, ref v9, since 2026-01-01 00:00:00 (stale: the next deploy takes it over)" in rows["web1"]
    assert "stale" not in rows["web2"] and "alice, ref v9" in rows["web2"]
    assert "free" in rows["web3"]


def test_status_prints_lock_and_health(replaying: Callable[..., Requests], capsys: Any) -> None:
    replaying("status_locked", 0)
    assert cli.main(["status", "staging"]) == 0
    lines = capsys.readouterr().out.splitlines()
    web1 = next(line for line in lines if line.startswith("│ web1"))
    web2 = next(line for line in lines if line.startswith("│ web2"))
    assert "alice, ref v9" in web1 and "200 in" in web1
    assert "free" in web2


def test_status_of_a_host_whose_app_does_not_answer_exits_2_naming_it(
    replaying: Callable[..., Requests], capsys: Any
) -> None:
    # Recorded with web1's app stopped (socket and service): the health request was refused.
    replaying("status_unhealthy", 2)
    assert cli.main(["status", "staging"]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert "unhealthy" in next(line for line in lines if line.startswith("│ web1"))
    assert "200 in" in next(line for line in lines if line.startswith("│ web2"))
    out = " ".join(" ".join(lines).split())
    assert "web1: the app does not answer as it should at http://127.0.0.1:3000/up" in out
    closing = "exit 2: the app on web1 does not answer as it should (see above); status only reads: nothing was changed"
    assert closing in out
    replaying("status_unhealthy", 2)
    assert cli.main(["status", "staging", "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert (document["result"], document["hosts"]["web1"]["outcome"], document["hosts"]["web2"]["outcome"]) == (
        "failed",
        "unhealthy",
        "ok",
    )


def test_lock_status_asks_nothing_of_the_app(replaying: Callable[..., Requests]) -> None:
    requests = replaying("status_locked", 0)
    assert cli.main(["lock", "status", "staging", "--json"]) == 0
    assert requests[0].extravars == {"deployctl_status_health": False}


def test_an_unreachable_host_exits_4(replaying: Callable[..., Requests], capsys: Any) -> None:
    replaying("status_unreachable", 4)
    assert cli.main(["status", "staging", "--json"]) == 4
    assert json.loads(capsys.readouterr().out)["hosts"]["ghost"]["outcome"] == "unreachable"


def test_a_missing_ref_in_the_playbook_is_bad_input(replaying: Callable[..., Requests], capsys: Any) -> None:
    # A recorded run whose controller play refused an empty deploy_ref (as ansible-playbook and AWX users meet it;
    # the CLI refuses an empty --ref itself now, test_bad_flags_are_bad_input): the request check's failure is
    # bad input.
    replaying("deploy_no_ref", 2)
    assert cli.main(["deploy", "staging", "--ref", "v2"]) == 5
    captured = capsys.readouterr()
    assert "deploy_ref is not set" in captured.err
    assert f"exit 5: {EXIT_MEANING[ExitCode.BAD_INPUT]}" in captured.out


def test_playbook_flags_reach_ansible_playbook(
    replaying: Callable[..., Requests], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = replaying("deploy_deployed", 0)
    argv = [
        "deploy",
        "staging",
        "--ref",
        "v2",
        "--serial",
        "1,50%",
        "--on-batch-failure",
        "revert_all",
        "--diff",
        "--forks",
        "3",
    ]
    # --skip-tags repeated, as ansible-playbook takes it: both count. -e @FILE named from here, as ansible-playbook
    # runs in the run's own directory.
    (tmp_path / "vars.yml").write_text("deploy_keep_releases: 3\n")
    monkeypatch.chdir(tmp_path)
    cli.main([*argv, "--skip-tags", "verify", "--skip-tags", "cleanup", "-e", "@vars.yml", "--json"])
    [request] = requests
    assert request.extravars == {
        "deploy_ref": "v2",
        "deploy_serial": "1,50%",
        "deploy_on_batch_failure": "revert_all",
    }
    assert request.cmdline()[-7:] == [
        "--diff", "--forks", "3", "--skip-tags", "verify,cleanup", "-e", f"@{tmp_path / 'vars.yml'}",
    ]  # fmt: skip


def test_on_batch_failure_takes_its_batches_from_extra_vars_too(replaying: Callable[..., Requests]) -> None:
    requests = replaying("deploy_deployed", 0)
    cli.main(["deploy", "staging", "--ref", "v2", "--on-batch-failure", "revert_all", "-e", "deploy_serial=1,50%"])
    [request] = requests
    assert request.extravars == {"deploy_ref": "v2", "deploy_on_batch_failure": "revert_all"}
    assert request.cmdline()[-2:] == ["-e", "deploy_serial=1,50%"]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        # Batch sizes that are none (--serial 0): the playbook's to refuse (tests/unit/test_whole_run.py).
        (
            ["--on-batch-failure", "revert_all"],
            "--on-batch-failure revert_all says what a failing batch does to the earlier ones: give --serial too",
        ),
        (["--forks", "0", "--json"], "--forks 0: give at least 1"),
        # Empty answers (a CI variable left unset): the playbook would name -e deploy_ref, or deploy every host
        # at once.
        (["--ref", ""], "--ref is empty: give the branch, tag or commit to deploy, e.g. --ref v1.4.2"),
        (["--ref", " "], "--ref is empty"),
        (["--serial", ""], "--serial is empty: give the batch sizes, e.g. --serial 1,50%"),
        # A deploy runs every stage (which ones --skip-tags may leave out: tests/e2e/test_failure_matrix.py).
        (["--tags", "build"], "--tags: a deploy or a rollback runs every stage (its report, its revert on failure"),
    ],
)
def test_bad_flags_are_bad_input(replaying: Callable[..., Requests], capsys: Any, argv: list[str], said: str) -> None:
    ref = [] if "--ref" in argv else ["--ref", "v2"]
    assert_bad_input(replaying, capsys, ["deploy", "staging", *ref, *argv], said)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["pending", "staging", "--ref", ""], "--ref is empty"),
        (["rollback", "staging", "--serial", ""], "--serial is empty"),
        (["rollback", "staging", "--to", " "], "--to is empty: give the release ID to go back to"),
        # A script's unset variable: every host, had it passed.
        (["deploy", "staging", "--ref", "v2", "--limit", ""], "--limit is empty: name the hosts or groups"),
        (["status", "staging", "--limit", ","], "--limit is empty"),
        # Nothing skipped, or the live release's log: not what was asked for.
        (["deploy", "staging", "--ref", "v2", "--skip-tags", ""], "--skip-tags is empty: give the stages to leave out"),
        (["logs", "staging", "--source", "build", "--release", ""], "--release is empty: name the release"),
        # Nothing would run, not even the refusal (playbooks/tasks/whole_run.yml).
        (
            ["deploy", "staging", "--ref", "v2", "--skip-tags", "tagged", "--skip-tags", "untagged"],
            "--skip-tags tagged,untagged would skip every task: nothing would run, not even the check that refuses "
            "it. Leave out only optional stages: --skip-tags verify,cleanup,notify",
        ),
        (
            ["rollback", "staging", "--skip-tags", "all"],
            "--skip-tags all would skip every task: nothing would run, not even the check that refuses it. Leave out "
            "only optional stages: --skip-tags notify",
        ),
        (["status", "staging", "-e", "@no-such-vars.yml"], "-e @no-such-vars.yml: there is no file /"),
        # A script's unset variable: nothing would be set, not what someone who typed -e asked for.
        (["deploy", "staging", "--ref", "v2", "-e", " "], "-e is empty: give VAR=VALUE, a YAML or JSON mapping"),
    ],
)
def test_empty_answers_are_bad_input_for_every_command(
    replaying: Callable[..., Requests], capsys: Any, argv: list[str], said: str
) -> None:
    assert_bad_input(replaying, capsys, argv, said)


def assert_bad_input(replaying: Callable[..., Requests], capsys: Any, argv: list[str], said: str) -> None:
    """The CLI stops with exit 5 and `said` in its words, before any ansible-playbook run."""
    requests = replaying("deploy_deployed", 0)
    code: int | str | None
    try:
        code = cli.main(argv)
    except SystemExit as stopped:
        code = stopped.code
    captured = capsys.readouterr()
    assert code == 5
    # rich wraps long lines at the console's width.
    assert said in " ".join((captured.err + captured.out).split())
    assert requests == []


@pytest.mark.parametrize(
    ("argv", "optional"),
    [(["deploy", "staging", "--ref", "v2"], "verify,cleanup,notify"), (["rollback", "staging"], "notify")],
)
def test_the_optional_stages_offered_are_the_playbooks(capsys: Any, argv: list[str], optional: str) -> None:
    # The CLI reads them from playbooks/tasks/whole_run.yml: a rollback has no verify or cleanup to leave out.
    with pytest.raises(SystemExit) as helped:
        cli.main([argv[0], "--help"])
    assert helped.value.code == 0
    offered = " ".join(capsys.readouterr().out.split())
    assert f"leave out optional stages: {optional.replace(',', ', ')} (ansible-playbook --skip-tags)" in offered
    with pytest.raises(SystemExit) as refused:
        cli.main([*argv, "--tags", "switch"])
    assert refused.value.code == 5
    assert f"leave out optional stages with --skip-tags {optional}" in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize(
    "argv",
    [
        ["deploy", "staging"],
        ["deploy", "--ref", "v1"],
        ["unlock", "staging"],
        ["rollback", "staging", "--no-such-option"],
        ["frobnicate", "staging"],
        [],
    ],
)
def test_usage_errors_are_bad_input(argv: list[str], capsys: Any) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 5
    # The closing line of every run, usage errors' too.
    assert capsys.readouterr().err.splitlines()[-1] == f"exit 5: {EXIT_MEANING[ExitCode.BAD_INPUT]}"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        # argparse names only what is missing; the option typed wrong is the news.
        (["deploy", "staging", "--bogus"], "required: --ref; unrecognized arguments: --bogus"),
        (
            ["deploy", "staging", "--reff=v1", "-vv"],
            "required: --ref; unrecognized arguments: --reff=v1; did you mean --ref?\n",
        ),
        (["status", "staging", "--jsno"], "unrecognized arguments: --jsno; did you mean --json?\n"),
        (["deploy", "staging", "--ref", "v1", "--bogus"], "unrecognized arguments: --bogus\n"),
        (
            ["exec", "staging", "bin/rails", "runner", "x"],
            "(the command to run goes after --: deployctl exec ENV -- COMMAND...)",
        ),
        # An abbreviation argparse takes (--lim: --limit) is no unknown option.
        (["deploy", "staging", "--lim", "web1"], "the following arguments are required: --ref\n"),
        (["db"], "the following arguments are required: {backups,restore}\n"),
        # A command typed wrong: the closest one, and the commands without the hidden alias (lock-status).
        (
            ["rollbak", "staging"],
            "invalid choice: 'rollbak'; did you mean rollback? (choose from init, deploy, pending, rollback, releases, "
            "status, unlock, db, history, lock, exec, logs)\n",
        ),
        (["db", "backpus", "x"], "invalid choice: 'backpus'; did you mean backups? (choose from backups, restore)"),
        (["frobnicate"], "invalid choice: 'frobnicate' (choose from init, deploy,"),
        ([], "the following arguments are required: COMMAND\n"),
        # argparse would take the last value without a word: a script's default silently overridden, or the reverse.
        (["deploy", "staging", "--ref", "v1", "--ref", "v2"], "--ref given twice ('v1', then 'v2'): give it once"),
        (["logs", "staging", "-n", "5", "--lines", "9"], "--lines given twice (5, then 9): give it once"),
        (["status", "staging", "--limit", "web1", "--limit", "web2"], "--limit given twice"),
        (
            ["status", "staging", "--report", "a.json", "--report", "b.json"],
            "--report given twice ('a.json', then 'b.json')",
        ),
    ],
)
def test_a_usage_error_names_what_is_missing_unknown_or_given_twice(argv: list[str], said: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 5
    assert said in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "command", "said"),
    [
        (["deploy", "staging", "--json", "--ref", "v1", "--ref", "v2"], "deploy", "--ref given twice"),
        (["lock", "status", "staging", "--json", "--bogus"], "lock-status", "unrecognized arguments: --bogus"),
        (["db", "restore", "staging", "--json"], "db restore", "required: --backup"),
    ],
)
def test_a_usage_error_with_json_prints_the_document(argv: list[str], command: str, said: str, capsys: Any) -> None:
    # A script that asked for JSON parses stdout: it gets the document of a run refused as bad input.
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 5
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert (document["command"], document["exit_code"], document["result"], document["hosts"]) == (
        command,
        5,
        "bad_input",
        {},
    )
    [error] = document["errors"]
    assert said in error and said in captured.err
    assert captured.err.startswith(f"usage: deployctl {command.replace('-', ' ')} ")


def test_help_lists_the_commands_and_no_alias(capsys: Any) -> None:
    with pytest.raises(SystemExit) as helped:
        cli.main(["--help"])
    assert helped.value.code == 0
    said = capsys.readouterr().out
    assert said.startswith("usage: deployctl [-h] [--version] COMMAND ...")
    assert "lock-status" not in said and "who holds it: lock status ENV" in " ".join(said.split())
    assert all(f"    {name} " in said for name in ("deploy", "status", "lock", "db", "logs"))


def test_an_alias_says_its_usage_as_it_is_typed(capsys: Any) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["lock", "status", "staging", "--bogus"])
    assert stopped.value.code == 5
    said = capsys.readouterr().err
    assert said.startswith("usage: deployctl lock status ")
    assert "deployctl lock status: error: unrecognized arguments: --bogus" in said


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["lock", "staging", "--message", "upgrade", "--skip-tags", "lock"], "--skip-tags"),
        (["status", "staging", "--diff"], "--diff"),
        (["logs", "staging", "--skip-tags", "report"], "--skip-tags"),
    ],
)
def test_stage_options_are_only_offered_where_there_are_stages(argv: list[str], flag: str, capsys: Any) -> None:
    # --diff/--skip-tags shape a deploy's or a rollback's stages; elsewhere they would be taken and ignored.
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 5
    said = capsys.readouterr().err
    assert f"unrecognized arguments: {flag}" in said
    # The command's own usage, which shows what it takes (argparse would show the top-level one).
    assert said.startswith(f"usage: deployctl {argv[0]} [-h]"), said


def test_an_unknown_environment_is_bad_input(replaying: Callable[..., Requests], capsys: Any) -> None:
    requests = replaying("releases", 0)
    assert cli.main(["releases", "production", "--json"]) == 5
    document = json.loads(capsys.readouterr().out)
    assert document["result"] == "bad_input" and document["hosts"] == {}
    assert document["errors"][0].startswith("unknown environment 'production'")
    assert requests == []


def test_off_a_terminal_a_message_is_one_line_whatever_its_length(
    replaying: Callable[..., Requests], capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CI job's log or a file: a path cut in two at the console's width would not be found by grep.
    monkeypatch.setenv("COLUMNS", "60")
    replaying("releases", 0)
    long_name = "inventories/" + "/".join(["a-rather-long-directory-name"] * 4)
    assert cli.main(["releases", long_name]) == 5
    captured = capsys.readouterr()
    [line] = [line for line in captured.err.splitlines() if line.startswith("unknown environment")]
    assert f"neither {long_name} nor inventories/{long_name} exists here" in line
    # Refused before ansible-playbook started: the message and the closing line on stderr, as a usage error's.
    assert captured.err.splitlines()[-1] == "exit 5: bad input (the message above says what to fix): nothing was run"
    assert captured.out == ""


def test_an_empty_unlock_reason_is_bad_input(replaying: Callable[..., Requests], capsys: Any) -> None:
    requests = replaying("unlock", 0)
    assert cli.main(["unlock", "staging", "--reason", " "]) == 5
    assert "--reason is empty" in capsys.readouterr().err
    assert requests == []


@pytest.fixture
def crashing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, inventory: Path) -> Callable[[Exception], None]:
    """Make runner.run raise the given exception after the progress display started."""
    monkeypatch.chdir(inventory.parents[1])
    monkeypatch.setenv("COLUMNS", "400")

    def use(error: Exception) -> None:
        def fake_run(request: runner.Request, on_event: Callable[[Mapping[str, Any]], None]) -> runner.Finished:
            raise error

        monkeypatch.setattr(runner, "run", fake_run)

    return use


def test_a_runner_crash_is_one_line_and_exit_2(
    crashing: Callable[[Exception], None], tmp_path: Path, capsys: Any
) -> None:
    cause = FileNotFoundError(2, "No such file or directory", "/cache/artifacts/x/../old11")
    error = runner.RunError(f"ansible-runner failed: FileNotFoundError: {cause}", tmp_path / "a1")
    error.__cause__ = cause
    crashing(error)
    assert cli.main(["deploy", "staging", "--ref", "v2"]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert line.startswith("deployctl stopped on an unexpected error, the hosts' state is unknown: ansible-runner")
    assert "FileNotFoundError" in line and "old11" in line and f"(artifacts: {tmp_path / 'a1'})" in line
    assert line.endswith("-v shows the traceback") and "Traceback" not in captured.out
    assert "exit 2:" in captured.out and f"full log: {tmp_path / 'a1'}/stdout" in captured.out


def test_any_unexpected_error_is_exit_2_with_the_traceback_under_v(
    crashing: Callable[[Exception], None], capsys: Any
) -> None:
    crashing(RuntimeError("something nobody expected"))
    assert cli.main(["status", "staging", "--json", "-v"]) == 2
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["result"] == "failed" and "artifacts" not in document
    assert document["errors"] == [
        "deployctl stopped on an unexpected error, the hosts' state is unknown: RuntimeError: something nobody expected"
    ]
    assert captured.err.startswith("Traceback (most recent call last):")
    assert captured.err.rstrip().endswith("RuntimeError: something nobody expected")


def _table_text(renderable: Any, width: int) -> str:
    console = Console(width=width, record=True)
    console.print(renderable)
    return console.export_text()


def test_the_deploy_table_fits_narrow_terminals() -> None:
    run = replay("deploy_reverted")
    results = outcome.results(run)
    wide = _table_text(progress.deploy_table(run, results, 120), 120)
    assert "Revert" in wide.splitlines()[1]
    narrow = _table_text(progress.deploy_table(run, results, 80), 80)
    assert "Seconds per stage" in narrow
    assert all(len(line) <= 80 for line in narrow.splitlines())
    assert "verify" in narrow and "revert" in narrow


def test_a_host_never_switched_shows_no_revert() -> None:
    # The migration failed before any switch: the failure's bookkeeping is no revert, and the table says none.
    run = replay("deploy_aborted_migration")
    for name, host in run.targets.items():
        assert "revert" not in host.stages, (name, host.stages)
        assert host.stages.get("failure", 0) > 0, name
    assert "Revert" not in _table_text(progress.deploy_table(run, outcome.results(run), 160), 160)
    # A host switched back has its revert's time, its failure's bookkeeping included.
    for host in replay("deploy_reverted").targets.values():
        assert host.stages.get("revert", 0) > 0 and "failure" not in host.stages, host.stages


def test_a_failure_every_host_shares_is_told_once() -> None:
    # The failed migrations (one run_once call) reach both hosts with the same 40-line output: web2 points at web1's.
    told = _table_text(progress.problems(outcome.results(replay("deploy_aborted_migration"))), 120)
    assert told.count("Tasks: TOP => db:migrate") == 1
    assert "failed on web2 at stage migrate" in told
    assert told.rstrip().endswith("(the same 28 lines as web1's, above)")
    # A few lines in common (the closing "Nothing live was changed ...") are said again.
    first, second = (
        "failed on web1:\nboom\nNothing live was changed.",
        "failed on web2:\nbang\nNothing live was changed.",
    )
    assert progress.told_before(second, {"web1": first}) == second


def test_live_progress_shows_each_host_s_stage_task_and_times() -> None:
    run = Run()
    for clock, event in enumerate(events("deploy_migrated")):
        run.feed(event, now=float(clock))
        if run.hosts.get("web1") and run.hosts["web1"].stage == "migrate":
            break
    live = progress.Progress(Console(width=120), run, "Deploying v2")
    text = _table_text(live.render(), 120)
    web1, web2 = (next(line for line in text.splitlines() if f" {host} " in line) for host in ("web1", "web2"))
    assert "migrate" in web1 and run.hosts["web1"].task in web1 and "s in stage" in web1
    assert "build" in web2 and "waiting for the other hosts" in web2


def test_rollback_restore_db_asks_first_and_passes_the_variable(
    replaying: Callable[..., Requests], capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = replaying("releases", 0)
    # No terminal and no --yes: refused before anything runs.
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.main(["rollback", "staging", "--restore-db"]) == ExitCode.BAD_INPUT
    assert requests == []
    assert "every row written since then is lost. Confirm with --yes" in " ".join(capsys.readouterr().err.split())

    # A terminal: the answer decides.
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("sys.stdin", io.StringIO("no\n"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    assert cli.main(["rollback", "staging", "--restore-db"]) == ExitCode.BAD_INPUT
    assert requests == [] and "not confirmed: nothing was changed" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    cli.main(["rollback", "staging", "--restore-db"])
    cli.main(["rollback", "staging", "--restore-db", "--yes", "--to", "20261126T1525Z"])
    assert [r.extravars for r in requests] == [
        {"deploy_rollback_restore_db": True},
        {"deploy_rollback_to": "20261126T1525Z", "deploy_rollback_restore_db": True},
    ]


def test_db_restore_names_the_dump_asks_first_and_passes_the_variable(
    replaying: Callable[..., Requests], capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = replaying("releases", 0)
    with pytest.raises(SystemExit) as usage:
        cli.main(["db", "restore", "staging"])
    assert usage.value.code == ExitCode.BAD_INPUT
    assert "the following arguments are required: --backup" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.main(["db", "restore", "staging", "--backup", "20261126T1525Z"]) == ExitCode.BAD_INPUT
    said = " ".join(capsys.readouterr().err.split())
    assert "the dump 20261126T1525Z was taken" in said and "Confirm with --yes" in said
    assert cli.main(["db", "restore", "staging", "--backup", " ", "--yes"]) == ExitCode.BAD_INPUT
    assert "--backup is empty" in capsys.readouterr().err
    assert requests == []

    cli.main(["db", "restore", "staging", "--backup", "20261126T1525Z", "--yes", "--json"])
    [request] = requests
    assert (request.playbook, request.command) == ("db_restore.yml", "db-restore")
    assert request.extravars == {"deploy_db_restore_backup": "20261126T1525Z"}
    assert json.loads(capsys.readouterr().out)["command"] == "db restore"


def test_db_backups_asks_for_no_vault_password() -> None:
    args = cli.build_parser().parse_args(["db", "backups", "staging"])
    command = cli.command_for(args)
    assert (command.name, command.playbook, command.needs_vault) == ("db backups", "db_backups.yml", False)


def test_the_backups_table_shows_size_and_age_per_dump() -> None:
    results: dict[str, dict[str, Any]] = {
        "web1": {
            "outcome": "ok",
            "backup_dir": "/srv/shop/shared/backups",
            "backups": [
                {"name": "20261126T1525Z", "size": 3 * 1024 * 1024 + 100, "age_seconds": 7380,
                 "database": "shop", "schema_version": "20240201000000"},
            ],
        },
        "web2": {"outcome": "ok", "backup_dir": "/srv/shop/shared/backups", "backups": []},
    }  # fmt: skip
    text = _table_text(progress.backups_table(results), 120)
    row = next(line for line in text.splitlines() if "web1" in line).split("│")
    assert [cell.strip() for cell in row[1:-1]] == [
        "web1", "20261126T1525Z", "3.0 MiB", "2h 3m ago", "shop", "20240201000000",
    ]  # fmt: skip
    assert "no dump in /srv/shop/shared/backups" in text
    assert (progress.age(45), progress.age(90061), progress.size(734)) == ("45s", "1d 1h", "734 B")


def test_lock_status_and_the_command_after_the_double_dash_are_split_off() -> None:
    assert cli.split_command(["lock", "status", "prod"]) == (["lock-status", "prod"], [])
    assert cli.split_command(["exec", "prod", "--limit", "web1", "--", "bin/rails", "runner", "--json"]) == (
        ["exec", "prod", "--limit", "web1"], ["bin/rails", "runner", "--json"],
    )  # fmt: skip
    assert cli.split_command(["lock", "prod", "--message", "status"]) == (["lock", "prod", "--message", "status"], [])


def test_exec_without_a_command_and_lock_without_a_message_are_bad_input(capsys: Any) -> None:
    assert cli.main(["exec", "staging"]) == ExitCode.BAD_INPUT
    assert "no command to run: give it after --" in capsys.readouterr().err
    assert cli.main(["lock", "staging", "--message", "  "]) == ExitCode.BAD_INPUT
    assert "--message is empty" in capsys.readouterr().err


def test_exec_exits_with_the_command_s_worst_status_when_it_ran_everywhere() -> None:
    ran = {"web1": {"outcome": "ran", "rc": 0}, "web2": {"outcome": "ran", "rc": 7}}
    assert cli.worst_command_status(ran) == 7
    assert cli.worst_command_status({"web1": {"outcome": "ran", "rc": 0}}) == 0
    # A host where it could not run: the outcomes decide (deployctl's own codes).
    assert cli.worst_command_status({**ran, "web3": {"outcome": "failed"}}) is None
    assert cli.worst_command_status({}) is None
    text = _table_text(progress.exec_output({"web1": {"outcome": "ran", "rc": 7, "output": ["a", "b"]}}), 80)
    assert text.splitlines() == ["web1 | a", "web1 | b", "web1: exit 7"]
    assert "exit 7: the command's exit status" in progress.verdict(7, None, progress.COMMAND_STATUS).plain


def test_history_merges_a_run_across_hosts_but_never_two_runs() -> None:
    def run(kind: str, release: str, at: str, **more: Any) -> dict[str, Any]:
        return {"kind": kind, "release": release, "outcome": more.pop("outcome", "restored"), "started_at": at, **more}

    results = {
        "web1": {"outcome": "ok", "limit": 3, "history": [
            run("db_restore", "R2", "2026-11-29T21:57:58Z"), run("db_restore", "R2", "2026-11-29T21:57:34Z"),
            run("deploy", "R2", "2026-11-29T21:50:00Z", outcome="deployed", duration=30.0),
        ]},
        "web2": {"outcome": "ok", "limit": 3, "history": [
            run("deploy", "R2", "2026-11-29T21:50:01Z", outcome="deployed", duration=41.0),
            run("deploy", "R1", "2026-11-29T21:40:00Z", outcome="deployed"),
        ]},
    }  # fmt: skip
    rows = progress.history_rows(results)
    assert [(row["kind"], row["started_at"][11:19], row["hosts"]) for row in rows] == [
        ("db_restore", "21:57:58", ["web1"]),
        ("db_restore", "21:57:34", ["web1"]),
        ("deploy", "21:50:00", ["web1", "web2"]),
    ]  # fmt: skip
    assert rows[2]["duration"] == 41.0, "as long as its slowest host"


def test_the_same_problem_on_several_hosts_is_said_once() -> None:
    said = {"web1": {"outcome": "aborted", "message": "refused"}, "web2": {"outcome": "aborted", "message": "refused"}}
    assert _table_text(progress.problems(said), 80).splitlines() == ["web1, web2: refused"]


def test_the_commands_the_role_suggests_name_the_environment_of_the_run() -> None:
    said = {
        "web1": {
            "outcome": "locked",
            "message": "taken by hand. Deploys and rollbacks are refused until it is released: deployctl unlock ENV "
            "--reason TEXT (playbooks/unlock.yml -e deploy_unlock_reason=TEXT)",
        },
        "web2": {"outcome": "deployed", "warning": "see deployctl db backups ENV; ENVIRONMENT stays"},
    }
    lines = _table_text(progress.problems(said, "inventories/my staging"), 200).splitlines()
    assert lines == [
        "web1: taken by hand. Deploys and rollbacks are refused until it is released: deployctl unlock "
        "'inventories/my staging' --reason TEXT (playbooks/unlock.yml -e deploy_unlock_reason=TEXT)",
        "web2: warning: see deployctl db backups 'inventories/my staging'; ENVIRONMENT stays",
    ]
    # Without an environment (the words as the role wrote them): unchanged.
    assert "deployctl unlock ENV --reason" in _table_text(progress.problems(said), 200)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["deploy", "staging", "--ref", "v2", "--serial", "1,50%", "-e", "deploy_serial=0"],
            "--serial and -e deploy_serial both set deploy_serial: give it once, one way or the other (the flag's "
            "value would win)",
        ),
        (["deploy", "staging", "--ref", "v2", "-e", '{"deploy_ref": "v3"}'], "--ref and -e deploy_ref both set"),
        (
            ["rollback", "staging", "--to", "R1", "--limit", "web1", "-e", "deploy_rollback_to=R2 deploy_hosts=web2"],
            "--limit and -e deploy_hosts both set deploy_hosts; --to and -e deploy_rollback_to both set",
        ),
    ],
)
def test_a_variable_set_by_a_flag_and_by_e_is_bad_input(
    replaying: Callable[..., Requests], capsys: Any, argv: list[str], said: str
) -> None:
    assert_bad_input(replaying, capsys, argv, said)


def test_e_variables_are_read_in_each_form_ansible_takes(tmp_path: Path) -> None:
    (tmp_path / "vars.yml").write_text("deploy_serial: 2\nother: 1\n")
    (tmp_path / "vault.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n6162\n")
    assert cli.user_variables(
        ["a=1 'b=two words'", '{"c": 3}', "{d: 4}", f"@{tmp_path}/vars.yml", f"@{tmp_path}/vault.yml", "@/nowhere", "'"]
    ) == {"a", "b", "c", "d", "deploy_serial", "other"}
