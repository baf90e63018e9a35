"""Builds the one ansible-runner call every command makes.

What a checkout's ansible.cfg gives (`deployctl.core` on the collections path, pipelining,
ControlPersist, no fact gathering) is passed as environment variables, so the installed
package behaves like the checkout wherever it runs. The vault password only ever answers
ansible-playbook's prompt (ansible-runner's `passwords`, as AWX does): it is not in argv,
not in the child's environment, and not in any file. Artifacts go to a 0700 directory,
are rotated, and their copy of the environment is cut down after the run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from getpass import getpass
from pathlib import Path
from typing import Any

import ansible_runner

# src/deployctl/_content holds links to the repository's playbooks, roles and plugins; an
# installed package holds copies of them (pyproject.toml, package-data).
CONTENT = Path(__file__).resolve().parent / "_content"
PLAYBOOKS = CONTENT / "ansible_collections" / "deployctl" / "core" / "playbooks"

VAULT_PASSWORD_ENV = "DEPLOYCTL_VAULT_PASSWORD"  # noqa: S105 - the variable's name, not a password
KEEP_ARTIFACTS = 20

# ansible.cfg's settings, for a run that has no ansible.cfg. The user's own environment wins.
ANSIBLE_SETTINGS = {
    "ANSIBLE_GATHERING": "explicit",
    "ANSIBLE_INTERPRETER_PYTHON": "auto_silent",
    "ANSIBLE_PIPELINING": "True",
    "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s -o ServerAliveInterval=15",
    "ANSIBLE_FORKS": "20",
    "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
    "ANSIBLE_RETRY_FILES_ENABLED": "False",
    # yaml_check names the file and line of a malformed group_vars file (Ansible does not).
    "ANSIBLE_VARS_ENABLED": "deployctl.core.yaml_check,host_group_vars",
    # ansible-runner turns host key checking off unless told otherwise: keep Ansible's default.
    "ANSIBLE_HOST_KEY_CHECKING": "True",
}
DEFAULT_COLLECTIONS_PATH = "~/.ansible/collections:/usr/share/ansible/collections"
# What of the environment the artifacts keep after the run (they hold all of it meanwhile).
KEPT_ENV = re.compile(r"^(ANSIBLE_|AWX_|RUNNER_|PATH$|HOME$|USER$|LANG$)")


class InputError(Exception):
    """The request cannot be run as given; nothing was started."""


@dataclass(frozen=True)
class Environment:
    """An inventory: a directory under inventories/ named on the command line, or a path."""

    name: str
    inventory: Path

    @classmethod
    def find(cls, spec: str, base: Path | None = None) -> Environment:
        base = base or Path.cwd()
        for candidate in (base / spec, base / "inventories" / spec):
            if candidate.exists():
                inventory = candidate.resolve()
                folder = inventory if inventory.is_dir() else inventory.parent
                return cls(name=folder.name, inventory=inventory)
        raise InputError(f"unknown environment {spec!r}: neither {spec} nor inventories/{spec} exists here ({base})")

    def has_vault_content(self) -> bool:
        """Whether any file of the inventory is vault-encrypted (whole or in part)."""
        if self.inventory.is_dir():
            paths = _files_below(self.inventory)
        else:
            # An inventory file: itself and the variables Ansible reads beside it.
            beside = [self.inventory.parent / "group_vars", self.inventory.parent / "host_vars"]
            paths = [self.inventory, *(path for folder in beside for path in _files_below(folder))]
        for path in paths:
            if path.is_file() and path.stat().st_size < 4 * 1024 * 1024:
                content = path.read_bytes()
                if content.startswith(b"$ANSIBLE_VAULT") or b"!vault" in content:
                    return True
        return False


def _files_below(folder: Path) -> list[Path]:
    """Every file below `folder`, through linked directories too (as Ansible reads group_vars)."""
    return [Path(top, name) for top, _dirs, names in os.walk(folder, followlinks=True) for name in names]


@dataclass(frozen=True)
class Vault:
    """The vault password, and how it answers ansible-playbook's prompt for it."""

    label: str
    password: str = field(repr=False)

    @property
    def args(self) -> list[str]:
        return ["--vault-id", f"{self.label}@prompt"]

    @property
    def prompts(self) -> dict[str, str]:
        return {rf"Vault password \({re.escape(self.label)}\):\s*$": self.password}

    @classmethod
    def resolve(cls, env: Environment, password_file: str | None, interactive: bool) -> Vault | None:
        """From --vault-password-file, else the environment, else a prompt when the inventory needs one.

        The environment variables are those of inventories/vault-env-client.py:
        DEPLOYCTL_VAULT_PASSWORD_<ENV> (e.g. _PRODUCTION), else DEPLOYCTL_VAULT_PASSWORD.
        """
        label = re.sub(r"[^\w.-]", "_", env.name) or "default"
        names = [f"{VAULT_PASSWORD_ENV}_{re.sub(r'[^A-Za-z0-9]', '_', label).upper()}", VAULT_PASSWORD_ENV]
        # Taken out of the environment at once: ansible-runner copies all of it into its artifacts.
        found = [os.environ.pop(name, "") for name in names]
        from_env = next((password for password in found if password), None)
        if password_file:
            return cls(label, _read_password_file(Path(password_file)))
        if from_env:
            return cls(label, from_env)
        if not env.has_vault_content():
            return None
        if not interactive:
            raise InputError(
                f"the inventory {env.inventory} has vault-encrypted content: give --vault-password-file "
                f"or set {VAULT_PASSWORD_ENV} (no terminal to ask on)"
            )
        password = getpass(f"Vault password ({label}): ")
        if not password:
            raise InputError("no vault password given")
        return cls(label, password)


