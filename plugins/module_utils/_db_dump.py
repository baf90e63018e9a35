# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dump before a release's migrations as one step, for three callers: db_backup (state=dumped),
release_command (its `backup` option: the dump and the migrations in one call on the host,
one round trip and one module payload less per deploy) and release state=staged (its `migrate` option's
`backup`: a one-host batch's whole deploy in one call).

DUMP_OPTIONS is the argument spec of the step's options (db_backup's top-level options,
release_command's `backup` suboptions); take() does it, take_stage() as a deploy's stage backup.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Mapping
from typing import Any

from ansible_collections.deployctl.core.plugins.module_utils._db_backup import (
    Connection,
    archive,
    check_room,
    check_shared_paths,
    database_schema,
    database_size,
    dump,
    passfile,
    prune,
    write_meta,
)
from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore

DUMP_OPTIONS: dict[str, dict[str, Any]] = {
    # Only the secrets are no_log: a whole no_log dict would censor the database's
    # name wherever it appears (paths, messages).
    "connection": {
        "type": "dict",
        "options": {
            "url": {"type": "str", "no_log": True},
            "adapter": {"type": "str"},
            "host": {"type": "str"},
            "port": {"type": "int"},
            "database": {"type": "str"},
            "name": {"type": "str"},
            "username": {"type": "str"},
            "user": {"type": "str"},
            "password": {"type": "str", "no_log": True},
        },
    },
    "command": {
        "type": "list",
        "elements": "str",
        "default": ["pg_dump", "--format=custom", "--no-owner", "--no-privileges"],
    },
    "size_command": {
        "type": "list",
        "elements": "str",
        "default": ["psql", "-XAtq", "-c", "SELECT pg_database_size(current_database())"],
    },
    "schema_command": {
        "type": "list",
        "elements": "str",
        "default": ["psql", "-XAtq", "-c", "SELECT max(version) FROM schema_migrations"],
    },
    "backup_dir": {"type": "path"},
    "shared_paths": {"type": "list", "elements": "str", "default": []},
    "keep": {"type": "int", "default": 5},
    "headroom_mb": {"type": "int", "default": 64},
    "timeout": {"type": "int", "default": 3600},
    "schema_version": {"type": "str"},
}


def backup_dir_of(layout: Layout, options: Mapping[str, Any]) -> str:
    """Where the dumps are kept: options' backup_dir, else DEPLOY_TO/shared/backups."""
    return options.get("backup_dir") or os.path.join(layout.shared, "backups")


def backup_directory(path: str) -> None:
    """Create `path` (0700, root) or make it so; refuse a symbolic link (shared/ belongs to the app user)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        os.mkdir(path, 0o700)
        info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise DeployError(
            f"{path} is not a directory (a symbolic link is refused): remove it or set deploy_db_backup_dir",
            stage="backup",
        )
    os.chown(path, 0, 0)
    os.chmod(path, 0o700)


def take(layout: Layout, release_id: str, options: Mapping[str, Any], host_label: str) -> dict[str, Any]:
    """Dump the database before `release_id`'s migrations, as db_backup state=dumped does.

    options: DUMP_OPTIONS' values. Checks the shared paths to archive, the backup directory and
    the free space (the database's size plus headroom_mb MiB), dumps, writes the record beside
    the dump, archives the shared paths, removes dumps beyond `keep`, records the dump with the
    release and in the journal. Returns {"backup": the record, "removed": [paths]}. Raises
    DeployError (its message without a stage prefix; InputError for a connection it cannot use)
    and OSError.
    """
    connection = Connection.parse(options["connection"])
    backup_dir = backup_dir_of(layout, options)
    check_shared_paths(layout.shared, options["shared_paths"])
    backup_directory(backup_dir)
    with passfile(layout.meta, connection) as pgpass:
        env = connection.environment(pgpass)
        size = database_size(options["size_command"], env, timeout=60)
        check_room(size, backup_dir, options["headroom_mb"], connection.database)
        schema = database_schema(options["schema_command"], env, timeout=60) or options["schema_version"]
        made = dump(options["command"], env, backup_dir, release_id, options["timeout"], connection.database)
    record = write_meta(made, schema, archive(layout.shared, options["shared_paths"], backup_dir, release_id))
    removed = prune(backup_dir, options["keep"])
    store = ReleaseStore(layout, host_label)
    if store.get(release_id):
        store.update(release_id, backup=record)
    store.journal("backup", release_id, path=made.path, size=made.size, seconds=made.seconds)
    return {"backup": record, "removed": removed}


def take_stage(layout: Layout, release_id: str, options: Mapping[str, Any], host_label: str) -> dict[str, Any]:
    """take() as a deploy's stage backup, before its migrations: the record with `removed` and `elapsed` (seconds of
    the whole step: checks, size, schema, dump, record, prune; the record's `seconds` is the dump command's alone).
    Raises DeployError "backup: ..." with stage backup (and input_error for a connection it cannot use)."""
    started = time.monotonic()
    try:
        taken = take(layout, release_id, options, host_label)
    except DeployError as err:
        raise DeployError(f"backup: {err.msg}", err.input_error, **{"stage": "backup", **err.details}) from err
    except OSError as err:
        raise DeployError(f"backup: {err}", stage="backup") from err
    return {**taken["backup"], "removed": taken["removed"], "elapsed": round(time.monotonic() - started, 2)}
