# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a release's commands (build, the app's tests, migrations) as the app user, and build a release.

release_command runs one stage per call; release state=staged runs the build, the tests and the publish
in its own call when it is given `build` (one round trip fewer per host: nothing comes between them), and the
dump and the migrations after them when it is given `migrate` (a one-host batch: no other host to wait for).
A command's whole output goes to DEPLOY_TO/.deployctl/logs/ID-STAGE.log (mode 0600); a failure is a
DeployError whose message carries the command's last lines, with the log, chdir, rc and tail as details.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import time
from collections.abc import Mapping
from typing import Any

from ansible_collections.deployctl.core.plugins.module_utils._db_dump import DUMP_OPTIONS, take_stage
from ansible_collections.deployctl.core.plugins.module_utils._environment_file import read as read_environment
from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._lifecycle import publish
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore
from ansible_collections.deployctl.core.plugins.module_utils._runas import UnknownUser, run_as

# Known causes a command's last lines point to without naming (a `rails new` app's
# database.yml connects over the local socket; its production section has no host).
HINTS = {
    "/.s.PGSQL.": (
        "The app connects to PostgreSQL over a local socket: its config/database.yml gives no host for production. "
        'Give the app DATABASE_URL (deploy_secret_environment: {DATABASE_URL: "{{ vault_database_url }}"}), '
        "or a host, port, user and password in config/database.yml."
    ),
}

# The options of release state=staged's `build` (release_command's of the same names).
BUILD_OPTIONS: dict[str, dict[str, Any]] = {
    "argv": {"type": "list", "elements": "str", "required": True},
    "user": {"type": "str", "required": True},
    "env": {"type": "dict", "default": {}},
    "timeout": {"type": "int", "default": 1800},
    "tail_lines": {"type": "int", "default": 25},
    "test_argv": {"type": "list", "elements": "str", "default": []},
}
# The options of release state=staged's `migrate` (release_command's of the same names, with stage migrate).
MIGRATE_OPTIONS: dict[str, dict[str, Any]] = {
    **{name: spec for name, spec in BUILD_OPTIONS.items() if name != "test_argv"},
    "backup": {"type": "dict", "options": DUMP_OPTIONS},
}


def hint(tail: list[str]) -> str:
    """What to do about a failure whose output shows a known cause, as a paragraph to append; '' when none."""
    text = "\n".join(tail)
    return "".join(f"\n{advice}" for marker, advice in HINTS.items() if marker in text)


@dataclasses.dataclass(frozen=True)
class Command:
    """How a release's commands run: as `user`, with `env` added to a clean environment, killed after
    `timeout` seconds, the last `tail_lines` lines of output returned."""

    user: str
    env: dict[str, str]
    timeout: int
    tail_lines: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Command:
        return cls(
            params["user"],
            {str(k): str(v) for k, v in params["env"].items()},
            params["timeout"],
            params["tail_lines"],
        )


def run_stage(
    layout: Layout,
    release_id: str,
    stage: str,
    argv: list[str],
    chdir: str,
    command: Command,
    failed_stage: str | None = None,
) -> dict:
    """Run `argv` in `chdir` as the command's user, its output in the stage's log; its result (rc, seconds
    in s, log, tail, chdir) on success.

    Raises DeployError when it cannot be started (rc 127 or 126, as a shell's), exits non-zero or is killed
    at the timeout: its message names the command and carries the last lines; its details are the result,
    and `stage: failed_stage` when given.
    """
    log = layout.log(release_id, stage)
    shown = shlex.join(argv)
    where: dict[str, Any] = {"log": log, "chdir": chdir, **({"stage": failed_stage} if failed_stage else {})}
    try:
        outcome = run_as(
            argv,
            command.user,
            chdir,
            log,
            command.env,
            command.timeout,
            command.tail_lines,
            pidfile=layout.pidfile(stage) if os.path.isdir(layout.running) else None,
        )
    except UnknownUser as err:
        raise DeployError(f"{stage}: {err}", **where) from err
    except OSError as err:
        # A shell's statuses: 127 when there is no such command, 126 when it cannot be run.
        rc = 127 if isinstance(err, FileNotFoundError) else 126
        raise DeployError(f"{stage}: cannot run `{shown}` in {chdir}: {err}", rc=rc, **where) from err
    result: dict[str, Any] = {"rc": outcome.rc, "seconds": outcome.seconds, "log": log, "tail": outcome.tail}
    result["chdir"] = chdir
    if outcome.rc != 0 or outcome.timed_out:
        why = (
            f"was killed at its timeout of {command.timeout}s"
            if outcome.timed_out
            else f"exited {outcome.rc} after {outcome.seconds}s"
        )
        raise DeployError(
            f"{stage}: `{shown}` {why} in {chdir} (whole output: {log}). Last lines:\n"
            + "\n".join(outcome.tail)
            + hint(outcome.tail),
            **{**result, **where},
        )
    return result


