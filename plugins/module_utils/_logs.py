# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a log from where the last read stopped: a file (with rotation) or the journal.

Pure parts (no module, no subprocess): the deploy_logs module and the unit tests use them.

A file's cursor is {"inode": INODE, "offset": BYTES}: the offset is just past the last whole
line returned, so a line still being written is returned once whole. A different inode (the
file was rotated: renamed and created again) or a file shorter than the offset (truncated, as
logrotate's copytruncate does) starts again at its beginning. A journal's cursor is the
journal's own (journalctl --show-cursor).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

# Read at most this much of a file per call: a follow that fell far behind catches up over several calls.
MAX_READ_BYTES = 1024 * 1024
# Longer lines are cut (a log line is not a data dump; the result travels back over SSH).
MAX_LINE_CHARS = 4000
CURSOR_PREFIX = "-- cursor: "
# A follow's state unused this long belongs to a follow that ended (Ctrl-C, a lost connection).
STALE_STATE_SECONDS = 3600


def _decode(raw: bytes) -> list[str]:
    return [line[:MAX_LINE_CHARS] for line in raw.decode("utf-8", errors="replace").split("\n")]


def tail_file(path: str, count: int, block: int = 65536) -> tuple[list[str], dict[str, int]]:
    """The last `count` lines of a file (a last line without its newline included), and the cursor at its end.

    Reads backwards in blocks: a large log costs only its last lines. Raises OSError.
    """
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        size = info.st_size
        data = b""
        position = size
        while position > 0 and data.count(b"\n") <= count:
            step = min(block, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    # The cursor stays before a line still being written: a follow returns it once whole.
    whole = data.rfind(b"\n") + 1
    cursor = {"inode": info.st_ino, "offset": size - len(data) + whole}
    if not data or count <= 0:
        return [], cursor
    lines = _decode(data[:-1] if data.endswith(b"\n") else data)
    if position > 0:
        lines = lines[1:]  # the first one is cut: it started before what was read
    return lines[-count:], cursor


def read_file_since(path: str, cursor: dict[str, Any]) -> tuple[list[str], dict[str, int], bool]:
    """The whole lines written to a file since `cursor`, the new cursor, and whether it was rotated or truncated.

    Raises OSError.
    """
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        offset = int(cursor.get("offset", 0))
        restarted = info.st_ino != cursor.get("inode") or info.st_size < offset
        if restarted:
            offset = 0
        handle.seek(offset)
        data = handle.read(MAX_READ_BYTES)
    whole = data.rfind(b"\n") + 1
    if whole == 0 and len(data) == MAX_READ_BYTES:
        whole = len(data)  # a line longer than a whole read: cut rather than wait for its end forever
    lines = _decode(data[: whole - 1]) if whole else []
    return lines, {"inode": info.st_ino, "offset": offset + whole}, restarted


def journal_argv(matches: list[str], lines: int, cursor: str | None) -> list[str]:
    """journalctl's arguments: the last `lines` entries, or (with a cursor) those after it, and the new cursor."""
    argv = ["journalctl", "--no-pager", "--quiet", "--show-cursor", "--output=short-iso", *matches]
    if cursor:
        return [*argv, f"--after-cursor={cursor}"]
    return [*argv, f"--lines={lines}"]


def parse_journal(output: str, previous: str | None) -> tuple[list[str], str | None]:
    """journalctl --show-cursor's output: the entries' lines, and the cursor it ends with (else `previous`).

    journalctl prints no cursor line when there was no entry to print.
    """
    lines = output.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    cursor = previous
    if lines and lines[-1].startswith(CURSOR_PREFIX):
        cursor = lines.pop()[len(CURSOR_PREFIX) :]
    return [line[:MAX_LINE_CHARS] for line in lines], cursor


def unit_name(service: str) -> str:
    """systemd's full unit name: shop -> shop.service (a name with a type suffix stays)."""
    return service if "." in service else f"{service}.service"


def state_path(directory: str, follow: str, key: str) -> str:
    """The state file of one follow of one log: named by a hash, whatever characters the follow ID has."""
    digest = hashlib.sha256(f"{follow}\0{key}".encode()).hexdigest()[:32]
    return os.path.join(directory, f"logs-{digest}.json")


def load_state(path: str) -> dict[str, Any] | None:
    """A follow's saved cursor, None when there is none (its first call) or it is unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def save_state(directory: str, path: str, state: dict[str, Any]) -> None:
    """Write a follow's cursor: the directory 0700 and the file 0600 (root's: the cursor says what was read)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    os.replace(tmp, path)


def prune_states(directory: str, now: float | None = None, keep: str | None = None) -> list[str]:
    """Remove the follow states unused for STALE_STATE_SECONDS (`keep` aside); returns what was removed."""
    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        path = os.path.join(directory, name)
        if not name.startswith("logs-") or path == keep:
            continue
        try:
            if now - os.stat(path).st_mtime > STALE_STATE_SECONDS:
                os.unlink(path)
                removed.append(path)
        except OSError:
            continue  # another follow removed it
    return removed
