"""deployctl: deploy, roll back and inspect releases from the shell.

    deployctl init DIR --app NAME --repo URL [--host HOST]... [--secret NAME[=@FILE]]...
    deployctl deploy ENV --ref REF [--limit HOSTS] [--check] [--serial 1,50% [--on-batch-failure revert_all]]
    deployctl rollback ENV [--to RELEASE] [--serial 1,50%]
    deployctl releases ENV
    deployctl status ENV
    deployctl unlock ENV --reason TEXT
    deployctl db backups ENV
    deployctl db restore ENV --backup NAME [--yes]
    deployctl history ENV [-n N]
    deployctl lock ENV --message TEXT
    deployctl lock status ENV
    deployctl exec ENV [--limit HOSTS] -- COMMAND...
    deployctl logs ENV [--limit HOSTS] [--follow] [-n LINES] [--source app|service|build|migrate] [--release ID]

Each command runs one of the collection's playbooks through ansible-runner; the exit
codes are listed in docs/cli.md and in `deployctl --help`.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import re
import shlex
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml
from rich.console import Console, RenderableType
from rich.text import Text

from . import __version__, logs, outcome, progress, runner, scaffold
from .outcome import EXIT_MEANING, ExitCode, Run
from .runner import given

Results = dict[str, dict[str, Any]]

EPILOG = (
    "exit codes:\n"
    + "".join(f"  {int(code):<4} {meaning}\n" for code, meaning in EXIT_MEANING.items())
    + """
vault passwords:
  --vault-id LABEL@SOURCE (repeatable) gives vault id LABEL's password: SOURCE is a file, an
  executable that prints it, or "prompt"; $DEPLOYCTL_VAULT_PASSWORD_<LABEL> gives it too.
  The environment's own vault id (its name) comes from --vault-password-file, else
  $DEPLOYCTL_VAULT_PASSWORD_<ENV> or $DEPLOYCTL_VAULT_PASSWORD, else a prompt when nothing else
  gave a password and the inventory has vault-encrypted content.
"""
)


class Once(argparse._StoreAction):
    """A flag of one value given twice (`--ref v1 ... --ref v2`, a script's default and its caller's) is a usage
    error: argparse would take the last one without a word."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        given = namespace.__dict__.setdefault("_given_once", {})
        if option_string and self.dest in given:
            # A value as typed: a path, not PosixPath('...').
            first, then = (
                repr(str(value) if isinstance(value, Path) else value) for value in (given[self.dest], values)
            )
            parser.error(f"{option_string} given twice ({first}, then {then}): give it once")
        given[self.dest] = values
        super().__call__(parser, namespace, values, option_string)


class Parser(argparse.ArgumentParser):
    """Usage errors are bad input (exit 5), not argparse's 2, which means a failed deploy here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every flag that stores one value (the default action) refuses to be given twice.
        self.register("action", None, Once)
        self.register("action", "store", Once)
        # deployctl's own: the parser of each command by its name ("deploy", "db restore"), whose usage an
        # unknown option is answered with (argparse answers with the top-level usage).
        self.commands: dict[str, argparse.ArgumentParser] = {}
        # The words this parser was given (a command's parser: those after the command's name), for error().
        self.words: list[str] = []

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self.words = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        words = self.words[: self.words.index("--")] if "--" in self.words else self.words
        unknown = [word for word in words if self._unknown_option(word)]
        if message.startswith("the following arguments are required") and unknown:
            # argparse names only the missing ones (`deploy ENV --reff v1`: the typo is the news).
            message += f"; unrecognized arguments: {' '.join(unknown)}"
        message += "".join(self._did_you_mean(word) for word in unknown)
        message = _invalid_choice(message)
        error = f"{self.prog}: error: {message}"
        if "--json" in words:
            # What a script asked for, here too: the document of a run refused as bad input (the usage on stderr).
            # "deployctl lock status": the alias's name (lock-status), as a run's document has it.
            typed = tuple(self.prog.split()[1:])
            command = ALIASES.get(typed, " ".join(typed)) or None
            document: dict[str, Any] = {"command": command, "hosts": {}, "errors": [error]}
            document.update(exit_code=int(ExitCode.BAD_INPUT), result=ExitCode.BAD_INPUT.name.lower())
            print(json.dumps(document, indent=2, sort_keys=True))
        self.print_usage(sys.stderr)
        # The closing line every run ends with, here too: a script reading the last line learns the same.
        self.exit(ExitCode.BAD_INPUT, f"{error}\nexit {int(ExitCode.BAD_INPUT)}: {EXIT_MEANING[ExitCode.BAD_INPUT]}\n")

    def _did_you_mean(self, word: str) -> str:
        """ "; did you mean --ref?" for an unknown option close to one this parser knows (--reff), else ""."""
        name = word.split("=", 1)[0]
        known = [option for option in self._option_string_actions if option.startswith("--")]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        return f"; did you mean {close[0]}?" if close else ""

    def _unknown_option(self, word: str) -> bool:
        """Whether `word` is an option this parser does not know: not a value (`-5`), not a known flag, nor a
        cluster of short ones (`-vv`), nor a long one's abbreviation (`--lim`), as argparse reads them."""
        if not word.startswith("-") or word == "-" or word[1:2].isdigit():
            return False
        name = word.split("=", 1)[0]
        known = self._option_string_actions
        if name.startswith("--"):
            return name not in known and not any(option.startswith(name) for option in known if option[:2] == "--")
        return name[:2] not in known