def with_secret_environment(command: Command, chdir: str, stage: str, release_id: str) -> Command:
    """The command with the release's secret environment (read on the host from `chdir`) added to its env.

    Raises DeployError when that file cannot be read.
    """
    try:
        secrets = read_environment(chdir)
    except (OSError, ValueError) as err:
        raise DeployError(f"{stage}: cannot read the secret environment of release {release_id}: {err}") from err
    return dataclasses.replace(command, env={**command.env, **secrets})


def build(
    layout: Layout,
    store: ReleaseStore,
    release_id: str,
    argv: list[str],
    command: Command,
    *,
    stage: str = "build",
    chdir: str | None = None,
    test_argv: list[str] | None = None,
    failed_stage: str | None = None,
) -> dict:
    """Build the release `release_id` (argv, as `stage`, in `chdir`: by default its staging directory), run
    the app's tests (test_argv, stage test, when not empty), then publish it as releases/ID; return the
    build's result, with `test` and `path`.

    failed_stage: the stage a failure of argv or of the publish names (release state=staged's call says
    "build"; release_command's build task is named for it). Raises DeployError: a command that failed (a
    test's with stage test), or a publish that failed (nothing is published after a failed command).
    """
    chdir = chdir or layout.staging(release_id)
    result = run_stage(layout, release_id, stage, argv, chdir, command, failed_stage)
    if test_argv:
        result["test"] = run_stage(layout, release_id, "test", test_argv, chdir, command, failed_stage="test")
    try:
        result["path"] = publish(layout, store, release_id, check=False)["path"]
    except (DeployError, OSError) as err:
        raise DeployError(
            f"{stage}: `{shlex.join(argv)}` succeeded but the release was not published: {err}",
            **{**result, **({"stage": failed_stage} if failed_stage else {})},
        ) from err
    return result


def staged_build(layout: Layout, store: ReleaseStore, release_id: str, options: Mapping[str, Any]) -> dict:
    """The build of release state=staged's `build` option (BUILD_OPTIONS) in the staging directory, with the
    release's secret environment, its failures at stage build (or test); build()'s result with `elapsed`,
    the seconds the build, the tests and the publish took together."""
    started = time.monotonic()
    chdir = layout.staging(release_id)
    command = with_secret_environment(Command.from_params(options), chdir, "build", release_id)
    result = build(
        layout, store, release_id, options["argv"], command, test_argv=options["test_argv"], failed_stage="build"
    )
    return {**result, "elapsed": round(time.monotonic() - started, 2)}


def staged_migrate(
    layout: Layout, release_id: str, options: Mapping[str, Any], host_label: str, schema_version: str | None
) -> dict:
    """The migrations of release state=staged's `migrate` option (MIGRATE_OPTIONS) in the published release, with
    its secret environment, the dump first when `backup` is given (take_stage(); `schema_version`, the schema the
    dump holds, unless the backup gives one), as release_command's stage migrate runs them: run_stage()'s result
    with `backup`, `changed` and `elapsed` (seconds, the dump's included).

    Raises DeployError at stage backup or migrate, whose details carry `migrate`: what was done before the failure
    (`backup`), `failed`, `msg` and `elapsed`.
    """
    started = time.monotonic()
    chdir = layout.release(release_id)
    done: dict[str, Any] = {}
    try:
        command = with_secret_environment(Command.from_params(options), chdir, "migrate", release_id)
        if options["backup"]:
            backup = {**options["backup"], "schema_version": options["backup"]["schema_version"] or schema_version}
            done["backup"] = take_stage(layout, release_id, backup, host_label)
        result = run_stage(layout, release_id, "migrate", options["argv"], chdir, command)
    except DeployError as err:
        elapsed = round(time.monotonic() - started, 2)
        if err.details.setdefault("stage", "migrate") == "backup":
            # The dump failed: its seconds are the step's (no record was written).
            done["backup"] = {"failed": True, "elapsed": elapsed}
        err.details["migrate"] = {**done, "failed": True, "msg": err.msg, "elapsed": elapsed}
        raise
    return {**result, **done, "changed": True, "elapsed": round(time.monotonic() - started, 2)}
