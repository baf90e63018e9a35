"""What a run did, per host, from ansible-runner's events, and the exit code that says it.

Pure code: events in, results out. `Run.feed` folds the events of one ansible-playbook run
into one `HostRun` per host (the stage it is in, seconds per stage, failures) and keeps the
results the playbook published (set_stats); `results` reads each host's result from those,
and `exit_code` ranks the hosts' outcomes into the documented exit code.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """The documented exit codes of deployctl (see docs/cli.md)."""

    OK = 0
    # The deploy (or rollback) failed, and what was serving before serves again:
    # it was never touched (aborted) or it was put back and answers (reverted).
    REVERTED = 1
    # Failed and NOT reverted: a host may serve a broken release, or its state is unknown.
    FAILED = 2
    # Another deploy holds the lock on a host.
    LOCKED = 3
    # A host could not be reached (as ansible-playbook's own exit code 4).
    UNREACHABLE = 4
    # Bad input: unknown environment, missing ref, vault failure, variables rejected by the
    # argument specs or the preflight checks. Nothing was changed on any host.
    BAD_INPUT = 5
    # Ctrl-C or SIGTERM: the run was cancelled; look at `deployctl status`.
    INTERRUPTED = 130


# What each exit code means, in one place: `deployctl --help` and the closing line of every
# run are written from it (docs/cli.md and README.md carry the same table; a test keeps them in step).
EXIT_MEANING = {
    ExitCode.OK: "success",
    ExitCode.REVERTED: "failed, and what was serving before serves again (reverted, or stopped before the switch)",
    ExitCode.FAILED: "failed and NOT reverted: a host may serve a broken release, or its state is unknown",
    ExitCode.LOCKED: "the deploy lock is held on a host (by another deploy, or taken by hand)",
    ExitCode.UNREACHABLE: "a host could not be reached",
    ExitCode.BAD_INPUT: "bad input (unknown environment or ref, vault password, rejected variables): nothing changed",
    ExitCode.INTERRUPTED: "interrupted; check `deployctl status`",
}

OUTCOME_EXIT = {
    "deployed": ExitCode.OK,
    "unchanged": ExitCode.OK,
    "rolled_back": ExitCode.OK,
    "restored": ExitCode.OK,
    "held": ExitCode.OK,
    "ran": ExitCode.OK,
    "would_deploy": ExitCode.OK,
    "unlocked": ExitCode.OK,
    "ok": ExitCode.OK,
    # In the play, never reached: its batch was not started (an earlier one failed). Changes no exit code.
    "untouched": ExitCode.OK,
    "reverted": ExitCode.REVERTED,
    "aborted": ExitCode.REVERTED,
    "failed": ExitCode.FAILED,
    # status: the read succeeded and the app does not answer as it should (a host serves nothing, or a broken app).
    "unhealthy": ExitCode.FAILED,
    "locked": ExitCode.LOCKED,
    "unreachable": ExitCode.UNREACHABLE,
    "invalid": ExitCode.BAD_INPUT,
    "interrupted": ExitCode.INTERRUPTED,
}

# With several hosts, the most urgent outcome decides: a host left broken first, then one
# whose state is unknown, another deploy in the way, input to fix, a clean revert.
SEVERITY = [
    ExitCode.INTERRUPTED,
    ExitCode.FAILED,
    ExitCode.UNREACHABLE,
    ExitCode.LOCKED,
    ExitCode.BAD_INPUT,
    ExitCode.REVERTED,
    ExitCode.OK,
]

# Task names read "Stage: what it does"; the stage is the word before the colon.
STAGE_PREFIX = re.compile(r"^\s*([A-Za-z][\w-]*(?: and [\w-]+)?)\s*:\s")
# Tasks that fail before any host is touched when the input is wrong.
VALIDATION_ACTIONS = {"validate_argument_spec", "ansible.builtin.validate_argument_spec"}
CONTROLLER = "localhost"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# ansible-playbook's own error lines ("[ERROR]: ..." in ansible-core 2.19, "ERROR! ..." before): a printed line
# that only contains the word (the summary quoting a message, an app's log line) is none.
ERROR_LINE = re.compile(r"^\s*(\[ERROR\]|ERROR!)", re.M)


def exit_code(outcomes: Iterable[str]) -> ExitCode:
    """The exit code of a run whose hosts ended with these outcomes (unknown ones count as failed)."""
    codes = {OUTCOME_EXIT.get(outcome, ExitCode.FAILED) for outcome in outcomes}
    if not codes:
        return ExitCode.BAD_INPUT
    return next(code for code in SEVERITY if code in codes)


def outcome_of(result: Mapping[str, Any]) -> str:
    """A host's outcome as the exit code counts it: a deploy aborted on input the user can fix
    (an unknown ref, a low disk: the role's report says `bad_input`) is bad input."""
    outcome = str(result.get("outcome", ""))
    if outcome == "aborted" and str(result.get("bad_input", "")).lower() == "true":
        return "invalid"
    return outcome


# Prefixes that name no stage of their own: the hook include points ("Hooks: after the lock") are the hooks'.
# The fetch's call builds too ("Fetch and build: ..."): "fetch+build" while it runs, its seconds split by its result.
STAGE_ALIASES = {"hooks": "hook", "fetch and build": "fetch+build"}


def stage_of(task_name: str | None) -> str | None:
    """The stage a task belongs to: "Build: run the build" -> "build"; None for unprefixed names."""
    match = STAGE_PREFIX.match(task_name or "")
    stage = match.group(1).lower() if match else None
    return STAGE_ALIASES.get(stage, stage) if stage else None


@dataclass
class TaskResult:
    stage: str | None
    task: str
    action: str
    status: str  # ok, failed, skipped, unreachable
    res: dict[str, Any]
    ignored: bool = False

    @property
    def message(self) -> str:
        """The failure's message; for a loop, those of the items that failed."""
        items = [item for item in self.res.get("results") or [] if isinstance(item, dict) and item.get("failed")]
        if items:
            return "\n".join(str(item.get("msg") or "").strip() for item in items)
        return str(self.res.get("msg") or "").strip()


@dataclass
class HostRun:
    """One host's part of a run, as its events tell it."""

    name: str
    stage: str | None = None
    task: str = ""  # the task it runs (or ran last)
    running: bool = False  # False between a task's end and the next one's start: waiting for other hosts
    started: float | None = None
    stage_started: float | None = None
    finished: float | None = None
    # Seconds per stage, for the tasks that ran (skipped tasks do not make a stage).
    stages: dict[str, float] = field(default_factory=dict)
    results: list[TaskResult] = field(default_factory=list)
    # The failure handling found the host switched to the new release: it is a revert (revert.yml's note).
    switched: bool = False
    # The stage (and its start) the running task's start left, put back when the task is skipped.
    entered: tuple[str | None, float | None] | None = None

    @property
    def failures(self) -> list[TaskResult]:
        return [r for r in self.results if r.status == "failed" and not r.ignored]

    @property
    def unreachable(self) -> TaskResult | None:
        return next((r for r in self.results if r.status == "unreachable"), None)

    @property
    def duration(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    def failure_message(self) -> str:
        """The last failure of this host's own; a deploy_local_after command's failure is the run's (the
        first host only ran it: run_problems says it), and would hide why this host's deploy failed."""
        own = [failure for failure in self.failures if failure.stage != "local"]
        problem = self.unreachable or (own[-1] if own else None)
        return problem.message if problem else ""

    def failed_on_input(self) -> bool:
        """Whether the first failure is the input being rejected (argument specs, preflight)."""
        first = self.failures[0] if self.failures else None
        return first is not None and (first.stage == "preflight" or first.action in VALIDATION_ACTIONS)


@dataclass
class Run:
    """Folds the events of one ansible-playbook run; `feed` takes each event as it comes."""

    hosts: dict[str, HostRun] = field(default_factory=dict)
    # set_stats data (the deploy role's per-host outcomes), from the playbook_on_stats event.
    stats: dict[str, Any] = field(default_factory=dict)
    # What ansible-playbook printed as errors outside any task (bad YAML, vault, no hosts).
    errors: list[str] = field(default_factory=list)
    # Cancelled (Ctrl-C, SIGTERM): ansible-playbook was stopped wherever it was.
    interrupted: bool = False

    def host(self, name: str) -> HostRun:
        return self.hosts.setdefault(name, HostRun(name))

    @property
    def targets(self) -> dict[str, HostRun]:
        """The managed hosts (the controller's own play is not one of them)."""
        return {name: host for name, host in self.hosts.items() if name != CONTROLLER}

    def feed(self, event: Mapping[str, Any], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind in ("verbose", "error") and ERROR_LINE.search(ANSI.sub("", event.get("stdout") or "")):
            self.errors.append(ANSI.sub("", event["stdout"]).strip())
        elif kind == "playbook_on_stats":
            self.stats = data.get("artifact_data") or {}
        elif kind.startswith("runner_") and data.get("host"):
            self._task_event(kind, data, now)

    def _task_event(self, kind: str, data: Mapping[str, Any], now: float) -> None:
        host = self.host(data["host"])
        task = str(data.get("task") or "")
        stage = stage_of(task)
        if stage is None and host.stage == "hook":
            # A user's hook task (named as the user likes): its time is the hook's.
            stage = "hook"
        res: dict[str, Any] = data["res"] if isinstance(data.get("res"), dict) else {}
        facts = res.get("ansible_facts")
        noted = facts.get("__deploy_failure") if isinstance(facts, dict) else None
        # Switched: the switch's own call says so when it fails after the switch (and switched back itself),
        # before the failure's bookkeeping starts; revert.yml's note says so for a later failure.
        if isinstance(noted, dict) and str(noted.get("switched")).lower() == "true":
            host.switched = True
        if stage == "switch" and kind == "runner_on_failed" and res.get("switched") is True:
            host.switched = True
        # The failure's bookkeeping ("Failure: ...") is the revert's on a host that was switched (its switch's
        # call switched back, or restore.yml does); a host never switched has no revert and gets no revert time.
        if stage == "failure" and host.switched:
            stage = "revert"
        # Everything after the switch back starts belongs to it (it restarts and checks too); not the failure's
        # bookkeeping of a host never switched, nor the run's own last steps (the controller-side
        # deploy_local_after commands come after it in the play).
        if host.stage == "revert" and stage not in ("failure", "report", "unlock", "local"):
            stage = "revert"
        if kind == "runner_on_start":
            host.task, host.running = task, True
            if host.started is None:
                host.started = now
            host.entered = None
            if stage and stage != host.stage:
                # Undone when the task is skipped: a skipped task is no stage the host was in (a successful
                # deploy's skipped "Failure: ..." tasks must not leave its live line at "failure").
                host.entered = (host.stage, host.stage_started)
                host.stage, host.stage_started = stage, now
            return
        status = {
            "runner_on_ok": "ok",
            "runner_on_failed": "failed",
            "runner_on_skipped": "skipped",
            "runner_on_unreachable": "unreachable",
        }.get(kind)
        if status is None:
            return
        host.results.append(
            TaskResult(stage, task, str(data.get("task_action") or ""), status, res, bool(data.get("ignore_errors")))
        )
        host.finished, host.running = now, False
        if status == "skipped" and host.entered is not None:
            host.stage, host.stage_started = host.entered
        host.entered = None
        if stage and status != "skipped":
            seconds = float(data.get("duration") or 0.0)
            shares = per_host_items(res, host.name, self.targets, seconds)
            if shares:
                for name, share in shares:
                    item_host = self.host(name)
                    item_host.stages[stage] = item_host.stages.get(stage, 0.0) + share
                return
            for part, part_seconds in stage_parts(stage, res, seconds):
                timed_as = TIMED_AS.get(part, part)
                host.stages[timed_as] = host.stages.get(timed_as, 0.0) + part_seconds


# Stages timed with another: the stop after a failed deploy_local_before command ("Local_before: ...", the stage
# its report names) is the command's (stage "local"), one column.
TIMED_AS = {"local_before": "local"}


def per_host_items(res: Mapping[str, Any], own: str, hosts: Iterable[str], seconds: float) -> list[tuple[str, float]]:
    """How a loop over hosts of the run, delegated to each, splits its `seconds` between them: revert_all's switch
    back of the hosts this run switched, run in the turn of the host whose batch stopped the rollout (`own`), is
    each reverted host's revert, not that host's. Each item whose `item` names one of `hosts` and whose result has
    `elapsed` (seconds, the release module's) gets a share of `seconds` in proportion to it. [] when no item names
    another host, or the items did no timed work (a set_fact per host): the task's seconds are then `own`'s."""
    items = res.get("results")
    if not isinstance(items, list):
        return []
    known = set(hosts) | {own}
    timed = [
        (item["item"], float(item["elapsed"]))
        for item in items
        if isinstance(item, dict)
        and isinstance(item.get("item"), str)
        and item["item"] in known
        and isinstance(item.get("elapsed"), int | float)
    ]
    if not any(name != own for name, _ in timed):
        return []
    total = sum(elapsed for _, elapsed in timed)
    return [(name, seconds * elapsed / total if total else seconds / len(timed)) for name, elapsed in timed]


def _elapsed(part: object, seconds: float) -> float | None:
    """A part's `elapsed` seconds, at most the call's `seconds`; None when the result has none."""
    if isinstance(part, dict) and isinstance(part.get("elapsed"), int | float):
        return min(float(part["elapsed"]), seconds)
    return None


def stage_parts(stage: str, res: Mapping[str, Any], seconds: float) -> list[tuple[str, float]]:
    """How one task's seconds split between stages, by its result's parts (each its `elapsed` seconds): the
    migrate call takes the database dump first (`backup`), and a call that failed at stage backup
    (release_command's `stage`) spent them all on the dump; a switch call that failed after the switch switched
    back itself, its last `revert` seconds (the release module's result). The fetch's call (stage fetch+build) is
    its fetch, then, as far as it went, its `build` (also when the build failed), and - a commit it found live, or
    a one-host batch's release - its `migrate` (with its `backup`) and its `switch` (with its `revert`); the rest
    is the fetch's (a hook comes between the fetch and the build, it failed before)."""
    if stage == "fetch+build":
        parts = []
        if (build := _elapsed(res.get("build"), seconds)) is not None:
            parts.append(("build", build))
        migrate, switch = res.get("migrate"), res.get("switch")
        if isinstance(migrate, dict) and (whole := _elapsed(migrate, seconds)) is not None:
            parts += _split(whole, migrate.get("backup"), "backup", "migrate", inner_first=True)
        if isinstance(switch, dict) and (whole := _elapsed(switch, seconds)) is not None:
            parts += _split(whole, switch.get("revert"), "revert", "switch", inner_first=False)
        return [("fetch", max(seconds - sum(part for _, part in parts), 0.0)), *parts]
    if res.get("stage") == "backup":
        return [("backup", seconds)]
    if stage == "migrate":
        return _split(seconds, res.get("backup"), "backup", stage, inner_first=True)
    if stage == "switch":
        return _split(seconds, res.get("revert"), "revert", stage, inner_first=False)
    return [(stage, seconds)]


def _split(whole: float, inner: object, name: str, rest: str, inner_first: bool) -> list[tuple[str, float]]:
    """A call's `whole` seconds as its part `inner` (stage `name`, its `elapsed`) and the rest (stage `rest`), in
    the order the call did them; all `rest` when `inner` has no seconds."""
    part = _elapsed(inner, whole)
    if part is None:
        return [(rest, whole)]
    if part >= whole:
        # All of it (a dump that failed: no migration ran).
        return [(name, whole)]
    return [(name, part), (rest, whole - part)] if inner_first else [(rest, whole - part), (name, part)]


# -- results ---------------------------------------------------------------------------------
#
# Every playbook ends by publishing each host's result with set_stats, in one schema
# (docs/results.md): {"deployctl": {"ref", "release", "play_hosts", "hosts": {HOST: {"outcome", ...}}}}.
# That is the only place results are read from; the events add only what no report can
# say (a host unreachable, input rejected before the role ran, a run cut short) and timings.


def _lost(message: str) -> str:
    """Ansible's words for a host it lost. When ssh gave no reason, they end at a colon ("Make sure this host can
    be reached over ssh: "): said instead of left blank, with what that means."""
    if not message.endswith(":"):
        return message
    return f"{message} ssh gave no reason (the connection was lost mid-task: the host went down, or its sshd stopped)"


def _common(host: HostRun) -> dict[str, Any] | None:
    """The outcome of a host that did not get through, or None."""
    if host.unreachable:
        return {"outcome": "unreachable", "message": _lost(host.unreachable.message)}
    if host.failed_on_input():
        return {"outcome": "invalid", "stage": "preflight", "message": host.failure_message()}
    return None


def reports(run: Run) -> dict[str, dict[str, Any]]:
    """The per-host results the playbook published (set_stats), by host."""
    return (run.stats.get("deployctl") or {}).get("hosts") or {}


def notifications(run: Run) -> dict[str, dict[str, Any]]:
    """What each notification receiver (grafana, sentry, webhook) answered, as the deploy role
    published it: {"ok", "message", "status" or "rc"}; {} when none is on."""
    return (run.stats.get("deployctl") or {}).get("notifications") or {}


# The summary callback says the same (plugins/callback/deploy_summary.py UNTOUCHED).
UNTOUCHED = "not reached: an earlier batch failed, so this one was not started; it serves what it served before"


def results(run: Run) -> dict[str, dict[str, Any]]:
    """Each host's result: its published report, else what the events show; with its timings."""
    published = reports(run)
    found = {}
    for name, host in run.targets.items():
        result = _common(host) or dict(published.get(name) or {})
        if "outcome" not in result and run.interrupted:
            result = {"outcome": "interrupted", "stage": host.stage, "message": f"interrupted at: {host.task}"}
        elif "outcome" not in result:
            # No report: the failure handling itself failed, so nothing says what serves now.
            result = {"outcome": "failed", "message": host.failure_message() or "the run ended without a report"}
        elif result["outcome"] not in ("invalid", "unreachable") and host.failure_message():
            # The role's closing failure tells the whole story: what failed, and what serves now.
            result["detail"] = host.failure_message()
        result["stages"] = {stage: round(seconds, 2) for stage, seconds in host.stages.items()}
        result["duration"] = round(host.duration, 2)
        found[name] = result
    # The hosts of the play that no batch reached have no event: the playbook names them (play_hosts).
    for name in (run.stats.get("deployctl") or {}).get("play_hosts") or []:
        if name not in found and name != CONTROLLER:
            found[name] = {"outcome": "untouched", "message": UNTOUCHED, "stages": {}, "duration": 0.0}
    return found


def run_release(results: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The release every host reports (the new one, or the live one when unchanged); None when they differ."""
    releases = {str(result["release"]) for result in results.values() if result.get("release")}
    return releases.pop() if len(releases) == 1 else None


def run_exit_code(run: Run, results: Mapping[str, Mapping[str, Any]], rc: int, status: str) -> ExitCode:
    """The exit code of a whole run: the hosts' outcomes, or why no host got that far."""
    if status == "canceled" or run.interrupted:
        return ExitCode.INTERRUPTED
    code = exit_code(outcome_of(result) for result in results.values())
    if code == ExitCode.OK and rc != 0:
        # ansible-playbook failed in a way no host's result accounts for.
        return ExitCode.FAILED
    return code


# Outcomes after which a host runs something other than what it ran before the run, healthy.
CHANGED = {"deployed": "runs the new release", "rolled_back": "was rolled back", "restored": "was restored"}


def part_way(code: ExitCode, results: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The closing words of a run that failed on some hosts (exit 1, 4 or 5) while others changed and stay so
    (a rolling deploy stopped after an earlier batch went live; revert_all that could not cross a migration;
    a rollback refused on one host of several; a host lost while the others switched), or None when every
    host is as the exit code's meaning says: "what was serving before serves again" / "nothing changed" /
    "a host could not be reached" alone would be untrue, or say too little, there."""
    if code not in (ExitCode.REVERTED, ExitCode.BAD_INPUT, ExitCode.UNREACHABLE):
        return None
    changed: dict[str, list[str]] = {}
    for host, result in results.items():
        if outcome_of(result) in CHANGED:
            changed.setdefault(CHANGED[outcome_of(result)], []).append(host)
    lost = [host for host, result in results.items() if outcome_of(result) == "unreachable"]
    if not changed:
        # Exit 4 names the host(s) it lost ("a host" leaves the reader to find which in the table).
        return f"{', '.join(lost)} could not be reached" if code == ExitCode.UNREACHABLE and lost else None
    done = "; ".join(f"{', '.join(hosts)} {what}" for what, hosts in changed.items())
    # Said only when there is another host: with web1 deployed and web2 lost, there is none.
    others = set(results) - set(lost) - {host for hosts in changed.values() for host in hosts}
    rest = "; every other host serves what it served before" if others else ""
    if code == ExitCode.UNREACHABLE:
        # A lost host may have switched before it was lost: only a look at it can say.
        serves = "it serves" if len(lost) == 1 else "they serve"
        failed = f"{', '.join(lost)} could not be reached, and what {serves} now is unknown (deployctl status shows it)"
    elif code == ExitCode.BAD_INPUT:
        failed = "bad input on a host (nothing changed there)"
    else:
        failed = "failed part-way"
    return f"{failed}: {done}{rest}"


def unhealthy(results: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The closing words of a status that found an app not answering (outcome `unhealthy`, exit 2), or None."""
    hosts = [host for host, result in results.items() if outcome_of(result) == "unhealthy"]
    if not hosts:
        return None
    hosts_text = ", ".join(hosts)
    return f"the app on {hosts_text} does not answer as it should (see above); status only reads: nothing was changed"


def settled(code: ExitCode, results: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The closing words that name the hosts when the exit code's general meaning says too little, or None:
    - exit 5 where every host refused the input (an argument spec, a preflight check, a rollback's schema guard), or
      the first batch did and the later ones were not started: which hosts, and that their messages say what to
      fix, not the usual causes of exit 5, which may not be it;
    - exit 130 where every host had reported an outcome that stands (the interrupt came after, e.g. during the
      notifications): what each host reported, not only "interrupted"."""
    outcomes = {host: outcome_of(result) for host, result in results.items()}
    if not outcomes:
        return None
    refused = [host for host, each in outcomes.items() if each == "invalid"]
    if code == ExitCode.BAD_INPUT and refused and set(outcomes.values()) <= {"invalid", "untouched"}:
        # In serial batches, the first batch's refusal stops the run: the later batches were never started.
        unstarted = [host for host, each in outcomes.items() if each == "untouched"]
        later = f"; {', '.join(unstarted)} not started (a later batch)" if unstarted else ""
        return f"bad input on {', '.join(refused)} (the messages above say what to fix): nothing changed{later}"
    if code == ExitCode.INTERRUPTED and all(OUTCOME_EXIT.get(each) == ExitCode.OK for each in outcomes.values()):
        said = "; ".join(f"{host}: {each}" for host, each in outcomes.items())
        return f"interrupted after every host had reported ({said}); check `deployctl status`"
    return None


def local_hook_failures(run: Run) -> list[str]:
    """The messages of the controller-side hook commands that failed (deploy_local_before/after: the role's
    "Local: ..." tasks, run once on the batch's first host, whose own outcome they do not change)."""
    said = [failure.message for host in run.hosts.values() for failure in host.failures if failure.stage == "local"]
    return list(dict.fromkeys(said))


def run_problems(run: Run, results: Mapping[str, Mapping[str, Any]], limit: str | None = None) -> list[str]:
    """What stopped the run as a whole: ansible-playbook's errors, the controller play's failures, a failed
    controller-side hook command; with no host at all, that no host matched (`limit`: the --limit pattern given)."""
    problems = list(run.errors)
    controller = run.hosts.get(CONTROLLER)
    if controller and controller.failures:
        problems += [failure.message for failure in controller.failures]
    problems += [message for message in local_hook_failures(run) if message not in problems]
    if not results and not problems:
        problems.append(
            f"no host of the inventory matched --limit {limit}: check the pattern (host or group names, e.g. web1,web2)"
            if limit
            else "no host matched: check the inventory and --limit"
        )
    return problems
