# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The on-host layout of one application, and the atomic file operations on it.

DEPLOY_TO/repo/               cached bare mirror
DEPLOY_TO/releases/ID/        one directory per release, never modified once built
DEPLOY_TO/releases/.staging-ID  a release being built (not yet a release)
DEPLOY_TO/shared/             directories and files linked into every release
DEPLOY_TO/current             -> releases/ID, switched by rename
DEPLOY_TO/.deployctl/         lock, per-release state (ID.json, ID.service), journal, build logs (root only)
DEPLOY_TO/.deployctl/runs/    run records of sliced deploys (RUN_ID.json), on the coordinator host only
"""

from __future__ import annotations

import json
import os
import re
import tempfile

RELEASE_ID_PATTERN = re.compile(r"^[0-9]{8}T?[0-9]{6}Z?(-[A-Za-z0-9._-]+)?$")
STAGING_PREFIX = ".staging-"


class Layout:
    def __init__(self, deploy_to: str) -> None:
        self.root = os.path.abspath(deploy_to)
        self.repo = os.path.join(self.root, "repo")
        self.releases = os.path.join(self.root, "releases")
        self.shared = os.path.join(self.root, "shared")
        self.current = os.path.join(self.root, "current")
        self.meta = os.path.join(self.root, ".deployctl")
        self.states = os.path.join(self.meta, "releases")
        self.logs = os.path.join(self.meta, "logs")
        self.journal = os.path.join(self.meta, "journal.jsonl")
        self.lock = os.path.join(self.meta, "lock")
        self.running = os.path.join(self.meta, "running")
        self.runs = os.path.join(self.meta, "runs")

    def release(self, release_id: str) -> str:
        return os.path.join(self.releases, release_id)

    def staging(self, release_id: str) -> str:
        return os.path.join(self.releases, STAGING_PREFIX + release_id)

    def unit(self, release_id: str, kind: str = "service") -> str:
        """A systemd unit recorded with a release (kind "service" or "socket"), installed when it is switched to."""
        return os.path.join(self.states, f"{release_id}.{kind}")

    def log(self, release_id: str, stage: str) -> str:
        return os.path.join(self.logs, f"{release_id}-{stage}.log")

    def run_record(self, run_id: str) -> str:
        """The record that the slices of one sliced deploy share (see _run_record)."""
        return os.path.join(self.runs, f"{run_id}.json")

    def pidfile(self, stage: str) -> str:
        return os.path.join(self.running, f"{stage}.json")

    def current_release(self) -> str | None:
        """The release ID `current` points at, read from the link, never guessed."""
        try:
            target = os.readlink(self.current)
        except OSError:
            return None
        return os.path.basename(os.path.normpath(target))

    def staging_dirs(self) -> list[str]:
        try:
            names = os.listdir(self.releases)
        except FileNotFoundError:
            return []
        return sorted(os.path.join(self.releases, n) for n in names if n.startswith(STAGING_PREFIX))

    def ensure(self, app_uid: int, app_gid: int) -> None:
        """Create the missing directories of the layout; those that exist keep their mode and owner."""
        for path, mode, uid, gid in (
            (self.root, 0o755, 0, 0),
            (self.releases, 0o755, 0, 0),
            (self.shared, 0o755, app_uid, app_gid),
            (self.meta, 0o700, 0, 0),
            (self.states, 0o700, 0, 0),
            (self.logs, 0o700, 0, 0),
            (self.running, 0o700, 0, 0),
        ):
            if not os.path.isdir(path):
                os.makedirs(path, mode=mode, exist_ok=True)
                os.chown(path, uid, gid)
                os.chmod(path, mode)


def validate_release_id(release_id: str) -> str | None:
    if RELEASE_ID_PATTERN.fullmatch(release_id):
        return None
    return (
        f"release id {release_id!r} is not valid: use a UTC timestamp such as "
        "20261126T145204Z, optionally followed by -SUFFIX"
    )


def atomic_symlink(target: str, link: str) -> None:
    """Point `link` at `target` with no moment where `link` is missing.

    rm + ln leaves a window with no `current`; a new link renamed over the old
    one does not (rename(2) is atomic within a filesystem).
    """
    tmp = f"{link}.tmp-{os.getpid()}"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)
    _fsync_dir(os.path.dirname(link))


def atomic_write(path: str, data: str, mode: int = 0o600, uid: int = 0, gid: int = 0) -> None:
    """Write a whole file or nothing: a temp file in the same directory, renamed."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        os.fchmod(fd, mode)
        os.fchown(fd, uid, gid)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def append_line(path: str, record: dict) -> None:
    """Append one JSON line; O_APPEND keeps concurrent writers' lines whole."""
    line = json.dumps(record, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