def optional_stages(run: str, playbooks: Path = runner.PLAYBOOKS) -> str:
    """The stages a run ("deploy", "rollback") may leave out, as --skip-tags takes them ("verify,cleanup,notify").

    Read from playbooks/tasks/whole_run.yml, the refusal every entry point meets, so that the CLI offers
    exactly what the playbook accepts. Raises KeyError for a run that file does not know.
    """
    refusal = yaml.safe_load((playbooks / "tasks" / "whole_run.yml").read_text(encoding="utf-8"))[0]
    return str(refusal["vars"]["deployctl_tags"][run]["optional"])


class RefuseTags(argparse.Action):
    """--tags on a deploy or a rollback: refused as bad input, saying why and what to use instead."""

    def __init__(self, *args: Any, optional: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.optional = optional

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        parser.error(
            "--tags: a deploy or a rollback runs every stage (its report, its revert on failure and its hooks "
            f"belong to none); leave out optional stages with --skip-tags {self.optional}"
        )


Table = Callable[[Run, Results, int], RenderableType]


def _no_arguments(_parser: argparse.ArgumentParser) -> None:
    return None


def _no_extravars(_args: argparse.Namespace) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Command:
    """Everything about one command: how it is asked for, what it runs, how its results are shown.

    Results are read from the one schema every playbook publishes (outcome.results).
    """

    name: str
    playbook: str
    help: str
    table: Table
    title: Callable[[argparse.Namespace, str], str]
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    extravars: Callable[[argparse.Namespace], dict[str, Any]] = _no_extravars
    check: bool = False
    # Whether its playbook reads secrets: without, no password is asked for when none is given.
    needs_vault: bool = True
    # The exit code when every host answered (exec: the command's worst exit status); None: the outcomes decide.
    status: Callable[[Results], int | None] = lambda _results: None
    # Whether the run goes on until cancelled, printing as it goes (logs --follow): Ctrl-C is its end (exit 0,
    # or 2 when a host stopped meanwhile).
    streams: Callable[[argparse.Namespace], bool] = lambda _args: False
    # Its output is lines as the hosts have them (logs): never wrapped or cut at the terminal's width.
    soft_wrap: bool = False
    # It only reads: a failure (exit 2) changed nothing, and its closing line says so, not a deploy's words.
    reads_only: bool = False
    # Its output is data (logs): stdout gets the lines alone, so that `deployctl logs ENV > FILE` or a pipe
    # gets the log; the title, progress, problems and closing line go to stderr.
    data_on_stdout: bool = False
    # It runs the deploy role's stages (deploy, rollback): --diff, --tags and --skip-tags mean something.
    stages: bool = False


def _ref_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ref", required=True, help="branch, tag or commit to deploy")


def _ref_extravars(args: argparse.Namespace) -> dict[str, Any]:
    """Raises runner.InputError for an empty --ref (the playbook's own answer would name -e deploy_ref)."""
    return {"deploy_ref": given(args.ref, "--ref", "give the branch, tag or commit to deploy, e.g. --ref v1.4.2")}


def _deploy_arguments(parser: argparse.ArgumentParser) -> None:
    _ref_argument(parser)
    parser.add_argument(
        "--check",
        action="store_true",
        help="preview only: the commit, the migrations that would run, the releases cleanup would remove",
    )

    _serial_argument(parser)
    parser.add_argument(
        "--on-batch-failure",
        choices=["stop", "revert_all"],
        help="with --serial, when a batch fails: stop there (the default), or also switch the hosts this run "
        "deployed back to the release they ran before (revert_all)",
    )


def _deploy_extravars(args: argparse.Namespace) -> dict[str, Any]:
    """Raises runner.InputError for an empty --ref or --serial, and for --on-batch-failure without batches
    (--serial, or deploy_serial in -e: one batch has nothing to revert beyond it)."""
    extravars = _ref_extravars(args)
    # The batches may come from -e deploy_serial too (a vars file an environment keeps its batches in).
    if args.on_batch_failure and not args.serial and "deploy_serial" not in user_variables(args.extra_vars):
        raise runner.InputError(
            f"--on-batch-failure {args.on_batch_failure} says what a failing batch does to the earlier ones: "
            "give --serial too (e.g. --serial 1,50%), or leave it out"
        )
    if args.on_batch_failure:
        extravars["deploy_on_batch_failure"] = args.on_batch_failure
    return _with_serial(args, extravars)


def _rollback_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", metavar="RELEASE", help="release ID to go back to (default: the previous good one)")
    parser.add_argument(
        "--restore-db",
        action="store_true",
        help="across a schema change: restore the database from the dump taken before the current release's "
        "migrations (rows written since are lost; asks to confirm)",
    )
    parser.add_argument("--yes", action="store_true", help="confirm --restore-db without asking (CI, AWX)")
    _serial_argument(parser)


def _rollback_extravars(args: argparse.Namespace) -> dict[str, Any]:
    """Raises runner.InputError for an empty --to or --serial."""
    extravars: dict[str, Any] = {}
    if args.to is not None:
        extravars["deploy_rollback_to"] = given(
            args.to,
            "--to",
            "give the release ID to go back to (deployctl releases ENV lists them), or leave it out for the "
            "previous good release",
        )
    if args.restore_db:
        extravars["deploy_rollback_restore_db"] = True
    return _with_serial(args, extravars)


def restore_warning(args: argparse.Namespace) -> str | None:
    """What a database restore this command asks for loses, or None when it asks for none."""
    if getattr(args, "command", "") == "rollback" and args.restore_db:
        return (
            "--restore-db puts the database back as it was before the current release's migrations: "
            "every row written since then is lost"
        )
    if getattr(args, "db_command", "") == "restore":
        return (
            f"db restore puts the database back as it was when the dump {args.backup} was taken (before the "
            "migrations of that release): every row written since then is lost"
        )
    return None


def confirm_restore(args: argparse.Namespace) -> None:
    """Ask before a database restore, unless --yes. Raises runner.InputError when not confirmed."""
    warning = restore_warning(args)
    if warning is None or args.yes:
        return
    if not sys.stdin.isatty():
        raise runner.InputError(f"{warning}. Confirm with --yes (there is no terminal to ask on)")
    # On stderr: stdout may be the --json document.
    print(f"{warning}. Type yes to go on: ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if answer.strip().lower() != "yes":
        raise runner.InputError("the database restore was not confirmed: nothing was changed")


def _db_restore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backup", required=True, metavar="NAME", help="the dump to restore, as `deployctl db backups ENV` names it"
    )
    parser.add_argument("--yes", action="store_true", help="confirm without asking (CI, AWX)")


def _db_restore_extravars(args: argparse.Namespace) -> dict[str, Any]:
    backup = given(args.backup, "--backup", "name the dump to restore (deployctl db backups ENV lists them)")
    return {"deploy_db_restore_backup": backup.strip()}


def _history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", type=int, default=20, metavar="N", help="the newest N runs of each host (default 20)")


def _history_extravars(args: argparse.Namespace) -> dict[str, Any]:
    if args.n < 1:
        raise runner.InputError(f"-n {args.n}: give at least 1")
    return {"deploy_history_limit": args.n}


def _lock_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--message", required=True, help="why deploys must wait (shown to whoever tries one)")


def _lock_extravars(args: argparse.Namespace) -> dict[str, Any]:
    message = given(args.message, "--message", "say why deploys must wait, e.g. --message 'DB upgrade until 14:00'")
    return {"deploy_lock_message": message.strip()}


def _exec_extravars(args: argparse.Namespace) -> dict[str, Any]:
    if not args.exec_argv:
        raise runner.InputError(
            "no command to run: give it after --, e.g. deployctl exec production -- bin/rails runner 'puts Note.count'"
        )
    return {"deploy_exec_argv": args.exec_argv}


def worst_command_status(results: Results) -> int | None:
    """exec's exit code: the highest exit status of the command, when it ran on every host."""
    if not results or any(result.get("outcome") != "ran" for result in results.values()):
        return None
    return max(int(result.get("rc", 0)) for result in results.values())


def _serial_argument(parser: argparse.ArgumentParser) -> None:
    # Passed on as text, as an AWX survey gives it: the playbooks read it and refuse a size that is none
    # (filter deployctl.core.serial_batches, playbooks/tasks/whole_run.yml), for every entry point alike.
    parser.add_argument(
        "--serial",
        metavar="BATCHES",
        help="roll out in batches: sizes or percentages, e.g. 1,50%% (a canary host, then half of the others)",
    )


def _with_serial(args: argparse.Namespace, extravars: dict[str, Any]) -> dict[str, Any]:
    """Raises runner.InputError for an empty --serial: the playbooks read an empty size as unset, every host
    at once, which is not what someone who typed --serial asked for."""
    serial = getattr(args, "serial", None)
    if serial is None:
        return extravars
    advice = "give the batch sizes, e.g. --serial 1,50% (a canary host, then half of the others), or leave it out "
    return {**extravars, "deploy_serial": given(serial, "--serial", advice + "to run on every host at once")}


def _unlock_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="why (recorded in each host's journal)")


