"""The deploy's preflight (plugin_utils/_preflight.py, the deploy_preflight action): which hooks a host runs, how far
its switch's call goes, and the words of each problem of its inputs; then values of the wrong kind refused through
the three entry points (ansible-playbook, the CLI, an AWX-style runner job) before any host is touched. More bad
input through the entry points, on real hosts: tests/e2e/test_cli.py and tests/e2e/test_failure_matrix.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.deployctl.core.plugins.plugin_utils._preflight import (
    HOOK_VARIABLES,
    Inputs,
    argument_problems,
    argument_spec,
    hook_files,
    input_problems,
    switch_shape,
)
from tests.e2e.conftest import awx_job
from tests.e2e.test_cli import deployctl

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO = REPO_ROOT / "inventories/demo"

CLEAN = Inputs(
    ref="v1", deploy_to="/srv/app", keep_releases=5, migrate_host="", play_hosts=["web1", "web2"], run_key="",
    coordinator="", coordinator_known=False, service_environment={}, vaulted_service_environment=[], service_name="app",
    health_url="http://x/", health_method="GET", health_expect_revision=True, health_command=[], hooks={},
    hook_dir="/inv", variable_names=["deploy_ref"],
)  # fmt: skip


def test_the_argument_spec_check_reads_as_ansibles_own() -> None:
    # The role's spec, checked with Ansible's validator: validate_argument_spec's words (the CLI and AWX show them).
    # A run passes every variable the spec names (the role's defaults hold them all): a passing run is tests/e2e's.
    spec = argument_spec(str(REPO_ROOT / "roles/deploy"))
    assert spec["deploy_keep_releases"]["type"] == "int"
    message = argument_problems(spec, {"deploy_keep_releases": "many", "deploy_migrate": "sometimes"})
    assert "\n" not in message
    head, _, rest = message.partition(": ")
    said = rest.split("; ")
    assert head == "Validation of arguments failed"
    assert "missing required arguments: deploy_app_name, deploy_ref, deploy_repo_url" in said
    for line in (
        "argument 'deploy_keep_releases' is of type str and we were unable to convert to int: ",
        "argument 'deploy_migrate' is of type str and we were unable to convert to bool: ",
    ):
        assert any(said_line.startswith(line) for said_line in said), line


def problems(inputs: Inputs, **found: list[str]) -> list[str]:
    return input_problems(
        inputs,
        lambda files: found.get("hook_files", []),
        lambda: found.get("local", []),
        lambda names: found.get("misspelt", []),
    )


def test_hook_files_in_the_deploys_order_a_relative_path_read_from_the_inventory_directory() -> None:
    hooks = {"deploy_after_switch_tasks": "hooks/warm.yml", "deploy_before_lock_tasks": "/etc/hooks/gate.yml",
             "deploy_on_failure_tasks": ""}  # fmt: skip

    files = hook_files(hooks, "/etc/deployctl/production")

    assert list(files.items()) == [
        ("before_lock", "/etc/hooks/gate.yml"),
        ("after_switch", "/etc/deployctl/production/hooks/warm.yml"),
    ]


def test_the_switch_call_stops_at_the_first_hook_after_the_switch() -> None:
    assert switch_shape({}, []) == (shape := switch_shape({}, None))
    assert (shape.restarts, shape.checks, shape.finishes) == (True, True, True)
    restart_hook = switch_shape({"before_restart": "/h.yml"}, [])
    assert (restart_hook.restarts, restart_hook.checks, restart_hook.finishes) == (False, False, False)
    verify_hook = switch_shape({"before_verify": "/h.yml"}, [])
    assert (verify_hook.restarts, verify_hook.checks, verify_hook.finishes) == (True, False, False)
    cleanup_hook = switch_shape({"after_cleanup": "/h.yml"}, [])
    assert (cleanup_hook.restarts, cleanup_hook.checks, cleanup_hook.finishes) == (True, True, False)
    # A health command runs as a task of its own after the call: the cleanup and the unlock wait for it.
    assert not switch_shape({}, ["bin/smoke"]).finishes


def test_clean_inputs_have_no_problem() -> None:
    assert problems(CLEAN) == []


def test_each_problem_names_the_variable_and_the_fix(tmp_path: Path) -> None:
    bad = replace(
        CLEAN, ref="", deploy_to="srv/app", keep_releases="0", migrate_host="web9",
        vaulted_service_environment=["DB_PASSWORD"], health_method="HEAD",
    )  # fmt: skip

    assert problems(bad) == [
        "deploy_ref is empty: pass the branch, tag or commit to deploy, e.g. -e deploy_ref=v1.4.2",
        "deploy_to (srv/app) must be an absolute path below /",
        "deploy_keep_releases (0) must be at least 1",
        "deploy_migrate_host (web9) is not one of the hosts of this play",
        "deploy_service_environment takes DB_PASSWORD from the vault, but the unit file "
        "/etc/systemd/system/app.service is readable by every user of the host and systemd copies a line it rejects "
        "into the journal: secrets never go there. Give them in deploy_secret_environment instead (a 0600 root file "
        "of each release that systemd reads when the app starts), or through deploy_config.",
        "deploy_health_method HEAD gets no body to find the deployed commit in: use GET, or set "
        "deploy_health_expect_revision: false",
    ]
    assert problems(replace(CLEAN, deploy_to="/")) == ["deploy_to (/) must be an absolute path below /"]


def test_values_of_the_wrong_kind_that_the_argument_spec_lets_through() -> None:
    # -e deploy_service_environment=FOO=bar and -e '{"deploy_health_command": false}' pass Ansible's type checks.
    bad = replace(CLEAN, service_environment="FOO=bar", health_command=False)

    assert problems(bad) == [
        "deploy_service_environment must be a mapping of variable names to values, e.g. {RAILS_MAX_THREADS: '5'} "
        "(it is text)",
        "deploy_health_command must be a command as a list of words (argv), e.g. [bin/rails, runner, 'exit 0'], or [] "
        "for none (it is true or false)",
    ]
    assert problems(replace(CLEAN, health_command="bin/check")) == []


def test_a_sliced_run_needs_a_coordinator_it_can_reach() -> None:
    sliced = replace(CLEAN, run_key="42", migrate_host="web9")

    # The migrate host may be in another slice's inventory; the coordinator must be reachable.
    assert problems(sliced) == [
        "the sliced run 42 needs its coordinator: set deploy_migrate_host (or deploy_run_coordinator.name) to a host "
        "of the run, and give its connection in deploy_run_coordinator (host, port, user) when the slices' "
        "inventories do not all hold it (none set)"
    ]
    assert problems(replace(sliced, coordinator="web9", coordinator_known=True)) == []


def test_hook_variables_that_name_no_file_no_path_or_no_hook_point(tmp_path: Path) -> None:
    (tmp_path / "warm.yml").write_text("- ansible.builtin.debug: {msg: hi}\n")
    hooks: dict[str, Any] = {
        "deploy_after_switch_tasks": "warm.yml",
        "deploy_before_lock_tasks": "gate.yml",
        "deploy_after_verify_tasks": ["a.yml", "b.yml"],
    }
    names = [*hooks, "deploy_after_swtich_tasks", "deploy_local_aftr", "deploy_local_timeout"]
    inputs = replace(CLEAN, hooks=hooks, hook_dir=str(tmp_path), variable_names=names)

    assert problems(inputs, hook_files=["a parse error"], local=["a missing program"], misspelt=["a misspelling"]) == [
        f"deploy_before_lock_tasks names no file on the controller ({tmp_path}/gate.yml; a relative path is read from "
        f"the inventory's directory, {tmp_path})",
        "a parse error",
        "a missing program",
        f"deploy_after_swtich_tasks names no hook point: the points are {', '.join(HOOK_VARIABLES)}",
        "deploy_local_aftr is no setting of deployctl: the commands on the controller are deploy_local_before and "
        "deploy_local_after (deploy_local_timeout bounds each)",
        "a misspelling",
        "deploy_after_verify_tasks must be the path of one task file (a string), e.g. hooks/warm_cache.yml",
    ]


# Through the entry points: values the argument spec lets through are refused on every host before any is touched
# (the hosts' SSH port refuses connections: a host contacted would be `unreachable`, not `invalid`).
WRONG_KINDS = {"deploy_local_after": False, "deploy_health_command": False, "deploy_service_environment": "FOO=bar"}
SAID = [
    "deploy_service_environment must be a mapping of variable names to values",
    "deploy_health_command must be a command as a list of words (argv)",
    "deploy_local_after must be a list of commands",
]


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo environment (its group_vars and vault), its hosts on a port that refuses connections."""
    path = tmp_path_factory.mktemp("preflight") / "inventory"
    shutil.copytree(DEMO / "group_vars", path / "group_vars")
    hosts = {name: {"ansible_port": 1} for name in ["web1", "web2"]}
    (path / "hosts.yml").write_text(json.dumps({"all": {"vars": {"sample_db_host": "db.invalid"}, "hosts": hosts}}))
    return path


