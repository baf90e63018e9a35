# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A database dump taken before a release's migrations, so that a rollback can restore it.

The connection comes from the app's configuration (a DATABASE_URL, or host, port, database,
user and password). The password reaches the client only through a 0600 PGPASSFILE in
DEPLOY_TO/.deployctl (root only), removed when the dump is done: never argv, never the
environment. The dump command writes to its stdout, which goes to a 0600 temporary file
in the backup directory, renamed to BACKUP_DIR/RELEASE_ID.dump once the command succeeded;
a failed or interrupted dump leaves nothing behind. Beside each dump, BACKUP_DIR/RELEASE_ID.json
(0600) records what it holds (database, schema version, size, seconds), so that a dump can be
listed and matched to a release after the release itself was cleaned up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import tarfile
import tempfile
import time
import urllib.parse
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError, InputError
from ansible_collections.deployctl.core.plugins.module_utils._files import free_mib
from ansible_collections.deployctl.core.plugins.module_utils._runas import SAFE_PATH

SUFFIX = ".dump"
META_SUFFIX = ".json"
ARCHIVE_SUFFIX = ".shared.tar.gz"
MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Connection:
    host: str
    port: str
    database: str
    user: str
    password: str

    @classmethod
    def parse(cls, given: Mapping[str, object]) -> Connection:
        """From {url} (postgres://user:password@host:port/database, URL-encoded) or from
        {host, port, database (or name), username (or user), password} (and an adapter, when
        given, of PostgreSQL). Raises InputError naming what is missing (never a value)."""
        adapter = str(given.get("adapter") or "postgresql")
        if adapter not in ("postgresql", "postgis"):
            raise InputError(
                f"deploy_db_backup_connection: adapter {adapter!r} is not PostgreSQL: set deploy_db_backup_command "
                "and deploy_db_backup_size_command for your database, or deploy_db_backup: false"
            )
        url = str(given.get("url") or "")
        if url:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("postgres", "postgresql"):
                raise InputError(
                    f"deploy_db_backup_connection: a {parts.scheme or 'scheme-less'} URL is not PostgreSQL"
                )
            values = {
                "host": parts.hostname or "",
                "port": str(parts.port or 5432),
                "database": urllib.parse.unquote(parts.path.lstrip("/")),
                "user": urllib.parse.unquote(parts.username or ""),
                "password": urllib.parse.unquote(parts.password or ""),
            }
        else:
            values = {
                "host": str(given.get("host") or ""),
                "port": str(given.get("port") or 5432),
                "database": str(given.get("database") or given.get("name") or ""),
                "user": str(given.get("username") or given.get("user") or ""),
                "password": str(given.get("password") or ""),
            }
        missing = [name for name in ("host", "database", "user") if not values[name]]
        if missing:
            raise InputError(
                f"deploy_db_backup_connection gives no {', '.join(missing)}: give a DATABASE_URL "
                "(deploy_secret_environment) or a database mapping with host, port, database, username "
                "and password, or set deploy_db_backup: false"
            )
        return cls(**values)

    def environment(self, passfile: str) -> dict[str, str]:
        """libpq's environment for the client: everything but the password, which is in `passfile`."""
        return {
            "PGHOST": self.host,
            "PGPORT": self.port,
            "PGDATABASE": self.database,
            "PGUSER": self.user,
            "PGPASSFILE": passfile,
            "PGCONNECT_TIMEOUT": "10",
            "PATH": SAFE_PATH,
            "LANG": "C.UTF-8",
        }

    def passfile_line(self) -> str:
        def escape(value: str) -> str:
            return value.replace("\\", "\\\\").replace(":", "\\:")

        fields = (self.host, self.port, self.database, self.user, self.password)
        return ":".join(escape(field) for field in fields) + "\n"


