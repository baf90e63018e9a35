# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A deploy's preflight on the controller (the deploy_preflight action): the hooks a host runs, the shape of its
switch, and what is wrong with the deploy's inputs. Plain functions of the variables' values: no host, no Ansible
state, so that they are tested as they are."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

# Every point a user's task file can run at (README "Hooks"), in the deploy's order; deploy_POINT_tasks sets one.
HOOK_POINTS = (
    "before_lock", "after_lock", "before_fetch", "after_fetch", "before_build", "after_build",
    "before_migrate", "after_migrate", "before_switch", "after_switch", "before_restart", "after_restart",
    "before_verify", "after_verify", "before_cleanup", "after_cleanup", "on_failure",
)  # fmt: skip
HOOK_VARIABLES = tuple(f"deploy_{point}_tasks" for point in HOOK_POINTS)
_HOOK_LIKE = re.compile(r"^deploy_.+_tasks?$")
LOCAL_SETTINGS = ("deploy_local_before", "deploy_local_after", "deploy_local_timeout")
# Settings the playbooks read themselves (not the role's argument spec): no misspelling of another setting.
PLAYBOOK_SETTINGS = (
    "deploy_hosts", "deploy_lock_message", "deploy_max_fail_percentage", "deploy_serial", "deploy_unlock_reason",
)  # fmt: skip


def hook_files(hooks: Mapping[str, Any], hook_dir: str) -> dict[str, str]:
    """The task file of each hook point that is set, in the deploy's order: {point: path}. hooks: the values of the
    deploy_POINT_tasks variables that are set (a value that is empty or false sets none); a relative path is read
    from hook_dir (the inventory's directory). A value that is no string (a list) gives a path that names no file,
    which input_problems names."""
    files = {}
    for point, variable in zip(HOOK_POINTS, HOOK_VARIABLES, strict=True):
        value = hooks.get(variable)
        if value:
            path = value if isinstance(value, str) else str(value)
            files[point] = path if path.startswith("/") else f"{hook_dir}/{path}"
    return files


@dataclass(frozen=True)
class SwitchShape:
    """How far the switch's one module call goes, given the hooks between its steps (switch.yml): restarts (no hook
    between the switch and the restart), checks (none before the HTTP check either), finishes (none after the check,
    and no health command: the cleanup and the unlock are the call's too)."""

    restarts: bool
    checks: bool
    finishes: bool


def switch_shape(files: Mapping[str, str], health_command: Any) -> SwitchShape:
    restarts = not {"after_switch", "before_restart"} & files.keys()
    checks = restarts and not {"after_restart", "before_verify"} & files.keys()
    finishes = checks and not health_command and not {"after_verify", "before_cleanup", "after_cleanup"} & files.keys()
    return SwitchShape(restarts, checks, finishes)


@dataclass
class Inputs:
    """The values the preflight checks, as the role reads them (types as the argument spec gives them)."""

    ref: Any
    deploy_to: Any
    keep_releases: Any
    migrate_host: str
    play_hosts: list[str]
    run_key: str
    coordinator: str
    coordinator_known: bool  # the coordinator is a host of the inventory, or deploy_run_coordinator gives its host
    service_environment: Any  # deploy_service_environment
    vaulted_service_environment: list[str]  # the keys of deploy_service_environment whose value is from the vault
    service_name: str
    health_url: str
    health_method: str
    health_expect_revision: bool
    health_command: Any  # deploy_health_command: argv, a list of words (or one program's path)
    hooks: dict[str, Any]  # deploy_POINT_tasks: value, those set
    hook_dir: str
    variable_names: Iterable[str]  # every variable the host has (for the misspelt and unknown ones)


def _as_int(value: Any) -> int:
    """As Jinja's int filter reads a number: 0 for what is none."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return 0


def _kind(value: Any) -> str:
    """What a value is, in a user's words (not the value: it may be a secret)."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "a mapping"
    return "a list" if isinstance(value, list) else "null" if value is None else type(value).__name__


def argument_spec(role_path: str) -> dict[str, Any]:
    """The role's argument spec for its main entry point (ROLE/meta/argument_specs.yml): a mapping of variable name to
    its spec, as Ansible's validate_argument_spec takes it. Raises OSError or yaml.YAMLError when the file is missing or
    malformed (the role ships it)."""
    with open(os.path.join(role_path, "meta", "argument_specs.yml"), encoding="utf-8") as spec:
        return dict(yaml.safe_load(spec)["argument_specs"]["main"]["options"])


def argument_problems(spec: Mapping[str, Any], values: Mapping[str, Any]) -> str:
    """The words of Ansible's own role argument check (validate_argument_spec) when `values` (the variables the spec
    names, templated) break `spec`, so that a rejection reads the same whichever check made it; "" when they keep it.
    On one line, its errors apart by "; " (Ansible's by line breaks: a report's message is one line)."""
    errors = ArgumentSpecValidator(dict(spec)).validate(dict(values), validate_role_argument_spec=True).error_messages
    return "Validation of arguments failed: " + "; ".join(errors) if errors else ""


def _join(names: Iterable[str]) -> str:
    return ", ".join(names)


