"""Builds the one ansible-runner call every command makes.

Ansible's settings come from the checkout's ansible.cfg, which ships in the package
(_content/ansible.cfg): ANSIBLE_CONFIG names it, so the installed package behaves like the
checkout whatever the current directory. What the environment adds (envvars()) is only what
cannot be in that file: the package's own collection first on the collections path,
ansible-playbook from this installation on PATH, and the file's host_key_checking again
(ansible-runner turns it off unless the environment says). Yours wins: an ANSIBLE_CONFIG of
your own is read instead of deployctl's file (Ansible reads one file), and any ANSIBLE_*
variable you set overrides its setting, as with ansible-playbook.

Vault passwords only ever answer ansible-playbook's prompts (ansible-runner's `passwords`, as
AWX does), one `--vault-id LABEL@prompt` per vault id: they are not in argv, not in the
child's environment, and not in any file.

Runs share no mutable state on the controller, so that several can run at once. Under the
cache directory (~/.cache/deployctl, every directory 0700):

- `runs/<ident>/`: the run's own private data dir for ansible-runner, locked (flock) while the
  run lasts and removed after it, whatever happens (one a killed run left is removed by a
  later run once it is an hour old and unlocked).
- `artifacts/<env>/<ident>/`: ansible-runner's artifacts, one folder per environment. No
  env files are written, and their copy of the environment is cut down after the run.

ansible-runner's own rotation is off (it lists one folder and removes what another run
removed already). After each run deployctl rotates the folder of that run's environment,
and only that one: it keeps the KEEP_ARTIFACTS newest runs of the environment, and also its
KEEP_ARTIFACTS newest failed runs (runs whose `status` file is missing or not
"successful"); any other run of the environment is removed, unless it is still running.
So a failed run stays until at least KEEP_ARTIFACTS later runs of its environment have
happened, and as many later failed ones; runs of other environments never remove it; an
environment keeps at most 2 * KEEP_ARTIFACTS runs. A directory that vanishes meanwhile
(another run removed it) is skipped, and a rotation that cannot remove something leaves it:
it never fails a run. Artifacts of older versions (`artifacts/<ident>/`) are moved into
their environment's folder once finished.
"""

from __future__ import annotations

import configparser
import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from getpass import getpass
from pathlib import Path
from typing import Any

import ansible_runner

from . import interrupt

# src/deployctl/_content holds links to the repository's playbooks, roles and plugins; an
# installed package holds copies of them (pyproject.toml, package-data).
CONTENT = Path(__file__).resolve().parent / "_content"
PLAYBOOKS = CONTENT / "ansible_collections" / "deployctl" / "core" / "playbooks"
# The checkout's ansible.cfg (a link to it in the source tree, a copy in the package).
CONFIG = CONTENT / "ansible.cfg"

VAULT_PASSWORD_ENV = "DEPLOYCTL_VAULT_PASSWORD"  # noqa: S105 - the variable's name, not a password
KEEP_ARTIFACTS = 20
# A run directory older than this and not locked is what a killed run left behind.
STALE_RUN_DIR_SECONDS = 3600
# <time>-<command>-<env>-<id>: the name of a run's directories (see run()).
RUN_NAME = re.compile(r"^\d{8}T\d{6}Z-[a-z]+-(?P<env>.+)-[0-9a-f]{6}$")
# --vault-id LABEL@SOURCE
LABEL = re.compile(r"[\w.-]+")
VAULT_ID = re.compile(rf"^(?P<label>{LABEL.pattern})@(?P<source>.+)$")

DEFAULT_COLLECTIONS_PATH = "~/.ansible/collections:/usr/share/ansible/collections"
# What of the environment the artifacts keep after the run (they hold all of it meanwhile).
KEPT_ENV = re.compile(r"^(ANSIBLE_|AWX_|RUNNER_|PATH$|HOME$|USER$|LANG$)")


class InputError(Exception):
    """The request cannot be run as given; nothing was started."""