def test_ansible_playbook_refuses_values_of_the_wrong_kind_on_every_host(unreachable: Path) -> None:
    played = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "playbooks/deploy.yml", "-i", str(unreachable),
         "--vault-id", f"demo@{DEMO}/demo-vault-password.txt", "-e", "deploy_ref=v1", "-e", json.dumps(WRONG_KINDS)],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    output = played.stdout + played.stderr
    assert played.returncode == 2, output[-3000:]
    for host in ["web1", "web2"]:
        line = re.search(rf"^  {host} +invalid +untouched: the input was rejected before any host was touched (.*)$",
                         output, re.M)  # fmt: skip
        assert line, output[-3000:]
        assert all(words in line.group(1) for words in SAID), line.group(1)
    assert "unreachable=1" not in output


def test_the_cli_and_an_awx_job_refuse_them_as_bad_input(unreachable: Path, tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    extra = [arg for name, value in WRONG_KINDS.items() for arg in ("-e", json.dumps({name: value}))]
    cli = deployctl("deploy", str(unreachable), "--ref", "v1", *extra, "--report", str(result))
    said = " ".join((cli.out + cli.err).split())
    assert cli.rc == 5, said[-3000:]
    assert all(words in said for words in SAID), said[-3000:]
    assert {host: r["outcome"] for host, r in json.loads(result.read_text())["hosts"].items()} == {
        "web1": "invalid", "web2": "invalid",
    }  # fmt: skip

    job = awx_job(tmp_path, "playbooks/deploy.yml", {"deploy_ref": "v1", **WRONG_KINDS}, "all", unreachable)
    assert job.status == "failed", job.stdout[-3000:]
    hosts = job.artifacts["deployctl"]["hosts"]
    assert {host: r["outcome"] for host, r in hosts.items()} == {"web1": "invalid", "web2": "invalid"}
    assert all(words in hosts["web1"]["message"] for words in SAID), hosts["web1"]["message"]
