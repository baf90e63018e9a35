"""Every way a vault password arrives works; a wrong one or a missing secret stops before any host."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import ansible_runner
import pytest
import yaml

from tests.e2e.conftest import DEMO_PASSWORD, DEPLOY_TO, INVENTORY, REPO_ROOT, VAULT_ID, awx_job
from tests.e2e.test_cli import PASSWORD_FILE, deployctl
from tests.harness import targets


def host_state(fleet) -> dict[str, str]:
    """What a deploy would change first on each host: the journal, the lock, current."""
    return {
        host: fleet.ssh(
            host,
            f"wc -l < {DEPLOY_TO}/.deployctl/journal.jsonl; ls {DEPLOY_TO}/.deployctl; readlink {DEPLOY_TO}/current",
        )
        for host in fleet.hosts
    }


# What a wrong vault password is told, after the vault file's path, through every entry point.
WRONG_PASSWORD = (
    "encrypted with vault id demo, for which no vault password given matches. If you gave one, it is the wrong "
    "password; pass the right one, e.g. --vault-password-file PASSWORD_FILE, --vault-id demo@PASSWORD_FILE or "
    "--vault-id demo@prompt."
)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_a_wrong_vault_password_names_the_vault_id_and_the_file(fleet, on_v2, tmp_path):
    before = host_state(fleet)
    wrong_password = "not the demo password"
    wrong = tmp_path / "wrong-password"
    wrong.write_text(f"{wrong_password}\n")
    run = fleet.playbook("deploy.yml", "-e", "deploy_ref=v1", vault_id=f"demo@{wrong}")
    assert run.rc == 2
    cannot_decrypt = "cannot decrypt vault_sample_db_password, vault_sample_secret_key_base in "
    words = f"{cannot_decrypt}{INVENTORY}/group_vars/all/vault.yml: {WRONG_PASSWORD}"
    said = flat(run.output)
    assert words in said
    # The summary, from what each host published (set_stats): every host invalid, with the words.
    summary = said[said.index("DEPLOY SUMMARY: v1 ") :]
    for host in fleet.hosts:
        assert f"{host} invalid untouched: the input was rejected before any host was touched (" in summary
    assert summary.count(words) == len(fleet.hosts)

    # An AWX job whose Vault credential holds a wrong password: a workflow reads every host invalid.
    job = awx_job(tmp_path / "awx", "playbooks/deploy.yml", {"deploy_ref": "v1"}, vault_password=wrong_password)
    assert (job.status, job.rc) == ("failed", 2), job.stdout[-3000:]
    assert {host: (result["outcome"], result["stage"]) for host, result in job.hosts.items()} == dict.fromkeys(
        fleet.hosts, ("invalid", "preflight")
    ), job.artifacts
    for result in job.hosts.values():
        assert flat(result["message"]).startswith(cannot_decrypt), result
        assert flat(result["message"]).endswith(f"/group_vars/all/vault.yml: {WRONG_PASSWORD}"), result
    assert (job.artifacts["deployctl"]["ref"], job.artifacts["deployctl"]["run"]) == ("v1", "deploy")

    # The CLI: bad input (exit 5), the words once for every host, each host's row invalid.
    cli = deployctl("deploy", str(INVENTORY), "--ref", "v1", "--vault-id", f"demo@{wrong}", password=False)
    assert cli.rc == 5, cli.out + cli.err
    said = flat(cli.out + cli.err)
    assert f"{', '.join(fleet.hosts)}: {words}" in said
    assert said.count(cannot_decrypt) == 1, cli.out + cli.err
    assert [line.split()[:3] for line in cli.out.splitlines() if "invalid" in line.split()] == [
        [host, "-", "invalid"] for host in fleet.hosts
    ], cli.out
    hosts = ", ".join(fleet.hosts)
    assert f"exit 5: bad input on {hosts} (the messages above say what to fix): nothing changed" in said
    assert host_state(fleet) == before


def test_a_secret_missing_from_the_vault_names_the_key_and_the_file(fleet, on_v2):
    before = host_state(fleet)
    config = {"deploy_config": {"api_key": "{{ vault_sample_api_key }}"}}
    run = fleet.deploy("v1", "-e", json.dumps(config))
    assert run.rc == 2
    flat = " ".join(run.output.split())
    assert "the configuration of web1 needs vault_sample_api_key, which is not defined: add it to" in flat
    vault_file = f"{INVENTORY}/group_vars/all/vault.yml"
    assert f"{vault_file} (ansible-vault encrypt_string --vault-id demo@prompt --name vault_sample_api_key)" in flat
    # Every host in the summary (set_stats), as invalid input.
    summary = flat[flat.index("DEPLOY SUMMARY: v1 ") :]
    for host in fleet.hosts:
        assert f"{host} invalid untouched: the input was rejected before any host was touched (" in summary
        assert f"the configuration of {host} needs vault_sample_api_key, which is not defined" in summary
    assert host_state(fleet) == before


def test_a_malformed_vault_file_names_the_file_and_line(fleet, on_v2, tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(INVENTORY, inventory, symlinks=False)
    (inventory / "group_vars/all/vault.yml").write_text("---\nvault_sample_db_password: [unclosed\nvault_x: 1\n")
    before = host_state(fleet)
    proc = subprocess.run(
        [targets.tool("ansible-playbook"), "playbooks/deploy.yml", "-i", str(inventory), "--vault-id", VAULT_ID,
         "-e", "deploy_ref=v1"],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"{inventory}/group_vars/all/vault.yml is not valid YAML (line 3, column 8: expected ',' or ']'" in output
    assert host_state(fleet) == before


def test_a_password_client_script_reads_the_password_from_the_environment(fleet, commits):
    run = fleet.playbook(
        "deploy.yml", "-e", "deploy_ref=v2", vault_id="demo@inventories/vault-env-client.py",
        env={"DEPLOYCTL_VAULT_PASSWORD_DEMO": DEMO_PASSWORD},
    )  # fmt: skip
    assert run.rc == 0, run.output[-3000:]
    assert fleet.health("web1")[1]["revision"] == commits["v2"]


@pytest.mark.parametrize("ref", ["v1"])
def test_a_vault_prompt_answered_by_the_job_runner_as_awx_does(fleet, commits, tmp_path, vault_secrets, ref):
    artifacts = tmp_path / "artifacts"
    result = ansible_runner.run(
        private_data_dir=str(tmp_path),
        project_dir=str(REPO_ROOT),
        playbook=str(REPO_ROOT / "playbooks/deploy.yml"),
        inventory=str(INVENTORY),
        cmdline="--vault-id demo@prompt",
        extravars={"deploy_ref": ref},
        passwords={r"^Vault password \(demo\):\s*$": DEMO_PASSWORD},
        envvars={
            "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            # ansible-playbook must be on the runner's PATH (PLATFORM.md).
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
        artifact_dir=str(artifacts),
        suppress_env_files=True,
        quiet=True,
    )
    assert (result.status, result.rc) == ("successful", 0)
    assert fleet.health("web1")[1]["revision"] == commits[ref]
    # The job's artifacts (stdout, events, command) hold neither the vault password nor a secret.
    for path in artifacts.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert DEMO_PASSWORD not in text, path
            for value in vault_secrets.values():
                assert value not in text, path


def test_secrets_under_two_vault_ids_name_the_missing_one_and_deploy_with_both(fleet, commits, on_v2, tmp_path):
    """The db secrets under `demo`, an API key under `payments`: the CLI takes both ids."""
    inventory = tmp_path / "two-ids"
    shutil.copytree(INVENTORY, inventory, symlinks=False)
    payments = tmp_path / "payments-password"
    payments.write_text("payments-only password\n")
    canary = "sk_live_two_ids_canary"
    encrypted = subprocess.run(
        [targets.tool("ansible-vault"), "encrypt_string", "--vault-id", f"payments@{payments}",
         "--name", "vault_payments_api_key", canary],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    with (inventory / "group_vars/all/vault.yml").open("a") as vault:
        vault.write(encrypted)
    variables = yaml.safe_load((inventory / "group_vars/all/vars.yml").read_text())
    variables["deploy_config"]["payments_api_key"] = "{{ vault_payments_api_key }}"
    (inventory / "group_vars/all/vars.yml").write_text(yaml.safe_dump(variables))
    demo = f"demo@{REPO_ROOT / PASSWORD_FILE}"
    before = host_state(fleet)

    only_demo = deployctl("deploy", str(inventory), "--ref", "v1", "--vault-id", demo, password=False)
    assert only_demo.rc == 5, only_demo.out + only_demo.err
    said = " ".join((only_demo.out + only_demo.err).split())
    assert "cannot decrypt vault_payments_api_key in" in said
    assert "encrypted with vault id payments, for which no vault password given matches" in said
    assert "(the secrets under demo decrypt)" in said
    assert "--vault-id payments@prompt" in said
    assert host_state(fleet) == before

    both = deployctl(
        "deploy", str(inventory), "--ref", "v1", "--vault-id", demo, "--vault-id", f"payments@{payments}", "--json",
        password=False,
    )  # fmt: skip
    assert both.rc == 0, both.out + both.err
    assert {result["outcome"] for result in both.hosts.values()} == {"deployed"}
    assert canary not in both.out + both.err
    for host in fleet.hosts:
        assert f"payments_api_key: {canary}" in fleet.ssh(host, f"cat {DEPLOY_TO}/current/config/production.yml")
