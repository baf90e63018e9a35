# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the controller-side hook commands of a deploy (docs: plugins/modules/deploy_local_hook.py).

Runs in the controller's process: no host is contacted. The commands and their DEPLOYCTL_* facts come
as arguments; a fact that came from the vault is refused, so that no secret reaches a hook's environment.
"""

from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.parsing.vault import VaultHelper

from ansible_collections.deployctl.core.plugins.plugin_utils._controller_action import ControllerAction
from ansible_collections.deployctl.core.plugins.plugin_utils._local_hook import (
    argv_of,
    environment,
    failure_message,
    run_commands,
    run_outcome,
)


class ActionModule(ControllerAction):
    NAME = "deploy_local_hook"
    OPTIONS = frozenset({"name", "commands", "facts", "hosts", "chdir", "timeout"})

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.options()
        name = str(args.get("name") or "deploy_local_hook")
        try:
            commands = [argv_of(command) for command in args.get("commands") or []]
        except ValueError as err:
            return {**result, "failed": True, "stage": name.removeprefix("deploy_"), "msg": f"{name}: {err}"}
        facts = dict(args.get("facts") or {})
        vaulted = sorted(key for key, value in facts.items() if VaultHelper.get_ciphertext(value, with_tags=False))
        if vaulted:
            raise AnsibleActionFail(f"{name}: {', '.join(vaulted)} would carry a vault value: secrets never go there")
        hosts = args.get("hosts")
        if isinstance(hosts, dict):
            # After the run: how it went, as a whole and per host (host=outcome,...).
            outcomes = {
                str(host): str((report or {}).get("outcome") or "unreachable") for host, report in hosts.items()
            }
            facts["DEPLOYCTL_OUTCOME"] = run_outcome(outcomes.values())
            facts["DEPLOYCTL_HOST_OUTCOMES"] = ",".join(f"{host}={outcome}" for host, outcome in outcomes.items())
        if self._task.check_mode:
            # The commands are the user's: nothing says they would change nothing.
            return {**result, "skipped": True, "msg": f"{name}: not run in check mode", "facts": facts}
        env = environment(facts, os.environ)
        ran = run_commands(commands, env, str(args.get("chdir") or os.getcwd()), float(args.get("timeout") or 600))
        result.update(changed=bool(ran), commands=[r.as_dict() for r in ran], facts=facts)
        if ran and ran[-1].error:
            result.update(failed=True, stage=name.removeprefix("deploy_"), msg=failure_message(name, ran[-1]))
        return result