def _unlock_extravars(args: argparse.Namespace) -> dict[str, Any]:
    return {"deploy_unlock_reason": given(args.reason, "--reason", "say why the lock is forced open")}


def _of(verb: str) -> Callable[[argparse.Namespace, str], str]:
    return lambda _args, env: f"{verb} of {env}"


def _ignore_run(table: Callable[[Results], RenderableType]) -> Table:
    return lambda _run, results, _width: table(results)


DEPLOY = Command(
    "deploy", "deploy.yml", "deploy a ref; revert on failure", progress.deploy_table,
    title=lambda args, env: f"Deploying {args.ref} to {env}",
    arguments=_deploy_arguments, extravars=_deploy_extravars, stages=True,
)  # fmt: skip
# deploy --check: the deploy itself in check mode (fetch, migrations, cleanup: nothing changes).
PREVIEW = Command(
    "deploy", "deploy.yml", DEPLOY.help, _ignore_run(progress.preview_table),
    title=lambda args, env: f"Preview of a deploy {args.ref} to {env}",
    extravars=DEPLOY.extravars, check=True,
)  # fmt: skip
# pending: the deploy's check mode too, shown as the commits and migrations it would bring.
PENDING = Command(
    "pending", "deploy.yml", "the commits and migrations a deploy of REF would bring over the live release",
    _ignore_run(progress.pending_tables), title=lambda args, env: f"What a deploy of {args.ref} to {env} would bring",
    arguments=_ref_argument,
    extravars=_ref_extravars, check=True,
)  # fmt: skip
COMMANDS = [
    DEPLOY,
    PENDING,
    Command(
        "rollback", "rollback.yml", "back to the previous good release", _ignore_run(progress.rollback_table),
        title=_of("Rollback"), arguments=_rollback_arguments,
        extravars=_rollback_extravars, stages=True,
    ),
    Command("releases", "releases.yml", "the releases on each host", _ignore_run(progress.releases_tables),
            title=_of("Releases"), needs_vault=False, reads_only=True),
    Command("status", "status.yml", "current release, lock holder and health of each host",
            _ignore_run(progress.status_table), title=_of("Status"), needs_vault=False, reads_only=True),
    Command("unlock", "unlock.yml", "force a deploy lock open, saying why", _ignore_run(progress.unlock_table),
            title=_of("Unlock"), arguments=_unlock_arguments, extravars=_unlock_extravars, needs_vault=False),
    Command("db backups", "db_backups.yml", "the database dumps each host keeps", _ignore_run(progress.backups_table),
            title=_of("Database backups"), needs_vault=False, reads_only=True),
    Command("db restore", "db_restore.yml", "restore the database from a dump, keeping the live release",
            _ignore_run(progress.db_restore_table),
            title=lambda args, env: f"Database restore of {env} from {args.backup}",
            arguments=_db_restore_arguments, extravars=_db_restore_extravars),
    Command("history", "history.yml", "the deploys, reverts, rollbacks and restores of each host, merged, newest first",
            _ignore_run(progress.history_table), title=_of("History"),
            arguments=_history_arguments, extravars=_history_extravars, needs_vault=False, reads_only=True),
    Command("lock", "lock.yml", "take the deploy lock by hand (a maintenance window): deploys refuse until unlock; "
            "who holds it: lock status ENV",
            _ignore_run(progress.lock_table), title=_of("Lock"), arguments=_lock_arguments, extravars=_lock_extravars,
            needs_vault=False),
    # The lock alone: status.yml without its health request (an unhealthy app is `status`'s finding, not this one's).
    Command("lock-status", "status.yml", "who holds the deploy lock on each host",
            _ignore_run(progress.lock_table), title=_of("Lock status"), needs_vault=False, reads_only=True,
            extravars=lambda _args: {"deployctl_status_health": False}),
    Command("exec", "exec.yml", "run a command in the live release as the app user: exec ENV [options] -- COMMAND...",
            _ignore_run(progress.exec_output), title=lambda args, env: f"{shlex.join(args.exec_argv)} on {env}",
            extravars=_exec_extravars, status=worst_command_status, soft_wrap=True),
    Command("logs", "logs.yml", "the last lines of the app's log, its service's journal or a release's build or "
            "migrate log on each host, as HOST | line; --follow prints new ones until Ctrl-C",
            _ignore_run(logs.lines_output), title=lambda args, env: f"{args.source} log of {env}",
            arguments=logs.arguments, extravars=logs.extravars, needs_vault=False, streams=logs.follows,
            soft_wrap=True, reads_only=True, data_on_stdout=True),
]  # fmt: skip
# `deployctl lock status ENV` reads as it is written; argparse knows it as lock-status.
ALIASES: dict[tuple[str, ...], str] = {("lock", "status"): "lock-status"}
# argparse's words for a command it does not know (Python 3.11: "invalid choice: 'rollbak' (choose from 'init', ...)").
INVALID_CHOICE = re.compile(r"invalid choice: '?([^' ]*)'? \(choose from (.*)\)$")