def given(value: str, flag: str, advice: str, blank: str | None = None) -> str:
    """`value` of a flag that was given, unless it is empty (only whitespace, or only `blank` characters):
    a script's unset variable, which most playbooks would read as the flag's default (every host, the
    previous release) rather than what someone who typed the flag asked for.

    Raises InputError "FLAG is empty: ADVICE".
    """
    if not value.strip(blank):
        raise InputError(f"{flag} is empty: {advice}")
    return value


class RunError(Exception):
    """ansible-runner stopped on an unexpected error: what the hosts were left in is unknown."""

    def __init__(self, message: str, artifacts: Path | None = None) -> None:
        super().__init__(message)
        self.artifacts = artifacts


@dataclass(frozen=True)
class Environment:
    """An inventory: a directory under inventories/ named on the command line, or a path."""

    name: str
    inventory: Path

    @classmethod
    def find(cls, spec: str, base: Path | None = None) -> Environment:
        """The environment `spec` names, from `base` (the working directory).

        Raises InputError for a name that is empty, names nothing, or names a directory that holds more than one
        environment's inventory: a project (its inventories/, playbooks/, ansible.cfg, .git) or inventories/
        itself. Ansible would read every file below it as an inventory source and run each executable one as an
        inventory script (the project's own scripts), and a deploy would reach every environment at once.
        """
        base = base or Path.cwd()
        if not spec.strip():
            raise InputError(
                "ENV is empty: name the environment, a directory under inventories/ (e.g. production) or an "
                "inventory's path"
            )
        for candidate in (base / spec, base / "inventories" / spec):
            if candidate.exists():
                inventory = candidate.resolve()
                _refuse_more_than_one_environment(spec, inventory)
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


# What a project has and an inventory does not.
PROJECT_MARKERS = ("inventories", "playbooks", "ansible.cfg", ".git")


def _refuse_more_than_one_environment(spec: str, inventory: Path) -> None:
    """Raises InputError when `inventory` is a project's directory or the inventories/ that holds them."""
    if not inventory.is_dir():
        return
    found = [marker for marker in PROJECT_MARKERS if (inventory / marker).exists()]
    if found:
        raise InputError(
            f"environment {spec!r} is {inventory}, a project's directory ({', '.join(found)}), not an inventory: name "
            "one environment, e.g. production for inventories/production"
        )
    if inventory.name == "inventories" and (inventory.parent / "playbooks").is_dir():
        names = sorted(path.name for path in inventory.iterdir() if path.is_dir())
        raise InputError(
            f"environment {spec!r} is {inventory}, which holds every environment ({', '.join(names)}): name one of them"
        )


def _files_below(folder: Path) -> list[Path]:
    """Every file below `folder`, through linked directories too (as Ansible reads group_vars)."""
    return [Path(top, name) for top, _dirs, names in os.walk(folder, followlinks=True) for name in names]


@dataclass(frozen=True)
class Vault:
    """One vault id's password, and how it answers ansible-playbook's prompt for it."""

    label: str
    password: str = field(repr=False)

    @property
    def args(self) -> list[str]:
        return ["--vault-id", f"{self.label}@prompt"]

    @property
    def prompts(self) -> dict[str, str]:
        return {rf"Vault password \({re.escape(self.label)}\):\s*$": self.password}


