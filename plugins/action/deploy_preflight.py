# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A deploy's preflight checks and the hook settings it fixes (docs: plugins/modules/deploy_preflight.py).

Runs in the controller's process: no host is contacted. One Python call where the role had a set_fact and an
assert of Jinja expressions that Ansible templated anew for each host (about 0.3 s per host, a tenth of a no-op
redeploy's controller time).
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleUndefinedVariable
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.parsing.vault import VaultHelper

from ansible_collections.deployctl.core.plugins.filter.hook_file_problems import hook_file_problems
from ansible_collections.deployctl.core.plugins.filter.local_command_problems import local_command_problems
from ansible_collections.deployctl.core.plugins.filter.misspelt_settings import misspelt_settings
from ansible_collections.deployctl.core.plugins.plugin_utils._controller_action import ControllerAction
from ansible_collections.deployctl.core.plugins.plugin_utils._preflight import (
    HOOK_VARIABLES,
    PLAYBOOK_SETTINGS,
    Inputs,
    argument_problems,
    argument_spec,
    hook_files,
    input_problems,
    switch_shape,
)


class ActionModule(ControllerAction):
    NAME = "deploy_preflight"
    OPTIONS = frozenset({
        "ref", "deploy_to", "keep_releases", "migrate_host", "run_key", "coordinator", "run_coordinator",
        "service_environment", "service_name", "health_url", "health_method", "health_expect_revision",
        "health_command", "hook_dir", "local_before", "local_after", "role_path",
    })  # fmt: skip

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self.options()
        # First, what Ansible's own check before a role's tasks does (deploy.yml turns it off so that a rejection is
        # reported per host, as every other): here, not in a task of its own, one forked worker per host fewer.
        spec = argument_spec(str(args["role_path"]))
        values, undefined = self._settings([name for name in spec if name in task_vars], task_vars)
        rejected = "; ".join(undefined) or argument_problems(spec, values)
        if rejected:
            return {**result, "failed": True, "msg": rejected}
        # Only the hook variables that are set are templated (most runs set none).
        hooks = {name: self._templar.template(task_vars[name]) for name in HOOK_VARIABLES if name in task_vars}
        hook_dir = str(args["hook_dir"])
        coordinator = str(args.get("coordinator") or "")
        environment = args.get("service_environment", {})
        inputs = Inputs(
            ref=args.get("ref"),
            deploy_to=args.get("deploy_to"),
            keep_releases=args.get("keep_releases"),
            migrate_host=args.get("migrate_host") or "",
            play_hosts=list(task_vars.get("ansible_play_hosts_all") or []),
            run_key=str(args.get("run_key") or ""),
            coordinator=coordinator,
            # The coordinator is a host of this inventory, or deploy_run_coordinator says how to reach it.
            coordinator_known=(bool(coordinator) and coordinator in task_vars.get("hostvars", {}))
            or "host" in (args.get("run_coordinator") or {}),
            service_environment=environment,
            vaulted_service_environment=[
                key for key, value in environment.items() if VaultHelper.get_ciphertext(value, with_tags=False)
            ]
            if isinstance(environment, dict)
            else [],
            service_name=str(args.get("service_name") or ""),
            health_url=str(args.get("health_url") or ""),
            health_method=str(args.get("health_method") or ""),
            # As the role reads it (| bool): -e deploy_health_expect_revision=false is the text "false".
            health_expect_revision=boolean(args.get("health_expect_revision"), strict=False),
            health_command=args.get("health_command", []),
            hooks={name: value for name, value in hooks.items() if value},
            hook_dir=hook_dir,
            variable_names=list(task_vars),
        )
        problems = input_problems(
            inputs,
            hook_file_problems,
            # As given: a value that is no list of commands (false) is a problem the filter names.
            lambda: (
                local_command_problems(args.get("local_before", []), "deploy_local_before", hook_dir)
                + local_command_problems(args.get("local_after", []), "deploy_local_after", hook_dir)
            ),
            lambda names: misspelt_settings(names, str(args["role_path"]), PLAYBOOK_SETTINGS),
        )
        if problems:
            # Only the message: the settings below are for the rest of a run that stops here.
            return {**result, "failed": True, "msg": "; ".join(problems)}
        files = hook_files(inputs.hooks, hook_dir)
        shape = switch_shape(files, inputs.health_command)
        result["facts"] = {
            "hook_files": files,
            "hook_dir": hook_dir,
            "switch_restarts": shape.restarts,
            "switch_checks": shape.checks,
            "switch_finishes": shape.finishes,
        }
        return result

    def _settings(self, names: list[str], task_vars: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The settings `names` templated, and for each one whose value names a variable set nowhere, a sentence
        naming the setting (Ansible's error names only the variable)."""
        values: dict[str, Any] = {}
        undefined: list[str] = []
        for name in names:
            try:
                values[name] = self._templar.template(task_vars[name])
            except AnsibleUndefinedVariable as err:
                undefined.append(
                    f"{name}: its value uses a variable that is not set ({err.message}): set it (inventory, "
                    "group_vars, -e) or fix its name"
                )
        return values, undefined