@contextlib.contextmanager
def passfile(directory: str, connection: Connection) -> Iterator[str]:
    """A 0600 PGPASSFILE in `directory` for the time of the block, then removed. Raises OSError."""
    fd, path = tempfile.mkstemp(dir=directory, prefix=".pgpass-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(connection.passfile_line())
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def last_lines(text: str, count: int = 15) -> list[str]:
    return list(deque(text.splitlines(), maxlen=count))


def run_client(
    argv: list[str], env: dict[str, str], timeout: float, stage: str, install: str, **streams: Any
) -> subprocess.CompletedProcess:
    """Run a database client; raise DeployError (at `stage`) when it is missing (`install` says how to
    get it) or runs past `timeout` seconds. Its exit status is the caller's to judge."""
    try:
        return subprocess.run(argv, env=env, timeout=timeout, check=False, **streams)
    except FileNotFoundError as err:
        raise DeployError(
            f"cannot run `{argv[0]}`: {err.strerror}. Install it on the host {install}", stage=stage
        ) from err
    except subprocess.TimeoutExpired as err:
        raise DeployError(f"`{argv[0]}` was killed at its timeout of {timeout:.0f}s", stage=stage) from err


@dataclasses.dataclass
class Backup:
    """One dump: where, how big (bytes), how long (seconds)."""

    path: str
    size: int
    seconds: float
    database: str


def database_size(command: list[str], env: dict[str, str], timeout: float) -> int | None:
    """Bytes the database holds, from `command` (prints an integer); None when no command is given.

    Raises DeployError when it fails (a wrong password shows here first) or prints no number.
    """
    if not command:
        return None
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise DeployError(f"cannot run `{command[0]}` to measure the database: {err}", stage="backup") from err
    if proc.returncode != 0:
        raise DeployError(
            f"`{' '.join(command[:2])} ...` could not read the database's size (exit {proc.returncode}):\n"
            + "\n".join(last_lines(proc.stderr)),
            stage="backup",
        )
    try:
        return int(proc.stdout.strip())
    except ValueError:
        raise DeployError(f"`{command[0]}` printed no size: {proc.stdout.strip()[:200]!r}", stage="backup") from None


def dump(command: list[str], env: dict[str, str], backup_dir: str, name: str, timeout: float, database: str) -> Backup:
    """Run `command`, its stdout into BACKUP_DIR/NAME.dump (0600); nothing is left on failure.

    Raises DeployError (stage backup) with the command's last lines of stderr when it cannot
    start, fails, or runs past `timeout` seconds.
    """
    final = os.path.join(backup_dir, name + SUFFIX)
    fd, partial = tempfile.mkstemp(dir=backup_dir, prefix=f".{name}-", suffix=".partial")
    started = time.monotonic()
    try:
        with os.fdopen(fd, "wb") as out:
            proc = run_client(
                command,
                env,
                timeout,
                "backup",
                "(PostgreSQL's client: postgresql-client) or set deploy_db_backup_command",
                stdout=out,
                stderr=subprocess.PIPE,
            )
            if proc.returncode != 0:
                stderr = proc.stderr.decode(errors="replace")
                raise DeployError(
                    f"`{command[0]}` exited {proc.returncode}:\n" + "\n".join(last_lines(stderr)), stage="backup"
                )
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    return Backup(final, os.path.getsize(final), round(time.monotonic() - started, 2), database)


def database_schema(command: list[str], env: dict[str, str], timeout: float) -> str | None:
    """The schema version the database is at, from `command` (Rails' schema_migrations by default).

    None when no command is given, or it fails (no such table yet) or prints nothing: the
    caller then records what the releases say. Never raises.
    """
    if not command:
        return None
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def check_room(size: int | None, backup_dir: str, headroom_mb: int, database: str) -> None:
    """Refuse when the database (`size` bytes) and `headroom_mb` do not fit in the free space. Raises DeployError."""
    if size is None:
        return
    free = free_mib(backup_dir)
    wanted = -(-size // MIB) + headroom_mb
    if wanted > free:
        raise DeployError(
            f"database {database} holds {-(-size // MIB)} MiB and only {free} MiB are free in {backup_dir} "
            f"(with deploy_db_backup_headroom_mb {headroom_mb}): free some space, move deploy_db_backup_dir, "
            "or set deploy_db_backup: false for this deploy",
            stage="backup",
        )


def check_shared_paths(shared: str, paths: list[str]) -> None:
    """Raise InputError (stage backup) for a path of `paths` outside `shared` or not there: checked before the dump."""
    for path in paths:
        full = os.path.normpath(os.path.join(shared, path))
        if os.path.isabs(path) or not full.startswith(shared.rstrip("/") + "/"):
            raise InputError(f"deploy_db_backup_shared_paths: {path!r} is not a path inside {shared}", stage="backup")
        if not os.path.lexists(full):
            raise InputError(
                f"deploy_db_backup_shared_paths: {full} is not there: create it or remove it from the list",
                stage="backup",
            )


def archive(shared: str, paths: list[str], backup_dir: str, name: str) -> dict[str, Any] | None:
    """Archive `paths` (relative to `shared`, e.g. storage; see check_shared_paths) into
    BACKUP_DIR/NAME.shared.tar.gz (0600, written whole then renamed); None when `paths` is empty.
    Returns {path, size (bytes), paths}. Raises OSError when it cannot be written (nothing is left)."""
    if not paths:
        return None
    final = os.path.join(backup_dir, name + ARCHIVE_SUFFIX)
    fd, partial = tempfile.mkstemp(dir=backup_dir, prefix=f".{name}-", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w:gz") as tar:
            for path in paths:
                tar.add(os.path.join(shared, path), arcname=os.path.normpath(path))
        os.replace(partial, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    return {"path": final, "size": os.path.getsize(final), "paths": paths}


def write_meta(backup: Backup, schema_version: str | None, archived: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record what the dump holds beside it (NAME.json, 0600, written whole then renamed); returns the record."""
    record = {**dataclasses.asdict(backup), "schema_version": schema_version, "created": time.time()}
    if archived:
        record["archive"] = archived
    meta = backup.path[: -len(SUFFIX)] + META_SUFFIX
    fd, partial = tempfile.mkstemp(dir=os.path.dirname(meta), prefix=".meta-", suffix=".partial")
    with os.fdopen(fd, "w") as out:
        json.dump(record, out)
    os.replace(partial, meta)
    return record


def listing(backup_dir: str, now: float | None = None) -> list[dict[str, Any]]:
    """The dumps in `backup_dir`, newest first: name (the release they precede), path, size (bytes),
    created (epoch seconds, from the record, else the file's mtime), age_seconds, and database,
    schema_version, seconds and archive (the shared paths' archive) as recorded (None for a dump without
    its record). No directory: []."""
    try:
        names = os.listdir(backup_dir)
    except FileNotFoundError:
        return []
    now = time.time() if now is None else now
    found = []
    for name in sorted((n for n in names if n.endswith(SUFFIX) and not n.startswith(".")), reverse=True):
        path = os.path.join(backup_dir, name)
        release = name[: -len(SUFFIX)]
        try:
            with open(os.path.join(backup_dir, release + META_SUFFIX)) as meta:
                record = json.load(meta)
        except (OSError, ValueError):
            record = {}
        info = os.stat(path)
        created = float(record.get("created") or info.st_mtime)
        found.append(
            {
                "name": release,
                "release": release,
                "path": path,
                "size": info.st_size,
                "created": created,
                "age_seconds": max(round(now - created), 0),
                "database": record.get("database"),
                "schema_version": record.get("schema_version"),
                "seconds": record.get("seconds"),
                "archive": record.get("archive"),
            }
        )
    return found


def prune(backup_dir: str, keep: int) -> list[str]:
    """Remove all but the newest `keep` dumps (names are release IDs: UTC times) and their records;
    return the removed dumps' paths."""
    dumps = sorted(name for name in os.listdir(backup_dir) if name.endswith(SUFFIX) and not name.startswith("."))
    doomed = [os.path.join(backup_dir, name) for name in dumps[: max(len(dumps) - max(keep, 1), 0)]]
    for path in doomed:
        os.unlink(path)
        for suffix in (META_SUFFIX, ARCHIVE_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path[: -len(SUFFIX)] + suffix)
    return doomed


def restore(command: list[str], env: dict[str, str], path: str, database: str, timeout: float) -> float:
    """Restore the dump at `path` with `command`, whose `{file}` and `{database}` are filled in; the seconds it took.

    Raises DeployError (stage restore) when the dump is missing, or the command cannot start,
    fails or runs past `timeout` seconds (pg_restore --single-transaction then leaves the
    database as it was).
    """
    if not os.path.isfile(path):
        raise DeployError(f"the dump {path} is not there (removed by hand, or kept on another host)", stage="restore")
    argv = [arg.replace("{file}", path).replace("{database}", database) for arg in command]
    started = time.monotonic()
    proc = run_client(
        argv,
        env,
        timeout,
        "restore",
        "(postgresql-client) or set deploy_db_restore_command",
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise DeployError(
            f"`{argv[0]}` exited {proc.returncode}; the database is as it was (one transaction):\n"
            + "\n".join(last_lines(proc.stderr)),
            stage="restore",
        )
    return round(time.monotonic() - started, 2)
