# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base of deployctl's actions that run in the controller's process only (deploy_local_hook, deploy_preflight)."""

from __future__ import annotations

from typing import Any, ClassVar

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ControllerAction(ActionBase):
    """An action that contacts no host (no connection is made for it) and runs in check mode too; its options are
    checked by name (Ansible checks a module's, not an action's)."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    NAME: ClassVar[str] = ""
    OPTIONS: ClassVar[frozenset[str]] = frozenset()

    def options(self) -> dict[str, Any]:
        """The task's arguments. Raises AnsibleActionFail naming those that are no option of this action."""
        unknown = set(self._task.args) - self.OPTIONS
        if unknown:
            raise AnsibleActionFail(f"{self.NAME}: unknown options {', '.join(sorted(unknown))}")
        return self._task.args
