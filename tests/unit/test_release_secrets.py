"""Secrets a release carries besides its config file: secret files and the secret environment.

The environment file is what systemd's EnvironmentFile= reads; release_command reads it back
for the commands it runs. The tests read what a user would check: the file's mode and owner,
that a command sees the values unchanged, that nothing of a value is in a result.
"""

from __future__ import annotations

import json
import pwd
import stat
from pathlib import Path

import pytest

from ansible_collections.deployctl.core.plugins.modules import release, release_command
from tests.unit.conftest import APP_USER, Upstream, deploy, run_module, staged_args

R1, R2 = "20240101T000000Z", "20240102T000000Z"
# A URL-encoded password with the characters systemd's environment files treat specially.
DATABASE_URL = 'postgres://app:p%40ss"w$rd`x`\\y@db/app'
SECRETS = {"DATABASE_URL": DATABASE_URL, "RAILS_MASTER_KEY": "0123abcd"}


def environment_file(release_dir: Path) -> Path:
    return release_dir / ".deployctl-environment"


def test_the_secret_environment_is_a_root_only_file_whose_values_a_command_reads_unchanged(
    open_deploy_to: Path, upstream: Upstream
) -> None:
    staged = run_module(release, staged_args(open_deploy_to, upstream, R1, secret_environment=SECRETS))
    assert not staged.get("failed"), staged["msg"]
    path = environment_file(Path(staged["path"]))
    info = path.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o600, 0, 0)
    assert DATABASE_URL not in json.dumps(staged)
    # As systemd writes it back: each value double-quoted, \ " $ ` escaped, % as it is.
    assert 'DATABASE_URL="postgres://app:p%40ss\\"w\\$rd\\`x\\`\\\\y@db/app"\n' in path.read_text()

    args = {"deploy_to": str(open_deploy_to), "release_id": R1, "stage": "build", "user": APP_USER}
    check = ["sh", "-c", 'test "$DATABASE_URL" = "$EXPECTED" && test "$RAILS_MASTER_KEY" = 0123abcd']
    seen = run_module(
        release_command, {**args, "argv": check, "env": {"EXPECTED": DATABASE_URL}, "secret_environment": True}
    )
    assert not seen.get("failed"), seen["msg"]
    unseen = run_module(release_command, {**args, "argv": check, "env": {"EXPECTED": DATABASE_URL}})
    assert unseen["failed"] is True


def test_a_changed_secret_makes_a_new_release_and_the_same_secrets_do_not(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1, secret_environment=SECRETS)

    same = run_module(release, staged_args(deploy_to, upstream, R2, secret_environment=dict(SECRETS)))
    other = run_module(release, staged_args(deploy_to, upstream, R2, secret_environment={**SECRETS, "X": "1"}))

    assert (same["already_live"], other["already_live"]) == (True, False)


def test_a_name_that_is_no_variable_name_is_refused_before_anything(deploy_to: Path, upstream: Upstream) -> None:
    result = run_module(release, staged_args(deploy_to, upstream, R1, secret_environment={"DB-URL": "x"}))

    assert (result["failed"], result["input_error"], result["created"]) == (True, True, False)
    assert result["msg"] == (
        "deploy_secret_environment: 'DB-URL' cannot be the name of an environment variable "
        "(letters, digits and _, not starting with a digit)"
    )
    assert not deploy_to.exists()


@pytest.mark.parametrize("config", ["production:\n  a: 1\n", None], ids=["with a config", "without a config"])
def test_secret_files_are_written_like_the_config_in_each_release(
    deploy_to: Path, upstream: Upstream, config: str | None
) -> None:
    # An app as `rails new` makes it has no config/production.yml: its key still gets 0640.
    args = staged_args(deploy_to, upstream, R1, secret_files={"config/credentials/production.key": "k3y"})
    staged = run_module(release, {**args, "config_content": config})

    key = Path(staged["path"]) / "config" / "credentials" / "production.key"
    info = key.stat()
    assert key.read_text() == "k3y"
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o640, 0)
    assert info.st_gid == pwd.getpwnam(APP_USER).pw_gid
    assert "k3y" not in json.dumps(staged)


def test_a_secret_file_outside_the_release_is_refused(deploy_to: Path, upstream: Upstream) -> None:
    result = run_module(release, staged_args(deploy_to, upstream, R1, secret_files={"../shared/x.key": "s3cr3t-key"}))

    assert (result["failed"], result["input_error"]) == (True, True)
    assert (
        result["msg"]
        == "deploy_secret_files: '../shared/x.key' must be a path inside the release, such as config/master.key"
    )


def test_a_migration_that_finds_no_database_host_says_how_to_give_one(open_deploy_to: Path, upstream: Upstream) -> None:
    run_module(release, staged_args(open_deploy_to, upstream, R1))
    socket_error = (
        "echo 'PG::ConnectionBad: could not connect to server: No such file or directory\n\tIs the server running "
        'locally and accepting connections on Unix domain socket "/var/run/postgresql/.s.PGSQL.5432"?\'; exit 1'
    )
    args = {"deploy_to": str(open_deploy_to), "release_id": R1, "stage": "migrate", "user": APP_USER}

    result = run_module(release_command, {**args, "argv": ["sh", "-c", socket_error]})

    assert result["msg"].endswith(
        "The app connects to PostgreSQL over a local socket: its config/database.yml gives no host for production. "
        'Give the app DATABASE_URL (deploy_secret_environment: {DATABASE_URL: "{{ vault_database_url }}"}), '
        "or a host, port, user and password in config/database.yml."
    )
