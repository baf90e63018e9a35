"""deployctl init: an environment for a new app, ready to fill in with its hosts.

Writes, under DIR (any directory; its name is the environment's and its vault id's):

    DIR/hosts.yml                  the hosts (given, or an example to replace)
    DIR/group_vars/all/vars.yml    what a user must set: app, repository, SSH user, the secret environment
    DIR/group_vars/all/vault.yml   each secret encrypted on its own (ansible-vault, vault id DIR's name)
    DIR/.gitignore                 password files never committed

A secret's value comes from a file (--secret NAME=@FILE), a prompt on a terminal (--secret NAME), or, for
SECRET_KEY_BASE when not given, 64 random bytes. No value is written anywhere unencrypted, and none
travels through argv. Nothing is overwritten: an existing file stops it before anything is written.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from getpass import getpass
from pathlib import Path

from ansible.parsing.vault import VaultLib, VaultSecret

from .runner import Environment, InputError, Vaults

# A `rails new` app boots from these two (Rails reads SECRET_KEY_BASE in place of the master key).
DEFAULT_SECRETS = ("DATABASE_URL", "SECRET_KEY_BASE")
SECRET_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
# deploy_app_name names a user, a systemd service and /srv/NAME.
APP_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
GITIGNORE = "# Vault password files: never committed.\n*.pass\n*vault-password*\n.vault-pass*\n"
FILES = (Path("hosts.yml"), Path("group_vars/all/vars.yml"), Path("group_vars/all/vault.yml"), Path(".gitignore"))


@dataclass(frozen=True)
class Answers:
    """What init is told: DIR, the app, its repository, hosts, SSH user, secrets (NAME or NAME=@FILE)."""

    directory: Path
    app: str
    repo: str
    hosts: tuple[str, ...]
    ssh_user: str
    secrets: tuple[str, ...]


def secret_values(specs: tuple[str, ...], interactive: bool) -> dict[str, str]:
    """NAME -> value for each secret asked for and each default one. Raises InputError for a bad name, an
    unreadable file, or a value to prompt for with no terminal."""
    values: dict[str, str] = {}
    for spec in specs:
        name, _, source = spec.partition("=")
        if not SECRET_NAME.fullmatch(name):
            raise InputError(f"--secret {spec!r}: a secret is an environment variable's name, e.g. DATABASE_URL")
        if source:
            if not source.startswith("@"):
                raise InputError(
                    f"--secret {name}=...: give the value in a file, {name}=@FILE, never on the command line"
                )
            try:
                values[name] = Path(source[1:]).expanduser().read_text(encoding="utf-8").strip("\r\n")
            except OSError as err:
                raise InputError(f"--secret {name}: cannot read {source[1:]}: {err.strerror}") from err
        else:
            values[name] = _ask(name, interactive)
    for name in DEFAULT_SECRETS:
        if name not in values:
            values[name] = secrets.token_hex(64) if name == "SECRET_KEY_BASE" else _ask(name, interactive)
    return values


def _ask(name: str, interactive: bool) -> str:
    if not interactive:
        raise InputError(f"the value of {name} is needed: give --secret {name}=@FILE (there is no terminal to ask on)")
    value = _getpass(f"{name}: ")
    if not value:
        raise InputError(f"no value given for {name}")
    return value


def vault_password(env: Environment, password_file: str | None, interactive: bool) -> str:
    """The environment's vault password: as deploys get it (--vault-password-file, DEPLOYCTL_VAULT_PASSWORD_<ENV>,
    DEPLOYCTL_VAULT_PASSWORD), else asked twice on a terminal. Raises InputError."""
    vaults = Vaults.resolve(env, password_file, interactive=interactive, required=False)
    given = {vault.label: vault.password for vault in vaults.vaults}
    label = vault_label(env)
    if given.get(label):
        return given[label]
    if label in given:
        raise InputError("the vault password given is empty: nothing was written")
    if not interactive:
        raise InputError(
            f"a vault password for the new environment is needed: give --vault-password-file or set "
            f"DEPLOYCTL_VAULT_PASSWORD_{label.upper().replace('-', '_').replace('.', '_')} (no terminal to ask on)"
        )
    first, second = _getpass(f"New vault password ({label}): "), _getpass(f"Again ({label}): ")
    if not first or first != second:
        raise InputError("the vault passwords given differ, or are empty: nothing was written")
    return first


def _getpass(prompt: str) -> str:
    """getpass, with end of input (Ctrl-D) as no answer."""
    try:
        return getpass(prompt)
    except EOFError:
        return ""


def check_answers(answers: Answers) -> None:
    """Raise InputError for an app name that cannot name a user and a service, or an empty repository."""
    if not APP_NAME.fullmatch(answers.app):
        raise InputError(
            f"--app {answers.app!r}: the app's name names its user, service and /srv/NAME: lower-case letters, "
            "digits, '_' and '-', starting with a letter, at most 32"
        )
    if not answers.repo.strip():
        raise InputError("--repo is empty: give the git URL the hosts fetch the app from")


def vault_label(env: Environment) -> str:
    return re.sub(r"[^\w.-]", "_", env.name) or "default"


def encrypted(name: str, value: str, vault: VaultLib, label: str) -> str:
    """`name: !vault |` and the value encrypted on its own, as `ansible-vault encrypt_string` prints it."""
    body = vault.encrypt(value, vault_id=label).decode()
    return f"{name}: !vault |\n" + "".join(f"  {line}\n" for line in body.splitlines())


def files(answers: Answers, values: dict[str, str], password: str, label: str) -> dict[Path, str]:
    """The files init writes, by path under DIR."""
    hosts = "".join(f"        {host}:\n" for host in answers.hosts) or (
        "        # Replace with your hosts, one per line:\n        app1.example.com:\n"
    )
    environment = "".join(f'  {name}: "{{{{ vault_{name.lower()} }}}}"\n' for name in values)
    vars_yml = f"""---
