#!/usr/bin/python
# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dump the app's database before a release's migrations, or restore such a dump."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: db_backup
short_description: Dump the app's database before a release's migrations, or restore such a dump
description:
  - O(state=restored) restores the dump at O(path) with O(restore_command) (by default C(pg_restore --clean
    --if-exists --single-transaction) into the same database), with the same connection handling; a failed
    restore leaves the database as it was. The app must be stopped first (the rollback does it).
  - Measures the database (O(size_command)) and refuses when it does not fit in the free space of
    O(backup_dir) with O(headroom_mb) to spare, then runs O(command), whose stdout becomes
    C(BACKUP_DIR/RELEASE_ID.dump) (mode 0600, root). A failed dump leaves no file behind. What the dump holds
    (database, schema version, size, seconds, when) is written beside it to C(BACKUP_DIR/RELEASE_ID.json) (0600).
  - The connection goes to the commands as libpq's C(PGHOST), C(PGPORT), C(PGDATABASE), C(PGUSER)
    and a 0600 C(PGPASSFILE) in C(DEPLOY_TO/.deployctl) removed afterwards; the password is never in
    an argv or the environment.
  - The dump is recorded with the release (C(backup) in its state) and in the journal; older dumps
    beyond O(keep) are removed.
version_added: 0.1.0
author: deployctl contributors
extends_documentation_fragment:
  - deployctl.core.deploy
  - deployctl.core.deploy.journal
