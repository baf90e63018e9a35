# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Sentry release and deploy for one run, through sentry-cli on the controller.

The release version is the full commit SHA (what Sentry's docs recommend when the SDK reports
it: a git SHA is unique per build; the app's SDK must send the same `release`). The token goes
to sentry-cli in its environment (SENTRY_AUTH_TOKEN), never in its argv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from ansible_collections.deployctl.core.plugins.plugin_utils._notify_run import RunData, Sent, scrub

INSTALL_HINT = (
    "install it on the controller (npm install -g @sentry/cli@3.8.0, or the binary from "
    "https://github.com/getsentry/sentry-cli/releases) or point deploy_sentry_cli at it"
)


@dataclass(frozen=True)
class SentryTarget:
    url: str
    org: str
    project: str
    token: str
    cli: str = "sentry-cli"
    repo: str = ""  # the repository's name in Sentry, for set-commits (REPO@SHA)

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "SENTRY_URL": self.url,
            "SENTRY_ORG": self.org,
            "SENTRY_PROJECT": self.project,
            "SENTRY_AUTH_TOKEN": self.token,
            # No look for a newer sentry-cli on every deploy.
            "SENTRY_DISABLE_UPDATE_CHECK": "true",
        }


def commands(run: RunData, repo: str) -> list[list[str]]:
    """The sentry-cli calls, in order (without the program): create the release, set its commit
    (only with a repository: --auto needs a git checkout, which the controller has not), finalize
    it, and record the deploy to the environment with its start and end."""
    version = run.commit
    calls = [["releases", "new", version]]
    if repo:
        calls.append(["releases", "set-commits", version, "--commit", f"{repo}@{version}"])
    calls.append(["releases", "finalize", version])
    calls.append(
        [
            "deploys",
            "new",
            "--release",
            version,
            "--env",
            run.environment,
            "--name",
            run.release,
            "--started",
            str(int(run.started_at)),
            "--finished",
            str(int(run.finished_at)),
        ]
    )
    return calls


def error_text(output: str) -> str:
    """sentry-cli's error lines, without its backtrace and its advice to add --log-level."""
    lines = []
    for line in output.splitlines():
        if line.startswith(("Stack backtrace", "Add --log-level")):
            break
        if line.strip():
            lines.append(line.strip())
    return " ".join(lines)


def release(run: RunData, target: SentryTarget, timeout: float) -> Sent:
    if not run.commit:
        return Sent(False, "Sentry: no host reported the commit: there is no release version to send")
    program = shutil.which(target.cli)
    if program is None:
        return Sent(False, f"Sentry: {target.cli!r} was not found: {INSTALL_HINT}")
    env = target.environment()
    for argv in commands(run, target.repo):
        try:
            proc = subprocess.run([program, *argv], env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Sent(False, f"Sentry: sentry-cli {' '.join(argv[:2])} took more than {timeout:g} s", rc=-1)
        if proc.returncode != 0:
            said = scrub(error_text(proc.stderr or proc.stdout), [target.token])
            return Sent(
                False,
                f"Sentry: sentry-cli {' '.join(argv[:2])} exited {proc.returncode}: {said}",
                rc=proc.returncode,
                extra={"version": run.commit},
            )
    return Sent(
        True, f"Sentry: release {run.commit[:12]} deployed to {run.environment}", rc=0, extra={"version": run.commit}
    )


def target(settings: Mapping[str, str]) -> SentryTarget:
    return SentryTarget(
        url=settings["deploy_sentry_url"],
        org=settings["deploy_sentry_org"],
        project=settings["deploy_sentry_project"],
        token=settings["deploy_sentry_token"],
        cli=settings["deploy_sentry_cli"] or "sentry-cli",
        repo=settings["deploy_sentry_repo"],
    )