# deployctl settings for {answers.directory.name} (written by deployctl init). Secrets are in vault.yml,
# each encrypted on its own (vault id {label}); see the README's "Variables" for the others.
ansible_user: {answers.ssh_user}
ansible_become: true

deploy_app_name: {answers.app}
deploy_repo_url: {answers.repo}
# A private repository: give the hosts a deploy key and
# deploy_repo_ssh_command: ssh -i /etc/deployctl/deploy_key -o StrictHostKeyChecking=accept-new

# The app listens on PORT (deploy_app_port, 3000) and answers GET /up with 200 and the deployed commit
# (the REVISION file of each release); see the README's "Your Rails app".
# deploy_app_port: 3000

# The app's secrets, as environment variables of its service, migrations and build (a 0600 file, never
# the unit or an argv).
deploy_secret_environment:
{environment}"""
    vault = VaultLib([(label, VaultSecret(password.encode()))])
    vault_yml = (
        f"---\n# Each value encrypted on its own; add one with\n"
        f"#   ansible-vault encrypt_string --vault-id {label}@prompt --name vault_NAME >> vault.yml\n"
    ) + "".join(encrypted(f"vault_{name.lower()}", value, vault, label) for name, value in values.items())
    hosts_yml = (
        f"---\n# The hosts of {answers.directory.name}: any SSH user that can become root.\n"
        f"all:\n  children:\n    app:\n      hosts:\n{hosts}"
    )
    return dict(zip(FILES, (hosts_yml, vars_yml, vault_yml, GITIGNORE), strict=True))


def init(answers: Answers, password_file: str | None, interactive: bool) -> list[Path]:
    """Write the environment; return the paths written. Raises InputError (nothing written) when a file
    is there already, or a value or the vault password is missing."""
    check_answers(answers)
    planned = [answers.directory / path for path in FILES]
    if present := [path for path in planned if path.exists()]:
        raise InputError(f"{present[0]} exists: deployctl init writes new environments only (nothing was written)")
    env = Environment(name=answers.directory.name, inventory=answers.directory)
    password = vault_password(env, password_file, interactive)
    values = secret_values(answers.secrets, interactive)
    written = []
    for path, content in files(answers, values, password, vault_label(env)).items():
        target = answers.directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        # Exclusive creation: a file that appeared meanwhile is not overwritten either.
        with open(target, "x", encoding="utf-8") as handle:
            handle.write(content)
        written.append(target)
    return written