@dataclass(frozen=True)
class Vaults:
    """The vault passwords of a run, at most one per vault id label."""

    vaults: tuple[Vault, ...] = ()

    def __post_init__(self) -> None:
        labels = [vault.label for vault in self.vaults]
        if twice := sorted({label for label in labels if labels.count(label) > 1}):
            raise InputError(f"vault id {twice[0]!r} is given twice")

    def __bool__(self) -> bool:
        return bool(self.vaults)

    @property
    def args(self) -> list[str]:
        return [arg for vault in self.vaults for arg in vault.args]

    @property
    def prompts(self) -> dict[str, str]:
        return {pattern: answer for vault in self.vaults for pattern, answer in vault.prompts.items()}

    @classmethod
    def resolve(
        cls,
        env: Environment,
        password_file: str | None,
        vault_ids: Sequence[str] = (),
        *,
        interactive: bool,
        required: bool = True,
    ) -> Vaults:
        """The passwords of every vault id given, and of the environment's own.

        - `--vault-id LABEL@SOURCE` (repeatable): SOURCE is a password file, an executable
          (run as ansible-playbook runs it), or `prompt`.
        - `DEPLOYCTL_VAULT_PASSWORD_<LABEL>`: the password of vault id <label> (the label in
          lower case), unless --vault-id gives it.
        - The environment's own vault id (its name): --vault-password-file, else
          DEPLOYCTL_VAULT_PASSWORD_<ENV>, else DEPLOYCTL_VAULT_PASSWORD (the names of
          inventories/vault-env-client.py), else, when nothing else gave a password and the
          inventory has vault content, a prompt.
        - required=False (commands that read no secret: status, releases, unlock): no prompt and
          no refusal when nothing gives a password; Ansible decrypts a vault value only when a
          task uses it.
        """
        # Taken out of the environment at once: ansible-runner copies all of it into its artifacts.
        taken = {name: os.environ.pop(name) for name in list(os.environ) if _is_password_variable(name)}
        wanted = [_parse_vault_id(spec) for spec in vault_ids]
        env_label = re.sub(r"[^\w.-]", "_", env.name) or "default"
        given = [label for label, _source in wanted] + ([env_label] if password_file else [])
        if twice := sorted({label for label in given if given.count(label) > 1}):
            because = f" (--vault-password-file gives vault id {env_label!r})" if env_label in twice else ""
            raise InputError(f"vault id {twice[0]!r} is given twice{because}")

        passwords: dict[str, str] = {}  # by label, in the order given
        if password_file:
            passwords[env_label] = _read_password_file(Path(password_file), environ=taken)
        for label, source in wanted:
            passwords[label] = _vault_id_password(label, source, interactive, taken)
        # The variables give the labels the command line does not.
        variables = {name: value for name, value in taken.items() if value}
        if env_label not in passwords:
            password = variables.get(_password_variable(env_label)) or variables.get(VAULT_PASSWORD_ENV)
            if password:
                passwords[env_label] = password
        claimed = {VAULT_PASSWORD_ENV, *(_password_variable(label) for label in passwords)}
        for name, password in sorted(variables.items()):
            label = name.removeprefix(f"{VAULT_PASSWORD_ENV}_").lower()
            if name not in claimed and label not in passwords and LABEL.fullmatch(label):
                passwords[label] = password

        if not passwords and required and env.has_vault_content():
            if not interactive:
                raise InputError(
                    f"the inventory {env.inventory} has vault-encrypted content: give --vault-password-file, "
                    f"--vault-id LABEL@SOURCE or set {VAULT_PASSWORD_ENV} (no terminal to ask on)"
                )
            passwords[env_label] = _ask(env_label)
        return cls(tuple(Vault(label, password) for label, password in passwords.items()))


def _is_password_variable(name: str) -> bool:
    return name == VAULT_PASSWORD_ENV or name.startswith(f"{VAULT_PASSWORD_ENV}_")


def _password_variable(label: str) -> str:
    """DEPLOYCTL_VAULT_PASSWORD_<LABEL>, as inventories/vault-env-client.py names it."""
    return f"{VAULT_PASSWORD_ENV}_{re.sub(r'[^A-Za-z0-9]', '_', label).upper()}"


def _parse_vault_id(spec: str) -> tuple[str, str]:
    found = VAULT_ID.match(spec)
    if not found:
        raise InputError(
            f"--vault-id {spec!r}: expected LABEL@SOURCE, where LABEL is letters, digits, '_', '.' or '-' "
            "and SOURCE a password file, an executable that prints the password, or 'prompt' "
            "(e.g. --vault-id prod_payments@prompt)"
        )
    return found["label"], found["source"]


def _vault_id_password(label: str, source: str, interactive: bool, environ: Mapping[str, str]) -> str:
    if source != "prompt":
        return _read_password_file(Path(source), label=label, environ=environ)
    if not interactive:
        raise InputError(f"--vault-id {label}@prompt: no terminal to ask for the password on")
    return _ask(label)


