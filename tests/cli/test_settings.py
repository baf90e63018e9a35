"""One ansible.cfg: a CLI run gets the settings ansible-playbook gets in a checkout, from any directory.

The CLI's side runs in tmp_path: no ansible.cfg there, and the checkout is elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ansible_runner.interface import init_runner

from deployctl import runner
from deployctl.runner import Environment, Request

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_CONFIG = Path(sys.executable).with_name("ansible-config")
# ansible-runner's awx_display, once loaded, wraps what is printed in event marks.
EVENT_MARK = re.compile(r"\x1b\[K(?:[A-Za-z0-9+/=]+\x1b\[\d+D)+\x1b\[K")

# The settings that differ between the two on purpose, each for a reason.
DIFFERENT = {
    # The package's copy of the file; in a checkout, a link to it (the same bytes: below).
    "CONFIG_FILE",
    # The package's own collection first, then ANSIBLE_COLLECTIONS_PATH or Ansible's default;
    # in a checkout, ./collections (a link to the repository itself).
    "COLLECTIONS_PATHS",
    # ansible-runner's event callback, whose events the CLI reads (progress, results), and its home.
    "DEFAULT_STDOUT_CALLBACK",
    "DEFAULT_CALLBACK_PLUGIN_PATH",
    # ansible-runner's fact cache, in the run's artifacts (no facts are gathered: gathering = explicit).
    "CACHE_PLUGIN",
    "CACHE_PLUGIN_CONNECTION",
    "CACHE_PLUGINS:jsonfile:_uri",
}


def changed_settings(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """`ansible-config dump --only-changed` of every setting, plugins' too, as {name: value}."""
    dump = subprocess.run(
        [str(ANSIBLE_CONFIG), "dump", "--only-changed", "-t", "all", "-f", "json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    settings: dict[str, Any] = {}
    for entry in json.loads(EVENT_MARK.sub("", dump)):
        if "name" in entry:
            settings[entry["name"]] = entry["value"]
            continue
        # A plugin type: {"CONNECTION_PLUGINS": [{"ssh": [{"name": ..., "value": ...}]}]}, or GALAXY_SERVERS.
        [(section, plugins)] = entry.items()
        if not isinstance(plugins, list):
            settings[section] = plugins
            continue
        for plugin in plugins:
            for name, options in plugin.items():
                settings.update({f"{section}:{name}:{option['name']}": option["value"] for option in options})
    return settings


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process's environment without ANSIBLE_* (a developer's own would be in both)."""
    for name in list(os.environ):
        if name.startswith("ANSIBLE_"):
            monkeypatch.delenv(name)
    return dict(os.environ)


def cli_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, inventory: Path) -> dict[str, str]:
    """The environment ansible-playbook would get in a CLI run: runner.run() up to the start of it.

    ansible_runner.run() is init_runner() (ansible-runner's whole preparation) then the process.
    """
    prepared: list[dict[str, str]] = []

    def prepare_only(**kwargs: Any) -> SimpleNamespace:
        prepared.append(dict(init_runner(**kwargs).config.env))
        return SimpleNamespace(rc=0, status="successful")

    monkeypatch.setattr(runner.ansible_runner, "run", prepare_only)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    runner.run(Request("status", "status.yml", Environment("staging", inventory)), lambda event: None)
    [env] = prepared
    return env


def test_the_cli_runs_with_the_checkouts_settings(
    clean_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, inventory: Path
) -> None:
    checkout = changed_settings(clean_environ, REPO_ROOT)  # ansible-playbook finds ./ansible.cfg
    cli = changed_settings(cli_environment(monkeypatch, tmp_path, inventory), tmp_path)

    differ = {name for name in checkout.keys() | cli.keys() if checkout.get(name) != cli.get(name)}
    assert differ <= DIFFERENT, {name: (checkout.get(name), cli.get(name)) for name in differ - DIFFERENT}
    # What the file sets is there, host key checking too.
    assert cli["DEFAULT_GATHERING"] == "explicit"
    assert cli["CONNECTION_PLUGINS:ssh:pipelining"] is True
    assert cli["HOST_KEY_CHECKING"] is True  # ansible-runner would turn it off
    assert checkout["CONFIG_FILE"] == str(REPO_ROOT / "ansible.cfg")
    assert cli["CONFIG_FILE"] == str(runner.CONFIG)
    assert runner.CONFIG.read_bytes() == (REPO_ROOT / "ansible.cfg").read_bytes()
    assert cli["COLLECTIONS_PATHS"][0] == str(runner.CONTENT)


def test_the_environment_adds_only_what_the_file_cannot_say(clean_environ: dict[str, str]) -> None:
    env = runner.envvars()
    assert env["ANSIBLE_CONFIG"] == str(runner.CONFIG)
    assert env["ANSIBLE_COLLECTIONS_PATH"] == f"{runner.CONTENT}:{runner.DEFAULT_COLLECTIONS_PATH}"
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "true"  # the file's word
    # ansible-playbook from the installation deployctl runs from.
    assert (Path(env["PATH"].split(os.pathsep)[0]) / "ansible-playbook").exists()
    assert sorted(env) == ["ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_CONFIG", "ANSIBLE_HOST_KEY_CHECKING", "PATH"]


def test_your_own_config_file_and_variables_win(
    clean_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, inventory: Path
) -> None:
    mine = tmp_path / "ansible.cfg"
    mine.write_text("[defaults]\nhost_key_checking = False ; known_hosts is managed elsewhere\nforks = 3\n")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(mine))
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", "/opt/collections")
    monkeypatch.setenv("ANSIBLE_FORKS", "5")
    env = runner.envvars()
    # Your file is read instead of deployctl's, its host_key_checking passed on...
    assert env["ANSIBLE_CONFIG"] == str(mine)
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "False"
    # ...after the package's collection, your collections path...
    assert env["ANSIBLE_COLLECTIONS_PATH"] == f"{runner.CONTENT}:/opt/collections"
    # ...and your ANSIBLE_* variables reach ansible-playbook as they are (ansible-runner copies them).
    assert "ANSIBLE_FORKS" not in env
    assert changed_settings(cli_environment(monkeypatch, tmp_path, inventory), tmp_path)["DEFAULT_FORKS"] == 5
    monkeypatch.setenv("ANSIBLE_HOST_KEY_CHECKING", "True")
    assert runner.envvars()["ANSIBLE_HOST_KEY_CHECKING"] == "True"


def test_a_config_without_host_key_checking_keeps_ansibles_default(
    clean_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "ansible.cfg").write_text("[defaults]\nforks = 3\n")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path))  # a directory: Ansible reads its ansible.cfg
    assert runner.envvars()["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path / "missing.cfg"))
    assert runner.envvars()["ANSIBLE_HOST_KEY_CHECKING"] == "True"