def input_problems(
    inputs: Inputs,
    hook_file_problems: Callable[[dict[str, str]], list[str]],
    local_problems: Callable[[], list[str]],
    misspelt: Callable[[list[str]], list[str]],
) -> list[str]:
    """One sentence per problem of the deploy's inputs, each naming the variable and its fix; [] when all is well.
    The checks that read files or the controller's programs come as functions: hook_file_problems(files) (the
    deployctl.core.hook_file_problems filter), local_problems() (deploy_local_before and deploy_local_after,
    deployctl.core.local_command_problems), misspelt(names of deploy_* variables) (deployctl.core.misspelt_settings).
    """
    files = hook_files(inputs.hooks, inputs.hook_dir)
    set_hooks = {point: inputs.hooks[f"deploy_{point}_tasks"] for point in HOOK_POINTS
                 if inputs.hooks.get(f"deploy_{point}_tasks")}  # fmt: skip
    not_paths = [point for point, value in set_hooks.items() if not isinstance(value, str)]
    missing = [point for point, path in files.items() if point not in not_paths and not os.path.isfile(path)]
    names = set(inputs.variable_names)
    unknown_hooks = sorted(name for name in names if _HOOK_LIKE.search(name) and name not in HOOK_VARIABLES)
    unknown_local = sorted(name for name in names if name.startswith("deploy_local_") and name not in LOCAL_SETTINGS)
    problems = []
    if not str(inputs.ref):
        problems.append("deploy_ref is empty: pass the branch, tag or commit to deploy, e.g. -e deploy_ref=v1.4.2")
    if not (re.match(r"^/.", str(inputs.deploy_to)) and inputs.deploy_to != "/"):
        problems.append(f"deploy_to ({inputs.deploy_to}) must be an absolute path below /")
    if _as_int(inputs.keep_releases) < 1:
        problems.append(f"deploy_keep_releases ({inputs.keep_releases}) must be at least 1")
    # A slice's play holds its own hosts only: the migrate host is in one slice.
    if inputs.migrate_host and inputs.migrate_host not in inputs.play_hosts and not inputs.run_key:
        problems.append(f"deploy_migrate_host ({inputs.migrate_host}) is not one of the hosts of this play")
    if inputs.run_key and not inputs.coordinator_known:
        problems.append(
            f"the sliced run {inputs.run_key} needs its coordinator: set deploy_migrate_host (or "
            "deploy_run_coordinator.name) to a host of the run, and give its connection in deploy_run_coordinator "
            "(host, port, user) when the slices' inventories do not all hold it "
            f"({inputs.coordinator or 'none set'})"
        )
    # -e deploy_service_environment=FOO=bar passes the argument spec (its dict type reads k=v text) as text.
    if not isinstance(inputs.service_environment, Mapping):
        problems.append(
            "deploy_service_environment must be a mapping of variable names to values, e.g. "
            f"{{RAILS_MAX_THREADS: '5'}} (it is {_kind(inputs.service_environment)})"
        )
    if inputs.vaulted_service_environment:
        problems.append(
            f"deploy_service_environment takes {_join(inputs.vaulted_service_environment)} from the vault, but the "
            f"unit file /etc/systemd/system/{inputs.service_name}.service is readable by every user of the host and "
            "systemd copies a line it rejects into the journal: secrets never go there. Give them in "
            "deploy_secret_environment instead (a 0600 root file of each release that systemd reads when the app "
            "starts), or through deploy_config."
        )
    if inputs.health_url and inputs.health_method == "HEAD" and inputs.health_expect_revision:
        problems.append(
            "deploy_health_method HEAD gets no body to find the deployed commit in: use GET, or set "
            "deploy_health_expect_revision: false"
        )
    # -e '{"deploy_health_command": false}' passes the argument spec (its list type reads false as [False]) as false.
    if not isinstance(inputs.health_command, list | str):
        problems.append(
            "deploy_health_command must be a command as a list of words (argv), e.g. [bin/rails, runner, 'exit 0'], "
            f"or [] for none (it is {_kind(inputs.health_command)})"
        )
    if missing:
        problems.append(
            f"{_join(f'deploy_{point}_tasks' for point in missing)} names no file on the controller "
            f"({_join(files[point] for point in missing)}; a relative path is read from the inventory's directory, "
            f"{inputs.hook_dir})"
        )
    # A hook file Ansible cannot read would stop the whole run where it is included, after the switch too (a parse
    # error is no host's failure: no rescue runs, the lock stays): read each one now.
    problems += ["; ".join(found)] if (found := hook_file_problems(files)) else []
    # Controller-side commands: a program mistyped is found now, not after the deploy (deploy_local_after).
    problems += ["; ".join(found)] if (found := local_problems()) else []
    # A misspelt hook variable (deploy_after_swtich_tasks, deploy_local_aftr) would be a hook that silently never runs.
    if unknown_hooks:
        problems.append(f"{_join(unknown_hooks)} names no hook point: the points are {_join(HOOK_VARIABLES)}")
    if unknown_local:
        problems.append(
            f"{_join(unknown_local)} is no setting of deployctl: the commands on the controller are "
            "deploy_local_before and deploy_local_after (deploy_local_timeout bounds each)"
        )
    # A misspelt setting (deploy_helth_url, deploy_keep_release) would be ignored and its default used.
    problems += ["; ".join(found)] if (found := misspelt(sorted(n for n in names if n.startswith("deploy_")))) else []
    if not_paths:
        problems.append(
            f"{_join(f'deploy_{point}_tasks' for point in not_paths)} must be the path of one task file (a string), "
            "e.g. hooks/warm_cache.yml"
        )
    return problems