def _ask(label: str) -> str:
    try:
        password = getpass(f"Vault password ({label}): ")
    except EOFError:
        password = ""
    if not password:
        raise InputError(f"no vault password given for vault id {label!r}")
    return password


def _read_password_file(path: Path, label: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """As ansible-playbook reads one: the file's content, or an executable's output.

    A `*-client` executable is asked for the label's password (`--vault-id LABEL`), and an
    executable gets back the password variables taken out of deployctl's environment
    (inventories/vault-env-client.py reads them).
    """
    path = path.expanduser()
    try:
        if os.access(path, os.X_OK):
            command = [str(path)]
            if label and path.stem.endswith("-client"):
                command += ["--vault-id", label]
            env = {**os.environ, **(environ or {})}
            return subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout.strip("\r\n")
        return path.read_text(encoding="utf-8").strip("\r\n")
    except (OSError, subprocess.CalledProcessError) as err:
        raise InputError(f"cannot read the vault password from {path}: {err}") from err


@dataclass
class Request:
    """One ansible-playbook run."""

    command: str
    playbook: str
    env: Environment
    vaults: Vaults = field(default_factory=Vaults)
    extravars: dict[str, Any] = field(default_factory=dict)
    user_extravars: list[str] = field(default_factory=list)
    check: bool = False
    verbosity: int = 0
    # Passed on as they are: --diff, --forks N, --tags T, --skip-tags T (cli.playbook_options).
    playbook_options: list[str] = field(default_factory=list)

    def cmdline(self) -> list[str]:
        args = list(self.vaults.args) + self.playbook_options
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
    """The environment ansible-playbook gets on top of ours (see the module docstring)."""
    # Not resolved: relative paths in the file are then relative to _content in a checkout
    # too, as in the package (tests/cli/test_settings.py would see one).
    config = os.environ.get("ANSIBLE_CONFIG") or str(CONFIG)
    collections = os.environ.get("ANSIBLE_COLLECTIONS_PATH", DEFAULT_COLLECTIONS_PATH)
    # ansible-playbook comes from the same installation as this package (a venv's bin/).
    bindir = str(Path(sys.executable).parent)
    return {
        "ANSIBLE_CONFIG": config,
        "ANSIBLE_COLLECTIONS_PATH": f"{CONTENT}:{collections}",
        "ANSIBLE_HOST_KEY_CHECKING": os.environ.get("ANSIBLE_HOST_KEY_CHECKING") or _host_key_checking(config),
        "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")]),
    }


def _host_key_checking(config: str) -> str:
    """The config file's host_key_checking as written (Ansible parses it), Ansible's default without one."""
    path = Path(config).expanduser()
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    with suppress(OSError, configparser.Error):
        parser.read(path / "ansible.cfg" if path.is_dir() else path, encoding="utf-8")
    return parser.get("defaults", "host_key_checking", fallback="True")


def env_folder(name: str) -> str:
    """The name of an environment's artifacts folder."""
    return re.sub(r"[^\w.-]", "_", name).lstrip(".") or "default"


