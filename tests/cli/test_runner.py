"""The ansible-runner call: environment, the environment's vault password, settings, artifacts."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from deployctl import runner
from deployctl.runner import Environment, InputError, Request, Vault, Vaults

SECRET = "correct horse battery staple"


def test_an_environment_is_a_name_under_inventories_or_a_path(inventory: Path) -> None:
    base = inventory.parents[1]
    by_name = Environment.find("staging", base)
    assert by_name == Environment("staging", inventory)
    assert Environment.find(str(inventory / "hosts.yml"), base) == Environment("staging", inventory / "hosts.yml")
    with pytest.raises(InputError, match="unknown environment 'production'"):
        Environment.find("production", base)


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        # A script's unset variable: it named the working directory, whose every file Ansible would read as an
        # inventory source, running each executable one (the project's own scripts) as an inventory script.
        ("", "ENV is empty: name the environment, a directory under inventories/ (e.g. production)"),
        (" ", "ENV is empty"),
        (
            ".",
            "environment '.' is {base}, a project's directory (inventories, playbooks, ansible.cfg), not an inventory",
        ),
        ("inventories", "environment 'inventories' is {base}/inventories, which holds every environment (staging)"),
    ],
)
def test_a_name_for_no_environment_or_for_several_is_bad_input(inventory: Path, spec: str, said: str) -> None:
    base = inventory.parents[1]
    (base / "playbooks").mkdir()
    (base / "ansible.cfg").write_text("[defaults]\n")
    with pytest.raises(InputError) as refused:
        Environment.find(spec, base)
    assert str(refused.value).startswith(said.format(base=base.resolve()))


@pytest.mark.parametrize(
    ("content", "needs_vault"),
    [
        ("deploy_app_name: shop\n", False),
        ("$ANSIBLE_VAULT;1.2;AES256;prod\n6162\n", True),
        ("vault_db_password: !vault |\n  $ANSIBLE_VAULT;1.2;AES256;prod\n", True),
    ],
)
def test_vault_content_is_found_in_the_inventory(inventory: Path, content: str, needs_vault: bool) -> None:
    group_vars = inventory / "group_vars" / "all"
    group_vars.mkdir(parents=True)
    (group_vars / "vault.yml").write_text(content)
    assert Environment("staging", inventory).has_vault_content() is needs_vault
    assert Environment("staging", inventory / "hosts.yml").has_vault_content() is needs_vault


@pytest.fixture
def vault_inventory(inventory: Path) -> Environment:
    (inventory / "group_vars").mkdir()
    (inventory / "group_vars" / "all.yml").write_text("secret: !vault |\n  $ANSIBLE_VAULT;1.2;AES256;staging\n")
    return Environment("staging", inventory)


def test_the_password_comes_from_a_file(tmp_path: Path, vault_inventory: Environment) -> None:
    path = tmp_path / "password"
    path.write_text(SECRET + "\n")
    assert Vaults.resolve(vault_inventory, str(path), interactive=False) == Vaults((Vault("staging", SECRET),))


def test_an_executable_password_file_is_run(tmp_path: Path, vault_inventory: Environment) -> None:
    script = tmp_path / "password.sh"
    script.write_text(f"#!/bin/sh\necho '{SECRET}'\n")
    script.chmod(0o700)
    assert Vaults.resolve(vault_inventory, str(script), interactive=False) == Vaults((Vault("staging", SECRET),))


def test_a_missing_password_file_is_bad_input(tmp_path: Path, vault_inventory: Environment) -> None:
    with pytest.raises(InputError, match="cannot read the vault password"):
        Vaults.resolve(vault_inventory, str(tmp_path / "nope"), interactive=False)


@pytest.mark.parametrize(
    ("variables", "password"),
    [
        ({"DEPLOYCTL_VAULT_PASSWORD": SECRET}, SECRET),
        ({"DEPLOYCTL_VAULT_PASSWORD_STAGING": SECRET}, SECRET),
        ({"DEPLOYCTL_VAULT_PASSWORD_STAGING": SECRET, "DEPLOYCTL_VAULT_PASSWORD": "another"}, SECRET),
    ],
)
def test_the_password_from_the_environment_leaves_the_environment(
    monkeypatch: pytest.MonkeyPatch, vault_inventory: Environment, variables: dict[str, str], password: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert Vaults.resolve(vault_inventory, None, interactive=False) == Vaults((Vault("staging", password),))
    # ansible-runner copies the whole environment into its artifacts: they must not be there.
    assert not [name for name in os.environ if name.startswith(runner.VAULT_PASSWORD_ENV)]


def test_the_password_is_asked_for_on_a_terminal(monkeypatch: pytest.MonkeyPatch, vault_inventory: Environment) -> None:
    monkeypatch.delenv(runner.VAULT_PASSWORD_ENV, raising=False)
    prompts: list[str] = []

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return SECRET

    monkeypatch.setattr(runner, "getpass", getpass)
    assert Vaults.resolve(vault_inventory, None, interactive=True) == Vaults((Vault("staging", SECRET),))
    assert prompts == ["Vault password (staging): "]
    with pytest.raises(InputError, match="has vault-encrypted content: give --vault-password-file"):
        Vaults.resolve(vault_inventory, None, interactive=False)


def test_no_vault_content_no_password(monkeypatch: pytest.MonkeyPatch, inventory: Path) -> None:
    monkeypatch.delenv(runner.VAULT_PASSWORD_ENV, raising=False)
    assert Vaults.resolve(Environment("staging", inventory), None, interactive=True) == Vaults()
    assert not Vaults() and Vaults().args == [] and Vaults().prompts == {}


def test_the_password_answers_ansible_playbooks_prompt_only() -> None:
    vault = Vault("prod", SECRET)
    assert vault.args == ["--vault-id", "prod@prompt"]
    [(pattern, answer)] = vault.prompts.items()
    assert answer == SECRET
    # The prompt ansible-playbook prints for --vault-id prod@prompt.
    assert re.compile(pattern, re.M).search("Vault password (prod): ")
    assert not re.compile(pattern, re.M).search("Vault password (staging): ")
    assert SECRET not in repr(vault)


def test_the_request_becomes_ansible_playbook_arguments(inventory: Path) -> None:
    request = Request(
        command="check",
        playbook="status.yml",
        env=Environment("staging", inventory),
        vaults=Vaults((Vault("staging", SECRET),)),
        user_extravars=["deploy_health_deadline=8"],
        check=True,
    )
    assert request.cmdline() == ["--vault-id", "staging@prompt", "-e", "deploy_health_deadline=8", "--check"]


def test_the_collection_ships_with_the_package() -> None:
    collection = runner.CONTENT / "ansible_collections" / "deployctl" / "core"
    for playbook in ("deploy.yml", "rollback.yml", "releases.yml", "status.yml", "unlock.yml"):
        assert (runner.PLAYBOOKS / playbook).is_file()
    assert (collection / "roles" / "deploy" / "tasks" / "main.yml").is_file()
    assert (collection / "plugins" / "modules" / "release.py").is_file()
    assert (collection / "meta" / "runtime.yml").is_file()
    assert runner.CONFIG.is_file()  # the checkout's ansible.cfg (tests/cli/test_settings.py)


def test_the_runner_call(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, inventory: Path) -> None:
    """Its own private data dir, artifacts in 0700 directories, no ansible-runner rotation, no env files;
    the password only as a prompt's answer."""
    calls: list[dict[str, Any]] = []
    modes: list[int] = []

    class Finished:
        rc = 0
        status = "successful"

        def __init__(self, artifact_dir: str) -> None:
            self.config = type("Config", (), {"artifact_dir": artifact_dir})

    def fake_run(**kwargs: Any) -> Finished:
        calls.append(kwargs)
        modes.append(stat.S_IMODE(Path(kwargs["private_data_dir"]).stat().st_mode))
        artifacts = Path(kwargs["artifact_dir"]) / kwargs["ident"]
        artifacts.mkdir()
        (artifacts / "command").write_text(json.dumps({"command": ["ansible-playbook"], "env": dict(os.environ)}))
        kwargs["event_handler"]({"event": "playbook_on_start"})
        return Finished(str(artifacts))

    monkeypatch.setattr(runner.ansible_runner, "run", fake_run)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not for the artifacts")
    seen: list[Any] = []
    vaults = Vaults((Vault("staging", SECRET),))
    request = Request("deploy", "deploy.yml", Environment("staging", inventory), vaults)
    request.extravars = {"deploy_ref": "v1"}
    finished = runner.run(request, seen.append)

    [call] = calls
    root = tmp_path / "cache" / "deployctl"
    assert seen == [{"event": "playbook_on_start"}]
    assert call["suppress_env_files"] is True
    assert call["rotate_artifacts"] == 0
    assert call["passwords"] == vaults.prompts
    assert call["quiet"] is True
    assert call["playbook"] == str(runner.PLAYBOOKS / "deploy.yml")
    assert call["extravars"] == {"deploy_ref": "v1"}
    assert SECRET not in call["cmdline"] and SECRET not in json.dumps(call["envvars"])
    # The run's own private data dir, 0700 while it ran, gone after it.
    assert Path(call["private_data_dir"]) == root / "runs" / call["ident"] and modes == [0o700]
    assert not Path(call["private_data_dir"]).exists()
    for directory in (root, root / "runs", root / "artifacts", root / "artifacts" / "staging"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert finished.rc == 0 and finished.artifacts == root / "artifacts" / "staging" / call["ident"]
    recorded = json.loads((finished.artifacts / "command").read_text())
    assert "AWS_SECRET_ACCESS_KEY" not in recorded["env"] and "PATH" in recorded["env"]


def test_a_runner_crash_names_the_artifacts_and_still_cleans_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, inventory: Path
) -> None:
    calls: list[dict[str, Any]] = []

    def crash(**kwargs: Any) -> None:
        calls.append(kwargs)
        artifacts = Path(kwargs["artifact_dir"]) / kwargs["ident"]
        artifacts.mkdir()
        (artifacts / "command").write_text(json.dumps({"env": {"AWS_SECRET_ACCESS_KEY": "x", "HOME": "/h"}}))
        raise FileNotFoundError(2, "No such file or directory", "/somewhere")

    monkeypatch.setattr(runner.ansible_runner, "run", crash)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(runner.RunError, match=r"ansible-runner failed: FileNotFoundError: .* '/somewhere'") as error:
        runner.run(Request("status", "status.yml", Environment("staging", inventory)), print)
    [call] = calls
    artifacts = tmp_path / "cache" / "deployctl" / "artifacts" / "staging" / call["ident"]
    assert error.value.artifacts == artifacts
    assert isinstance(error.value.__cause__, FileNotFoundError)
    assert not Path(call["private_data_dir"]).exists()
    assert json.loads((artifacts / "command").read_text()) == {"env": {"HOME": "/h"}}