def _invalid_choice(message: str) -> str:
    """argparse's message for an unknown command, with "did you mean rollback?" for a typo (rollbak) and the
    choices without the hidden aliases (lock-status: `lock status`); any other message as it is."""
    match = INVALID_CHOICE.search(message)
    if not match:
        return message
    hidden = set(ALIASES.values())
    choices = [name.strip(" '") for name in match.group(2).split(",") if name.strip(" '") not in hidden]
    close = difflib.get_close_matches(match.group(1), choices, n=1, cutoff=0.6)
    guess = f"; did you mean {close[0]}?" if close else ""
    return f"{message[: match.start()]}invalid choice: {match.group(1)!r}{guess} (choose from {', '.join(choices)})"


def command_name(args: argparse.Namespace) -> str:
    """The command's name: "deploy", ..., or "db backups" for a command of a group."""
    return f"{args.command} {args.db_command}" if args.command == "db" else str(args.command)


def command_for(args: argparse.Namespace) -> Command:
    """The command the parsed arguments ask for (deploy --check is the preview)."""
    if args.command == "deploy" and args.check:
        return PREVIEW
    return next(command for command in COMMANDS if command.name == command_name(args))


def build_parser() -> Parser:
    common = Parser(add_help=False)
    common.add_argument("env", metavar="ENV", help="inventory: a directory under inventories/, or a path")
    common.add_argument("--limit", metavar="HOSTS", help="only these hosts (an Ansible host pattern)")
    common.add_argument(
        "--vault-password-file", metavar="FILE", help="file (or executable) giving the environment's vault password"
    )
    common.add_argument(
        "--vault-id",
        action="append",
        default=[],
        metavar="LABEL@SOURCE",
        help="a vault id and where its password comes from: a file, an executable or 'prompt' (repeatable)",
    )
    common.add_argument(
        "-e", "--extra-vars", action="append", default=[], metavar="VARS", help="passed to ansible-playbook -e"
    )
    common.add_argument("--forks", type=int, metavar="N", help="hosts worked on at once (ansible-playbook --forks)")
    common.add_argument("--json", action="store_true", help="print a machine-readable result instead of tables")
    common.add_argument(
        "--report",
        metavar="FILE",
        type=report_file,
        help="also write the --json result to FILE (e.g. a CI job's artifact), keeping the tables and progress",
    )
    common.add_argument("-v", "--verbose", action="count", default=0, help="ansible-playbook verbosity (-vvv...)")

    parser = Parser(
        prog="deployctl",
        description="Release-based deploys of Rails-style applications with Ansible.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"deployctl {__version__}")
    # COMMAND, not the list of every name: the list below names each command with its help (an alias is not one).
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    parser.commands["init"] = _init_parser(sub)
    groups: dict[str, argparse._SubParsersAction] = {}
    for command in COMMANDS:
        group, _, name = command.name.rpartition(" ")
        if group and group not in groups:
            # Its commands by name, as a missing one is named ("required: {backups,restore}", not the dest).
            names = [other.name.split()[1] for other in COMMANDS if other.name.startswith(f"{group} ")]
            groups[group] = sub.add_parser(group, help="database backups: list them, restore one").add_subparsers(
                dest=f"{group}_command", required=True, parser_class=Parser, metavar="{" + ",".join(names) + "}"
            )
        parser_for = (groups[group] if group else sub).add_parser
        parents = [common, _staged_parser(command.name)] if command.stages else [common]
        # An alias's usage as it is typed ("deployctl lock status"), not as argparse knows it ("lock-status").
        # (None: argparse's own "deployctl NAME".)
        typed = {alias: words for words, alias in ALIASES.items()}.get(command.name)
        prog = " ".join([parser.prog, *typed]) if typed else None
        # An alias gets no `help`: argparse lists only the parsers given one ("lock status" is in lock's help).
        listed: dict[str, Any] = {} if typed else {"help": command.help}
        parser.commands[command.name] = parser_for(name, parents=parents, description=command.help, prog=prog, **listed)
        command.arguments(parser.commands[command.name])
    return parser


def _staged_parser(run: str) -> Parser:
    """--diff, --skip-tags: only for the commands that run the deploy role's stages (elsewhere they would be
    accepted and mean nothing), with the optional stages of that run."""
    optional = optional_stages(run)
    staged = Parser(add_help=False)
    staged.add_argument(
        "--diff", action="store_true", help="record what changes (the current link, the service unit); -v prints it"
    )
    # No --tags: a deploy or a rollback runs every stage (playbooks/tasks/whole_run.yml). Not offered,
    # but answered with why, rather than argparse's "unrecognized arguments".
    staged.add_argument("--tags", action=RefuseTags, optional=optional, nargs="?", help=argparse.SUPPRESS)
    staged.add_argument(
        "--skip-tags",
        metavar="TAGS",
        action="append",
        help=f"leave out optional stages: {optional.replace(',', ', ')} (ansible-playbook --skip-tags), repeatable",
    )
    return staged


def _init_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """deployctl init: local only (no host, no playbook), so not a Command."""
    init = sub.add_parser("init", help="scaffold an environment for a new app (hosts, variables, vault)")
    init.add_argument(
        "directory", metavar="DIR", type=Path, help="the environment to create, e.g. inventories/production"
    )
    init.add_argument("--app", required=True, help="the app's name (deploy_app_name: user, service, /srv/NAME)")
    init.add_argument("--repo", required=True, help="the git URL the hosts fetch from (deploy_repo_url)")
    init.add_argument("--host", action="append", default=[], help="a host of the environment (repeatable)")
    init.add_argument("--ssh-user", default="deploy", help="the SSH user, able to become root (default deploy)")
    init.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME[=@FILE]",
        help="a secret of the app's environment, read from FILE or asked for; DATABASE_URL is always asked for "
        "and SECRET_KEY_BASE generated unless given (repeatable)",
    )
    init.add_argument("--vault-password-file", metavar="FILE", help="the new environment's vault password")
    init.add_argument("--json", action="store_true", help="print the files written as JSON")
    return init


