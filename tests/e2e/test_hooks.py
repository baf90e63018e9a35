"""Hooks (README "Hooks"): the user's task files at the deploy's stages and after a failure, and the
controller-side commands, against the container hosts through ansible-playbook, the deployctl CLI and an
AWX-style job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.conftest import DEPLOY_TO, INVENTORY, REPO_ROOT, Fleet, awx_job
from tests.e2e.test_cli import deployctl, journal_length, lock_state

HOOKS = REPO_ROOT / "tests" / "fixtures" / "hooks"
MARKERS = f"{DEPLOY_TO}/shared/hook-markers"
FAILING_TASK = '"Check that the cache is warm"'
# A controller's own DEPLOYCTL_* variable (the CLI reads vault passwords from such): never passed to a hook.
CANARY = {"DEPLOYCTL_VAULT_PASSWORD": "canary-not-for-hooks-8d1f"}


def dump_env(path: Path) -> list[str]:
    """A controller-side command that writes the DEPLOYCTL_* variables it got to path."""
    return ["sh", "-c", f'env | grep ^DEPLOYCTL_ | sort > "{path}"']


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def markers(fleet: Fleet, host: str) -> list[dict[str, str]]:
    """The lines tests/fixtures/hooks/marker.yml wrote on host: the hook's name, then its facts."""
    found = []
    for line in fleet.ssh(host, f"cat {MARKERS} 2>/dev/null || true").splitlines():
        hook, *facts = line.split()
        found.append({"hook": hook, **dict(fact.split("=", 1) for fact in facts)})
    return found


def hooked_inventory(tmp_path: Path, variables: dict[str, Any]) -> Path:
    """The e2e inventory with hook variables in it (the CLI takes no -e), and the failing hook beside
    it, for a relative path (read from the inventory's directory)."""
    inventory = tmp_path / "hooked"
    (inventory / "hooks").mkdir(parents=True)
    (inventory / "hooks" / "fail.yml").write_text((HOOKS / "fail.yml").read_text())
    hosts = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    hosts["all"]["vars"].update(variables)
    (inventory / "hosts.yml").write_text("---\n" + yaml.safe_dump(hosts, sort_keys=False))
    (inventory / "group_vars").symlink_to((INVENTORY / "group_vars").resolve())
    return inventory


def flat(text: str) -> str:
    return " ".join(text.split())


def test_hooks_at_three_stages_get_the_run_s_facts_in_order(
    fleet: Fleet, commits: dict[str, str], on_v2: dict[str, str], tmp_path: Path
) -> None:
    for host in fleet.hosts:
        fleet.ssh(host, f"rm -f {MARKERS}")
    marker = str(HOOKS / "marker.yml")
    hooks = {f"deploy_{name}_tasks": marker for name in ("after_fetch", "before_switch", "after_restart")}
    local = tmp_path / "after.env"
    extra = json.dumps({**hooks, "deploy_local_after": [dump_env(local)]})
    run = fleet.playbook("deploy.yml", "-e", "deploy_ref=v1", "-e", extra, env=CANARY)
    assert run.rc == 0, run.output[-4000:]

    for host in fleet.hosts:
        new = fleet.current(host)
        assert new != on_v2[host]
        status, body = fleet.health(host)
        assert (status, body.get("revision")) == (200, commits["v1"])
        lines = markers(fleet, host)
        assert [line["hook"] for line in lines] == ["after_fetch", "before_switch", "after_restart"], lines
        assert [line["stage"] for line in lines] == ["fetch", "switch", "restart"]
        for line in lines:
            assert line["release"] == new and line["commit"] == commits["v1"] and line["ref"] == "v1", line
            assert (line["hosts"], line["env"], line["app"], line["host"]) == (
                "web1,web2",
                INVENTORY.name,
                "sample",
                host,
            )
            assert line["previous"] == on_v2[host], line
        # The HTTP check after the hook, a task of its own, recorded the pass that the switch waits for.
        assert fleet.records(host)[new]["verified"] is True
        assert [line["event"] for line in fleet.journal(host) if line.get("release") == new][-2:] == [
            "switched",
            "verified",
        ]
        # Before the build publishes it, the release is its staging directory.
        assert [line["path"] for line in lines] == [f"{DEPLOY_TO}/releases/.staging-{new}"] + 2 * [
            f"{DEPLOY_TO}/releases/{new}"
        ]

    facts = read_env(local)
    assert facts["DEPLOYCTL_OUTCOME"] == "succeeded"
    assert facts["DEPLOYCTL_HOST_OUTCOMES"] == "web1=deployed,web2=deployed"
    assert facts["DEPLOYCTL_RELEASE"] == fleet.current("web1") and facts["DEPLOYCTL_COMMIT"] == commits["v1"]
    assert (facts["DEPLOYCTL_HOSTS"], facts["DEPLOYCTL_ENV"], facts["DEPLOYCTL_REF"]) == (
        "web1,web2",
        INVENTORY.name,
        "v1",
    )
    assert "DEPLOYCTL_VAULT_PASSWORD" not in facts and CANARY["DEPLOYCTL_VAULT_PASSWORD"] not in local.read_text()


