"""A dump of the database before the migrations: taken, recorded, root-only; and when it cannot be
taken, nothing is migrated, nothing switched, nothing left behind."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from dataclasses import dataclass
from types import TracebackType

import pytest
import yaml

from tests.e2e.conftest import DEPLOY_TO, INVENTORY, Fleet, awx_job
from tests.e2e.test_cli import ENV, Cli, deployctl
from tests.harness import targets

BACKUPS = f"{DEPLOY_TO}/shared/backups"
# The database server of this test session's hosts (each pytest-xdist worker has its own).
DB_HOST = yaml.safe_load((INVENTORY / "hosts.yml").read_text())["all"]["vars"]["sample_db_host"]
# Every distinct argv of a database client running on the host, with its environment, until
# the stop file appears (a tight loop: a pg_dump of the sample database lives a fraction of a second).
SAMPLER = """
import os, sys
seen = set()
while not os.path.exists(sys.argv[1]):
    for pid in os.listdir("/proc"):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read()
            if b"pg_" in argv or b"psql" in argv:
                env = open(f"/proc/{pid}/environ", "rb").read()
                seen.add(argv.replace(b"\\0", b" ") + b" ENV " + env.replace(b"\\0", b" "))
        except OSError:
            pass
sys.stdout.buffer.write(b"\\n".join(seen))
"""


class ArgvSampler:
    """Samples the database clients' argv and environment on `host` while the block runs; `seen` after."""

    def __init__(self, fleet: Fleet, host: str) -> None:
        self.fleet, self.host, self.seen = fleet, host, ""
        self.stop = "/tmp/deployctl-argv-sampler.stop"

    def __enter__(self) -> ArgvSampler:
        self.fleet.ssh(self.host, f"rm -f {self.stop}")
        port = self.fleet.hosts[self.host]["ansible_port"]
        self.proc = subprocess.Popen(
            ["ssh", *targets.ssh_options(), "-p", str(port), "root@127.0.0.1", f"python3 -c '{SAMPLER}' {self.stop}"],
            stdout=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None):
        self.fleet.ssh(self.host, f"touch {self.stop}")
        self.seen = self.proc.communicate(timeout=60)[0]


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
    with ArgvSampler(fleet, "web1") as sampler:
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
    # pg_dump (and psql measuring the database) ran with the password in neither argv nor environment.
    assert "pg_dump --format=custom" in sampler.seen and "PGPASSFILE=" in sampler.seen
    assert secret not in sampler.seen
    # On the host, only the app's 0640 config holds it (not the dump, its record, a passfile or a log).
    holders = fleet.ssh(
        migrator,
        "umask 077; cat > /root/.db-canary; grep -rlF -f /root/.db-canary /srv /etc /tmp /var/tmp /root 2>/dev/null"
        " | grep -vx /root/.db-canary; rm -f /root/.db-canary; true",
        stdin=secret,
    ).split()
    assert holders and all(path.endswith("/config/production.yml") for path in holders), holders
    assert {fleet.ssh(migrator, f"stat -c %a {path}").strip() for path in holders} == {"640"}


# pg_dump taken away for real (Debian's /usr/bin/pg_dump is postgresql-common's wrapper), put back after.
NO_PG_DUMP = ("mv /usr/bin/pg_dump /usr/bin/pg_dump.away", "mv /usr/bin/pg_dump.away /usr/bin/pg_dump")


@pytest.mark.parametrize(
    ("extra", "on_host", "words"),
    [
        (
            {"deploy_db_backup_connection": {"host": DB_HOST, "database": "sample", "username": "sample",
                                             "password": "wrong-password"}},
            None,
            'password authentication failed for user "sample"',
        ),
        ({}, NO_PG_DUMP, "cannot run `pg_dump`: No such file or directory. Install it on the host "
                         "(PostgreSQL's client: postgresql-client) or set deploy_db_backup_command"),
        ({"deploy_db_backup_headroom_mb": 100_000_000}, None, "only"),
    ],
    ids=["wrong password", "no pg_dump", "too little free space"],
)  # fmt: skip
def test_a_backup_that_cannot_be_taken_stops_before_the_migrations(fleet: Fleet, commits, on_v1, extra, on_host, words):
    before = {host: fleet.current(host) for host in fleet.hosts}
    leftovers = fleet.ssh("web1", f"ls -A {BACKUPS} 2>/dev/null || true").split()
    schema = fleet.schema_migrations("web1")

    if on_host:
        fleet.ssh("web1", on_host[0])
    try:
        run = deployctl("deploy", ENV, "--ref", "v2", "-e", json.dumps(extra), "--json")
    finally:
        if on_host:
            fleet.ssh("web1", on_host[1])

    assert run.rc == 1, run.out + run.err
    for result in run.hosts.values():
        assert (result["outcome"], result["stage"]) == ("aborted", "backup"), result
        assert words in " ".join(result["message"].split())
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