def run_init(args: argparse.Namespace) -> int:
    """deployctl init: 0 with the files written, 5 (nothing written) on bad input."""
    answers = scaffold.Answers(args.directory, args.app, args.repo, tuple(args.host), args.ssh_user, tuple(args.secret))
    try:
        written = scaffold.init(answers, args.vault_password_file, interactive=sys.stdin.isatty())
    except runner.InputError as err:
        code, lines, written = ExitCode.BAD_INPUT, [str(err)], []
    except KeyboardInterrupt:
        code, lines, written = ExitCode.INTERRUPTED, ["interrupted: nothing was written"], []
    else:
        code = ExitCode.OK
        hosts = "check" if args.host else "list"
        deploy = f"deployctl deploy {args.directory} --ref REF"
        lines = [f"wrote {path}" for path in written] + [
            f"next: {hosts} the hosts in {args.directory / 'hosts.yml'}, then {deploy}"
        ]
    if args.json:
        print(json.dumps({"command": "init", "written": [str(p) for p in written], "exit_code": int(code),
                          "errors": [] if code == ExitCode.OK else lines}, indent=2))  # fmt: skip
    else:
        console_for(sys.stderr if code else sys.stdout).print(Text("\n".join(lines), style="red" if code else ""))
        say(console_for(sys.stdout), progress.verdict(code, None))
    return int(code)


