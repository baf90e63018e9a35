# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the host's own tools (systemctl, journalctl, useradd) as root, with a timeout.

A tool that cannot be started, outlives its timeout or fails is a DeployError that
says what was being done ("cannot restart shop: ..."), with the tool's own words.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError

# Where root's tools are, also when the module's PATH lacks them (a non-login shell).
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def run_tool(argv: list[str], timeout: float, what: str) -> subprocess.CompletedProcess[str]:
    """Run `argv` to `what` ("restart shop"); return the finished process, whatever its exit code.

    C locale, no pager, no colors, no stdin. argv[0] is looked up on PATH, then in the
    sbin directories. Raises DeployError, "cannot WHAT: ...", when it cannot be started
    or is still running after `timeout` seconds (it is killed then).
    """
    command = " ".join(argv)
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    executable = shutil.which(argv[0], path=search) or argv[0]
    env = dict(os.environ, LC_ALL="C", SYSTEMD_PAGER="", SYSTEMD_COLORS="0")
    try:
        return subprocess.run(
            [executable, *argv[1:]],
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise DeployError(f"cannot {what}: `{command}` did not finish within {timeout:g}s") from None
    except OSError as err:
        raise DeployError(f"cannot {what}: cannot run `{command}`: {err}") from None


def call_tool(argv: list[str], timeout: float, what: str) -> None:
    """Run `argv` to `what`, which must succeed.

    Raises DeployError as run_tool does, and when it exits non-zero: "cannot WHAT: `COMMAND`
    exited N: STDERR", with the details `rc` and `stderr`.
    """
    proc = run_tool(argv, timeout, what)
    if proc.returncode != 0:
        stderr = proc.stderr.strip()
        raise DeployError(
            f"cannot {what}: `{' '.join(argv)}` exited {proc.returncode}: {stderr or '(no error output)'}",
            rc=proc.returncode,
            stderr=stderr,
        )