options:
  state:
    description:
      - V(dumped) takes a dump; V(restored) restores O(path); V(query) lists the dumps in O(backup_dir) (read-only,
        needs no O(connection)).
    type: str
    choices: [dumped, restored, query]
    default: dumped
  release_id:
    description:
      - The release whose migrations the dump precedes; it names the file (O(state=dumped)), or the release the
        restore is for (journal). Required unless O(state=query).
    type: str
  path:
    description: The dump to restore, for O(state=restored).
    type: path
  restore_command:
    description: The restore command (argv, run as root); C({file}) and C({database}) are filled in.
    type: list
    elements: str
    default:
      - pg_restore
      - --clean
      - --if-exists
      - --single-transaction
      - --no-owner
      - --no-privileges
      - "--dbname={database}"
      - "{file}"
  connection:
    description:
      - The database, as O(connection.url) or as its parts. Required unless O(state=query).
    type: dict
    suboptions:
      url:
        description: V(postgres://user:password@host:port/database), URL-encoded (no_log).
        type: str
      adapter:
        description: As in Rails' C(database.yml); anything but V(postgresql) or V(postgis) is refused.
        type: str
      host:
        description: The database server.
        type: str
      port:
        description: Its port (5432 when omitted).
        type: int
      database:
        description: The database's name.
        type: str
      name:
        description: Same as O(connection.database) (the key of a C(deploy_config) database mapping).
        type: str
      username:
        description: The role to connect as.
        type: str
      user:
        description: Same as O(connection.username).
        type: str
      password:
        description: Its password (no_log).
        type: str
  command:
    description: The dump command (argv, run as root); it writes the dump to its stdout.
    type: list
    elements: str
    default: [pg_dump, --format=custom, --no-owner, --no-privileges]
  size_command:
    description: Prints the database's size in bytes; empty skips the free space check.
    type: list
    elements: str
    default: [psql, -XAtq, -c, SELECT pg_database_size(current_database())]
  schema_command:
    description:
      - Prints the schema version the database is at (the newest row of Rails' C(schema_migrations)); recorded with
        the dump, so that a restore knows which release it fits. When it prints nothing or fails (no such table),
        O(schema_version) is recorded instead. Empty skips it.
    type: list
    elements: str
    default: [psql, -XAtq, -c, SELECT max(version) FROM schema_migrations]
  backup_dir:
    description:
      - Where dumps are kept (created mode 0700, root; not a symbolic link), by default C(DEPLOY_TO/shared/backups).
    type: path
  shared_paths:
    description:
      - Paths under C(DEPLOY_TO/shared) (for example V(storage), Active Storage's uploads on disk) archived with the
        dump into C(BACKUP_DIR/RELEASE_ID.shared.tar.gz) (0600), on the host that takes it. A path that is not there is
        refused before the dump. Restoring it is by hand (C(tar -xzf ARCHIVE -C DEPLOY_TO/shared)).
    type: list
    elements: str
    default: []
  keep:
    description: How many dumps to keep (the newest, with their records and archives).
    type: int
    default: 5
  headroom_mb:
    description: MiB that must stay free besides the database's size.
    type: int
    default: 64
  timeout:
    description: Seconds after which the dump is killed.
    type: int
    default: 3600
  schema_version:
    description: The schema version the releases say the database is at, recorded when O(schema_command) tells nothing.
    type: str
attributes:
  check_mode:
    support: full
    details: Nothing runs; the result names the file that would be written.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Dump the database before the migrations
  deployctl.core.db_backup:
    deploy_to: /srv/shop
    release_id: 20261126T145204Z
    connection:
      url: "{{ vault_database_url }}"
    schema_version: "20240201000000"
"""

RETURN = r"""
backup:
  description:
    - The dump, with C(path), C(size) (bytes), C(seconds), C(database), C(schema_version), C(created) (epoch
      seconds) and, with O(shared_paths), C(archive) (C(path), C(size), C(paths)).
  returned: success, state is dumped
  type: dict
removed:
  description: Older dumps removed (beyond O(keep)).
  returned: success, state is dumped
  type: list
  elements: str
backups:
  description:
    - With O(state=query), the dumps newest first, each with C(name) (the release ID it precedes), C(path),
      C(size) (bytes), C(created) (epoch seconds), C(age_seconds), and C(database), C(schema_version) and
      C(seconds) (how long the dump took) from its record, null when it has none.
  returned: success, state is query
  type: list
  elements: dict
backup_dir:
  description: With O(state=query), the directory listed.
  returned: success, state is query
  type: str
restored:
  description: With O(state=restored), the dump restored (C(path)) and how long it took (C(seconds)).
  returned: success, state is restored
  type: dict
stage:
  description: V(backup) (or V(restore) with O(state=restored)) on failure.
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deployctl.core.plugins.module_utils._db_backup import (
    SUFFIX,
    Connection,
    listing,
    passfile,
    restore,
)
from ansible_collections.deployctl.core.plugins.module_utils._db_dump import DUMP_OPTIONS, backup_dir_of, take
from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._lock import holder_user
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore


def restore_dump(module: AnsibleModule, layout: Layout) -> None:
    """state=restored: the dump at `path` back into the database; exits the module."""
    params = module.params
    path = params["path"]
    try:
        connection = Connection.parse(params["connection"])
        if module.check_mode:
            module.exit_json(changed=True, msg=f"would restore {path} into {connection.database}")
        with passfile(layout.meta, connection) as pgpass:
            seconds = restore(params["restore_command"], connection.environment(pgpass), path, connection.database,
                              params["timeout"])  # fmt: skip
        ReleaseStore(layout, params["host_label"]).journal(
            "db_restored", params["release_id"], path=path, seconds=seconds, by=holder_user(layout)
        )
    except DeployError as err:
        module.fail_json(msg=f"restore: {err.msg}", input_error=err.input_error, **{"stage": "restore", **err.details})
    except OSError as err:
        module.fail_json(msg=f"restore: {err}", stage="restore")
    module.exit_json(changed=True, restored={"path": path, "seconds": seconds})


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "deploy_to": {"type": "path", "required": True},
            "state": {"type": "str", "default": "dumped", "choices": ["dumped", "restored", "query"]},
            "release_id": {"type": "str"},
            "path": {"type": "path"},
            "restore_command": {
                "type": "list",
                "elements": "str",
                "default": [
                    "pg_restore",
                    "--clean",
                    "--if-exists",
                    "--single-transaction",
                    "--no-owner",
                    "--no-privileges",
                    "--dbname={database}",
                    "{file}",
                ],
            },
            **DUMP_OPTIONS,
            "host_label": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
        required_if=[
            ("state", "dumped", ["release_id", "connection"]),
            ("state", "restored", ["release_id", "connection", "path"]),
        ],
    )
    params = module.params
    layout = Layout(params["deploy_to"])
    release_id = params["release_id"]
    backup_dir = backup_dir_of(layout, params)
    if params["state"] == "query":
        # Read-only, and no connection: listing needs neither the database nor its password.
        module.exit_json(changed=False, backup_dir=backup_dir, backups=listing(backup_dir))
    if params["state"] == "restored":
        restore_dump(module, layout)
    try:
        connection = Connection.parse(params["connection"])
        if module.check_mode:
            module.exit_json(changed=True, msg=f"would dump {connection.database} to {backup_dir}/{release_id}{SUFFIX}")
        taken = take(layout, release_id, params, params["host_label"])
    except DeployError as err:
        module.fail_json(msg=f"backup: {err.msg}", input_error=err.input_error, **{"stage": "backup", **err.details})
    except OSError as err:
        module.fail_json(msg=f"backup: {err}", stage="backup")
    module.exit_json(changed=True, **taken)


if __name__ == "__main__":
    main()