# The flag that sets each variable the CLI passes (for the words of a conflict with -e).
FLAG_OF = {
    "deploy_ref": "--ref",
    "deploy_serial": "--serial",
    "deploy_on_batch_failure": "--on-batch-failure",
    "deploy_rollback_to": "--to",
    "deploy_rollback_restore_db": "--restore-db",
    "deploy_db_restore_backup": "--backup",
    "deploy_history_limit": "-n",
    "deploy_lock_message": "--message",
    "deploy_unlock_reason": "--reason",
    "deploy_hosts": "--limit",
}


def user_variables(values: list[str]) -> set[str]:
    """The names of the variables that -e values set, as far as they can be read without a vault: key=value
    words, a YAML/JSON mapping, @FILE (an encrypted or unreadable file: none, ansible-playbook reads it)."""
    names: set[str] = set()
    for value in values:
        text = value.strip()
        if text.startswith("@"):
            try:
                text = Path(text[1:]).expanduser().read_text()
            except (OSError, UnicodeDecodeError):
                continue
        elif not text.startswith(("{", "[")):
            with contextlib.suppress(ValueError):  # unbalanced quotes: ansible-playbook's to refuse
                names.update(word.partition("=")[0] for word in shlex.split(text) if "=" in word)
            continue
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        if isinstance(loaded, dict):
            names.update(str(name) for name in loaded)
    return names


def absolute_file(value: str) -> str:
    """-e @FILE with FILE named from where deployctl was started: ansible-playbook runs in the run's own
    directory (runner.py), where a relative name finds nothing. Raises runner.InputError for a FILE that is
    not there (Ansible's own words do not name it)."""
    if not value.startswith("@"):
        return value
    path = Path(value[1:]).expanduser().absolute()
    if not path.is_file():
        raise runner.InputError(f"-e {value}: there is no file {path}")
    return f"@{path}"


def request_for(args: argparse.Namespace, env: runner.Environment, vaults: runner.Vaults) -> runner.Request:
    """Raises runner.InputError for bad flags, and for a variable set both by a flag and by -e (the flag's
    value would win without a word)."""
    command = command_for(args)
    extravars: dict[str, Any] = command.extravars(args)
    if args.limit is not None:
        # The playbooks' own host selection: --limit would also drop deploy.yml's controller play. A pattern
        # of separators alone names no host: Ansible would take every host.
        extravars["deploy_hosts"] = given(
            args.limit,
            "--limit",
            "name the hosts or groups (an Ansible host pattern, e.g. --limit web1), or leave it out for every host",
            blank=" ,:",
        )
    doubled = sorted(set(extravars) & user_variables(args.extra_vars))
    if doubled:
        raise runner.InputError(
            "; ".join(f"{FLAG_OF.get(name, 'a flag')} and -e {name} both set {name}" for name in doubled)
            + ": give it once, one way or the other (the flag's value would win)"
        )
    return runner.Request(
        command="check" if command is PREVIEW else command.name.replace(" ", "-"),
        playbook=command.playbook,
        env=env,
        vaults=vaults,
        extravars=extravars,
        user_extravars=[
            absolute_file(given(value, "-e", "give VAR=VALUE, a YAML or JSON mapping, or @FILE; or leave -e out"))
            for value in args.extra_vars
        ],
        check=command.check,
        verbosity=args.verbose,
        playbook_options=playbook_options(args),
    )