def at_v1_schema(fleet: Fleet) -> None:
    """v1 live on a database at v1's schema for real, whatever earlier tests left: v2's deploy then
    migrates, and its dump holds v1's schema."""
    assert deployctl("deploy", ENV, "--ref", "v1").rc == 0
    assert deployctl("deploy", ENV, "--ref", "v2").rc == 0
    assert deployctl("rollback", ENV, "-e", "deploy_rollback_migrate_down=true").rc == 0
    assert fleet.schema_migrations("web1") == ["20240101000000"]


def test_a_deploy_that_fails_after_its_migrations_says_the_database_keeps_them(fleet: Fleet, commits) -> None:
    at_v1_schema(fleet)
    live = {host: fleet.current(host) for host in fleet.hosts}

    # v3-crash brings v2's migration, then crashes at boot: the candidate check stops it before the switch.
    run = deployctl("deploy", ENV, "--ref", "v3-crash", "-e", "deploy_health_fail_after=3")

    assert run.rc == 1, run.out + run.err
    said = " ".join((run.out + run.err).split())
    failed = fleet.newest("web1")["id"]
    assert f"The app was not switched: current still points at {live['web1']}, which keeps serving." in said
    assert (
        f"But the migrations ran before the failure, on web1: the database keeps them, and {live['web1']} runs on "
        f"their newer schema. Deploy a fixed release, or restore the dump taken before them ({BACKUPS}/{failed}.dump "
        f"on web1: deployctl db restore {ENV} --backup {failed})."
    ) in said
    assert fleet.schema_migrations("web1") == ["20240101000000", "20240201000000"]
    for host in fleet.hosts:
        assert fleet.current(host) == live[host]
        assert fleet.health(host)[1]["revision"] == commits["v1"]


def test_a_rollback_whose_restore_fails_leaves_the_database_and_starts_the_live_release_again(
    fleet: Fleet, commits
) -> None:
    at_v1_schema(fleet)
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


