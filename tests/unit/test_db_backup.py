"""db_backup: a dump before the migrations, the password only in a 0600 PGPASSFILE, nothing left on failure.

pg_dump and psql are stand-ins (scripts) that record what they were given: the real ones
run against PostgreSQL in the end-to-end tests.
"""

from __future__ import annotations

import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from ansible_collections.deployctl.core.plugins.modules import db_backup
from tests.unit.conftest import run_module

R1, R2, R3 = "20240101T000000Z", "20240102T000000Z", "20240103T000000Z"
PASSWORD = "p@ss:w\\rd%"
CONNECTION = {"host": "db.internal", "port": 5433, "database": "shop", "username": "shop", "password": PASSWORD}
# Records its argv, the environment it got, and its PGPASSFILE's content and mode; prints a dump.
RECORDER = """#!/usr/bin/env python3
import json, os, stat, sys
passfile = os.environ.get("PGPASSFILE", "")
seen = {
    "argv": sys.argv,
    "env": dict(os.environ),
    "passfile": open(passfile).read() if passfile else None,
    "passfile_mode": stat.S_IMODE(os.stat(passfile).st_mode) if passfile else None,
}
with open(os.environ["HOME_RECORD"] if "HOME_RECORD" in os.environ else "%(record)s", "a") as out:
    out.write(json.dumps(seen) + "\\n")
%(tail)s
"""


def script(path: Path, body: str) -> str:
    path.write_text(body)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def tools(tmp_path: Path) -> dict[str, str]:
    """A pg_dump that prints PGDMP-data and a psql that prints a size of 1 MiB, both recording their calls."""
    record = tmp_path / "calls.jsonl"
    return {
        "record": str(record),
        "pg_dump": script(tmp_path / "pg_dump", RECORDER % {"record": record, "tail": "print('PGDMP-data')"}),
        "psql": script(tmp_path / "psql", RECORDER % {"record": record, "tail": "print(1048576)"}),
        "schema": script(tmp_path / "schema", "#!/bin/sh\necho 20240201000000\n"),
    }


def backup(deploy_to: Path, tools: dict[str, str], check_mode: bool = False, **overrides: object) -> dict:
    (deploy_to / ".deployctl").mkdir(parents=True, exist_ok=True, mode=0o700)
    (deploy_to / "shared").mkdir(exist_ok=True)
    args = {
        "deploy_to": str(deploy_to),
        "release_id": R1,
        "connection": CONNECTION,
        "command": [tools["pg_dump"], "--format=custom"],
        "size_command": [tools["psql"], "-XAtq", "-c", "SELECT 1"],
        "schema_command": [tools["schema"]],
        "schema_version": "20240101000000",
        **overrides,
    }
    return run_module(db_backup, args, check_mode=check_mode)