def playbook_options(args: argparse.Namespace) -> list[str]:
    """The ansible-playbook options the flags stand for (--diff, --forks, --skip-tags).

    Raises runner.InputError for --forks below 1, and for a --skip-tags selection that skips every task
    (tagged and untagged, or all): the playbook cannot refuse that one, as none of its tasks runs. Which
    stages --skip-tags may leave out is the playbook's to say (playbooks/tasks/whole_run.yml), as for
    ansible-playbook and AWX users.
    """
    diff, skip_given = (getattr(args, name, None) for name in ("diff", "skip_tags"))
    options = ["--diff"] if diff else []
    if args.forks is not None:
        if args.forks < 1:
            raise runner.InputError(f"--forks {args.forks}: give at least 1")
        options += ["--forks", str(args.forks)]
    if skip_given:
        # Repeated, as ansible-playbook takes it: every value counts (argparse would keep the last). An empty
        # one (a script's unset variable) skips nothing, which is not what was asked for.
        skipped = ",".join(
            given(value, "--skip-tags", f"give the stages to leave out, e.g. --skip-tags {optional_stages('deploy')}")
            for value in skip_given
        )
        names = {name.strip() for name in skipped.split(",")}
        run = "rollback" if getattr(args, "command", "") == "rollback" else "deploy"
        if "all" in names or {"tagged", "untagged"} <= names:
            raise runner.InputError(
                f"--skip-tags {skipped} would skip every task: nothing would run, not even the check that refuses "
                f"it. Leave out only optional stages: --skip-tags {optional_stages(run)}"
            )
        options += ["--skip-tags", skipped]
    return options


def console_for(stream: Any) -> Console:
    # Off a terminal rich assumes 80 columns; the tables need more.
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 120
    return Console(file=stream, width=width)


def say(console: Console, words: RenderableType) -> None:
    """Print messages and the closing line: wrapped at a terminal's width, but one line each off a terminal (a CI
    job's log, a file), so that a path or an error is never cut in two for the reader who greps for it."""
    console.print(words, soft_wrap=not console.is_terminal)


def split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """deployctl's own arguments, and the command after `--` (exec's), aliases applied."""
    argv = list(argv)
    alias = ALIASES.get(tuple(argv[:2]))
    if alias:
        argv[:2] = [alias]
    if "--" in argv:
        split = argv.index("--")
        return argv[:split], argv[split + 1 :]
    return argv, []


