"""_caller.gone(): whether anything still reads a module's stdout (its run was not interrupted)."""

from __future__ import annotations

import os
import socket
import tempfile

from ansible_collections.deployctl.core.plugins.module_utils._caller import gone


def test_a_pipe_whose_reader_closed_is_gone_and_one_still_read_is_not() -> None:
    read, write = os.pipe()
    try:
        assert gone(write, wait=0.01) is False
        # The newline it wrote, which Ansible skips before the module's JSON.
        assert os.read(read, 10) == b"\n"
        os.close(read)
        assert gone(write) is True
    finally:
        os.close(write)


def test_a_socket_whose_peer_reads_no_more_is_gone() -> None:
    ours, theirs = socket.socketpair()
    with ours:
        theirs.shutdown(socket.SHUT_RD)
        assert gone(ours.fileno(), wait=0.01) is True
        theirs.close()


def test_a_file_cannot_tell_and_is_not_gone() -> None:
    with tempfile.TemporaryFile() as file:
        assert gone(file.fileno(), wait=0.01) is False