def notes(fleet: Fleet, host: str) -> list[dict]:
    """The notes as the live release serves them (GET /notes: every column the schema has)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{fleet.http_port(host)}/notes", timeout=10) as response:
        return json.loads(response.read())


@dataclass
class Restored:
    """After v3-drop-title (whose migration drops notes.title) was rolled back with --restore-db."""

    rollback: Cli
    refused: Cli
    v2_release: str
    v2_schema: list[str]
    dump_before_v2: str  # the release whose migrations it preceded
    dump_before_v3: str
    notes_on_v3: list[dict]
    argv_sampled: str


@pytest.fixture(scope="module")
def restored(fleet: Fleet, commits) -> Restored:
    at_v1_schema(fleet)
    assert deployctl("deploy", ENV, "--ref", "v2").rc == 0
    v2_release, v2_schema = fleet.current("web1"), fleet.schema_migrations("web1")
    psql(fleet, "INSERT INTO notes (body, title, created_at, updated_at) VALUES ('kept', 'a title', now(), now())")

    # v3's migration drops the column: only the dump taken before it holds the titles.
    assert deployctl("deploy", ENV, "--ref", "v3-drop-title").rc == 0
    v3_release = fleet.current("web1")
    notes_on_v3 = notes(fleet, "web1")
    psql(fleet, "INSERT INTO notes (body, created_at, updated_at) VALUES ('after the dump', now(), now())")

    # Without a terminal and without --yes, it asks for nothing and changes nothing.
    refused = deployctl("rollback", ENV, "--restore-db")
    with ArgvSampler(fleet, "web1") as sampler:
        rollback = deployctl("rollback", ENV, "--restore-db", "--yes", "--json")
    return Restored(rollback, refused, v2_release, v2_schema, v2_release, v3_release, notes_on_v3, sampler.seen)


def test_a_rollback_with_restore_db_brings_back_a_dropped_column_and_its_rows(fleet: Fleet, commits, restored):
    assert [note.get("title", "no such column") for note in restored.notes_on_v3 if note["body"] == "kept"] == [
        "no such column"
    ], "v3 dropped the column"
    assert restored.refused.rc == 5 and "Confirm with --yes" in " ".join(restored.refused.err.split())

    run = restored.rollback
    assert run.rc == 0, run.out + run.err
    for host, result in run.hosts.items():
        assert result["outcome"] == "rolled_back"
        assert fleet.current(host) == restored.v2_release
        status, body = fleet.health(host)
        assert (status, body.get("revision")) == (200, commits["v2"])
        # Read through the old release's own route: the column and its row are back.
        assert [(note["body"], note["title"]) for note in notes(fleet, host)][-1] == ("kept", "a title")
    assert "rows written since then are gone" in run.hosts["web1"]["warning"]
    assert fleet.schema_migrations("web1") == restored.v2_schema
    assert psql(fleet, "SELECT count(*) FROM notes WHERE body = 'after the dump'") == "0"
    assert "db_restored" in [line["event"] for line in fleet.journal("web1")]


def test_the_database_password_is_in_no_argv_or_environment_of_the_clients(fleet: Fleet, restored, vault_secrets):
    secret = vault_secrets["vault_sample_db_password"]
    assert "pg_restore" in restored.argv_sampled, "the sampler saw pg_restore run"
    assert "PGPASSFILE=" in restored.argv_sampled
    assert secret not in restored.argv_sampled
    assert secret not in restored.rollback.out + restored.rollback.err


def test_db_backups_lists_the_dumps_and_db_restore_puts_one_back(fleet: Fleet, commits, restored, tmp_path):
    listed = deployctl("db", "backups", ENV, "--json", password=False)
    assert listed.rc == 0, listed.out + listed.err
    dumps = {dump["name"]: dump for dump in listed.hosts["web1"]["backups"]}
    assert dumps[restored.dump_before_v3]["schema_version"] == "20240201000000"
    assert dumps[restored.dump_before_v2]["schema_version"] == "20240101000000"
    assert dumps[restored.dump_before_v3]["database"] == "sample" and dumps[restored.dump_before_v3]["size"] > 0
    table = deployctl("db", "backups", ENV, password=False)
    assert table.rc == 0 and restored.dump_before_v3 in table.out and "ago" in table.out

    # A dump at another schema than the live release's is a rollback's job: refused, nothing stopped.
    words = (
        f"the dump {restored.dump_before_v2} holds schema 20240101000000 but the live release "
        f"{restored.v2_release} runs on schema 20240201000000"
    )
    mismatch = deployctl("db", "restore", ENV, "--backup", restored.dump_before_v2, "--yes", "--json")
    assert mismatch.rc == 5, mismatch.out + mismatch.err
    assert all(words in " ".join(result["message"].split()) for result in mismatch.hosts.values())
    playbook = fleet.playbook("db_restore.yml", "-e", f"deploy_db_restore_backup={restored.dump_before_v2}")
    assert playbook.rc == 2 and words in " ".join(playbook.output.split()), playbook.output[-3000:]
    job = awx_job(tmp_path, "playbooks/db_restore.yml", {"deploy_db_restore_backup": "no-such-dump"})
    assert (job.status, job.rc) == ("failed", 2), job.stdout[-3000:]
    assert {result["outcome"] for result in job.hosts.values()} == {"aborted"}
    assert "there is no dump no-such-dump on web1, web2" in " ".join(job.hosts["web1"]["message"].split())
    for host in fleet.hosts:
        assert fleet.health(host)[0] == 200
    assert deployctl("db", "restore", ENV, "--backup", restored.dump_before_v3).rc == 5, "no terminal, no --yes"

    # A restore that fails: the database as it was, the live release started again (exit 1).
    broken = json.dumps({"deploy_db_restore_command": ["/usr/bin/no-such-pg_restore", "{file}"]})
    failed = deployctl("db", "restore", ENV, "--backup", restored.dump_before_v3, "--yes", "-e", broken, "--json")
    assert failed.rc == 1, failed.out + failed.err
    for host, result in failed.hosts.items():
        assert (result["outcome"], result["stage"]) == ("aborted", "restore"), result
        assert "cannot run `/usr/bin/no-such-pg_restore`: No such file or directory" in result["message"]
        assert fleet.health(host)[0] == 200 and fleet.current(host) == restored.v2_release
    assert fleet.schema_migrations("web1") == restored.v2_schema

    psql(fleet, "INSERT INTO notes (body, title, created_at, updated_at) VALUES ('between', 't', now(), now())")
    run = deployctl("db", "restore", ENV, "--backup", restored.dump_before_v3, "--yes", "--json")

    assert run.rc == 0, run.out + run.err
    for host, result in run.hosts.items():
        assert (result["outcome"], result["backup"], result["restored_on"]) == (
            "restored", restored.dump_before_v3, "web1",
        )  # fmt: skip
        assert fleet.current(host) == restored.v2_release, "the live release stays"
        assert fleet.health(host)[0] == 200
        assert [note["body"] for note in notes(fleet, host)][-1] == "kept", "what was written after the dump is gone"
    assert "rows written since then are gone" in run.hosts["web1"]["warning"]