def calls(tools: dict[str, str]) -> list[dict]:
    path = Path(tools["record"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_dump_is_a_root_only_file_and_the_password_went_only_through_a_0600_passfile(
    deploy_to: Path, tools: dict[str, str]
) -> None:
    result = backup(deploy_to, tools)

    assert not result.get("failed"), result.get("msg")
    dumps = deploy_to / "shared" / "backups"
    made = dumps / f"{R1}.dump"
    assert made.read_text() == "PGDMP-data\n"
    assert (stat.S_IMODE(os.stat(dumps).st_mode), stat.S_IMODE(os.stat(made).st_mode)) == (0o700, 0o600)
    assert (os.stat(made).st_uid, os.stat(dumps).st_uid) == (0, 0)
    assert result["backup"]["path"] == str(made) and result["backup"]["size"] == len("PGDMP-data\n")
    assert result["backup"]["database"] == "shop"
    assert result["backup"]["schema_version"] == "20240201000000", "the database's own schema, not the releases' idea"
    measured, dumped = calls(tools)
    for call in (measured, dumped):
        assert call["passfile"] == "db.internal:5433:shop:shop:p@ss\\:w\\\\rd%\n"
        assert call["passfile_mode"] == 0o600
        assert (call["env"]["PGHOST"], call["env"]["PGPORT"], call["env"]["PGUSER"]) == ("db.internal", "5433", "shop")
        assert "PGPASSWORD" not in call["env"]
        assert PASSWORD not in json.dumps(call["argv"]) and PASSWORD not in json.dumps(call["env"])
    assert dumped["argv"][1:] == ["--format=custom"]
    assert not list((deploy_to / ".deployctl").glob(".pgpass-*")), "the passfile is removed"
    assert PASSWORD not in json.dumps(result)


def test_a_database_url_is_decoded(deploy_to: Path, tools: dict[str, str]) -> None:
    url = "postgresql://app%40eu:p%40ss%3Aw@db.internal/shop_production"
    result = backup(deploy_to, tools, connection={"url": url})

    assert not result.get("failed"), result.get("msg")
    assert calls(tools)[-1]["passfile"] == "db.internal:5432:shop_production:app@eu:p@ss\\:w\n"


def test_a_failed_dump_leaves_no_file_and_says_why(deploy_to: Path, tools: dict[str, str], tmp_path: Path) -> None:
    failing = script(
        tmp_path / "failing_dump",
        "#!/bin/sh\necho 'partial data'\n"
        "echo 'pg_dump: error: connection to server failed: FATAL:  password authentication failed' >&2\nexit 1\n",
    )
    result = backup(deploy_to, tools, command=[failing])

    assert (result["failed"], result["stage"]) == (True, "backup")
    assert result["msg"] == (
        "backup: `" + failing + "` exited 1:\n"
        "pg_dump: error: connection to server failed: FATAL:  password authentication failed"
    )
    assert os.listdir(deploy_to / "shared" / "backups") == []
    assert not list((deploy_to / ".deployctl").glob(".pgpass-*"))


def test_a_missing_pg_dump_is_named_with_the_fix(deploy_to: Path, tools: dict[str, str]) -> None:
    result = backup(deploy_to, tools, command=["/nonexistent/pg_dump"])

    assert result["stage"] == "backup"
    assert result["msg"] == (
        "backup: cannot run `/nonexistent/pg_dump`: No such file or directory. Install it on the host "
        "(PostgreSQL's client: postgresql-client) or set deploy_db_backup_command"
    )


def test_a_database_bigger_than_the_free_space_is_refused_before_the_dump(
    deploy_to: Path, tools: dict[str, str]
) -> None:
    result = backup(deploy_to, tools, headroom_mb=10**9)

    assert result["stage"] == "backup"
    assert result["msg"].startswith("backup: database shop holds 1 MiB and only ")
    assert "free some space, move deploy_db_backup_dir, or set deploy_db_backup: false" in result["msg"]
    assert [call["argv"][0] for call in calls(tools)] == [tools["psql"]], "pg_dump never ran"
    assert os.listdir(deploy_to / "shared" / "backups") == []


def test_only_the_newest_dumps_are_kept(deploy_to: Path, tools: dict[str, str]) -> None:
    for release_id in (R1, R2, R3):
        result = backup(deploy_to, tools, release_id=release_id, keep=2)
    assert result["removed"] == [str(deploy_to / "shared" / "backups" / f"{R1}.dump")]
    assert sorted(os.listdir(deploy_to / "shared" / "backups")) == [
        f"{R2}.dump", f"{R2}.json", f"{R3}.dump", f"{R3}.json",
    ]  # fmt: skip


def test_the_dumps_are_listed_newest_first_with_what_they_hold(deploy_to: Path, tools: dict[str, str]) -> None:
    for release_id in (R1, R2):
        backup(deploy_to, tools, release_id=release_id)
    backups = deploy_to / "shared" / "backups"
    assert stat.S_IMODE(os.stat(backups / f"{R2}.json").st_mode) == 0o600
    # A dump whose record is gone (copied in by hand) is listed with what the file tells.
    (backups / f"{R3}.dump").write_bytes(b"PGDMP")

    result = run_module(db_backup, {"deploy_to": str(deploy_to), "state": "query"})

    assert result["changed"] is False
    assert [(b["name"], b["database"], b["schema_version"]) for b in result["backups"]] == [
        (R3, None, None), (R2, "shop", "20240201000000"), (R1, "shop", "20240201000000"),
    ]  # fmt: skip
    assert result["backups"][1]["size"] == len("PGDMP-data\n") and result["backups"][1]["age_seconds"] < 60


def test_no_backup_directory_lists_no_dump(deploy_to: Path) -> None:
    deploy_to.mkdir(parents=True, exist_ok=True)
    result = run_module(db_backup, {"deploy_to": str(deploy_to), "state": "query"})
    assert result["backups"] == [] and result["backup_dir"] == str(deploy_to / "shared" / "backups")


def test_a_symlinked_backup_dir_is_refused(deploy_to: Path, tools: dict[str, str], tmp_path: Path) -> None:
    (deploy_to / "shared").mkdir(parents=True)
    (deploy_to / "shared" / "backups").symlink_to(tmp_path)
    result = backup(deploy_to, tools)

    assert result["stage"] == "backup" and "a symbolic link is refused" in result["msg"]
    assert calls(tools) == []


def test_a_connection_without_a_host_names_what_is_missing(deploy_to: Path, tools: dict[str, str]) -> None:
    result = backup(deploy_to, tools, connection={"database": "shop", "password": PASSWORD})

    assert result["input_error"] is True
    assert result["msg"].startswith("backup: deploy_db_backup_connection gives no host, user:")
    assert PASSWORD not in result["msg"]


def test_check_mode_dumps_nothing(deploy_to: Path, tools: dict[str, str]) -> None:
    result = backup(deploy_to, tools, check_mode=True)

    assert result["changed"] is True and "would dump shop" in result["msg"]
    assert calls(tools) == [] and not (deploy_to / "shared" / "backups").exists()


def test_a_dump_is_restored_into_the_same_database_with_the_password_in_the_passfile_only(
    deploy_to: Path, tools: dict[str, str], tmp_path: Path
) -> None:
    backup(deploy_to, tools)
    made = deploy_to / "shared" / "backups" / f"{R1}.dump"
    pg_restore = script(tmp_path / "pg_restore", RECORDER % {"record": tools["record"], "tail": ""})

    result = backup(
        deploy_to,
        tools,
        state="restored",
        path=str(made),
        restore_command=[pg_restore, "--dbname={database}", "{file}"],
    )

    assert not result.get("failed"), result.get("msg")
    assert result["restored"]["path"] == str(made)
    restored = calls(tools)[-1]
    assert restored["argv"][1:] == ["--dbname=shop", str(made)]
    assert restored["passfile"] == "db.internal:5433:shop:shop:p@ss\\:w\\\\rd%\n" and restored["passfile_mode"] == 0o600
    assert PASSWORD not in json.dumps(restored["argv"]) + json.dumps(restored["env"])
    assert not list((deploy_to / ".deployctl").glob(".pgpass-*"))


def test_a_failed_restore_says_the_database_is_as_it_was(
    deploy_to: Path, tools: dict[str, str], tmp_path: Path
) -> None:
    backup(deploy_to, tools)
    failing = script(
        tmp_path / "failing_restore", "#!/bin/sh\necho 'pg_restore: error: could not execute query' >&2\nexit 1\n"
    )

    result = backup(
        deploy_to,
        tools,
        state="restored",
        path=str(deploy_to / "shared" / "backups" / f"{R1}.dump"),
        restore_command=[failing, "{file}"],
    )

    assert (result["failed"], result["stage"]) == (True, "restore")
    assert result["msg"] == (
        f"restore: `{failing}` exited 1; the database is as it was (one transaction):\n"
        "pg_restore: error: could not execute query"
    )


def test_a_missing_dump_is_named(deploy_to: Path, tools: dict[str, str]) -> None:
    result = backup(deploy_to, tools, state="restored", path="/srv/shop/shared/backups/gone.dump")

    assert result["stage"] == "restore"
    assert "the dump /srv/shop/shared/backups/gone.dump is not there" in result["msg"]


def test_without_a_schema_table_the_releases_schema_is_recorded(deploy_to: Path, tools: dict[str, str]) -> None:
    result = backup(deploy_to, tools, schema_command=["sh", "-c", "echo 'relation does not exist' >&2; exit 1"])

    assert result["backup"]["schema_version"] == "20240101000000"


def test_shared_paths_are_archived_beside_the_dump_and_pruned_with_it(deploy_to: Path, tools: dict[str, str]) -> None:
    (deploy_to / "shared" / "storage" / "ab").mkdir(parents=True)
    (deploy_to / "shared" / "storage" / "ab" / "upload.png").write_bytes(b"PNG")
    result = backup(deploy_to, tools, shared_paths=["storage"], keep=1)
    archived = deploy_to / "shared" / "backups" / f"{R1}.shared.tar.gz"
    assert result["backup"]["archive"] == {"path": str(archived), "size": archived.stat().st_size, "paths": ["storage"]}
    assert stat.S_IMODE(archived.stat().st_mode) == 0o600
    with tarfile.open(archived) as tar:
        assert "storage/ab/upload.png" in tar.getnames()
    backup(deploy_to, tools, release_id=R2, shared_paths=["storage"], keep=1)
    assert not archived.exists(), "pruned with its dump"


@pytest.mark.parametrize(
    ("path", "words"),
    [("../etc", "is not a path inside"), ("/etc", "is not a path inside"), ("uploads", "uploads is not there")],
)
def test_a_shared_path_outside_shared_or_missing_is_refused_before_the_dump(
    deploy_to: Path, tools: dict[str, str], path: str, words: str
) -> None:
    result = backup(deploy_to, tools, shared_paths=[path])
    assert result["failed"] and result["stage"] == "backup" and words in result["msg"]
    assert not calls(tools) or all("pg_dump" not in call["argv"][0] for call in calls(tools))
    assert not list((deploy_to / "shared" / "backups").glob("*.dump"))
