"""Several vault ids: --vault-id LABEL@SOURCE (repeatable) and DEPLOYCTL_VAULT_PASSWORD_<LABEL>."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from deployctl import cli, runner
from deployctl.runner import Environment, InputError, Request, Vault, Vaults

REPO = Path(__file__).resolve().parents[2]
DB = "db password"
API = "api key"


@pytest.fixture(autouse=True)
def no_password_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith(runner.VAULT_PASSWORD_ENV):
            monkeypatch.delenv(name)


@pytest.fixture
def staging(inventory: Path) -> Environment:
    return Environment("staging", inventory)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for label, password in {"prod": DB, "prod_payments": API}.items():
        path = tmp_path / f"{label}.pass"
        path.write_text(password + "\n")
        paths[label] = str(path)
    return paths


def no_getpass(prompt: str) -> str:
    raise AssertionError(f"asked {prompt!r}")


def test_the_flag_is_repeatable() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["deploy", "production", "--ref", "v1", "--vault-id", "prod@prompt", "--vault-id", "x@f"])
    assert args.vault_id == ["prod@prompt", "x@f"]
    assert parser.parse_args(["status", "production"]).vault_id == []


def test_two_vault_ids_answer_their_own_prompt(
    monkeypatch: pytest.MonkeyPatch, staging: Environment, files: dict[str, str]
) -> None:
    monkeypatch.setattr(runner, "getpass", no_getpass)
    ids = [f"prod@{files['prod']}", f"prod_payments@{files['prod_payments']}"]
    vaults = Vaults.resolve(staging, None, ids, interactive=True)
    assert vaults == Vaults((Vault("prod", DB), Vault("prod_payments", API)))
    assert vaults.args == ["--vault-id", "prod@prompt", "--vault-id", "prod_payments@prompt"]
    # The prompts ansible-playbook prints for them, each answered with its own password only.
    prompts = {re.compile(pattern, re.M): answer for pattern, answer in vaults.prompts.items()}
    for label, password in {"prod": DB, "prod_payments": API}.items():
        [answer] = [answer for pattern, answer in prompts.items() if pattern.search(f"Vault password ({label}): ")]
        assert answer == password
    assert DB not in repr(vaults) and API not in repr(vaults)
    request = Request("deploy", "deploy.yml", staging, vaults, user_extravars=["a=1"])
    assert request.cmdline() == [*vaults.args, "-e", "a=1"]
    assert DB not in request.cmdline()


def test_prompt_asks_on_the_terminal_in_order(monkeypatch: pytest.MonkeyPatch, staging: Environment) -> None:
    asked: list[str] = []

    def getpass(prompt: str) -> str:
        asked.append(prompt)
        return {"Vault password (prod): ": DB, "Vault password (prod_payments): ": API}[prompt]

    monkeypatch.setattr(runner, "getpass", getpass)
    vaults = Vaults.resolve(staging, None, ["prod@prompt", "prod_payments@prompt"], interactive=True)
    assert asked == ["Vault password (prod): ", "Vault password (prod_payments): "]
    assert vaults == Vaults((Vault("prod", DB), Vault("prod_payments", API)))

    monkeypatch.setattr(runner, "getpass", no_getpass)
    with pytest.raises(InputError, match=r"--vault-id prod@prompt: no terminal"):
        Vaults.resolve(staging, None, ["prod@prompt"], interactive=False)
    monkeypatch.setattr(runner, "getpass", lambda prompt: "")
    with pytest.raises(InputError, match="no vault password given for vault id 'prod'"):
        Vaults.resolve(staging, None, ["prod@prompt"], interactive=True)


def test_an_executable_source_is_run_and_a_client_is_told_the_label(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, staging: Environment
) -> None:
    for name in ("pass.sh", "pass-client.sh"):
        (tmp_path / name).write_text('#!/bin/sh\necho "$0 args:$*"\n')
        (tmp_path / name).chmod(0o700)
    # The bundled client reads DEPLOYCTL_VAULT_PASSWORD_<LABEL>: it still gets it, deployctl's environment does not.
    monkeypatch.setenv("DEPLOYCTL_VAULT_PASSWORD_PROD_PAYMENTS", API)
    client = REPO / "inventories" / "vault-env-client.py"
    ids = [f"prod@{tmp_path / 'pass.sh'}", f"prod2@{tmp_path / 'pass-client.sh'}", f"prod_payments@{client}"]
    vaults = Vaults.resolve(staging, None, ids, interactive=False)
    assert vaults == Vaults(
        (
            Vault("prod", f"{tmp_path / 'pass.sh'} args:"),
            Vault("prod2", f"{tmp_path / 'pass-client.sh'} args:--vault-id prod2"),
            Vault("prod_payments", API),
        )
    )
    assert "DEPLOYCTL_VAULT_PASSWORD_PROD_PAYMENTS" not in os.environ
    with pytest.raises(InputError, match=r"cannot read the vault password from .*nope"):
        Vaults.resolve(staging, None, [f"prod@{tmp_path / 'nope'}"], interactive=False)


def test_a_variable_per_label_leaves_the_environment(monkeypatch: pytest.MonkeyPatch, inventory: Path) -> None:
    (inventory / "group_vars").mkdir()
    (inventory / "group_vars" / "all.yml").write_text("x: !vault |\n  $ANSIBLE_VAULT;1.2;AES256;prod\n")
    monkeypatch.setattr(runner, "getpass", no_getpass)
    monkeypatch.setenv("DEPLOYCTL_VAULT_PASSWORD_PROD", DB)
    monkeypatch.setenv("DEPLOYCTL_VAULT_PASSWORD_PROD_PAYMENTS", API)
    monkeypatch.setenv("DEPLOYCTL_VAULT_PASSWORD_EMPTY", "")
    vaults = Vaults.resolve(Environment("staging", inventory), None, [], interactive=True)
    # Nothing for the environment's own id (staging): no prompt for it, the others are given.
    assert vaults == Vaults((Vault("prod", DB), Vault("prod_payments", API)))
    assert not [name for name in os.environ if name.startswith(runner.VAULT_PASSWORD_ENV)]


def test_the_command_line_wins_over_a_variable(
    monkeypatch: pytest.MonkeyPatch, staging: Environment, files: dict[str, str]
) -> None:
    monkeypatch.setenv("DEPLOYCTL_VAULT_PASSWORD_PROD", "from the variable")
    monkeypatch.setenv("DEPLOYCTL_VAULT_PASSWORD_STAGING", "staging's")
    monkeypatch.setenv("DEPLOYCTL_VAULT_PASSWORD", "any")
    vaults = Vaults.resolve(staging, None, [f"prod@{files['prod']}"], interactive=False)
    # The environment's own id keeps its variables; DEPLOYCTL_VAULT_PASSWORD is its fallback only.
    assert vaults == Vaults((Vault("prod", DB), Vault("staging", "staging's")))


def test_the_password_file_is_the_environment_s_id_beside_others(
    monkeypatch: pytest.MonkeyPatch, staging: Environment, files: dict[str, str]
) -> None:
    monkeypatch.setenv("DEPLOYCTL_VAULT_PASSWORD", "unused")
    vaults = Vaults.resolve(staging, files["prod"], [f"prod_payments@{files['prod_payments']}"], interactive=False)
    assert vaults == Vaults((Vault("staging", DB), Vault("prod_payments", API)))


@pytest.mark.parametrize("spec", ["prod", "prod@", "@/tmp/file", "pr od@prompt", "a/b@prompt", ""])
def test_a_malformed_vault_id_is_bad_input(monkeypatch: pytest.MonkeyPatch, staging: Environment, spec: str) -> None:
    monkeypatch.setattr(runner, "getpass", no_getpass)
    with pytest.raises(InputError, match=rf"--vault-id {re.escape(repr(spec))}: expected LABEL@SOURCE.*'prompt'"):
        Vaults.resolve(staging, None, ["ok@prompt", spec], interactive=True)


@pytest.mark.parametrize(
    ("password_file", "ids", "message"),
    [
        (False, ["prod@prompt", "prod@/tmp/file"], "vault id 'prod' is given twice$"),
        (True, ["staging@prompt"], r"vault id 'staging' is given twice \(--vault-password-file gives vault id"),
    ],
)
def test_a_vault_id_given_twice_is_bad_input_before_anything_is_asked(
    monkeypatch: pytest.MonkeyPatch,
    staging: Environment,
    files: dict[str, str],
    password_file: bool,
    ids: list[str],
    message: str,
) -> None:
    monkeypatch.setattr(runner, "getpass", no_getpass)
    with pytest.raises(InputError, match=message):
        Vaults.resolve(staging, files["prod"] if password_file else None, ids, interactive=True)
    with pytest.raises(InputError, match="vault id 'a' is given twice"):
        Vaults((Vault("a", "1"), Vault("b", "2"), Vault("a", "3")))


@pytest.fixture
def main_in(monkeypatch: pytest.MonkeyPatch, inventory: Path) -> list[Request]:
    """cli.main with runner.run replaced (by a run without events): the requests it makes."""
    monkeypatch.chdir(inventory.parents[1])
    requests: list[Request] = []

    def fake_run(request: Request, on_event: Callable[[Mapping[str, Any]], None]) -> runner.Finished:
        requests.append(request)
        return runner.Finished(rc=0, status="successful", artifacts=inventory / "a1")

    monkeypatch.setattr(runner, "run", fake_run)
    return requests


def test_the_command_passes_every_vault_id(main_in: list[Request], files: dict[str, str], capsys: Any) -> None:
    argv = ["releases", "staging", "--json", "--vault-id", f"prod@{files['prod']}"]
    cli.main([*argv, "--vault-id", f"prod_payments@{files['prod_payments']}"])
    [request] = main_in
    assert request.vaults == Vaults((Vault("prod", DB), Vault("prod_payments", API)))
    assert DB not in capsys.readouterr().out


def test_the_command_says_what_a_vault_id_should_look_like(main_in: list[Request], capsys: Any) -> None:
    assert cli.main(["releases", "staging", "--json", "--vault-id", "prod"]) == 5
    document = json.loads(capsys.readouterr().out)
    assert document["result"] == "bad_input" and main_in == []
    [error] = document["errors"]
    assert error.startswith("--vault-id 'prod': expected LABEL@SOURCE")


@pytest.mark.parametrize(
    "argv", [["status", "staging"], ["releases", "staging"], ["unlock", "staging", "--reason", "x"]]
)
def test_read_only_commands_need_no_vault_password(
    main_in: list[Request], monkeypatch: pytest.MonkeyPatch, inventory: Path, argv: list[str]
) -> None:
    (inventory / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    (inventory / "group_vars" / "all" / "vault.yml").write_text("vault_x: !vault |\n  $ANSIBLE_VAULT;1.2;AES256;prod\n")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    monkeypatch.setattr("deployctl.runner.getpass", no_getpass)

    cli.main([*argv, "--json"])  # the stand-in run publishes no result: only the request matters here
    [request] = main_in
    assert request.vaults == Vaults(())
    # A deploy still needs it: refused before anything runs.
    assert cli.main(["deploy", "staging", "--ref", "v1", "--json"]) == 5
    assert len(main_in) == 1
