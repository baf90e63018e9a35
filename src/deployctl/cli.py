"""deployctl: deploy, roll back and inspect releases from the shell.

    deployctl deploy ENV --ref REF [--limit HOSTS] [--check]
    deployctl rollback ENV [--to RELEASE]
    deployctl releases ENV
    deployctl status ENV
    deployctl unlock ENV --reason TEXT

Each command runs one of the collection's playbooks through ansible-runner; the exit
codes are listed in docs/cli.md and in `deployctl --help`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from rich.console import Console
from rich.text import Text

from . import __version__, outcome, progress, runner
from .outcome import ExitCode, Run

Results = dict[str, dict[str, Any]]

EPILOG = """exit codes:
  0    success
  1    failed, and what was serving before serves again (reverted, or stopped before the switch)
  2    failed and NOT reverted: a host may serve a broken release, or its state is unknown
  3    another deploy holds the lock on a host
  4    a host could not be reached
  5    bad input (unknown environment, missing ref, vault password, rejected variables): nothing changed
  130  interrupted

vault passwords:
  --vault-id LABEL@SOURCE (repeatable) gives vault id LABEL's password: SOURCE is a file, an
  executable that prints it, or "prompt"; $DEPLOYCTL_VAULT_PASSWORD_<LABEL> gives it too.
  The environment's own vault id (its name) comes from --vault-password-file, else
  $DEPLOYCTL_VAULT_PASSWORD_<ENV> or $DEPLOYCTL_VAULT_PASSWORD, else a prompt when nothing else
  gave a password and the inventory has vault-encrypted content.
"""


class Parser(argparse.ArgumentParser):
    """Usage errors are bad input (exit 5), not argparse's 2, which means a failed deploy here."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(ExitCode.BAD_INPUT, f"{self.prog}: error: {message}\n")


@dataclass
class Command:
    """The playbook a subcommand runs, and how its results are read from the run."""

    playbook: str
    results: Callable[[Run], Results]
    check: bool = False


COMMANDS = {
    "deploy": Command("deploy.yml", outcome.deploy_results),
    # deploy --check: the status playbook previews the deploy's stage and cleanup in check mode.
    "check": Command("status.yml", outcome.preview_results, check=True),
    "rollback": Command("rollback.yml", outcome.rollback_results),
    "releases": Command("releases.yml", outcome.releases_results),
    "status": Command("status.yml", outcome.status_results),
    "unlock": Command("unlock.yml", outcome.unlock_results),
}


def build_parser() -> argparse.ArgumentParser:
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
    common.add_argument("--json", action="store_true", help="print a machine-readable result instead of tables")
    common.add_argument("-v", "--verbose", action="count", default=0, help="ansible-playbook verbosity (-vvv...)")

    parser = Parser(
        prog="deployctl",
        description="Release-based deploys of Rails-style applications with Ansible.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"deployctl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    deploy = sub.add_parser("deploy", parents=[common], help="deploy a ref; revert on failure")
    deploy.add_argument("--ref", required=True, help="branch, tag or commit to deploy")
    deploy.add_argument(
        "--check",
        action="store_true",
        help="preview only: the commit, the migrations that would run, the releases cleanup would remove",
    )
    rollback = sub.add_parser("rollback", parents=[common], help="back to the previous good release")
    rollback.add_argument("--to", metavar="RELEASE", help="release ID to go back to (default: the previous good one)")
    sub.add_parser("releases", parents=[common], help="the releases on each host")
    sub.add_parser("status", parents=[common], help="current release, lock holder and health of each host")
    unlock = sub.add_parser("unlock", parents=[common], help="force a deploy lock open, saying why")
    unlock.add_argument("--reason", required=True, help="why (recorded in each host's journal)")
    return parser


def request_for(args: argparse.Namespace, name: str, env: runner.Environment, vaults: runner.Vaults) -> runner.Request:
    extravars: dict[str, Any] = {}
    if args.limit:
        # The playbooks' own host selection: --limit would also drop deploy.yml's controller play.
        extravars["deploy_hosts"] = args.limit
    if args.command == "deploy":
        extravars["deploy_ref"] = args.ref
    if args.command == "rollback" and args.to:
        extravars["deploy_rollback_to"] = args.to
    if args.command == "unlock":
        if not args.reason.strip():
            raise runner.InputError("--reason is empty: say why the lock is forced open")
        extravars["unlock_reason"] = args.reason
    return runner.Request(
        command=name,
        playbook=COMMANDS[name].playbook,
        env=env,
        vaults=vaults,
        extravars=extravars,
        user_extravars=args.extra_vars,
        check=COMMANDS[name].check,
        verbosity=args.verbose,
    )


def console_for(stream: Any) -> Console:
    # Off a terminal rich assumes 80 columns; the tables need more.
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 120
    return Console(file=stream, width=width)


def title_of(args: argparse.Namespace, env: runner.Environment) -> str:
    if args.command == "deploy":
        return f"{'Preview of a deploy' if args.check else 'Deploying'} {args.ref} to {env.name}"
    return f"{args.command.capitalize()} of {env.name}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name = "check" if args.command == "deploy" and args.check else args.command
    out = console_for(sys.stdout)
    document: dict[str, Any] = {"command": args.command, "check": name == "check", "hosts": {}, "errors": []}
    try:
        env = runner.Environment.find(args.env)
        document.update(environment=env.name, inventory=str(env.inventory))
        vaults = runner.Vaults.resolve(env, args.vault_password_file, args.vault_id, interactive=sys.stdin.isatty())
        run, finished = execute(args, out, env, request_for(args, name, env, vaults))
    except runner.InputError as err:
        return finish(args, out, document, ExitCode.BAD_INPUT, [str(err)])
    except KeyboardInterrupt:
        return finish(args, out, document, ExitCode.INTERRUPTED, ["interrupted before ansible-playbook started"])
    except Exception as err:
        return unexpected(args, out, document, err)

    run.interrupted = finished.status == "canceled"
    results = COMMANDS[name].results(run)
    document.update(
        ref=getattr(args, "ref", None),
        release=(run.stats.get("deployctl") or {}).get("release"),
        hosts=results,
        artifacts=str(finished.artifacts),
    )
    if not args.json and results:
        out.print(progress.summary(name, run, results, out.width))
        out.print(progress.problems(results))
    code = outcome.run_exit_code(run, results, finished.rc, finished.status)
    return finish(args, out, document, code, outcome.run_problems(run, results))


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
    args: argparse.Namespace, out: Console, env: runner.Environment, request: runner.Request
) -> tuple[Run, runner.Finished]:
    """Run the request, showing progress unless the output is JSON."""
    run = Run()
    if args.json:
        return run, runner.run(request, run.feed)
    with progress.Progress(out, run, title_of(args, env)) as live:

        def on_event(event: Mapping[str, Any]) -> None:
            run.feed(event)
            if args.verbose and event.get("stdout"):
                # ansible-playbook writes to a pty: CRLF line ends, which rich reads as "rewrite the line".
                out.print(Text.from_ansi(event["stdout"].replace("\r\n", "\n")))
            live.update()

        return run, runner.run(request, on_event)


def finish(args: argparse.Namespace, out: Console, document: dict[str, Any], code: ExitCode, errors: list[str]) -> int:
    document.update(exit_code=int(code), result=code.name.lower(), errors=errors)
    if args.json:
        print(json.dumps(document, indent=2, sort_keys=True, default=str))
    else:
        err = console_for(sys.stderr)
        for error in errors:
            err.print(Text(error, style="red"))
        out.print(progress.verdict(code, document.get("artifacts")))
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
