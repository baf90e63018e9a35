"""The controller-side hook commands (deploy_local_hook's plugin_utils): real processes, real files;
the deploy that runs them is checked end to end (tests/e2e/test_hooks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.deployctl.core.plugins.plugin_utils._local_hook import (
    argv_of,
    command_problems,
    environment,
    failure_message,
    run_commands,
    run_outcome,
)


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        (["bin/notify", "--ref", "v2"], ["bin/notify", "--ref", "v2"]),
        ("hooks/post-deploy", ["hooks/post-deploy"]),
        (["sleep", 1], ["sleep", "1"]),
    ],
)
def test_a_command_is_an_argv_list_or_a_program(command, argv) -> None:
    assert argv_of(command) == argv


@pytest.mark.parametrize("command", [[], "", {"cmd": "x"}, [["nested"]], None])
def test_anything_else_is_refused_with_what_it_was(command) -> None:
    with pytest.raises(ValueError, match="a command is a list of words"):
        argv_of(command)


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (["deployed", "unchanged"], "succeeded"),
        (["would_deploy"], "succeeded"),
        # Stopped part-way: one host runs the new release, the other what it ran.
        (["deployed", "reverted"], "failed"),
        (["unchanged", "reverted"], "reverted"),
        (["aborted", "aborted"], "reverted"),
        (["locked"], "reverted"),
        # A later batch that a stopped rollout never started serves what it served.
        (["reverted", "untouched"], "reverted"),
        (["reverted", "failed"], "failed"),
        (["deployed", "unreachable"], "failed"),
    ],
)
def test_the_run_s_outcome_says_whether_every_host_serves_what_it_served_before(outcomes, expected) -> None:
    assert run_outcome(outcomes) == expected


def test_the_controller_s_own_deployctl_variables_never_reach_a_command() -> None:
    env = environment(
        {"DEPLOYCTL_APP": "shop", "DEPLOYCTL_PREVIOUS": None},
        {"PATH": "/usr/bin", "DEPLOYCTL_VAULT_PASSWORD": "s3cret", "DEPLOYCTL_VAULT_PASSWORD_PROD": "s3cret"},
    )
    assert env == {"PATH": "/usr/bin", "DEPLOYCTL_APP": "shop", "DEPLOYCTL_PREVIOUS": ""}


def test_a_fact_without_the_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="must start with DEPLOYCTL_: PATH"):
        environment({"PATH": "/tmp/evil"}, {})


def test_commands_run_in_order_without_a_shell_in_their_directory(tmp_path: Path) -> None:
    env = environment({"DEPLOYCTL_REF": "$(touch pwned)"}, {"PATH": "/usr/bin:/bin"})
    ran = run_commands(
        [["sh", "-c", 'echo "$DEPLOYCTL_REF" > first; pwd'], ["cat", "first"], ["echo", "$DEPLOYCTL_REF;", "id"]],
        env,
        str(tmp_path),
        timeout=10,
    )
    assert [(r.rc, r.output, r.error) for r in ran] == [
        (0, str(tmp_path), ""),
        (0, "$(touch pwned)", ""),
        (0, "$DEPLOYCTL_REF; id", ""),
    ]
    assert not (tmp_path / "pwned").exists()


def test_the_first_failure_stops_the_list_and_says_what_it_printed(tmp_path: Path) -> None:
    ran = run_commands(
        [["sh", "-c", "echo CI is red >&2; exit 3"], ["touch", "never"]], {"PATH": "/usr/bin:/bin"}, str(tmp_path), 10
    )
    assert len(ran) == 1 and (ran[0].rc, ran[0].error) == (3, "exited 3")
    assert failure_message("deploy_local_before", ran[0]) == (
        "deploy_local_before command `sh -c echo CI is red >&2; exit 3` exited 3; its last lines:\nCI is red"
    )
    assert not (tmp_path / "never").exists()


def test_a_missing_program_and_a_slow_one_fail_with_their_reason(tmp_path: Path) -> None:
    missing = run_commands([["./no-such-hook"]], {"PATH": "/usr/bin:/bin"}, str(tmp_path), 10)[0]
    assert missing.rc is None and missing.error.startswith("could not be started: No such file or directory")
    slow = run_commands([["sh", "-c", "echo started; sleep 5"]], {"PATH": "/usr/bin:/bin"}, str(tmp_path), 0.5)[0]
    assert slow.rc is None and slow.error == "did not finish within 0.5 s and was killed"
    assert slow.seconds < 4


def test_commands_that_cannot_run_are_named_before_the_deploy(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "notify").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "notify").chmod(0o755)
    (tmp_path / "bin" / "plain").write_text("not executable")
    commands = [["bin/notify", "--ref", "v2"], "sh", ["bin/notfy"], ["bin/plain"], ["no-such-tool-here"], 42, ["bin"]]
    problems = command_problems("deploy_local_after", commands, str(tmp_path), "/usr/bin:/bin")
    assert problems == [
        f"deploy_local_after: no program 'bin/notfy' to run (relative to the inventory's directory {tmp_path}; "
        "it must exist and be executable)",
        f"deploy_local_after: no program 'bin/plain' to run (relative to the inventory's directory {tmp_path}; "
        "it must exist and be executable)",
        "deploy_local_after: no program 'no-such-tool-here' to run (on the controller's PATH; "
        "it must exist and be executable)",
        "deploy_local_after: a command is a list of words (argv) or a program's path, not 42 "
        "(e.g. [[bin/notify, --channel, ops]] or [bin/check-ci])",
        "deploy_local_after: no program 'bin' to run (on the controller's PATH; it must exist and be executable)",
    ]


@pytest.mark.parametrize("value", ["bin/notify", {"cmd": "bin/notify"}, 7])
def test_a_hook_variable_that_is_not_a_list_is_refused_whole(value, tmp_path: Path) -> None:
    assert command_problems("deploy_local_before", value, str(tmp_path)) == [
        "deploy_local_before must be a list of commands, each a list of words (argv) or a program's path, "
        "e.g. [[bin/notify, --channel, ops]] or [bin/check-ci]"
    ]


def test_no_commands_is_no_problem(tmp_path: Path) -> None:
    assert command_problems("deploy_local_before", [], str(tmp_path)) == []