def run(request: Request, on_event: Callable[[Mapping[str, Any]], None], playbooks: Path = PLAYBOOKS) -> Finished:
    """Run the playbook (from `playbooks`, the collection's), handing every event to on_event as it comes.

    Raises RunError, naming the artifacts, when ansible-runner stops on an unexpected error.
    """
    playbook = playbooks / request.playbook
    if not playbook.is_file():
        raise InputError(f"{playbook} is missing: this deployctl installation is incomplete")
    base = _private_dir(cache_dir())
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    ident = f"{stamp}-{request.command}-{request.env.name}-{uuid.uuid4().hex[:6]}"
    folder = _private_dir(_private_dir(base / "artifacts") / env_folder(request.env.name))
    artifacts = folder / ident

    def handle(event: dict[str, Any]) -> bool:
        on_event(event)
        return True

    try:
        with _run_dir(base / "runs", ident) as private_data_dir:
            try:
                runner = ansible_runner.run(
                    private_data_dir=str(private_data_dir),
                    artifact_dir=str(folder),
                    ident=ident,
                    rotate_artifacts=0,  # deployctl's own: rotate()
                    suppress_env_files=True,
                    playbook=str(playbook),
                    inventory=str(request.env.inventory),
                    extravars=request.extravars or None,
                    cmdline=shlex.join(request.cmdline()),
                    verbosity=request.verbosity or None,
                    passwords=request.vaults.prompts or None,
                    envvars=envvars(),
                    event_handler=handle,
                    # Ctrl-C stops every process of the run, not only ansible-playbook (interrupt.py).
                    cancel_callback=interrupt.cancel_callback(),
                    quiet=True,
                )
            except Exception as err:
                raise RunError(f"ansible-runner failed: {type(err).__name__}: {err}", artifacts) from err
            finally:
                _trim_recorded_env(artifacts / "command")
    finally:
        housekeeping(base, request.env.name)
    return Finished(rc=int(runner.rc if runner.rc is not None else 1), status=str(runner.status), artifacts=artifacts)


@contextmanager
def _run_dir(parent: Path, ident: str) -> Iterator[Path]:
    """The run's own private data dir: locked while the run lasts, removed after it whatever happens."""
    path = _private_dir(parent) / ident
    path.mkdir(mode=0o700)
    try:
        path.chmod(0o700)
        lock = os.open(path / "lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield path
        finally:
            os.close(lock)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _running(run_dir: Path) -> bool:
    """Whether the run of this private data dir holds its lock (it ends with the process)."""
    try:
        lock = os.open(run_dir / "lock", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(lock)
    return False


def housekeeping(base: Path, env_name: str) -> None:
    """After a run: rotate its environment's artifacts, tidy what killed runs left. Never raises."""
    with suppress(OSError):  # housekeeping: the next run does it
        _adopt_old_artifacts(base / "artifacts")
        rotate(base / "artifacts" / env_folder(env_name), base / "runs")
        _remove_stale_run_dirs(base / "runs")


def rotate(folder: Path, run_dirs: Path, keep: int = KEEP_ARTIFACTS) -> list[Path]:
    """Apply the rule of the module docstring to one environment's folder; returns what it removed."""
    runs = sorted((path for path in _entries(folder) if RUN_NAME.match(path.name)), key=lambda p: p.name, reverse=True)
    failed = [path for path in runs if _status(path) != "successful"]
    kept = {*runs[:keep], *failed[:keep]}
    removed = []
    for path in runs:
        if path not in kept and not _running(run_dirs / path.name):
            # ignore_errors: another run may be removing it too.
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _adopt_old_artifacts(artifacts: Path) -> None:
    """Move the finished runs of older versions (artifacts/<ident>) into their environment's folder."""
    for path in _entries(artifacts):
        found = RUN_NAME.match(path.name)
        if found and (path / "status").is_file():
            with suppress(OSError):  # another run moved it
                os.rename(path, _private_dir(artifacts / env_folder(found["env"])) / path.name)


def _remove_stale_run_dirs(run_dirs: Path) -> None:
    for path in _entries(run_dirs):
        try:
            stale = time.time() - path.stat().st_mtime > STALE_RUN_DIR_SECONDS
        except OSError:
            continue
        if stale and not _running(path):
            shutil.rmtree(path, ignore_errors=True)


def _entries(folder: Path) -> list[Path]:
    """The directories in a folder, none if it is gone."""
    try:
        return [path for path in folder.iterdir() if path.is_dir()]
    except OSError:
        return []


def _status(artifacts: Path) -> str | None:
    """ansible-runner's status of the run (written at its end), None without one."""
    try:
        return (artifacts / "status").read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _trim_recorded_env(command_file: Path) -> None:
    """ansible-runner records the whole environment of the run; keep what explains the run."""
    try:
        recorded = json.loads(command_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    recorded["env"] = {k: v for k, v in (recorded.get("env") or {}).items() if KEPT_ENV.match(k)}
    command_file.write_text(json.dumps(recorded), encoding="utf-8")
