"""Renders a run for people: live per-host progress, then summary tables (rich)."""

from __future__ import annotations

import calendar
import re
import shlex
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.measure import Measurement
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from .outcome import EXIT_MEANING, ExitCode, HostRun, Run

OUTCOME_STYLE = {
    "deployed": "bold green",
    "rolled_back": "bold green",
    "restored": "bold green",
    "held": "bold magenta",
    "ran": "green",
    "unfinished": "bold red",
    "unlocked": "bold green",
    "would_deploy": "bold cyan",
    "unchanged": "green",
    "untouched": "dim",
    "ok": "green",
    "reverted": "bold yellow",
    "aborted": "bold yellow",
    "locked": "bold magenta",
    "failed": "bold red",
    "unreachable": "bold red",
    "invalid": "bold red",
    "interrupted": "bold red",
}
# Bookkeeping stages: their time counts in the total, they get no column of their own.
UNLISTED_STAGES = {"preflight", "failure", "report", "unlock"}
STAGE_ORDER = [
    "lock", "setup", "fetch", "build", "test", "backup", "migrate", "restore", "switch", "restart", "verify", "cleanup",
    "revert",
]  # fmt: skip


def outcome_text(outcome: str) -> Text:
    return Text(outcome.replace("_", " "), style=OUTCOME_STYLE.get(outcome, "bold red"))


def short(commit: Any) -> str:
    return str(commit)[:8] if commit else "-"


def when(stamp: Any) -> str:
    """2026-11-26T15:14:24Z -> 2026-11-26 15:14:24."""
    return str(stamp).replace("T", " ").rstrip("Z") if stamp else "-"


class Progress:
    """One line per host while the run goes: the stage it is in and the time it has taken.

    On a terminal the lines update in place; elsewhere (CI logs, pipes) a line is printed
    for each stage a host finishes, with its duration.
    """

    def __init__(self, console: Console, run: Run, title: str) -> None:
        self.console = console
        self.run = run
        self.title = title
        self.started = time.monotonic()
        self.live: Live | None = None
        self.printed: dict[str, int] = {}

    def __enter__(self) -> Progress:
        self.console.print(Text(self.title, style="bold"))
        if self.console.is_terminal:
            self.live = Live(console=self.console, get_renderable=self.render, refresh_per_second=8, transient=True)
            self.live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.live:
            self.live.stop()
        else:
            for name, host in self.run.targets.items():
                self._print_stages(name, host, final=True)

    def update(self) -> None:
        """Called after each event: off a terminal, print each stage a host has finished."""
        if not self.live:
            for name, host in self.run.targets.items():
                self._print_stages(name, host, final=False)

    def _print_stages(self, name: str, host: HostRun, final: bool) -> None:
        # A stage is finished when the host has gone on to the next one (or the run is over).
        stages = list(host.stages)
        done = len(stages) if final else len(stages) - 1
        for stage in stages[self.printed.get(name, 0) : done]:
            self.console.print(f"  {name:<12} {stage:<10} {host.stages[stage]:6.1f}s", highlight=False)
        self.printed[name] = max(done, self.printed.get(name, 0))

    def render(self) -> RenderableType:
        grid = Table.grid(padding=(0, 2))
        for min_width in (1, 8, 9, 15, 6, 0):
            grid.add_column(min_width=min_width, no_wrap=True)
        now = time.monotonic()
        for name, host in self.run.targets.items():
            in_stage = now - host.stage_started if host.stage_started else 0.0
            grid.add_row(
                Spinner("dots", style="cyan"),
                Text(name, style="bold"),
                Text(host.stage or "starting", style="cyan"),
                Text(f"{in_stage:5.1f}s in stage", style="dim"),
                Text(f"{now - host.started if host.started else 0.0:5.1f}s", style="dim"),
                Text(host.task[:70] if host.running else "waiting for the other hosts", style="dim"),
            )
        if not self.run.targets:
            grid.add_row(Spinner("dots", style="cyan"), Text(f"starting ({now - self.started:.1f}s)", style="dim"))
        return grid


def _stage_columns(hosts: Iterable[HostRun]) -> list[str]:
    """The stages any host went through, in the order of a deploy."""
    columns: list[str] = []
    for host in hosts:
        columns += [stage for stage in host.stages if stage not in UNLISTED_STAGES and stage not in columns]
    return sorted(columns, key=lambda stage: STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER))


