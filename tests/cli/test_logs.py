"""deployctl logs: its arguments, and what it prints of recorded runs (the last lines; a follow's polls)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from deployctl import cli
from deployctl.outcome import ExitCode
from tests.cli.conftest import Requests, events


def test_the_last_lines_are_printed_by_host_unwrapped(
    replaying: Callable[..., Requests], capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = replaying("logs_service", 0)
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(["logs", "staging", "--source", "service", "-n", "3", "--limit", "web*"]) == ExitCode.OK
    [request] = requests
    assert (request.playbook, request.extravars) == (
        "logs.yml",
        {"deploy_logs_source": "service", "deploy_logs_lines": 3, "deploy_hosts": "web*"},
    )
    captured = capsys.readouterr()
    out = captured.out
    recorded = {e["event_data"]["host"]: e["event_data"]["res"]["lines"] for e in events("logs_service")
                if e["event"] == "runner_on_ok" and e["event_data"]["task"].startswith("Logs:")}  # fmt: skip
    for host in ("web1", "web2"):
        # Each line whole on one line of its own, wider than COLUMNS as it is.
        assert [line for line in out.splitlines() if line.startswith(f"{host} | ")] == [
            f"{host} | {line}" for line in recorded[host]
        ]
    assert max(len(line) for line in out.splitlines()) > 80
    # stdout is the log alone (`deployctl logs ENV > FILE`); the progress and the closing line are on stderr.
    assert [line for line in out.splitlines() if line.strip()] == [
        f"{host} | {line}" for host in ("web1", "web2") for line in recorded[host]
    ]
    assert "exit 0: success" in captured.err.splitlines()


def test_a_follow_prints_each_poll_as_it_comes_and_ctrl_c_is_exit_0(
    replaying: Callable[..., Requests], capsys: Any
) -> None:
    requests = replaying("logs_follow", 254, "canceled")
    assert cli.main(["logs", "staging", "--follow", "-n", "1"]) == ExitCode.OK
    follow = requests[0].extravars["deploy_logs_follow"]
    assert re.fullmatch(r"[0-9a-f]{32}", follow)
    captured = capsys.readouterr()
    out, err = captured.out.splitlines(), captured.err.splitlines()
    polled = [
        f"{e['event_data']['host']} | {line}"
        for e in events("logs_follow")
        if e["event"] == "runner_retry"
        for line in e["event_data"]["res"]["lines"]
    ]
    assert len(polled) >= 3 and out == polled
    assert err[0] == "app log of staging (Ctrl-C ends)" and err[-1] == "exit 0: success"


def test_a_host_without_the_log_fails_with_its_words(replaying: Callable[..., Requests], capsys: Any) -> None:
    replaying("logs_missing", 2)
    assert cli.main(["logs", "staging", "-e", "deploy_logs_app_path=/x.log"]) == ExitCode.FAILED
    captured = capsys.readouterr()
    assert not captured.out.strip()
    said = " ".join(captured.err.split())
    assert "web1, web2: no app log at" in said and "(deploy_logs_app_path): set deploy_logs_app_path" in said
    # A read that failed changed nothing: not a deploy's "a host may serve a broken release".
    assert "exit 2: failed on a host (see its message above); this command only reads: nothing was changed" in said


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--source", "nginx"], "argument --source: invalid choice: 'nginx' (choose from app, service, build,"),
        (["-n", "many"], "argument -n/--lines: invalid int value: 'many'"),
    ],
)
def test_an_unknown_source_is_a_usage_error(
    replaying: Callable[..., Requests], capsys: Any, args: list[str], words: str
) -> None:
    requests = replaying("logs_service", 0)
    with pytest.raises(SystemExit) as usage:
        cli.main(["logs", "staging", *args])
    assert usage.value.code == ExitCode.BAD_INPUT and words in capsys.readouterr().err
    assert requests == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-n", "-1"], "-n -1: give 0 or more lines"),
        (["--follow", "--json"], "--follow prints lines as they come until Ctrl-C: it takes no --json or --report"),
        (
            ["--release", "20261126T145204Z"],
            "--release names the release of a build, test or migrate log, not of --source app",
        ),
    ],
)
def test_bad_input_touches_no_host(
    replaying: Callable[..., Requests], capsys: Any, args: list[str], words: str
) -> None:
    requests = replaying("logs_service", 0)
    assert cli.main(["logs", "staging", *args]) == ExitCode.BAD_INPUT
    captured = capsys.readouterr()
    assert words in " ".join((captured.out + captured.err).split()) and requests == []


def test_a_host_that_stops_following_is_said_at_once_and_makes_ctrl_c_exit_2(
    replaying: Callable[..., Requests], capsys: Any
) -> None:
    # Recorded: --source migrate, whose log only the host that ran the migrations has.
    replaying("logs_follow_lost", 254, "canceled")
    assert cli.main(["logs", "staging", "--follow", "--source", "migrate"]) == ExitCode.FAILED
    captured = capsys.readouterr()
    out, err = captured.out.splitlines(), captured.err.splitlines()
    # The lines of the host that went on following on stdout; web2's end said on stderr as it happened
    # (after the title), and again as the run's error.
    assert [line.split(" ")[0] for line in out] == ["web1", "web1"], out
    assert err[1].startswith("web2: stopped following: no migrate log for release")
    assert "(deploy_migrate_host)" in err[1]
    assert "web2: no migrate log for release" in " ".join(err[2:]) and err[-1].startswith("exit 2")
