"""Ctrl-C (SIGINT) and SIGTERM stop the whole run, not only ansible-playbook.

ansible-runner answers them by killing ansible-playbook's process group. But ansible-playbook runs each task in a
worker process of a session of its own (and each SSH client in another): those outlive the kill, each finishing its
module call and reading its result. A module call that goes on to change what serves (a one-host batch's stage call:
the migrations and the switch after its build) asks whether its run still reads it; with its worker and SSH client
left running, it does. So the cancel callback given to ansible-runner kills every process the run started first:
the calls on the hosts then find their run gone, and stop before the next step that changes what serves.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

from ansible_runner.utils import signal_handler


def descendants(root: int, proc: Path = Path("/proc")) -> list[int]:
    """The processes under `root` (its children, theirs...), from /proc's stat files; [] where /proc is not Linux's."""
    children: dict[int, list[int]] = {}
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses, so read after its last ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def kill_tree(root: int) -> list[int]:
    """SIGKILL every process under `root`; return their PIDs (those already gone included)."""
    pids = descendants(root)
    for pid in pids:
        # Gone meanwhile: nothing to kill.
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return pids


def cancel_callback(root: int | None = None) -> Callable[[], bool] | None:
    """ansible-runner's cancel callback: False until SIGINT or SIGTERM came; then, once, it kills every process
    under `root` (this process by default: ansible-playbook, its workers, their SSH clients) and is True from then
    on. None outside the main thread (only it can take signals), as ansible-runner's own."""
    asked = signal_handler()
    if asked is None:
        return None
    killed = False

    def cancel() -> bool:
        nonlocal killed
        if not asked():
            return False
        if not killed:
            kill_tree(os.getpid() if root is None else root)
            killed = True
        return True

    return cancel
