# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run an application command as the app user, its output kept in a log file.

The module drops privileges itself (no `become_user` round trip, no temp files
for an unprivileged user), starts from a clean environment so nothing of the
deploy session leaks into the build, and passes no secret through argv or the
environment: the app reads its secrets from its config file.
"""

from __future__ import annotations

import collections
import contextlib
import glob
import json
import os
import pwd
import signal
import subprocess
import time
from dataclasses import dataclass

from ansible_collections.deployctl.core.plugins.module_utils._errors import InputError

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Outcome:
    rc: int
    seconds: float
    tail: list[str]
    timed_out: bool


class UnknownUser(InputError):
    """The host has no such user: the user can fix it (create it, or name another)."""

    def __init__(self, user: str) -> None:
        super().__init__(
            f"user {user!r} does not exist on the host: create it, "
            "or let the role create it (deploy_app_user_manage: true)"
        )


def user_ids(user: str) -> tuple[int, int, str]:
    """The uid, the primary gid and the home directory of `user`. Raises UnknownUser."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise UnknownUser(user) from None
    return entry.pw_uid, entry.pw_gid, entry.pw_dir


def run_as(
    argv: list[str],
    user: str,
    chdir: str,
    log_path: str,
    environment: dict[str, str],
    timeout: float,
    tail_lines: int = 40,
    pidfile: str | None = None,
) -> Outcome:
    uid, gid, home = user_ids(user)
    env = {
        "HOME": home,
        "USER": user,
        "LOGNAME": user,
        "PATH": SAFE_PATH,
        "LANG": "C.UTF-8",
    }
    env.update(environment)
    started = time.monotonic()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    timed_out = False
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=chdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            user=uid,
            group=gid,
            extra_groups=os.getgrouplist(user, gid),
            start_new_session=True,
        )
        if pidfile:
            # If this deploy dies (kill -9, dropped SSH) the command may outlive it;
            # the next deploy finds it here and kills its process group.
            with open(pidfile, "w", encoding="utf-8") as handle:
                json.dump({"pid": proc.pid, "argv": argv, "chdir": chdir}, handle)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
        finally:
            if pidfile:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(pidfile)
    return Outcome(
        rc=rc, seconds=round(time.monotonic() - started, 2), tail=read_tail(log_path, tail_lines), timed_out=timed_out
    )


def kill_leftovers(directory: str) -> list[dict]:
    """Kill commands left running by an interrupted deploy; return what was found."""
    found = []
    for pidfile in sorted(glob.glob(os.path.join(directory, "*.json"))):
        try:
            with open(pidfile, encoding="utf-8") as handle:
                record = json.load(handle)
            os.killpg(int(record["pid"]), signal.SIGKILL)
            record["killed"] = True
        except (ValueError, KeyError, ProcessLookupError):
            record = {"pidfile": pidfile, "killed": False}
        found.append(record)
        os.unlink(pidfile)
    return found


def read_tail(path: str, lines: int) -> list[str]:
    with open(path, "rb") as handle:
        last = collections.deque(handle, maxlen=lines)
    return [line.decode("utf-8", errors="replace").rstrip("\n") for line in last]
