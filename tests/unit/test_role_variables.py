"""The deploy role's variables are written twice, as defaults and as argument specs: keep them in step."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.targets import tool

ROLE = Path(__file__).resolve().parents[2] / "roles" / "deploy"
DEFAULTS: dict[str, Any] = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
SPECS: dict[str, Any] = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]
# Every entry point's options (main, rollback, ...): a variable is documented where it is used.
MAIN = {name: option for entry in SPECS.values() for name, option in (entry.get("options") or {}).items()}
# Set by the user (or the playbook) on every deploy: no default to keep in step.
REQUIRED = {"deploy_app_name", "deploy_repo_url", "deploy_ref", "deploy_exec_argv"}
# Read by playbooks/deploy.yml at play level (serial, max_fail_percentage), where role
# defaults are not visible: documented with their default in the specs, defaulted in the play.
PLAY_LEVEL = {"deploy_serial", "deploy_max_fail_percentage", "deploy_hosts"}


def test_every_default_is_documented_in_the_argument_specs() -> None:
    assert sorted(set(DEFAULTS) - set(MAIN)) == []


def test_every_documented_option_has_a_default_unless_it_is_required() -> None:
    assert sorted(set(MAIN) - set(DEFAULTS) - REQUIRED - PLAY_LEVEL) == []
    for name in REQUIRED & set(MAIN):
        assert MAIN[name].get("required") or "default" not in MAIN[name], name


@pytest.mark.parametrize("name", sorted(set(DEFAULTS) & set(MAIN)))
def test_the_documented_default_is_the_default(name: str) -> None:
    assert MAIN[name].get("default") == DEFAULTS[name], name


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_role_variables_carry_the_deploy_prefix(name: str) -> None:
    assert name.startswith("deploy_"), name


@pytest.mark.parametrize("name", sorted(MAIN))
def test_descriptions_hold_no_template(name: str) -> None:
    """ansible-core renders the whole argument spec when it validates: a `{{ }}` in a
    description is evaluated on every deploy and fails it when it names an undefined variable."""
    description = MAIN[name].get("description", "")
    assert "{{" not in (description if isinstance(description, str) else " ".join(description)), name


@pytest.mark.parametrize(
    ("given", "connection"),
    [
        (
            {"deploy_config": {"database": {"adapter": "postgresql", "host": "db", "pool": 5, "encoding": "unicode",
                                            "name": "shop", "username": "shop", "password": "pw"}}},
            {"adapter": "postgresql", "host": "db", "name": "shop", "username": "shop", "password": "pw"},
        ),
        ({"deploy_secret_environment": {"DATABASE_URL": "postgres://shop:pw@db/shop"}}, {"url": "postgres://shop:pw@db/shop"}),
        ({"deploy_db_backup_connection": {"host": "other", "database": "x"}}, {"host": "other", "database": "x"}),
        ({}, {}),
    ],
    ids=["deploy_config mapping", "DATABASE_URL", "explicit", "none"],
)  # fmt: skip
def test_the_backup_connection_holds_only_the_keys_db_backup_takes(given: dict, connection: dict) -> None:
    """A Rails-style mapping has keys (pool, encoding) the module would refuse as unsupported parameters."""
    extra = {"deploy_db_backup_connection": {}, "deploy_secret_environment": {}, "deploy_config": {}, **given}
    proc = subprocess.run(
        [tool("ansible"), "localhost", "-m", "ansible.builtin.debug", "-a", "var=__deploy_db_backup_connection",
         "-e", f"@{ROLE / 'vars' / 'main.yml'}", "-e", json.dumps(extra), "-o"],
        capture_output=True, text=True, cwd=ROLE.parents[1], check=True,
    )  # fmt: skip
    assert json.loads(proc.stdout.split("=>", 1)[1])["__deploy_db_backup_connection"] == connection
