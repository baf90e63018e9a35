# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The systemd units that travel with a release: recorded when staged, installed when switched to.

The service unit is recorded as DEPLOY_TO/.deployctl/releases/ID.service and, for an app whose
port a socket unit owns (socket activation: the port stays open while the service restarts),
the socket unit as ID.socket beside it. A revert or a rollback restores the units the release
was deployed with: a release recorded without a socket unit runs without one, so switching to
it stops and removes an installed socket of ours. Units hold no secrets.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from ansible_collections.deployctl.core.plugins.module_utils._commands import call_tool
from ansible_collections.deployctl.core.plugins.module_utils._files import read_text
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout, atomic_write
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore

# The first line of every unit deployctl renders: only a socket unit that carries it is ours to remove.
OURS = "# Written by deployctl"


@dataclass
class UnitChanges:
    """What install_units() changed (or would, in check mode).

    service: the service unit was replaced. socket: "installed" (new or replaced),
    "removed" (the release runs without one) or "" (left alone). socket_unit: the socket's
    unit name (NAME.socket) when the release runs behind one, else "". diffs: Ansible diffs.
    """

    service: bool = False
    socket: str = ""
    socket_unit: str = ""
    diffs: list[dict[str, str]] = field(default_factory=list)


def socket_path_of(unit_path: str) -> str:
    """Where the socket unit goes: NAME.socket beside NAME.service (systemd pairs them by name)."""
    base = unit_path[: -len(".service")] if unit_path.endswith(".service") else unit_path
    return base + ".socket"


def record_units(layout: Layout, release_id: str, service: str, socket: str | None) -> None:
    """Record the units of the release (mode 0644, root:root); no socket: none recorded. Raises OSError."""
    atomic_write(layout.unit(release_id), service, mode=0o644)
    if socket is not None:
        atomic_write(layout.unit(release_id, "socket"), socket, mode=0o644)


def units_match(layout: Layout, release_id: str, service: str | None, socket: str | None) -> bool:
    """Whether the units recorded with the release are `service` and `socket` (None: no socket unit).

    service None: the caller does not manage the units, and any recorded ones (or none)
    match. A release recorded without a unit differs from any `service` text. Raises
    OSError when a record cannot be read.
    """
    if service is None:
        return True
    return read_text(layout.unit(release_id)) == service and read_text(layout.unit(release_id, "socket")) == socket


def install_units(
    layout: Layout, store: ReleaseStore, release_id: str, unit_path: str | None, check: bool
) -> UnitChanges:
    """Install the units recorded with the release: the service at `unit_path`, the socket beside it.

    Each file is written atomically (0644, root:root) only when it differs. A release recorded
    with a service unit and no socket unit gets no socket: an installed socket unit of ours
    (it starts with OURS) is stopped and disabled (`systemctl disable --now`, which stops the
    service that requires it too) and removed. Nothing changes without `unit_path` or for a
    release recorded without a service unit (the installed units are not ours to manage).
    Writes nothing and runs nothing in check mode. Raises OSError when a unit cannot be read or
    written, DeployError when systemctl cannot stop the socket.
    """
    changes = UnitChanges()
    if unit_path is None:
        return changes
    wanted = read_text(layout.unit(release_id))
    if wanted is None:
        return changes
    socket_path = socket_path_of(unit_path)
    socket_wanted = read_text(layout.unit(release_id, "socket"))
    if socket_wanted is not None:
        changes.socket_unit = os.path.basename(socket_path)
    # The socket first: the service unit requires it.
    socket_before = read_text(socket_path)
    socket_diff = _install(store, release_id, socket_path, socket_wanted, check)
    if socket_diff is not None:
        changes.socket = "removed" if socket_wanted is None else "installed"
        changes.diffs.append(socket_diff)
    try:
        service_diff = _install(store, release_id, unit_path, wanted, check)
    except OSError:
        if socket_diff is not None and socket_wanted is not None and not check:
            # No socket unit of a release whose service unit could not be installed stays behind.
            if socket_before is None:
                os.unlink(socket_path)
            else:
                atomic_write(socket_path, socket_before, mode=0o644, uid=0, gid=0)
        raise
    if service_diff is not None:
        changes.service = True
        changes.diffs.insert(0, service_diff)
    return changes


def _install(store: ReleaseStore, release_id: str, path: str, wanted: str | None, check: bool) -> dict[str, str] | None:
    """Write `wanted` at `path` (None: remove our unit there); the Ansible diff, or None when nothing changes."""
    installed = read_text(path)
    if installed == wanted or (wanted is None and not (installed or "").startswith(OURS)):
        return None
    if not check:
        if wanted is not None:
            atomic_write(path, wanted, mode=0o644, uid=0, gid=0)
            store.journal("unit_installed", release_id, path=path)
        else:
            # While its file is there: `disable` reads the [Install] section.
            call_tool(
                ["systemctl", "disable", "--now", "--quiet", os.path.basename(path)], 120, "stop the app's socket"
            )
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            store.journal("unit_removed", release_id, path=path)
    return {
        "before": installed or "",
        "after": wanted or "",
        "before_header": path,
        "after_header": f"{path} (recorded with release {release_id})" if wanted is not None else f"{path} (removed)",
    }
