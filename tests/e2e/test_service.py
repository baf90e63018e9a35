"""The systemd service as a user configures it: variables merge over the defaults, values reach
the app unchanged, no secret goes into the unit file, and a broken unit is reverted with its release."""

from __future__ import annotations

import json
import subprocess

from tests.e2e.conftest import DEPLOY_TO, Fleet
from tests.e2e.test_cli import ENV, deployctl
from tests.e2e.test_hooks import hooked_inventory
from tests.e2e.test_secrets import canary, leaks_in_files

__all__ = ["canary"]  # a fixture, used by name

UNIT = "/etc/systemd/system/sample.service"


def service_environment(fleet: Fleet, host: str) -> dict[str, str]:
    """The environment of the running app's main process, as the app sees it (read as the app
    user: the containers' root lacks the capability to read another user's /proc/PID/environ)."""
    raw = fleet.ssh(
        host, "runuser -u sample -- cat /proc/$(systemctl show -p MainPID --value sample)/environ | tr '\\0' '\\n'"
    )
    return dict(line.split("=", 1) for line in raw.splitlines() if "=" in line)


def test_one_service_variable_keeps_the_defaults_and_odd_values_reach_the_app(fleet, commits, on_v2):
    url = 'postgres://app:p%40ss@db/app?note="quoted" \\ end'
    extra = {"deploy_service_environment": {"RAILS_SERVE_STATIC_FILES": "1", "REPORTS_URL": url}}
    run = fleet.deploy("v2", "-e", json.dumps(extra))
    assert run.rc == 0, run.output[-3000:]
    for host in fleet.hosts:
        env = service_environment(fleet, host)
        assert env["RAILS_ENV"] == "production"
        assert env["PORT"] == "3000"
        assert env["RAILS_SERVE_STATIC_FILES"] == "1"
        assert env["REPORTS_URL"] == url
        assert fleet.ssh(host, f"stat -c '%a %U:%G' {UNIT}").strip() == "644 root:root"
        assert "p%%40ss" in fleet.ssh(host, f"cat {UNIT}")
        # systemd accepted every line: nothing of the value was copied into the journal.
        assert "p%40ss" not in fleet.ssh(host, "journalctl -u sample --no-pager -n 200")
        assert fleet.health(host)[1]["revision"] == commits["v2"]


def test_a_unit_change_that_breaks_the_app_is_reverted_with_its_release(fleet, commits, on_v2):
    unit_before = {host: fleet.ssh(host, f"cat {UNIT}") for host in fleet.hosts}
    # Same commit, another unit: a new release; the app then listens where nobody checks. The candidate
    # (on its side port, PORT set over the unit's) passes; its deadline stays long, as the first boot of a
    # release under the whole suite's load can take more than the 8 s given to the check after the switch.
    broken = {
        "deploy_service_environment": {"PORT": "3999"},
        "deploy_health_deadline": 8,
        "deploy_candidate_deadline": 60,
    }
    run = deployctl("deploy", ENV, "--ref", "v2", "-e", json.dumps(broken), "--json")
    assert run.rc == 1, run.out + run.err
    for host, result in run.hosts.items():
        assert (result["outcome"], result["stage"]) == ("reverted", "verify"), result
        assert result["outage_seconds"] > 0
        assert "REVERTED: current points at" in result["detail"]
        assert fleet.current(host) == on_v2[host]
        assert fleet.ssh(host, f"cat {UNIT}") == unit_before[host]
        assert service_environment(fleet, host)["PORT"] == "3000"
        assert fleet.health(host) == (200, fleet.health(host)[1])
        assert fleet.health(host)[1]["revision"] == commits["v2"]


def test_a_secret_in_the_service_environment_is_refused_before_any_host(fleet, on_v2):
    journal = {host: len(fleet.journal(host)) for host in fleet.hosts}
    leak = {"deploy_service_environment": {"DB_PASSWORD": "{{ vault_sample_db_password }}"}}
    run = deployctl("deploy", ENV, "--ref", "v1", "-e", json.dumps(leak))
    assert run.rc == 5, run.out + run.err
    text = " ".join((run.out + run.err).split())
    assert "deploy_service_environment takes DB_PASSWORD from the vault" in text
    assert f"the unit file {UNIT} is readable by every user of the host" in text
    for host in fleet.hosts:
        assert len(fleet.journal(host)) == journal[host]
        assert fleet.current(host) == on_v2[host]


