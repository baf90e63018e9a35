# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the run that called a module is still there to read its result.

A module call goes on when its run is interrupted (Ctrl-C, a killed ansible-playbook or AWX job, a dropped SSH
connection): Ansible cannot stop it on the host. Where a call would go on to change what serves (a one-host batch's
stage call: the migrations and the switch after its build), it asks first, so that an interrupted run stops there, as
the separate calls of a larger batch stop: the controller never starts the next one.

The module's result goes to its stdout: the SSH session's pipe (or the local connection's). When the run is gone, its
SSH client (Ansible starts it in a session of its own, so Ctrl-C and a killed job leave it running) still holds the
session open until it has something to write to the run that is no longer there: so gone() writes it a newline
(Ansible skips what comes before a module's JSON), on which it exits and the session closes; poll() then reports an
error (POLLERR) or a hang-up (POLLHUP) on the pipe, or the write itself fails (EPIPE) when the session was closed
already (a dropped connection).
"""

from __future__ import annotations

import os
import select

# Seconds to wait for the session to close after the newline: the controller's SSH client exits on it and the SSH
# server closes the pipe within one round trip (about a millisecond between containers here). A longer round trip
# goes undetected: the call then goes on, as it did before it asked.
WAIT = 0.1


def gone(stream: int = 1, wait: float = WAIT) -> bool:
    """True when nothing reads the module's stdout any more (`stream`: its file descriptor): the run that called it
    was interrupted, killed or lost its connection. Writes one newline to it and waits up to `wait` seconds for the
    session to close. False when it is read, or cannot be told (a file, a terminal, a test's capture)."""
    try:
        os.write(stream, b"\n")
        poller = select.poll()
        # No event asked for: poll() still reports POLLERR, POLLHUP and POLLNVAL.
        poller.register(stream, 0)
        events = poller.poll(int(wait * 1000))
    except BrokenPipeError:
        return True
    except (OSError, ValueError):
        return False
    return any(mask & (select.POLLERR | select.POLLHUP) for _, mask in events)
