"""deploy_logs: the last lines of a log, and (following) the lines since the last call, across rotation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ansible_collections.deployctl.core.plugins.module_utils import _logs
from ansible_collections.deployctl.core.plugins.modules import deploy_logs
from tests.unit.conftest import run_module

RELEASE = "20261126T145204Z"


def write(path: Path, text: str, mode: str = "w") -> None:
    with open(path, mode, encoding="utf-8") as handle:
        handle.write(text)


def test_the_tail_of_a_file_is_its_last_lines_and_a_cursor_at_its_end(tmp_path: Path) -> None:
    log = tmp_path / "production.log"
    write(log, "".join(f"line {n}\n" for n in range(1, 1001)))
    # Blocks smaller than the lines asked for: read backwards over several blocks, the cut line dropped.
    lines, cursor = _logs.tail_file(str(log), 3, block=10)
    assert lines == ["line 998", "line 999", "line 1000"]
    assert cursor == {"inode": log.stat().st_ino, "offset": log.stat().st_size}
    assert _logs.tail_file(str(log), 2000)[0][0] == "line 1"
    assert _logs.tail_file(str(log), 0)[0] == []


def test_a_line_still_being_written_is_shown_by_the_tail_but_followed_once_whole(tmp_path: Path) -> None:
    log = tmp_path / "production.log"
    write(log, "one\ntw")
    lines, cursor = _logs.tail_file(str(log), 5)
    assert lines == ["one", "tw"] and cursor["offset"] == 4
    assert _logs.read_file_since(str(log), cursor)[0] == []
    write(log, "o\nthree\n", "a")
    lines, cursor, restarted = _logs.read_file_since(str(log), cursor)
    assert (lines, restarted, cursor["offset"]) == (["two", "three"], False, log.stat().st_size)


def test_a_rotated_or_truncated_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "production.log"
    write(log, "old 1\nold 2\n")
    _lines, cursor = _logs.tail_file(str(log), 10)
    # logrotate's default: the file renamed, a new one created (a new inode).
    os.rename(log, tmp_path / "production.log.1")
    write(log, "new 1\n")
    lines, cursor, restarted = _logs.read_file_since(str(log), cursor)
    assert (lines, restarted) == (["new 1"], True)
    # copytruncate: the same inode, shorter than where the last read stopped.
    write(log, "a\n")
    lines, cursor, restarted = _logs.read_file_since(str(log), {**cursor, "offset": 100})
    assert (lines, restarted) == (["a"], True)
    assert _logs.read_file_since(str(log), cursor) == ([], cursor, False)


def test_the_journal_cursor_is_read_from_the_last_line_and_kept_when_none_is_printed() -> None:
    output = "2026-11-30T04:22:10+0000 web1 bundle[142]: Started\n-- cursor: s=abc;i=1f;b=x\n"
    assert _logs.parse_journal(output, None) == (
        ["2026-11-30T04:22:10+0000 web1 bundle[142]: Started"],
        "s=abc;i=1f;b=x",
    )
    # No entry since the cursor: journalctl prints nothing, the cursor stays.
    assert _logs.parse_journal("", "s=abc") == ([], "s=abc")
    assert _logs.journal_argv(["--unit=shop.service"], 5, None)[-1] == "--lines=5"
    assert _logs.journal_argv(["--unit=shop.service"], 5, "s=abc")[-1] == "--after-cursor=s=abc"
    assert (_logs.unit_name("shop"), _logs.unit_name("shop.service")) == ("shop.service", "shop.service")


def test_stale_follow_states_are_pruned_and_the_current_one_kept(tmp_path: Path) -> None:
    states = tmp_path / "run"
    current = _logs.state_path(str(states), "f1@web1", "log")
    old = _logs.state_path(str(states), "f0@web1", "log")
    assert current != old and current != _logs.state_path(str(states), "f1@web2", "log")
    for path in (current, old):
        _logs.save_state(str(states), path, {"cursor": {"inode": 1, "offset": 2}})
    os.utime(old, (1, 1))
    assert _logs.prune_states(str(states), keep=current) == [old]
    assert _logs.load_state(current) == {"cursor": {"inode": 1, "offset": 2}}
    assert stat.S_IMODE(os.stat(current).st_mode) == 0o600 and stat.S_IMODE(states.stat().st_mode) == 0o700


def module_args(deploy_to: Path, **extra: object) -> dict:
    return {"deploy_to": str(deploy_to), "state_dir": str(deploy_to / "run"), "wait": 0.2, **extra}


def test_a_follow_returns_the_last_lines_then_only_the_new_ones(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, "a\nb\nc\n")
    args = module_args(tmp_path, source="app", app_path=str(log), lines=2, follow="f1@web1")
    assert run_module(deploy_logs, args)["lines"] == ["b", "c"]
    assert run_module(deploy_logs, args)["lines"] == []
    write(log, "d\n", "a")
    first = run_module(deploy_logs, args)
    assert (first["lines"], first["restarted"]) == (["d"], False)
    # Without follow, the last lines every time.
    assert run_module(deploy_logs, {**args, "follow": ""})["lines"] == ["c", "d"]


def test_a_missing_log_names_the_file_and_what_to_set(tmp_path: Path) -> None:
    (tmp_path / "releases" / RELEASE).mkdir(parents=True)
    os.symlink(f"releases/{RELEASE}", tmp_path / "current")
    app = run_module(deploy_logs, module_args(tmp_path, source="app", app_path=str(tmp_path / "none.log")))
    assert app["failed"] and f"no app log at {tmp_path / 'none.log'} (deploy_logs_app_path)" in app["msg"]
    # The migrations ran on another host (once per deploy): this one says so, and has no line; no failure.
    migrate = run_module(deploy_logs, module_args(tmp_path, source="migrate"))
    assert not migrate.get("failed") and migrate["lines"] == []
    assert f"no migrate log for release {RELEASE} on this host" in migrate["absent"]
    assert migrate["log"] == f"{tmp_path}/.deployctl/logs/{RELEASE}-migrate.log"
    # A follow of a log that is not there ends that host's follow, as for every source.
    followed = run_module(deploy_logs, module_args(tmp_path, source="migrate", follow="f1", wait=0))
    assert followed["failed"] and f"no migrate log for release {RELEASE} on this host" in followed["msg"]
    unknown = run_module(deploy_logs, module_args(tmp_path, source="build", release="20200101T000000Z"))
    assert unknown["msg"] == (
        f"no build log for release 20200101T000000Z on this host "
        f"({tmp_path}/.deployctl/logs/20200101T000000Z-build.log): the release was not built here by deployctl"
    )
    untested = run_module(deploy_logs, module_args(tmp_path, source="test"))
    assert untested["msg"] == (
        f"no test log for release {RELEASE} on this host ({tmp_path}/.deployctl/logs/{RELEASE}-test.log): the app's "
        "tests run after the build only when deploy_test_command is set"
    )
    build = run_module(deploy_logs, module_args(tmp_path, source="build", release="../x"))
    assert build["failed"] and "release id '../x' is not valid" in build["msg"]
    # A release ID that is none is the input's fault (bad input: exit 5), a missing log the host's (exit 2).
    assert (build["input_error"], unknown.get("input_error", False)) == (True, False)


def test_an_unknown_source_is_rejected_with_the_valid_ones(tmp_path: Path) -> None:
    result = run_module(deploy_logs, module_args(tmp_path, source="nginx"))
    assert "value of source must be one of: app, service, build, test, migrate, got: nginx" in result["msg"]


@pytest.mark.parametrize("source", ["build", "test", "migrate"])
def test_no_live_release_says_so(tmp_path: Path, source: str) -> None:
    result = run_module(deploy_logs, module_args(tmp_path, source=source))
    assert f"no release is live under {tmp_path}: deploy one, or name a release for its {source} log" in result["msg"]
