"""deployctl logs: the last lines of one of the app's logs on each host, or the log followed live.

Without --follow, playbooks/logs.yml reads the last lines once and each host publishes them
(`lines`); they are printed as `HOST | line` after the run. With --follow, the playbook's read
is repeated until the run is cancelled (an `until` that never holds): each attempt is a long poll
on the host returning the lines written since the previous one, and reaches deployctl as an
ansible-runner `runner_retry` event carrying the module's result, printed as it comes. The
follow stays inside Ansible's own transport, so every connection setting of the inventory applies.
Ctrl-C cancels the run and is the follow's normal end (exit 0).
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.text import Text

from . import runner

SOURCES = ("app", "service", "build", "test", "migrate")
# The logs of a release's stages (--release).
RELEASE_SOURCES = ("build", "test", "migrate")
DEFAULT_LINES = 50
# The role task that reads (and, following, polls) the log.
READ_TASK = "Logs: read the last lines, or follow the log until cancelled"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        choices=SOURCES,
        default="app",
        help="app: the app's log (deploy_logs_app_path, else its output in the service's journal); service: the "
        "service's journal; build, test (the app's tests), migrate: that stage's whole output for a release "
        "(default app)",
    )
    parser.add_argument(
        "-n", "--lines", type=int, default=DEFAULT_LINES, metavar="LINES",
        help=f"the last LINES lines of each host (default {DEFAULT_LINES}; with --follow, 0 shows only new ones)",
    )  # fmt: skip
    parser.add_argument(
        "--release", metavar="RELEASE", help="build, test, migrate: that release's log (default: the live one)"
    )
    parser.add_argument("--follow", "-f", action="store_true", help="then print new lines as they come, until Ctrl-C")


def extravars(args: argparse.Namespace) -> dict[str, Any]:
    """playbooks/logs.yml's variables. Raises runner.InputError on a negative -n, or --follow with --json/--report."""
    if args.lines < 0:
        raise runner.InputError(f"-n {args.lines}: give 0 or more lines")
    if args.release and args.source not in RELEASE_SOURCES:
        raise runner.InputError(
            f"--release names the release of a build, test or migrate log, not of --source {args.source}"
        )
    if args.follow and (args.json or args.report):
        raise runner.InputError("--follow prints lines as they come until Ctrl-C: it takes no --json or --report")
    found: dict[str, Any] = {"deploy_logs_source": args.source, "deploy_logs_lines": args.lines}
    if args.release is not None:
        # An empty one (a script's unset variable) would read the live release's log instead.
        found["deploy_logs_release"] = runner.given(
            args.release, "--release", "name the release (deployctl releases ENV)"
        )
    if args.follow:
        # One ID per run: each host keeps the read position of this follow under it.
        found["deploy_logs_follow"] = uuid.uuid4().hex
    return found


def follows(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "follow", False))


def line(host: str, text: str) -> Text:
    """HOST | line: the line as it is (no rich markup read from it)."""
    return Text.assemble((f"{host} | ", "bold"), (text, ""))


def lines_output(results: Mapping[str, Mapping[str, Any]]) -> RenderableType:
    """Each host's lines after a run without --follow; a host that failed is in the problems below them."""
    shown = [line(name, text) for name, result in results.items() if result.get("outcome") == "ok"
             for text in result.get("lines") or []]  # fmt: skip
    return Group(*shown)


class Printer:
    """With --follow: prints each host's new lines as its polls return them (runner_retry events)."""

    def __init__(self, console: Console, talk: Console) -> None:
        # The lines go to `console`; that a host stopped following is said on `talk` (stderr: not log data).
        self.console = console
        self.talk = talk

    def __call__(self, event: Mapping[str, Any]) -> None:
        data = event.get("event_data") or {}
        kind = event.get("event")
        if not str(data.get("task") or "").endswith(READ_TASK):
            return
        res: Mapping[str, Any] = data["res"] if isinstance(data.get("res"), dict) else {}
        if kind in ("runner_on_failed", "runner_on_unreachable"):
            # That host's follow is over (its log is gone, it cannot be reached): said now, not at Ctrl-C only.
            said = f"{data.get('host')}: stopped following: {res.get('msg', '')}"
            self.talk.print(Text(said, style="red"), soft_wrap=True)
        if kind != "runner_retry":
            return
        for text in res.get("lines") or []:
            # soft_wrap: a long line stays one line, as the log has it (the terminal wraps it, grep finds it).
            self.console.print(line(str(data.get("host")), str(text)), soft_wrap=True)
