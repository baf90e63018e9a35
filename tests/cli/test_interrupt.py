"""Ctrl-C stops every process of a run: ansible-playbook's workers and SSH clients run in sessions of their own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from deployctl import interrupt

# A process that starts a child in a session of its own (as ansible-playbook starts its workers), then waits.
TREE = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
    "time.sleep(60)\n"
)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_cancel_callback_kills_the_whole_tree_once_a_signal_came() -> None:
    parent = subprocess.Popen([sys.executable, "-c", TREE])
    try:
        deadline = time.monotonic() + 10
        while len(interrupt.descendants(parent.pid)) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        [child] = interrupt.descendants(parent.pid)
        cancel = interrupt.cancel_callback(root=parent.pid)
        assert cancel is not None
        assert cancel() is False and alive(child)

        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: ansible-runner's handler notes it

        assert cancel() is True
        deadline = time.monotonic() + 10
        while alive(child):
            assert time.monotonic() < deadline, "the worker in a session of its own outlived the cancel"
            time.sleep(0.05)
        assert cancel() is True
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        parent.kill()
        parent.wait()


def test_descendants_reads_children_and_theirs_and_no_others() -> None:
    parent = subprocess.Popen([sys.executable, "-c", TREE])
    try:
        deadline = time.monotonic() + 10
        while not interrupt.descendants(parent.pid):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert os.getpid() not in interrupt.descendants(parent.pid)
        assert parent.pid in interrupt.descendants(os.getpid())
    finally:
        interrupt.kill_tree(parent.pid)
        parent.kill()
        parent.wait()