def test_a_failing_after_switch_hook_is_reverted_and_reported_by_its_file_and_task(
    fleet: Fleet, commits: dict[str, str], on_v2: dict[str, str], tmp_path: Path
) -> None:
    local = tmp_path / "after.env"
    inventory = hooked_inventory(
        tmp_path,
        {
            "deploy_after_switch_tasks": "hooks/fail.yml",
            "deploy_on_failure_tasks": str(HOOKS / "marker.yml"),
            "deploy_local_after": [dump_env(local)],
        },
    )
    hook_file = str(inventory / "hooks" / "fail.yml")
    report = tmp_path / "report.json"
    cli = deployctl("deploy", str(inventory), "--ref", "v1", "--report", str(report))
    assert cli.rc == 1, cli.out + cli.err
    said = flat(cli.out + cli.err)
    assert f"after_switch hook {hook_file} failed at task {FAILING_TASK}" in said, said
    assert "at stage switch" in said and "REVERTED" in said, said
    hosts = json.loads(report.read_text())["hosts"]
    failed = {}
    for host, result in hosts.items():
        assert (result["outcome"], result["stage"]) == ("reverted", "switch"), result
        assert result["hook"] == {"hook": "after_switch", "file": hook_file, "task": FAILING_TASK.strip('"')}, result
        assert fleet.current(host) == on_v2[host]
        status, body = fleet.health(host)
        assert (status, body.get("revision")) == (200, commits["v2"])
        failed[host] = result["release"]
        assert fleet.records(host)[failed[host]]["state"] == "failed"
        assert lock_state(fleet, host) == "free"
        # on_failure ran after the switch back, with the failed release's facts.
        last = markers(fleet, host)[-1]
        assert (last["hook"], last["release"], last["commit"]) == ("on_failure", failed[host], commits["v1"]), last
    assert read_env(local)["DEPLOYCTL_OUTCOME"] == "reverted"
    assert read_env(local)["DEPLOYCTL_HOST_OUTCOMES"] == "web1=reverted,web2=reverted"

    # The same through ansible-playbook, with an absolute path.
    absolute = str(HOOKS / "fail.yml")
    run = fleet.deploy("v1", "-e", json.dumps({"deploy_after_switch_tasks": absolute}))
    assert run.rc == 2, run.output[-4000:]
    said = flat(run.output)
    stage = "failed on web1 at stage switch (after_switch hook):"
    assert f"{stage} after_switch hook {absolute} failed at task {FAILING_TASK}" in said
    assert "REVERTED: current points at" in said
    for host in fleet.hosts:
        assert fleet.current(host) == on_v2[host] and lock_state(fleet, host) == "free"


def test_a_failing_after_switch_hook_fails_an_awx_job_with_the_hook_in_its_result(
    fleet: Fleet, on_v2: dict[str, str], tmp_path: Path
) -> None:
    absolute = str(HOOKS / "fail.yml")
    job = awx_job(tmp_path, "playbooks/deploy.yml", {"deploy_ref": "v1", "deploy_after_switch_tasks": absolute})
    assert (job.status, job.rc) == ("failed", 2), job.stdout[-4000:]
    for host, result in job.hosts.items():
        assert (result["outcome"], result["stage"], result["hook"]["file"]) == ("reverted", "switch", absolute), result
        assert FAILING_TASK in result["message"]
        assert fleet.current(host) == on_v2[host]


# A colon and a space inside an unquoted value: YAML that Ansible cannot read.
UNREADABLE_HOOK = """---
- name: Stop the workers
  ansible.builtin.shell: systemctl stop worker && echo note: stopped
"""


