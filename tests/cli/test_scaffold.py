"""deployctl init: the files of a new environment, each secret encrypted on its own, nothing overwritten."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from deployctl import cli
from deployctl.outcome import ExitCode


@pytest.fixture
def given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    for name in ("DEPLOYCTL_VAULT_PASSWORD", "DEPLOYCTL_VAULT_PASSWORD_STAGING"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "vault.pass").write_text("pw\n")
    (tmp_path / "db_url").write_text("postgres://shop:s3cr%40t@db:5432/shop\n")
    return {"env": tmp_path / "envs" / "staging", "pass": tmp_path / "vault.pass", "db": tmp_path / "db_url"}


def init(given: dict[str, Path], *extra: str) -> int:
    """deployctl init with the app shop and its repo, unless `extra` gives its own --app or --repo."""
    defaults = {"--app": "shop", "--repo": "git@git:shop.git"}
    named = [word for flag, value in defaults.items() if flag not in extra for word in (flag, value)]
    return cli.main(["init", str(given["env"]), *named, "--vault-password-file", str(given["pass"]), *extra])


def decrypt(value: Any) -> str:
    return VaultLib([("staging", VaultSecret(b"pw"))]).decrypt(str(value).encode()).decode()


class VaultLoader(yaml.SafeLoader):
    """Reads `!vault |` values as their ciphertext."""


VaultLoader.add_constructor("!vault", lambda loader, node: str(loader.construct_scalar(node)))  # type: ignore[arg-type]


def test_init_writes_the_environment_with_each_secret_encrypted(given: dict[str, Path], capsys: Any) -> None:
    assert init(given, "--host", "app1", "--host", "app2", "--secret", f"DATABASE_URL=@{given['db']}") == 0
    env = given["env"]
    assert "next: check the hosts in" in capsys.readouterr().out
    hosts = yaml.safe_load((env / "hosts.yml").read_text())
    assert list(hosts["all"]["children"]["app"]["hosts"]) == ["app1", "app2"]
    settings = yaml.safe_load((env / "group_vars/all/vars.yml").read_text())
    assert (settings["deploy_app_name"], settings["deploy_repo_url"], settings["ansible_user"]) == (
        "shop", "git@git:shop.git", "deploy",
    )  # fmt: skip
    assert settings["deploy_secret_environment"] == {
        "DATABASE_URL": "{{ vault_database_url }}", "SECRET_KEY_BASE": "{{ vault_secret_key_base }}",
    }  # fmt: skip
    vault = yaml.load((env / "group_vars/all/vault.yml").read_text(), Loader=VaultLoader)  # noqa: S506 - SafeLoader
    assert decrypt(vault["vault_database_url"]) == "postgres://shop:s3cr%40t@db:5432/shop"
    assert len(decrypt(vault["vault_secret_key_base"])) == 128, "generated"
    assert "s3cr" not in (env / "group_vars/all/vault.yml").read_text()
    assert "*.pass" in (env / ".gitignore").read_text()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (("--secret", "DATABASE_URL=postgres://x"), "give the value in a file, DATABASE_URL=@FILE"),
        ((), "the value of DATABASE_URL is needed: give --secret DATABASE_URL=@FILE"),
        (("--secret", "database-url"), "a secret is an environment variable's name"),
        (("--secret", "DATABASE_URL=@/nonexistent"), "cannot read /nonexistent"),
    ],
)
def test_bad_input_writes_nothing(given: dict[str, Path], capsys: Any, extra: tuple[str, ...], words: str) -> None:
    assert init(given, *extra) == ExitCode.BAD_INPUT
    assert words in " ".join(capsys.readouterr().err.split())
    assert not given["env"].exists()


def test_an_existing_environment_is_never_overwritten(given: dict[str, Path], capsys: Any) -> None:
    (given["env"]).mkdir(parents=True)
    (given["env"] / "hosts.yml").write_text("mine\n")
    assert init(given, "--secret", f"DATABASE_URL=@{given['db']}") == ExitCode.BAD_INPUT
    assert "hosts.yml exists" in capsys.readouterr().err
    assert (given["env"] / "hosts.yml").read_text() == "mine\n"
    assert not (given["env"] / "group_vars").exists()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (("--app", "bad name"), "--app 'bad name': the app's name names its user, service and /srv/NAME"),
        (("--repo", " "), "--repo is empty"),
    ],
)
def test_an_app_name_that_cannot_name_a_user_or_an_empty_repo_is_refused(
    given: dict[str, Path], capsys: Any, extra: tuple[str, ...], words: str
) -> None:
    assert init(given, "--secret", f"DATABASE_URL=@{given['db']}", *extra) == ExitCode.BAD_INPUT
    assert words in capsys.readouterr().err and not given["env"].exists()


def test_an_empty_vault_password_file_is_refused(given: dict[str, Path], capsys: Any) -> None:
    given["pass"].write_text("\n")
    assert init(given, "--secret", f"DATABASE_URL=@{given['db']}") == ExitCode.BAD_INPUT
    assert "the vault password given is empty" in capsys.readouterr().err and not given["env"].exists()


def test_end_of_input_at_a_prompt_is_no_answer_and_ctrl_c_exits_130(
    given: dict[str, Path], capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)

    def eof(_prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("deployctl.scaffold.getpass", eof)
    assert init(given) == ExitCode.BAD_INPUT
    assert "no value given for DATABASE_URL" in capsys.readouterr().err

    def interrupt(_prompt: str) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("deployctl.scaffold.getpass", interrupt)
    assert init(given) == ExitCode.INTERRUPTED
    assert "interrupted: nothing was written" in capsys.readouterr().err and not given["env"].exists()
