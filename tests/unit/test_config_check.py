"""A deploy whose configuration does not render (roles/deploy/tasks/config_check.yml: a wrong vault password, a
secret the config names but the vault lacks) stops on the controller before any host is touched, and reports
every host as invalid input as a run refused as a whole does: in ansible-playbook's summary and in set_stats,
for an AWX workflow. Real ansible-playbook runs of deploy.yml with the demo's configuration and vault, against
hosts that are never contacted (test_whole_run.py's).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.test_whole_run import HOSTS, REPO_ROOT, assert_refused_on_every_host, play

DEMO = REPO_ROOT / "inventories/demo"
# The demo inventory's own host variable, which its configuration names.
DB_HOST = ("-e", "sample_db_host=db.internal")


@pytest.mark.parametrize(
    ("password", "args", "words"),
    [
        pytest.param(
            "not the demo password",
            [],
            "cannot decrypt vault_sample_db_password, vault_sample_secret_key_base in {vault}: encrypted with vault id "
            "demo, for which no vault password given matches. If you gave one, it is the wrong password; pass the "
            "right one, e.g. --vault-password-file PASSWORD_FILE, --vault-id demo@PASSWORD_FILE or "
            "--vault-id demo@prompt.",
            id="wrong-vault-password",
        ),
        pytest.param(
            None,
            ["-e", json.dumps({"deploy_config": {"api_key": "{{ vault_sample_api_key }}"}})],
            "needs vault_sample_api_key, which is not defined: add it to {vault} (ansible-vault encrypt_string "
            "--vault-id demo@prompt --name vault_sample_api_key), or define it elsewhere in the inventory.",
            id="missing-secret",
        ),
        pytest.param(
            None,
            ["-e", json.dumps({"deploy_config": {"database": {"host": "{{ sample_db_hostname }}"}}})],
            "needs sample_db_hostname, which is not defined: define it in the inventory (group_vars, host_vars) or "
            "pass it with -e (a secret goes encrypted into {vault}).",
            id="missing-setting",
        ),
    ],
)
def test_a_configuration_that_does_not_render_is_invalid_on_every_host(
    tmp_path: Path, password: str | None, args: list[str], words: str
) -> None:
    password_file = DEMO / "demo-vault-password.txt"
    if password is not None:
        password_file = tmp_path / "password"
        password_file.write_text(password + "\n")
    played = play(
        tmp_path, "deploy.yml", "--vault-id", f"demo@{password_file}", "-e", "deploy_ref=v1", *DB_HOST, *args,
        group_vars=DEMO / "group_vars",
    )  # fmt: skip
    vault = tmp_path / "inventory/group_vars/all/vault.yml"
    assert_refused_on_every_host(played, words.format(vault=vault), "DEPLOY SUMMARY: v1 ")
    published = played.artifacts["deployctl"]
    assert (published["ref"], published["run_id"], published["release_id"]) == ("v1", "", "")
    if password is None:
        for host in HOSTS:
            assert published["hosts"][host]["message"].startswith(f"the configuration of {host} needs ")


def test_a_variable_the_argument_spec_rejects_is_invalid_on_every_host(tmp_path: Path) -> None:
    # The role checks its argument spec first in its preflight (deploy.yml turns Ansible's own check off), so
    # that an AWX survey's bad answer is reported per host like any other rejected input.
    played = play(
        tmp_path, "deploy.yml", "--vault-id", f"demo@{DEMO / 'demo-vault-password.txt'}", "-e", "deploy_ref=v1",
        *DB_HOST, "-e", "deploy_keep_releases=many", group_vars=DEMO / "group_vars",
    )  # fmt: skip
    words = (
        "Validation of arguments failed: argument 'deploy_keep_releases' is of type str and we were unable to "
        "convert to int"
    )
    assert_refused_on_every_host(played, words, "DEPLOY SUMMARY: v1 ")
    assert "Validating arguments against arg spec" not in played.said


def test_a_setting_whose_value_uses_a_variable_set_nowhere_is_named(tmp_path: Path) -> None:
    # Ansible's own error names the variable only; the preflight names the setting that uses it.
    played = play(
        tmp_path, "deploy.yml", "--vault-id", f"demo@{DEMO / 'demo-vault-password.txt'}", "-e", "deploy_ref=v1",
        *DB_HOST, "-e", "deploy_migrate={{ nosuch_var }}", group_vars=DEMO / "group_vars",
    )  # fmt: skip
    words = "deploy_migrate: its value uses a variable that is not set ('nosuch_var' is undefined): set it"
    assert_refused_on_every_host(played, words, "DEPLOY SUMMARY: v1 ")
