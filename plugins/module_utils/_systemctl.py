# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restart the app's systemd service as `ansible.builtin.systemd_service` would, without its round trip.

Reload systemd when the unit file changed, enable the unit when it is not, restart it.
A failure says what systemctl said and what the service wrote to its journal last.
"""

from __future__ import annotations

from ansible_collections.deployctl.core.plugins.module_utils._commands import call_tool, run_tool
from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError

JOURNAL_LINES = 20
# What `systemctl is-enabled` prints, with exit code 0, for a unit that `enable` still has
# to enable (ansible.builtin.systemd_service enables these too).
NOT_ENABLED_YET = {"enabled-runtime", "indirect", "alias"}


def restart_app(name: str, *, socket: str, socket_changed: bool, daemon_reload: bool, timeout: float) -> str:
    """Restart the service NAME, behind its socket unit `socket` when given; return what the socket did.

    Behind a socket that listens already (and whose unit did not change), only the service
    restarts: the socket keeps the port and queues connections meanwhile, so none is refused
    ("kept"). A socket that does not listen yet (the first deploy with it, on a host that ran
    the app without one) or whose unit changed cannot take the port from a running service:
    the service stops, the socket (re)starts and the service starts behind it, a short gap
    once ("started"). Without `socket`: a plain restart (""). Raises DeployError as
    restart_service() does.
    """
    if not socket:
        restart_service(name, daemon_reload=daemon_reload, timeout=timeout)
        return ""
    listening = run_tool(["systemctl", "is-active", socket], timeout, f"check whether {socket} listens")
    if listening.stdout.strip() == "active" and not socket_changed:
        restart_service(name, daemon_reload=daemon_reload, timeout=timeout)
        return "kept"
    if daemon_reload:
        call_tool(["systemctl", "daemon-reload"], timeout, f"daemon-reload {name}")
    call_tool(["systemctl", "stop", name], timeout, f"stop {name} to hand its port to {socket}")
    _enable(socket, timeout)
    call_tool(["systemctl", "restart", socket], timeout, f"start {socket}")
    restart_service(name, daemon_reload=False, timeout=timeout)
    return "started"


def restart_service(name: str, *, daemon_reload: bool, timeout: float) -> None:
    """`systemctl daemon-reload` (when `daemon_reload`), `enable` (when not enabled), `restart` NAME.

    Each call may take `timeout` seconds. Raises DeployError naming the unit, with
    systemctl's stderr (details `rc`, `stderr`) and, when the restart failed, the last
    lines of the unit's journal (detail `journal`).
    """
    if daemon_reload:
        call_tool(["systemctl", "daemon-reload"], timeout, f"daemon-reload {name}")
    _enable(name, timeout)
    try:
        call_tool(["systemctl", "restart", name], timeout, f"restart {name}")
    except DeployError as err:
        journal = journal_tail(name, timeout)
        raise DeployError(
            f"{err.msg}\nLast lines of `journalctl -u {name} -n {JOURNAL_LINES} --no-pager`:\n" + "\n".join(journal),
            input_error=False,
            **err.details,
            journal=journal,
        ) from err


def _enable(name: str, timeout: float) -> None:
    is_enabled = run_tool(["systemctl", "is-enabled", name], timeout, f"check whether {name} is enabled")
    if is_enabled.returncode != 0 or is_enabled.stdout.strip() in NOT_ENABLED_YET:
        call_tool(["systemctl", "enable", "--quiet", name], timeout, f"enable {name}")


def journal_tail(name: str, timeout: float, since: float | None = None, count: int = JOURNAL_LINES) -> list[str]:
    """The last `count` lines the unit wrote to the journal (since epoch seconds `since`, when
    given); a line that says why when they cannot be read."""
    argv = ["journalctl", "-u", name, "-n", str(count), "--no-pager"]
    if since is not None:
        argv.append(f"--since=@{int(since)}")
    try:
        proc = run_tool(argv, min(timeout, 30), f"read the journal of {name}")
    except DeployError as err:
        return [f"({err.msg})"]
    lines = proc.stdout.splitlines()
    if proc.returncode != 0:
        lines.append(f"(journalctl exited {proc.returncode}: {proc.stderr.strip()})")
    return lines
