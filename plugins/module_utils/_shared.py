# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared directories and files: checked before staging, linked into every release.

DEPLOY_TO/shared/PATH outlives releases (logs, uploads, pids, a master key); each
release holds a link PATH -> DEPLOY_TO/shared/PATH instead of its own copy.
"""

from __future__ import annotations

import os
import shutil

from ansible_collections.deployctl.core.plugins.module_utils._errors import InputError
from ansible_collections.deployctl.core.plugins.module_utils._files import makedirs_owned


def shared_paths(shared_root: str, dirs: list[str], files: list[str]) -> list[tuple[str, bool]]:
    """The shared directories and files as (path relative to the release, is a directory).

    shared_root: the DEPLOY_TO/shared directory. Checked before anything is created: a
    missing shared file must leave neither a staging directory nor a release record
    behind. Raises InputError for a path that is empty, absolute after stripping its
    slashes or holds '..', and for a shared file missing under `shared_root`.
    """
    paths = []
    for relative, is_dir in [(d, True) for d in dirs] + [(f, False) for f in files]:
        relative = relative.strip("/")
        if not relative or ".." in relative.split("/"):
            raise InputError(f"shared path {relative!r} must be relative to the release, without '..'")
        source = os.path.join(shared_root, relative)
        if not is_dir and not os.path.exists(source):
            raise InputError(
                f"shared file {relative} is missing: create {source} on the host (it is linked into every release)"
            )
        paths.append((relative, is_dir))
    return paths


def link_shared(staging: str, shared_root: str, paths: list[tuple[str, bool]], uid: int, gid: int) -> None:
    """Replace each of `paths` under `staging` by a link to the same path under `shared_root`.

    paths: as `shared_paths` returns them. A shared directory is created (owned by
    uid:gid) when missing, and so are the parents of each link; what the commit holds at
    a linked path is removed first. Raises OSError (for example when a parent of a link
    is a file of the commit).
    """
    for relative, is_dir in paths:
        source = os.path.join(shared_root, relative)
        if is_dir:
            makedirs_owned(source, uid, gid)
        link = os.path.join(staging, relative)
        if os.path.isdir(link) and not os.path.islink(link):
            shutil.rmtree(link)
        elif os.path.lexists(link):
            os.unlink(link)
        makedirs_owned(os.path.dirname(link), uid, gid)
        os.symlink(source, link)
