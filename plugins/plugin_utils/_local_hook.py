# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side hook commands (deploy_local_before / deploy_local_after): each an argv list run
without a shell, one after the other, with the run's facts as DEPLOYCTL_* environment variables.

Controller-side only (the deploy_local_hook action). No shell: a command's words reach the program
as they are written, and the run's facts reach it only through its environment, so no value (a ref
named `$(rm -rf ~)`) is ever parsed by a shell. A user who wants one writes `[sh, -c, "..."]`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Every variable a hook command gets from deployctl starts with this; the controller's own
# (DEPLOYCTL_VAULT_PASSWORD_<ENV>, read by the deployctl CLI) are never passed on.
PREFIX = "DEPLOYCTL_"
# Host outcomes after which a host serves what it served before the run (nothing live changed, or
# it was switched back and answers).
AS_BEFORE = {"reverted", "aborted", "locked", "invalid", "untouched"}
SUCCEEDED = {"deployed", "unchanged", "would_deploy"}
OUTPUT_LINES = 20


@dataclass(frozen=True)
class Ran:
    """One command that ran: its argv, exit status (None: it could not start or timed out),
    seconds, the last lines of its output (stdout and stderr together) and why it failed ("" when it did not)."""

    argv: list[str]
    rc: int | None
    seconds: float
    output: str
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"argv": self.argv, "rc": self.rc, "seconds": self.seconds, "output": self.output}


def argv_of(command: Any) -> list[str]:
    """A command as its argv: a list of words, or one string that names a program (no arguments).

    Raises ValueError for anything else (an empty list, a mapping) with the reason."""
    if isinstance(command, str) and command.strip():
        return [command]
    if isinstance(command, list | tuple) and command and all(isinstance(word, str | int | float) for word in command):
        return [str(word) for word in command]
    raise ValueError(f"a command is a list of words (argv) or a program's path, not {command!r}")


def command_problems(name: str, commands: Any, cwd: str, path: str | None = None) -> list[str]:
    """What is wrong with one hook variable's commands, found before any host is touched: a value that is
    not a list of commands, a command that is neither an argv list nor a program's path, a program that is
    not there (a path relative to cwd, the inventory's directory; a bare name looked up in path, the
    controller's PATH). An empty list is no problem: the hook is off."""
    example = "e.g. [[bin/notify, --channel, ops]] or [bin/check-ci]"
    if isinstance(commands, str | bytes) or not isinstance(commands, list | tuple):
        return [f"{name} must be a list of commands, each a list of words (argv) or a program's path, {example}"]
    problems = []
    for command in commands:
        try:
            program = argv_of(command)[0]
        except ValueError as err:
            problems.append(f"{name}: {err} ({example})")
            continue
        relative = os.sep in program
        where = os.path.join(cwd, program) if relative else shutil.which(program, path=path)
        if not where or not os.access(where, os.X_OK) or os.path.isdir(where):
            found_in = f"relative to the inventory's directory {cwd}" if relative else "on the controller's PATH"
            problems.append(f"{name}: no program {program!r} to run ({found_in}; it must exist and be executable)")
    return problems


def run_outcome(outcomes: Iterable[str]) -> str:
    """The run's outcome for DEPLOYCTL_OUTCOME: `succeeded` when every host succeeded, `reverted`
    when every host serves what it served before the run, else `failed` (a host failed and was not
    reverted, or was lost; or the run stopped part-way: some hosts run the new release, others the one
    they ran). An unchanged host (its commit was live already) serves as before either way."""
    found = set(outcomes)
    if found <= SUCCEEDED:
        return "succeeded"
    if found <= AS_BEFORE | {"unchanged"}:
        return "reverted"
    return "failed"


def environment(facts: Mapping[str, Any], base: Mapping[str, str]) -> dict[str, str]:
    """The commands' environment: the controller's (less any DEPLOYCTL_* of its own, a vault password
    among them) with the run's facts. Raises ValueError for a fact whose name lacks the prefix."""
    wrong = sorted(name for name in facts if not name.startswith(PREFIX))
    if wrong:
        raise ValueError(f"hook environment variables must start with {PREFIX}: {', '.join(wrong)}")
    env = {name: value for name, value in base.items() if not name.startswith(PREFIX)}
    env.update({name: "" if value is None else str(value) for name, value in facts.items()})
    return env


def run_commands(commands: list[list[str]], env: Mapping[str, str], cwd: str, timeout: float) -> list[Ran]:
    """Run each argv in cwd with env, in order, up to the first that fails (it is the last of the list).

    timeout: seconds each command may take before it is killed and counts as failed."""
    done: list[Ran] = []
    for argv in commands:
        ran = _run(argv, env, cwd, timeout)
        done.append(ran)
        if ran.error:
            break
    return done


def _run(argv: list[str], env: Mapping[str, str], cwd: str, timeout: float) -> Ran:
    started = time.monotonic()
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        output = _tail(err.stdout if isinstance(err.stdout, str) else (err.stdout or b"").decode(errors="replace"))
        return Ran(argv, None, _since(started), output, f"did not finish within {timeout:g} s and was killed")
    except OSError as err:
        return Ran(argv, None, _since(started), "", f"could not be started: {err.strerror or err} (in {cwd})")
    output = _tail(proc.stdout)
    return Ran(argv, proc.returncode, _since(started), output, f"exited {proc.returncode}" if proc.returncode else "")


def failure_message(name: str, ran: Ran) -> str:
    """What the user reads when a command failed: which variable, which command, why, its last lines."""
    shown = " ".join(ran.argv)
    return f"{name} command `{shown}` {ran.error}" + (f"; its last lines:\n{ran.output}" if ran.output else "")


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-OUTPUT_LINES:])


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)