def test_secrets_as_environment_reach_the_app_and_the_build_never_the_unit_and_leave_with_a_rollback(
    fleet, commits, on_v2, canary
):
    secret, extra = canary
    settings = {
        "deploy_secret_environment": {"SAMPLE_TOKEN": "{{ vault_sample_secret_key_base }}"},
        # The build fails unless it sees the variable (and prints nothing of it).
        "deploy_build_command": ["sh", "-c", 'test -n "$SAMPLE_TOKEN" && exec make deploy'],
    }
    run = fleet.deploy("v2", "-e", extra, "-e", json.dumps(settings))
    assert run.rc == 0, run.output[-3000:]
    assert secret not in run.output
    for host in fleet.hosts:
        # Same commit, new secrets: a new release, whose app has the value as it was given.
        assert fleet.current(host) != on_v2[host]
        assert service_environment(fleet, host)["SAMPLE_TOKEN"] == secret
        assert service_environment(fleet, host)["RAILS_ENV"] == "production"
        env_file = f"{DEPLOY_TO}/current/.deployctl-environment"
        assert fleet.ssh(host, f"stat -L -c '%a %U:%G' {env_file}").strip() == "600 root:root"
        unit = fleet.ssh(host, f"cat {UNIT}")
        assert f"EnvironmentFile={env_file}" in unit
        # Nowhere another user can read, nor in what deployctl records (journal, logs, records).
        assert leaks_in_files(fleet, host, secret) == []
        assert fleet.health(host)[1]["revision"] == commits["v2"]

    rolled = fleet.playbook("rollback.yml")
    assert rolled.rc == 0, rolled.output[-3000:]
    for host in fleet.hosts:
        # The release rolled back to had no secret environment, and its unit reads none.
        assert fleet.current(host) == on_v2[host]
        assert "SAMPLE_TOKEN" not in service_environment(fleet, host)
        assert "EnvironmentFile" not in fleet.ssh(host, f"cat {UNIT}")


# A hook between the switch and the restart that takes the host's SSH away, its own connection too: the run loses
# the host with `current` switched and the old code still running (session 15's trial).
LOSE_SSH = """---
- name: Lose this host's SSH between the switch and the restart
  ansible.builtin.shell: 'systemctl stop ssh.service && pkill -9 -f "sshd: root"'
  changed_when: true
"""


def test_a_host_lost_before_its_restart_is_restarted_by_the_next_deploy_of_that_ref(fleet, commits, on_v2, tmp_path):
    """A host lost between its switch and its restart keeps `current` on the new release while the old code
    serves. Redeploying that ref finds it live, sees the app answer with the old revision, and restarts it once,
    saying so: exit 0, `unchanged` with a warning, and the new release answering."""
    (tmp_path / "lose-ssh.yml").write_text(LOSE_SSH)
    hooked = hooked_inventory(tmp_path, {"deploy_before_restart_tasks": str(tmp_path / "lose-ssh.yml")})
    container = f"{fleet.hosts['web1']['harness_prefix']}-web1"
    try:
        lost = deployctl("deploy", str(hooked), "--ref", "v1", "--limit", "web1")
        assert lost.rc == 4, lost.out + lost.err
        said = " ".join(lost.out.split())
        assert "unreachable" in said and "exit 4: web1 could not be reached" in said
    finally:
        subprocess.run(["podman", "exec", container, "systemctl", "start", "ssh.service"], check=True)
    switched = fleet.current("web1")
    assert switched != on_v2["web1"] and fleet.health("web1")[1]["revision"] == commits["v2"]
    # Never checked: no rollback target (the releases table says so) until a check of it passes.
    assert fleet.records("web1")[switched]["verified"] is False
    listed = deployctl("releases", ENV, "--limit", "web1")
    assert listed.rc == 0, listed.out + listed.err
    assert "never checked" in next(line for line in listed.out.splitlines() if switched in line), listed.out
    assert f"< rollback target: {on_v2['web1']}" in listed.out

    run = deployctl("deploy", ENV, "--ref", "v1", "--limit", "web1", "--json")
    assert run.rc == 0, run.out + run.err
    web1 = run.hosts["web1"]
    assert (web1["outcome"], web1["release"]) == ("unchanged", switched)
    assert "its restart after an earlier switch never happened" in web1.get("warning", ""), web1
    assert (fleet.current("web1"), fleet.health("web1")[1]["revision"]) == (switched, commits["v1"])
    assert fleet.records("web1")[switched]["verified"] is True
