# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The systemd unit that travels with a release: recorded when staged, installed when switched to.

It is recorded as DEPLOY_TO/.deployctl/releases/ID.service, so that a revert or a
rollback restores the unit the release was deployed with. Units hold no secrets.
"""

from __future__ import annotations

from ansible_collections.deployctl.core.plugins.module_utils._files import read_text
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout, atomic_write
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore


def record_unit(layout: Layout, release_id: str, content: str) -> None:
    """Record `content` as the unit of the release (mode 0644, root:root). Raises OSError."""
    atomic_write(layout.unit(release_id), content, mode=0o644)


def unit_matches(layout: Layout, release_id: str, wanted: str | None) -> bool:
    """Whether the unit recorded with the release is `wanted`.

    wanted None: the caller does not manage the unit, and any recorded one (or none)
    matches. A release recorded without a unit differs from any `wanted` text. Raises
    OSError when the record cannot be read.
    """
    return wanted is None or read_text(layout.unit(release_id)) == wanted


def install_unit(
    layout: Layout, store: ReleaseStore, release_id: str, unit_path: str | None, check: bool
) -> dict[str, str] | None:
    """Install the unit recorded with the release at `unit_path` (0644, root:root) when it differs.

    Returns the change as an Ansible diff (before, after and their headers) when the
    file was replaced, or in check mode would be; None when it is left alone: no
    `unit_path`, no unit recorded with the release (it was staged without one, and the
    installed unit is not ours to manage), or the same unit already installed. Writes
    nothing in check mode. Raises OSError when the unit cannot be read or written.
    """
    if unit_path is None:
        return None
    wanted = read_text(layout.unit(release_id))
    if wanted is None:
        return None
    installed = read_text(unit_path)
    if installed == wanted:
        return None
    if not check:
        atomic_write(unit_path, wanted, mode=0o644, uid=0, gid=0)
        store.journal("unit_installed", release_id, path=unit_path)
    return {
        "before": installed or "",
        "after": wanted,
        "before_header": unit_path,
        "after_header": f"{unit_path} (recorded with release {release_id})",
    }