def main(argv: list[str] | None = None) -> int:
    own, exec_argv = split_command(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, unknown = parser.parse_known_args(own)
    if unknown:
        # exec's command given without `--`: its words are no arguments of deployctl's.
        after = " (the command to run goes after --: deployctl exec ENV -- COMMAND...)" * (args.command == "exec")
        parser.commands[command_name(args)].error(f"unrecognized arguments: {' '.join(unknown)}{after}")
    if args.command == "init":
        return run_init(args)
    args.exec_argv = exec_argv
    command = command_for(args)
    out = console_for(sys.stdout)
    talk = console_for(sys.stderr) if command.data_on_stdout else out
    document: dict[str, Any] = {"command": command.name, "check": command.check, "hosts": {}, "errors": []}
    try:
        # The command's own input first: a missing command is named before any password is asked for.
        command.extravars(args)
        confirm_restore(args)
        env = runner.Environment.find(args.env)
        document.update(environment=env.name, inventory=str(env.inventory))
        vaults = runner.Vaults.resolve(
            env, args.vault_password_file, args.vault_id, interactive=sys.stdin.isatty(), required=command.needs_vault
        )
        run, finished = execute(args, out, talk, command.title(args, env.name), request_for(args, env, vaults))
    # Refused before ansible-playbook started: the message and the closing line both on stderr, as a usage error's
    # (stdout keeps only what a run prints: its tables, or the --json document).
    except runner.InputError as err:
        # Its message names the problem: the usual causes of exit 5 may not be it (a missing --reason, --yes).
        refused = "bad input (the message above says what to fix): nothing was run"
        return finish(args, console_for(sys.stderr), document, ExitCode.BAD_INPUT, [str(err)], meaning=refused)
    except KeyboardInterrupt:
        stopped = ["interrupted before ansible-playbook started"]
        return finish(args, console_for(sys.stderr), document, ExitCode.INTERRUPTED, stopped)
    except Exception as err:
        return unexpected(args, talk, document, err)

    if command.streams(args) and finished.status == "canceled":
        # Ctrl-C ends a follow: what it printed is its result, unless a host stopped following meanwhile.
        lost = [f"{name}: {host.failure_message()}" for name, host in run.targets.items() if host.failure_message()]
        return finish(args, talk, document, ExitCode.FAILED if lost else ExitCode.OK, lost)
    run.interrupted = finished.status == "canceled"
    results = outcome.results(run)
    document.update(
        ref=getattr(args, "ref", None),
        release=outcome.run_release(results),
        hosts=results,
        artifacts=str(finished.artifacts),
        notifications=outcome.notifications(run),
    )
    if not args.json and results:
        out.print(command.table(run, results, out.width), soft_wrap=command.soft_wrap)
        say(talk, progress.problems(results, getattr(args, "env", "")))
        say(talk, progress.notifications(document["notifications"]))
    code = outcome.run_exit_code(run, results, finished.rc, finished.status)
    status = command.status(results) if code == ExitCode.OK else None
    meaning = None
    hosts_ok = outcome.exit_code(outcome.outcome_of(result) for result in results.values()) == ExitCode.OK
    if code == ExitCode.FAILED and hosts_ok and outcome.local_hook_failures(run):
        # Every host deployed; only the deploy_local_after command failed (Kamal's post-deploy hook fails the run).
        meaning = progress.LOCAL_HOOK_FAILED
    else:
        meaning = outcome.part_way(code, results) or outcome.unhealthy(results) or outcome.settled(code, results)
    problems = outcome.run_problems(run, results, getattr(args, "limit", None))
    return finish(args, talk, document, code, problems, status, meaning)


def unexpected(args: argparse.Namespace, out: Console, document: dict[str, Any], err: Exception) -> int:
    """An error nothing expected: one line saying what and where the artifacts are; -v adds the traceback."""
    artifacts = getattr(err, "artifacts", None)
    message = str(err) if isinstance(err, runner.RunError) else f"{type(err).__name__}: {err}"
    line = f"deployctl stopped on an unexpected error, the hosts' state is unknown: {message}"
    if artifacts:
        document["artifacts"] = str(artifacts)
        line += f" (artifacts: {artifacts})"
    if args.verbose:
        traceback.print_exception(err, file=sys.stderr)
    else:
        line += "; -v shows the traceback"
    return finish(args, out, document, ExitCode.FAILED, [line])


def execute(
    args: argparse.Namespace, out: Console, talk: Console, title: str, request: runner.Request
) -> tuple[Run, runner.Finished]:
    """Run the request, showing progress on `talk` unless the output is JSON; a follow's lines go to `out`."""
    run = Run()
    if args.json:
        return run, runner.run(request, run.feed)
    if command_for(args).streams(args):
        talk.print(Text(f"{title} (Ctrl-C ends)", style="bold"))
        printer = logs.Printer(out, talk)

        def on_line(event: Mapping[str, Any]) -> None:
            run.feed(event)
            printer(event)

        return run, runner.run(request, on_line)
    with progress.Progress(talk, run, title) as live:

        def on_event(event: Mapping[str, Any]) -> None:
            run.feed(event)
            if args.verbose and event.get("stdout"):
                # ansible-playbook writes to a pty: CRLF line ends, which rich reads as "rewrite the line".
                talk.print(Text.from_ansi(event["stdout"].replace("\r\n", "\n")))
            live.update()

        return run, runner.run(request, on_event)


def report_file(value: str) -> Path:
    """--report FILE: a file in a directory that exists (checked before any host is touched)."""
    path = Path(value)
    if not path.parent.is_dir() or path.is_dir():
        raise argparse.ArgumentTypeError(f"{value!r}: not a file in an existing directory")
    return path


def finish(
    args: argparse.Namespace,
    out: Console,
    document: dict[str, Any],
    code: ExitCode,
    errors: list[str],
    status: int | None = None,
    meaning: str | None = None,
) -> int:
    """Write the --json document and --report, print the errors and the verdict; the exit code: `code`, or the
    command's own `status` when given (exec)."""
    if status is not None:
        document.update(exit_code=status, result="ok" if status == 0 else "command_failed", errors=errors)
    else:
        document.update(exit_code=int(code), result=code.name.lower(), errors=errors)
    if args.report:
        args.report.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    if args.json:
        print(json.dumps(document, indent=2, sort_keys=True, default=str))
    else:
        err = console_for(sys.stderr)
        for error in errors:
            say(err, Text(error, style="red"))
        meaning = progress.COMMAND_STATUS if status is not None else meaning
        if document["exit_code"] == ExitCode.FAILED and command_for(args).reads_only and meaning is None:
            meaning = progress.READ_FAILED
        say(out, progress.verdict(document["exit_code"], document.get("artifacts"), meaning))
    return int(document["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
