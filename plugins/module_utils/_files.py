# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain file system helpers: reading a text file, creating owned directories, free space."""

from __future__ import annotations

import os


def read_text(path: str) -> str | None:
    """The text of the file at `path`, or None when there is no such file.

    Bytes that are not UTF-8 are replaced (U+FFFD), so such a file simply differs from
    any text it is compared with. Raises OSError for other failures (permissions, a
    directory).
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def makedirs_owned(path: str, uid: int, gid: int) -> None:
    """Create `path` and its missing parents, each mode 0755 and owned by uid:gid.

    Directories that exist are left as they are. Raises OSError (for example when a
    component of `path` is a file).
    """
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        os.mkdir(directory, 0o755)
        os.chown(directory, uid, gid)


def chown_tree(root: str, uid: int, gid: int) -> None:
    """Give `root` and everything under it to uid:gid; links themselves, never their targets.

    Raises OSError.
    """
    os.lchown(root, uid, gid)
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            os.lchown(os.path.join(directory, name), uid, gid)


def free_mib(path: str) -> int:
    """MiB (2**20 bytes) an unprivileged user may still write on the file system of `path`.

    `path` need not exist yet: its nearest existing ancestor is measured, the file system
    it will be created on. Raises OSError.
    """
    while not os.path.exists(path):
        path = os.path.dirname(path)
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize // (1024 * 1024)
