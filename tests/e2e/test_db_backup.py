"""A dump of the database before the migrations: taken, recorded, root-only; and when it cannot be
taken, nothing is migrated, nothing switched, nothing left behind."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import DEPLOY_TO, Fleet
from tests.e2e.test_cli import ENV, deployctl

BACKUPS = f"{DEPLOY_TO}/shared/backups"


@pytest.fixture
def on_v1(fleet: Fleet) -> dict[str, str]:
    """Every host serving v1 (deployed over whatever was live): a deploy of v2 then brings a migration.

    Returns the live release per host."""
    run = deployctl("deploy", ENV, "--ref", "v1")
    assert run.rc == 0, run.out + run.err
    return {host: fleet.current(host) for host in fleet.hosts}


def test_a_deploy_with_a_migration_dumps_the_database_first(fleet: Fleet, commits, on_v1, vault_secrets):
    db_schema = fleet.schema_migrations("web1")[-1]  # what the database holds, whatever the releases say
    dumps_on_web2 = fleet.ssh("web2", f"ls {BACKUPS} 2>/dev/null | wc -l").strip()
    run = deployctl("deploy", ENV, "--ref", "v2", "--json")
    assert run.rc == 0, run.out + run.err
    migrator = "web1"
    release = fleet.current(migrator)
    dump = f"{BACKUPS}/{release}.dump"
    assert fleet.ssh(migrator, f"stat -c '%a %U' {BACKUPS} {dump}").split() == ["700", "root", "600", "root"]
    # A real pg_dump archive of the app's database.
    listing = fleet.ssh(migrator, f"pg_restore -l {dump}")
    assert "TABLE public notes" in listing
    record = fleet.records(migrator)[release]
    assert record["backup"]["path"] == dump and record["backup"]["schema_version"] == db_schema
    assert record["backup"]["size"] > 0 and record["backup"]["database"] == "sample"
    assert "backup" in [line["event"] for line in fleet.journal(migrator)]
    assert fleet.ssh("web2", f"ls {BACKUPS} 2>/dev/null | wc -l").strip() == dumps_on_web2, "one dump per deploy"
    secret = vault_secrets["vault_sample_db_password"]
    assert secret not in run.out + run.err
    assert secret not in fleet.ssh(migrator, f"cat {DEPLOY_TO}/.deployctl/journal.jsonl")


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (
            {"deploy_db_backup_connection": {"host": "db.e2e.internal", "database": "sample", "username": "sample",
                                             "password": "wrong-password"}},
            'password authentication failed for user "sample"',
        ),
        ({"deploy_db_backup_headroom_mb": 100_000_000}, "only"),
    ],
    ids=["wrong password", "too little free space"],
)  # fmt: skip
def test_a_backup_that_cannot_be_taken_stops_before_the_migrations(fleet: Fleet, commits, on_v1, extra, words):
    before = {host: fleet.current(host) for host in fleet.hosts}
    leftovers = fleet.ssh("web1", f"ls -A {BACKUPS} 2>/dev/null || true").split()
    schema = fleet.schema_migrations("web1")

    run = deployctl("deploy", ENV, "--ref", "v2", "-e", json.dumps(extra), "--json")

    assert run.rc == 1, run.out + run.err
    for result in run.hosts.values():
        assert (result["outcome"], result["stage"]) == ("aborted", "backup"), result
        assert words in result["message"]
    assert fleet.schema_migrations("web1") == schema, "no migration ran"
    for host in fleet.hosts:
        assert fleet.current(host) == before[host]
        assert fleet.health(host)[1]["revision"] == commits["v1"]
    assert fleet.ssh("web1", f"ls -A {BACKUPS} 2>/dev/null || true").split() == leftovers, "no partial dump left"
    assert not fleet.ssh("web1", f"ls -A {DEPLOY_TO}/.deployctl | grep pgpass || true").strip()


def psql(fleet: Fleet, query: str) -> str:
    """A query as the app's database user (the password through stdin), from web1."""
    v = fleet.hosts["web1"]
    return fleet.ssh(
        "web1",
        "read -r PGPASSWORD; export PGPASSWORD; "
        f'psql -h {v["sample_db_host"]} -U {v["sample_db_user"]} -d {v["sample_db_name"]} -tAc "{query}"',
        stdin=v["vault_sample_db_password"] + "\n",
    ).strip()


def test_a_rollback_with_restore_db_puts_back_the_schema_and_says_what_is_lost(fleet: Fleet, commits, on_v1):
    # The database at v1's schema for real (on_v1 deployed v1's code over whatever schema was there).
    assert deployctl("deploy", ENV, "--ref", "v2").rc == 0
    back = deployctl("rollback", ENV, "-e", "deploy_rollback_migrate_down=true")
    assert back.rc == 0, back.out + back.err
    v1_release, v1_schema = fleet.current("web1"), fleet.schema_migrations("web1")
    assert v1_schema == ["20240101000000"]

    # v2's deploy dumps the database, then migrates it; a row is written after the dump.
    assert deployctl("deploy", ENV, "--ref", "v2").rc == 0
    assert fleet.schema_migrations("web1") == ["20240101000000", "20240201000000"]
    psql(fleet, "INSERT INTO notes (body, title, created_at, updated_at) VALUES ('after the dump', 't', now(), now())")

    # Without a terminal and without --yes, it asks for nothing and changes nothing.
    refused = deployctl("rollback", ENV, "--restore-db")
    assert refused.rc == 5 and "Confirm with --yes" in " ".join(refused.err.split())

    run = deployctl("rollback", ENV, "--restore-db", "--yes", "--json")

    assert run.rc == 0, run.out + run.err
    for host, result in run.hosts.items():
        assert result["outcome"] == "rolled_back"
        assert fleet.current(host) == v1_release
        status, body = fleet.health(host)
        assert (status, body.get("revision")) == (200, commits["v1"])
    assert "rows written since then are gone" in run.hosts["web1"]["warning"]
    assert fleet.schema_migrations("web1") == v1_schema
    assert (
        psql(fleet, "SELECT count(*) FROM information_schema.columns WHERE table_name='notes' AND column_name='title'")
        == "0"
    )
    assert psql(fleet, "SELECT count(*) FROM notes WHERE body = 'after the dump'") == "0"
    assert "db_restored" in [line["event"] for line in fleet.journal("web1")]


def test_a_restore_that_fails_leaves_the_database_and_starts_the_live_release_again(fleet: Fleet, commits, on_v1):
    assert deployctl("deploy", ENV, "--ref", "v2").rc == 0
    live = {host: fleet.current(host) for host in fleet.hosts}
    schema = fleet.schema_migrations("web1")
    broken = json.dumps({"deploy_db_restore_command": ["/usr/bin/no-such-pg_restore", "{file}"]})

    run = deployctl("rollback", ENV, "--restore-db", "--yes", "-e", broken)

    assert run.rc == 1, run.out + run.err
    said = " ".join((run.out + run.err).split())
    assert "cannot run `/usr/bin/no-such-pg_restore`: No such file or directory" in said
    assert fleet.schema_migrations("web1") == schema
    for host in fleet.hosts:
        assert fleet.current(host) == live[host]
        status, body = fleet.health(host)
        assert (status, body.get("revision")) == (200, commits["v2"]), "the app was started again"
