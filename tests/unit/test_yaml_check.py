"""The yaml_check vars plugin: a malformed group_vars file named with its line, each file parsed once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleError

from ansible_collections.deployctl.core.plugins.vars import yaml_check

VALID = "deploy_app_name: shop\nvault_secret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n"
MALFORMED = "deploy_app_name: shop\ndeploy_ref: [v1\nother: 1\n"


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts yaml_check parses, in order; the plugin starts with nothing checked."""
    monkeypatch.setattr(yaml_check, "_CHECKED", {})
    parsed: list[str] = []
    load = yaml_check.yaml.load

    def counting_load(text: str, Loader: Any) -> Any:
        parsed.append(text)
        return load(text, Loader=Loader)

    monkeypatch.setattr(yaml_check.yaml, "load", counting_load)
    return parsed


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """An inventory directory with a group_vars file and a host_vars file."""
    (tmp_path / "group_vars" / "all").mkdir(parents=True)
    (tmp_path / "group_vars" / "all" / "vault.yml").write_text(VALID)
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "web1.yml").write_text("deploy_app_port: 3001\n")
    return tmp_path


def get_vars(inventory: Path) -> dict[str, Any]:
    result: dict[str, Any] = yaml_check.VarsModule().get_vars(None, str(inventory), [])
    return result


def test_each_file_is_parsed_once_across_calls(inventory: Path, parses: list[str]) -> None:
    for _ in range(5):
        assert get_vars(inventory) == {}

    assert sorted(parses) == sorted([VALID, "deploy_app_port: 3001\n"])


def test_a_file_is_checked_again_after_it_changes(inventory: Path, parses: list[str]) -> None:
    vault = inventory / "group_vars" / "all" / "vault.yml"
    get_vars(inventory)

    vault.write_text(VALID + "more: 1\n")
    get_vars(inventory)
    get_vars(inventory)
    # The same size, another modification time.
    vault.write_text(VALID + "more: 2\n")
    stat = vault.stat()
    os.utime(vault, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    get_vars(inventory)

    assert parses.count(VALID) == 1
    assert (parses.count(VALID + "more: 1\n"), parses.count(VALID + "more: 2\n")) == (1, 1)


def test_a_file_broken_after_a_good_check_is_reported(inventory: Path, parses: list[str]) -> None:
    vault = inventory / "group_vars" / "all" / "vault.yml"
    get_vars(inventory)

    vault.write_text(MALFORMED)

    with pytest.raises(AnsibleError, match="line 3, column 6"):
        get_vars(inventory)


def test_a_malformed_file_names_the_file_and_the_line_on_every_call(inventory: Path, parses: list[str]) -> None:
    vault = inventory / "group_vars" / "all" / "vault.yml"
    vault.write_text(MALFORMED)

    for _ in range(2):
        with pytest.raises(AnsibleError) as raised:
            get_vars(inventory)
        assert raised.value.message == (
            f"{vault} is not valid YAML (line 3, column 6: expected ',' or ']', but got ':'): fix that line "
            "(for a vault file: ansible-vault edit, or encrypt_string the value again)"
        )

    assert parses.count(MALFORMED) == 2
