# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an interrupted deploy (kill -9, a dropped connection) leaves behind, and its removal."""

from __future__ import annotations

import os
import shutil

from ansible_collections.deployctl.core.plugins.module_utils._layout import STAGING_PREFIX, Layout
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore
from ansible_collections.deployctl.core.plugins.module_utils._runas import kill_leftovers


def discard_leftovers(layout: Layout, store: ReleaseStore, check: bool, result: dict) -> None:
    """Kill the commands still running for an interrupted deploy, remove its staging directories.

    Only safe under the deploy lock: then any staging directory is a leftover, never a
    release being built. Its build may even still be running, so that is killed first.
    Sets result's `removed` (staging directory names, also those check mode would
    remove) and `killed` (what `kill_leftovers` found), and `changed` when it removed or
    killed anything. Does nothing but list in check mode or before the host's first
    deploy (no DEPLOY_TO/.deployctl). Raises OSError.
    """
    result["removed"] = [os.path.basename(p) for p in layout.staging_dirs()]
    result["killed"] = []
    if check or not os.path.isdir(layout.meta):
        return
    result["killed"] = kill_leftovers(layout.running)
    for leftover in result["killed"]:
        store.journal("killed_leftover", None, argv=leftover.get("argv"), pid=leftover.get("pid"))
    for path in layout.staging_dirs():
        shutil.rmtree(path)
        release_id = os.path.basename(path)[len(STAGING_PREFIX) :]
        store.remove(release_id)
        store.journal("discarded_staging", release_id)
    if result["removed"] or result["killed"]:
        result["changed"] = True
