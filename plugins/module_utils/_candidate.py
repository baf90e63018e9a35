# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The candidate check: the new release started beside the live one and checked before the switch.

A release that boots but answers 500, or crashes at boot, is caught here, so it never takes
traffic. The candidate runs as a transient unit (`systemd-run`) with the settings of the
service unit recorded with the release (User, Group, Environment, EnvironmentFile, ExecStart),
from the release's own directory instead of `current`, with the environment overrides of
Candidate (PORT: a side port), and is always stopped afterwards. It cannot outlive a killed
deploy by much either: its RuntimeMaxSec ends it, and the next check stops a stale one first.

A head start (head_start()): the call that builds the release starts its candidate at once, unchecked, so that it
boots while the migrations run; the switch's check takes over the candidate it finds running for its release
(its unit's Description names the release) and starts its own only when that one does not answer healthy.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass, replace

from ansible_collections.deployctl.core.plugins.module_utils._commands import call_tool, run_tool
from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError
from ansible_collections.deployctl.core.plugins.module_utils._files import read_text
from ansible_collections.deployctl.core.plugins.module_utils._http import HealthCheck
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore
from ansible_collections.deployctl.core.plugins.module_utils._systemctl import journal_tail

# The settings of the recorded [Service] section the candidate runs with; the others
# (Restart=, the socket it requires...) belong to the live service.
CARRIED = ("User", "Group", "Environment", "EnvironmentFile", "WorkingDirectory", "ExecStart")
# Seconds each systemctl / systemd-run call may take.
TOOL_TIMEOUT = 60
# A crash's journal: enough lines to reach the error above its backtrace; the message shows the
# last SHOWN lines that are not backtrace frames (Ruby's "from FILE:LINE", Python's "File ...").
JOURNAL_LINES = 80
SHOWN = 10
# Seconds a head-started candidate may run beyond a check's own bound (deadline + 60): the migrations between the
# build and the switch. A check that finds it ended starts a candidate of its own.
HEAD_START_SECONDS = 600
FRAME = re.compile(r"\]:\s+(from \S+:\d+|File \")")


@dataclass(frozen=True)
class Candidate:
    """How to check a release before the switch.

    unit: the transient unit's name (e.g. shop-candidate). health_url: where the candidate
    answers (the side port). environment: variables set over the recorded unit's (PORT).
    deadline: seconds it has to answer as healthy (the other criteria are the deploy's health
    check's, fail_after included).
    """

    unit: str
    health_url: str
    environment: dict[str, str]
    deadline: float = 60


def service_settings(unit_text: str) -> list[tuple[str, str]]:
    """The CARRIED assignments of the unit's [Service] section, in order, as (key, value)."""
    settings, section = [], ""
    for raw in unit_text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Service" and "=" in line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            if key.strip() in CARRIED:
                settings.append((key.strip(), value.strip()))
    return settings


def description(release_id: str) -> str:
    """The Description= of the candidate unit of release_id: how a check knows the one a head start left running."""
    return f"deployctl candidate of release {release_id}"


def run_argv(
    candidate: Candidate, settings: list[tuple[str, str]], current: str, release: str, max_seconds: float
) -> list[str]:
    """The `systemd-run` command line that starts the candidate of the release directory `release`.

    Paths under `current` (WorkingDirectory, EnvironmentFile) point at `release` instead.
    Raises DeployError when the settings have no ExecStart.
    """
    argv = [
        "systemd-run",
        "--quiet",
        "--collect",
        f"--unit={candidate.unit}",
        f"--description={description(release.rstrip('/').rsplit('/', 1)[-1])}",
        f"--property=RuntimeMaxSec={int(max_seconds)}",
    ]
    command = ""
    for key, value in settings:
        if key == "ExecStart":
            command = value.lstrip("-@:+!")
            continue
        if value.lstrip("-") == current or value.lstrip("-").startswith(current + "/"):
            value = value.replace(current, release, 1)
        argv.append(f"--property={key}={value}")
    for name, value in sorted(candidate.environment.items()):
        # Later Environment= assignments win: these override the recorded ones.
        escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
        argv.append(f'--property=Environment="{name}={escaped}"')
    if not command:
        raise DeployError("the candidate check needs the ExecStart= of the release's service unit; it has none")
    return [*argv, "--", *shlex.split(command)]


def stop(unit: str) -> None:
    """Stop the candidate unit when it runs (a stale one from a killed run included); never raises for that."""
    try:
        run_tool(["systemctl", "stop", unit], TOOL_TIMEOUT, f"stop {unit}")
        run_tool(["systemctl", "reset-failed", unit], TOOL_TIMEOUT, f"reset {unit}")
    except DeployError:
        pass


def stop_leftover(unit: str) -> bool:
    """Stop the candidate unit when it runs: one an interrupted run left (nothing else runs one while a deploy holds
    the lock). True when it ran; never raises (what systemctl cannot tell leaves it as it is)."""
    try:
        state = run_tool(["systemctl", "is-active", unit], TOOL_TIMEOUT, f"check {unit}").stdout.strip()
    except DeployError:
        return False
    if state not in ("active", "activating"):
        return False
    stop(unit)
    return True


def exited(unit: str) -> str:
    """Why the candidate stopped answering for good ('' while it runs or boots)."""
    state = run_tool(["systemctl", "is-active", unit], TOOL_TIMEOUT, f"check {unit}").stdout.strip()
    return (
        ""
        if state in ("active", "activating", "reloading")
        else f"the candidate process exited ({unit} is {state or 'gone'})"
    )


def _start(layout: Layout, release_id: str, candidate: Candidate, unit_text: str, max_seconds: float) -> float:
    """Start release_id as the candidate (a unit of that name that runs is stopped first); return when, in epoch
    seconds. Raises DeployError when it cannot be started."""
    argv = run_argv(candidate, service_settings(unit_text), layout.current, layout.release(release_id), max_seconds)
    stop(candidate.unit)
    started = time.time()
    call_tool(argv, TOOL_TIMEOUT, f"start release {release_id} as {candidate.unit}")
    return started


def head_start(layout: Layout, store: ReleaseStore, release_id: str, candidate: Candidate) -> dict:
    """Start the candidate of a release just built, without checking it: it boots while the migrations run, and
    the switch's check (check_candidate) takes it over. Its unit and start (epoch seconds) are kept in the
    release's record (`candidate`), so that marking the release failed stops it (stop_head_start).

    Returns {started: true, unit} or {started: false, reason}. Never raises: without a head start the check
    starts the candidate itself, as it would anyway.
    """
    unit_text = read_text(layout.unit(release_id))
    if unit_text is None:
        return {"started": False, "reason": "no service unit is recorded with the release"}
    try:
        started = _start(layout, release_id, candidate, unit_text, candidate.deadline + 60 + HEAD_START_SECONDS)
        store.update(release_id, candidate={"unit": candidate.unit, "started_at": round(started, 3)})
    except (DeployError, OSError, ValueError) as err:
        stop(candidate.unit)
        return {"started": False, "reason": err.msg if isinstance(err, DeployError) else str(err)}
    return {"started": True, "unit": candidate.unit}


def head_started(store: ReleaseStore, release_id: str, unit: str) -> float | None:
    """When (epoch seconds) a head start started release_id's candidate as `unit`, if that unit runs it still
    (its Description names the release); else None. Raises DeployError when systemctl cannot be run."""
    started = ((store.get(release_id) or {}).get("candidate")) or {}
    if started.get("unit") != unit:
        return None
    shown = run_tool(
        ["systemctl", "show", "--property=Description", "--property=ActiveState", unit], TOOL_TIMEOUT, f"check {unit}"
    ).stdout.splitlines()
    properties = dict(line.split("=", 1) for line in shown if "=" in line)
    if properties.get("Description") != description(release_id):
        return None
    if properties.get("ActiveState") not in ("active", "activating"):
        return None
    return float(started.get("started_at") or time.time())


def stop_head_start(store: ReleaseStore, release_id: str) -> None:
    """Stop the candidate a head start left running for release_id (its deploy stopped before the switch's check);
    never raises."""
    unit = (((store.get(release_id) or {}).get("candidate")) or {}).get("unit")
    try:
        if unit and head_started(store, release_id, unit) is not None:
            stop(unit)
    except DeployError:
        pass


def check_candidate(
    layout: Layout, store: ReleaseStore, release_id: str, candidate: Candidate, health: HealthCheck
) -> dict:
    """Check the release as `candidate` (the one a head start left running, else one started now), stop it;
    return the check's result.

    The result is HealthCheck.run()'s with `url` and, when the candidate exited, `journal`
    (its last lines). `skipped` says why no check ran (no service unit recorded with the
    release: how to start it is unknown). A head-started candidate is judged by its first answer: healthy, it is
    the result (`head_start` {used: true}); any other answer, or its exit, and a candidate started now is checked
    instead (`head_start` {used: false, reason}: it booted before the migrations, which may be why). One that
    does not answer at all within the deadline fails the check, as a new one would. Raises DeployError with stage
    "candidate" when it is not healthy (the message says what it answered, or the last lines of its journal),
    or when it cannot be started; the candidate is stopped in every case.
    """
    unit_text = read_text(layout.unit(release_id))
    if unit_text is None:
        return {"skipped": "no service unit is recorded with the release"}
    check = replace(health, url=candidate.health_url, deadline=candidate.deadline)
    used: dict = {}
    try:
        started = head_started(store, release_id, candidate.unit)
        if started is not None:
            result = check.run(gone=lambda: exited(candidate.unit), until_answered=True)
            if result["healthy"] or (result["status"] is None and not exited(candidate.unit)):
                used = {"used": True}
            else:
                used, started = {"used": False, "reason": check.failure(result)}, None
        if started is None:
            started = _start(layout, release_id, candidate, unit_text, candidate.deadline + 60)
            result = check.run(gone=lambda: exited(candidate.unit))
        result["url"] = candidate.health_url
        if used:
            result["head_start"] = used
    except DeployError as err:
        raise DeployError(f"candidate: {err.msg}", stage="candidate", switched=False, changed=False) from err
    finally:
        stop(candidate.unit)
    if result["healthy"]:
        return result
    message = (
        f"candidate: release {release_id}, started beside the live one as {candidate.unit}, "
        f"failed: {check.failure(result)}; it was not switched to"
    )
    if result["status"] is None:
        journal = journal_tail(candidate.unit, TOOL_TIMEOUT, since=started, count=JOURNAL_LINES)
        result["journal"] = [line for line in journal if not FRAME.search(line)][-SHOWN:]
        message += f"\nLast lines of `journalctl -u {candidate.unit}` (backtraces left out):\n" + "\n".join(
            result["journal"]
        )
    raise DeployError(message, stage="candidate", switched=False, changed=False, candidate=result)