def _read_password_file(path: Path) -> str:
    """As ansible-playbook reads one: the file's content, or an executable's output."""
    try:
        if os.access(path, os.X_OK):
            return subprocess.run([str(path)], check=True, capture_output=True, text=True).stdout.strip("\r\n")
        return path.read_text(encoding="utf-8").strip("\r\n")
    except (OSError, subprocess.CalledProcessError) as err:
        raise InputError(f"cannot read the vault password from {path}: {err}") from err


@dataclass
class Request:
    """One ansible-playbook run."""

    command: str
    playbook: str
    env: Environment
    vault: Vault | None = None
    extravars: dict[str, Any] = field(default_factory=dict)
    user_extravars: list[str] = field(default_factory=list)
    check: bool = False
    verbosity: int = 0

    def cmdline(self) -> list[str]:
        args = list(self.vault.args if self.vault else [])
        for value in self.user_extravars:
            args += ["-e", value]
        if self.check:
            args.append("--check")
        return args


@dataclass
class Finished:
    rc: int
    status: str  # successful, failed, canceled, timeout
    artifacts: Path


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "deployctl"


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def envvars() -> dict[str, str]:
    """The environment ansible-playbook gets on top of ours."""
    collections = os.environ.get("ANSIBLE_COLLECTIONS_PATH", DEFAULT_COLLECTIONS_PATH)
    # ansible-playbook comes from the same installation as this package (a venv's bin/).
    bindir = str(Path(sys.executable).parent)
    return {
        **{name: os.environ.get(name, value) for name, value in ANSIBLE_SETTINGS.items()},
        "ANSIBLE_COLLECTIONS_PATH": f"{CONTENT}:{collections}",
        "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")]),
    }


def run(request: Request, on_event: Callable[[Mapping[str, Any]], None]) -> Finished:
    """Run the playbook, handing every event to on_event as it comes."""
    playbook = PLAYBOOKS / request.playbook
    if not playbook.is_file():
        raise InputError(f"{playbook} is missing: this deployctl installation is incomplete")
    base = _private_dir(cache_dir())
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    ident = f"{stamp}-{request.command}-{request.env.name}-{uuid.uuid4().hex[:6]}"

    def handle(event: dict[str, Any]) -> bool:
        on_event(event)
        return True

    runner = ansible_runner.run(
        private_data_dir=str(_private_dir(base / "runner")),
        artifact_dir=str(_private_dir(base / "artifacts")),
        ident=ident,
        rotate_artifacts=KEEP_ARTIFACTS,
        suppress_env_files=True,
        playbook=str(playbook),
        inventory=str(request.env.inventory),
        extravars=request.extravars or None,
        cmdline=shlex.join(request.cmdline()),
        verbosity=request.verbosity or None,
        passwords=request.vault.prompts if request.vault else None,
        envvars=envvars(),
        event_handler=handle,
        quiet=True,
    )
    artifacts = Path(runner.config.artifact_dir)
    _trim_recorded_env(artifacts / "command")
    return Finished(rc=int(runner.rc if runner.rc is not None else 1), status=str(runner.status), artifacts=artifacts)


def _trim_recorded_env(command_file: Path) -> None:
    """ansible-runner records the whole environment of the run; keep what explains the run."""
    try:
        recorded = json.loads(command_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    recorded["env"] = {k: v for k, v in (recorded.get("env") or {}).items() if KEPT_ENV.match(k)}
    command_file.write_text(json.dumps(recorded), encoding="utf-8")