def deploy_table(run: Run, results: dict[str, dict[str, Any]], width: int) -> Table:
    """Host, release, result and seconds per stage: a column per stage when they fit in width."""
    stages = _stage_columns(run.targets.values())
    table = Table(box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    for header in ("Host", "Release", "Result"):
        table.add_column(header, no_wrap=True)
    for stage in [*stages, "total"]:
        table.add_column(stage.capitalize(), justify="right", no_wrap=True)
    for name, result in results.items():
        host = run.targets.get(name) or HostRun(name)  # untouched: no event
        durations = [host.stages.get(stage) for stage in stages] + [host.duration]
        table.add_row(
            name,
            result.get("release") or "-",
            outcome_text(result["outcome"]),
            *("-" if value is None else f"{value:.1f}" for value in durations),
        )
    table.caption, table.caption_justify = "seconds per stage", "right"
    unbounded = Console(width=10_000)
    if Measurement.get(unbounded, unbounded.options, table).maximum <= width:
        return table
    # Too wide: the stages go into one column, wrapped.
    narrow = Table(box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    for header in ("Host", "Release", "Result", "Seconds per stage"):
        narrow.add_column(header, no_wrap=header != "Seconds per stage")
    for name, result in results.items():
        host = run.targets.get(name) or HostRun(name)
        stage_times = [f"{stage}\u00a0{host.stages[stage]:.1f}" for stage in stages if stage in host.stages]
        narrow.add_row(
            name,
            result.get("release") or "-",
            outcome_text(result["outcome"]),
            "  ".join([*stage_times, f"total\u00a0{host.duration:.1f}"]),
        )
    return narrow


def preview_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table()
    for header in ("Host", "Current", "Would deploy", "Migrations to run", "Cleanup would remove", "Result"):
        table.add_column(header)
    for name, result in results.items():
        table.add_row(
            name,
            result.get("current") or "-",
            short(result.get("commit")),
            "\n".join(result.get("pending_migrations") or []) or "none",
            "\n".join(result.get("would_remove") or []) or "none",
            outcome_text(result["outcome"]),
        )
    return table


def pending_tables(results: dict[str, dict[str, Any]]) -> RenderableType:
    """Per host, what a deploy would bring (Capistrano's deploy:pending): the commits over the live one,
    newest first, and the migrations that would run."""
    tables: list[RenderableType] = []
    for name, result in results.items():
        if result["outcome"] not in ("would_deploy", "unchanged"):
            tables.append(Text.assemble((f"{name}: ", "bold"), outcome_text(result["outcome"])))
            continue
        title = f"[bold]{name}[/]: live {short(result.get('live_commit'))} -> {short(result.get('commit'))}"
        table = Table(title=title, title_justify="left", caption_justify="left")
        for header in ("Commit", "Date", "Author", "Subject"):
            table.add_column(header, no_wrap=header != "Subject")
        for commit in result.get("commits") or []:
            table.add_row(short(commit.get("commit")), when(commit.get("date"))[:16], commit.get("author", ""),
                          commit.get("subject", ""))  # fmt: skip
        caption = [f"migrations to run: {', '.join(result.get('pending_migrations') or []) or 'none'}"]
        if result["outcome"] == "unchanged":
            caption.insert(0, "already live: nothing to deploy")
        if result.get("commits_behind"):
            caption.append(f"{result['commits_behind']} commit(s) of the live release would be left out (an older ref)")
        table.caption = "; ".join(caption)
        tables.append(table)
    return Group(*tables)


# Runs other than deploys (rollbacks, restores) have no ID of their own: the same one on several hosts
# starts within this many seconds.
SAME_RUN_SECONDS = 120


def _epoch(stamp: Any) -> float:
    try:
        return calendar.timegm(time.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return 0.0


def history_rows(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every host's runs merged: one row per run naming its hosts (a deploy is its release ID; a rollback
    or a restore, the same target started within SAME_RUN_SECONDS), newest first, cut to the hosts' limit
    (each host lists its newest `limit`: within that many merged rows, every host's part of a run is there)."""
    rows: list[dict[str, Any]] = []
    for name, result in results.items():
        for run in result.get("history") or []:
            key = (run.get("kind"), run.get("release"), run.get("outcome"), run.get("from"))
            row = next(
                (
                    row for row in rows
                    if row["key"] == key and name not in row["hosts"]
                    and (run.get("kind") == "deploy"
                         or abs(_epoch(row.get("started_at")) - _epoch(run.get("started_at"))) <= SAME_RUN_SECONDS)
                ),
                None,
            )  # fmt: skip
            if row is None:
                rows.append({**run, "key": key, "hosts": [name]})
                continue
            row["hosts"].append(name)
            # The run took as long as its slowest host.
            if (run.get("duration") or 0) > (row.get("duration") or 0):
                row["duration"] = run["duration"]
    limits = [int(result["limit"]) for result in results.values() if result.get("limit")]
    rows.sort(key=lambda row: str(row.get("started_at")), reverse=True)
    return rows[: min(limits)] if limits else rows


def history_table(results: dict[str, dict[str, Any]]) -> Table:
    """The newest runs of every host (each host's -n), merged: a deploy of several hosts is one row."""
    table = Table(box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    for header in ("When", "Hosts", "Run", "Release", "Ref / from", "Commit", "By", "Result", "Seconds"):
        # Hosts, Ref and By wrap rather than push the table past the terminal.
        table.add_column(header, no_wrap=header not in ("Hosts", "Ref / from", "By"))
    for row in history_rows(results):
        table.add_row(
            when(row.get("started_at"))[:16],
            ",".join(row["hosts"]),
            row["kind"].replace("_", " "),
            row.get("release") or "-",
            f"from {row['from']}" if row.get("from") else row.get("ref") or "-",
            short(row.get("commit")),
            row.get("by") or "-",
            outcome_text(row["outcome"]),
            f"{row['duration']:.0f}" if row.get("duration") is not None else "-",
        )
    failed = [name for name, result in results.items() if result["outcome"] != "ok"]
    if failed:
        table.caption = Text(f"not read: {', '.join(failed)}", style="red")
    return table


def fields_table(results: dict[str, dict[str, Any]], columns: dict[str, str]) -> Table:
    """One row per host: the host, each result field of `columns` (header -> field; "-" when empty), the result."""
    table = Table()
    for header in ("Host", *columns, "Result"):
        table.add_column(header, no_wrap=True)
    for name, result in results.items():
        fields = (str(result.get(field) or "-") for field in columns.values())
        table.add_row(name, *fields, outcome_text(result["outcome"]))
    return table


def rollback_table(results: dict[str, dict[str, Any]]) -> Table:
    return fields_table(results, {"From": "from", "To": "to"})


def release_state(release: dict[str, Any]) -> str:
    """The State column of `releases`: a release's recorded state, except that one which served and was then
    replaced by a later deploy says "replaced" (its record keeps state built, as one never switched to does;
    its `deactivated_at` says until when it served). One switched to whose health check never passed (its
    record's `verified` is false: its host was lost in between) says so: it is no rollback target. So does one
    whose directory is gone (`present` false: removed by hand), "missing"."""
    state = str(release.get("state", "?"))
    state = "replaced" if state == "built" and release.get("deactivated_at") and not release.get("current") else state
    state = f"{state}, never checked" if release.get("verified") is False else state
    # Its directory is gone (removed by hand): recorded, but nothing to switch to.
    return f"{state}, missing" if release.get("present") is False and state != "building" else state


def releases_tables(results: dict[str, dict[str, Any]]) -> RenderableType:
    """One table per host: every recorded release, the current one and the rollback target marked."""
    tables: list[RenderableType] = []
    for name, result in results.items():
        table = Table(title=f"[bold]{name}[/]", title_justify="left", caption_justify="left")
        for header in ("", "Release", "State", "Commit", "Ref", "Deployed at", "By", "Schema"):
            table.add_column(header, no_wrap=True)
        for release in result.get("releases", []):
            current = bool(release.get("current"))
            table.add_row(
                "*" if current else ("<" if release.get("id") == result.get("rollback_target") else ""),
                release.get("id", "?"),
                release_state(release),
                short(release.get("commit")),
                release.get("ref") or "-",
                when(release.get("created_at")),
                release.get("deployed_by") or "-",
                release.get("schema_version") or "-",
                style="bold green" if current else ("red" if release.get("state") == "failed" else None),
            )
        if result["outcome"] != "ok":
            table.caption = Text(f"{result['outcome']}: {result.get('message', '')}", style="red")
        elif not result.get("releases"):
            table.caption = "no release deployed"
        else:
            table.caption = f"* current, < rollback target: {result.get('rollback_target') or 'none'}"
        tables.append(table)
    return Group(*tables)


def size(count: Any) -> str:
    """Bytes as a person reads them: 734 B, 12.4 MiB, 3.1 GiB."""
    value = float(count or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def age(seconds: Any) -> str:
    """Seconds ago as the largest two units: 45s, 12m 3s, 5h 2m, 3d 4h."""
    left = int(seconds or 0)
    parts: list[str] = []
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= length or (unit == "s" and not parts):
            parts.append(f"{left // length}{unit}")
            left %= length
    return " ".join(parts[:2])


def backups_table(results: dict[str, dict[str, Any]]) -> Table:
    """Every dump on every host, newest first per host: what `db restore --backup NAME` takes."""
    table = Table(caption="Backup: the release whose migrations it preceded", caption_justify="left")
    for header in ("Host", "Backup", "Size", "Age", "Database", "Schema"):
        table.add_column(header, no_wrap=True)
    for name, result in results.items():
        if result["outcome"] != "ok":
            table.add_row(name, outcome_text(result["outcome"]))
            continue
        if not result.get("backups"):
            table.add_row(name, Text(f"no dump in {result.get('backup_dir', '?')}", style="dim"))
        for dump in result.get("backups", []):
            table.add_row(
                name,
                dump.get("name", "?"),
                size(dump.get("size")),
                age(dump.get("age_seconds")) + " ago",
                dump.get("database") or "-",
                dump.get("schema_version") or "-",
            )
    return table


def db_restore_table(results: dict[str, dict[str, Any]]) -> Table:
    return fields_table(results, {"Current": "current", "Backup": "backup"})


def _health(health: dict[str, Any] | None) -> Text:
    if not health:
        return Text("-", style="dim")
    if health.get("healthy"):
        return Text(f"{health.get('status')} in {health.get('latency_ms')} ms", style="green")
    return Text(f"unhealthy: {health.get('error')}", style="bold red")


def _holder(holder: dict[str, Any] | None) -> Text:
    if not holder:
        return Text("free", style="dim")
    if holder.get("manual"):
        return Text(
            f"{holder.get('user', '?')} by hand since {when(holder.get('started_at'))}: {holder.get('message', '')}",
            style="bold magenta",
        )
    stale = " (stale: the next deploy takes it over)" if holder.get("stale") else ""
    return Text(
        f"{holder.get('user', '?')}, ref {holder.get('ref', '?')}, since {when(holder.get('started_at'))}{stale}",
        style="yellow" if stale else "bold magenta",
    )


def lock_table(results: dict[str, dict[str, Any]]) -> Table:
    """Who holds the deploy lock on each host (lock, lock status)."""
    table = Table()
    for header in ("Host", "Lock"):
        table.add_column(header)
    for name, result in results.items():
        if result["outcome"] in ("ok", "held"):
            table.add_row(name, _holder(result.get("lock")))
        else:
            table.add_row(name, outcome_text(result["outcome"]))
    return table


def exec_output(results: dict[str, dict[str, Any]]) -> RenderableType:
    """Each host's output lines prefixed by the host, then its exit status."""
    lines: list[RenderableType] = []
    for name, result in results.items():
        if result["outcome"] != "ran":
            continue
        lines += [Text.assemble((f"{name} | ", "bold"), (line, "")) for line in result.get("output") or []]
        status = int(result.get("rc", 0))
        lines.append(Text(f"{name}: exit {status}", style="green" if status == 0 else "bold red"))
    return Group(*lines)


def status_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table()
    for header in ("Host", "Current", "Commit", "Ref", "Deployed at", "Lock", "Health"):
        table.add_column(header, no_wrap=header not in ("Lock", "Health"))
    for name, result in results.items():
        release = result.get("current_release") or {}
        if result["outcome"] not in ("ok", "unhealthy"):
            table.add_row(name, outcome_text(result["outcome"]))
            continue
        table.add_row(
            name,
            result.get("current") or "none",
            short(release.get("commit")),
            release.get("ref") or "-",
            when(release.get("created_at")),
            _holder(result.get("lock")),
            _health(result.get("health")),
        )
    return table


def unlock_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table()
    for header in ("Host", "Result", "Lock that was removed"):
        table.add_column(header)
    for name, result in results.items():
        holder = result.get("previous_holder")
        removed = _holder(holder) if holder else Text("no lock was held", style="dim")
        table.add_row(name, outcome_text(result["outcome"]), removed)
    return table


# A host's failure that repeats this many lines of one shown before it points there instead.
SAME_LINES = 4


# A command of this CLI in the role's words, which name the environment ENV: the role cannot know it.
_COMMAND_FOR_ENV = re.compile(r"\b(deployctl (?:db )?[a-z]+) ENV\b")


def for_env(text: str, env: str) -> str:
    """`text` with the commands it suggests (`deployctl unlock ENV --reason TEXT`) naming `env`, the environment
    (a name or an inventory path, as given) this run was for; unchanged when `env` is empty."""
    return _COMMAND_FOR_ENV.sub(lambda match: f"{match.group(1)} {shlex.quote(env)}", text) if env else text


def problems(results: dict[str, dict[str, Any]], env: str = "") -> RenderableType:
    """What went wrong on each host that did not succeed, in the role's own words (the commands they suggest naming
    `env`: for_env); then warnings (a deploy that succeeded but, say, could not clean up old releases)."""
    said: dict[tuple[str, str], list[str]] = {}  # the same words from several hosts: said once, naming them
    for name, result in results.items():
        if result.get("detail") or result.get("message"):
            text = for_env(str(result.get("detail") or result["message"]), env)
            if (text, "red") not in said:
                text = told_before(text, {names[0]: words for (words, _), names in said.items()})
            said.setdefault((text, "red"), []).append(name)
    for name, result in results.items():
        if result.get("warning"):
            said.setdefault(("warning: " + for_env(str(result["warning"]), env), "yellow"), []).append(name)
    return Group(
        *(Text.assemble((f"{', '.join(names)}: ", "bold"), (text, style)) for (text, style), names in said.items())
    )


def told_before(text: str, shown: Mapping[str, str]) -> str:
    """`text` with the lines after its first that repeat those of a failure shown before (at least SAME_LINES of
    them, from the second line on) replaced by a pointer to it. A failure one host had for all (the migrations:
    a run_once call) reaches every host with the same output, up to 40 lines; each host's first line differs."""
    lines = text.split("\n")
    for name, words in shown.items():
        earlier = words.split("\n")
        same = 0
        for line, other in zip(lines[1:], earlier[1:], strict=False):
            if line != other:
                break
            same += 1
        if same >= SAME_LINES:
            return "\n".join([lines[0], f"(the same {same} lines as {name}'s, above)", *lines[1 + same :]])
    return text


def notifications(found: dict[str, dict[str, Any]]) -> RenderableType:
    """One line per notification receiver: a failed one is a warning (the deploy's exit code stands)."""
    lines = []
    for name, sent in found.items():
        if sent.get("ok"):
            lines.append(Text(f"notified {name}: {sent.get('message', '')}", style="dim"))
        else:
            lines.append(Text(f"warning: notification to {name} failed: {sent.get('message', '')}", style="yellow"))
    return Group(*lines)


COMMAND_STATUS = "the command's exit status (the highest of the hosts)"
# Exit 2 of a deploy whose hosts all succeeded and whose deploy_local_after command failed (Kamal's post-deploy
# hook fails the run too): the generic "NOT reverted: a host may serve a broken release" would mislead.
LOCAL_HOOK_FAILED = (
    "every host's deploy succeeded, then a deploy_local_after command failed (see above); nothing was reverted"
)
# Exit 2 of a command that only reads (status, releases, history, logs...): nothing was changed.
READ_FAILED = "failed on a host (see its message above); this command only reads: nothing was changed"


def verdict(code: int, artifacts: str | None, meaning: str | None = None) -> Text:
    """The last line: the exit code and what it means (EXIT_MEANING's, unless `meaning` says otherwise)."""
    meaning = meaning or EXIT_MEANING[ExitCode(code)]
    text = Text.assemble(("exit ", "dim"), (str(code), "bold"), (": ", "dim"), (meaning, "bold" if code else "green"))
    if artifacts:
        text.append(f"\nfull log: {artifacts}/stdout", style="dim")
    return text