def test_a_hook_file_ansible_cannot_read_is_refused_before_any_host_is_touched(
    fleet: Fleet, on_v2: dict[str, str], tmp_path: Path
) -> None:
    """A parse error where the hook is included would end the whole run there (no rescue: after the switch, the
    hosts would stay switched and locked): it is bad input, named with its line, through every entry point."""
    hook = tmp_path / "unreadable.yml"
    hook.write_text(UNREADABLE_HOOK)
    says = f"deploy_before_restart_tasks: {hook} is no task file Ansible can read (line 3, column 24): YAML parsing"
    journals = {host: journal_length(fleet, host) for host in fleet.hosts}

    cli = deployctl(
        "deploy", str(hooked_inventory(tmp_path, {"deploy_before_restart_tasks": str(hook)})), "--ref", "v1"
    )
    assert cli.rc == 5, cli.out + cli.err
    assert says in flat(cli.out + cli.err) and "exit 5: bad input" in flat(cli.out)

    run = fleet.deploy("v1", "-e", json.dumps({"deploy_before_restart_tasks": str(hook)}))
    assert run.rc == 2, run.output[-4000:]
    assert says in flat(run.output) and "invalid" in run.output

    job = awx_job(tmp_path, "playbooks/deploy.yml", {"deploy_ref": "v1", "deploy_before_restart_tasks": str(hook)})
    assert (job.status, job.rc) == ("failed", 2), job.stdout[-4000:]
    for result in job.hosts.values():
        assert (result["outcome"], result["stage"]) == ("invalid", "preflight"), result
        assert says in flat(result["message"])
    # Through the CLI, what include_tasks would refuse where the hook runs, after the switch too: YAML that parses,
    # with a module Ansible cannot resolve; a task file the hook includes that is nowhere Ansible looks.
    refusals = [
        ("typo", "before_restart", "- name: Warm the cache\n  ansible.builtin.debgu:\n    msg: warm\n",
         "task 'Warm the cache': couldn't resolve module/action 'ansible.builtin.debgu'"),
        ("includes", "after_switch", "- name: More steps\n  ansible.builtin.include_tasks: missing.yml\n",
         "task 'More steps': includes missing.yml, which is neither beside this file"),
    ]  # fmt: skip
    for name, point, tasks, words in refusals:
        refused = tmp_path / f"{name}.yml"
        refused.write_text(f"---\n{tasks}")
        inventory = hooked_inventory(tmp_path / name, {f"deploy_{point}_tasks": str(refused)})
        cli = deployctl("deploy", str(inventory), "--ref", "v1")
        assert cli.rc == 5, cli.out + cli.err
        assert f"deploy_{point}_tasks: {refused}: {words}" in flat(cli.out + cli.err), cli.out
        assert "exit 5: bad input" in flat(cli.out)
    for host in fleet.hosts:
        assert fleet.current(host) == on_v2[host] and lock_state(fleet, host) == "free"
        assert journal_length(fleet, host) == journals[host]


def test_a_failing_local_before_command_stops_the_deploy_before_any_host_is_touched(
    fleet: Fleet, on_v2: dict[str, str], tmp_path: Path
) -> None:
    before = {host: (fleet.ssh(host, f"ls -a {DEPLOY_TO}/releases"), len(fleet.journal(host))) for host in fleet.hosts}
    refuse = ["sh", "-c", 'echo "CI is red for $DEPLOYCTL_REF ($DEPLOYCTL_APP)" >&2; exit 3']
    inventory = hooked_inventory(tmp_path, {"deploy_local_before": [refuse]})
    report = tmp_path / "report.json"
    cli = deployctl("deploy", str(inventory), "--ref", "v1", "--report", str(report))
    run = fleet.deploy("v1", "-e", json.dumps({"deploy_local_before": [refuse]}))

    words = "deploy_local_before command `sh -c echo"
    assert cli.rc == 1, cli.out + cli.err
    assert (
        words in flat(cli.out + cli.err) and "exited 3" in cli.out + cli.err and "CI is red for v1 (sample)" in cli.out
    )
    for result in json.loads(report.read_text())["hosts"].values():
        assert (result["outcome"], result["stage"]) == ("aborted", "local_before"), result
    assert run.rc == 2, run.output[-4000:]
    assert words in flat(run.output) and "CI is red for v1 (sample)" in run.output
    # No host was read: the summary does not claim one runs no release.
    summary = flat(run.output[run.output.rindex("DEPLOY SUMMARY") :])
    assert summary.count("unchanged: the deploy stopped at stage local_before, before any host was touched") == 2
    assert "no release" not in summary, summary
    for host in fleet.hosts:
        assert fleet.current(host) == on_v2[host]
        assert (fleet.ssh(host, f"ls -a {DEPLOY_TO}/releases"), len(fleet.journal(host))) == before[host]
        assert lock_state(fleet, host) == "free"


def test_a_failing_local_after_command_fails_the_run_and_says_every_host_succeeded(
    fleet: Fleet, commits: dict[str, str], on_v2: dict[str, str], tmp_path: Path
) -> None:
    # A redeploy of the live v2 (every host unchanged: quick); the post-deploy command fails, as Kamal's
    # post-deploy hook would fail the deploy: nothing is reverted, and the closing line says so.
    chat_down = ["sh", "-c", 'echo "chat is down for $DEPLOYCTL_RELEASE" >&2; exit 4']
    inventory = hooked_inventory(tmp_path, {"deploy_local_after": [chat_down]})
    cli = deployctl("deploy", str(inventory), "--ref", "v2")
    assert cli.rc == 2, cli.out + cli.err
    said = flat(cli.out + cli.err)
    assert "deploy_local_after command `sh -c echo" in said and "exited 4" in said, said
    closing = "exit 2: every host's deploy succeeded, then a deploy_local_after command failed (see above); "
    assert closing + "nothing was reverted" in said, said
    # ansible-playbook: exit 2, and its DEPLOY SUMMARY says it under the hosts' lines.
    playbook = Fleet(inventory).deploy("v2")
    assert playbook.rc == 2, playbook.output[-3000:]
    summary = flat(playbook.output[playbook.output.rindex("DEPLOY SUMMARY") :])
    assert "FAILED after the deploy (nothing was reverted): deploy_local_after command `sh -c echo" in summary, summary
    for host in fleet.hosts:
        # The deploy's result stands (v2 serves; a new release when an earlier test left v2 live with other
        # variables), the lock is free.
        assert fleet.health(host)[1]["revision"] == commits["v2"]
        assert lock_state(fleet, host) == "free"
