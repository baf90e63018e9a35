# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""release state=staged: from a ref of the repository to DEPLOY_TO/releases/.staging-ID.

The input is checked before the host is touched; then the mirror is updated, the ref
resolved, and the commit exported into the staging directory with its shared links,
its config file, its REVISION file and its recorded service unit. Nothing is staged
when the same commit with the same config (and unit) is already live.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from ansible_collections.deployctl.core.plugins.module_utils._allowed_refs import is_allowed, refusal
from ansible_collections.deployctl.core.plugins.module_utils._app_user import ensure_app_user
from ansible_collections.deployctl.core.plugins.module_utils._config_file import (
    config_matches,
    config_owner_and_mode,
    write_config,
)
from ansible_collections.deployctl.core.plugins.module_utils._environment_file import FILE_NAME as ENVIRONMENT_FILE
from ansible_collections.deployctl.core.plugins.module_utils._environment_file import render as render_environment
from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError, InputError
from ansible_collections.deployctl.core.plugins.module_utils._files import chown_tree, free_mib
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._leftovers import discard_leftovers
from ansible_collections.deployctl.core.plugins.module_utils._logrotate import INSTALLED, ensure_rule
from ansible_collections.deployctl.core.plugins.module_utils._mirror import Mirror, MirrorError
from ansible_collections.deployctl.core.plugins.module_utils._rails import missing_master_key
from ansible_collections.deployctl.core.plugins.module_utils._release_state import (
    ACTIVE,
    BUILDING,
    ReleaseStore,
    utc_now,
)
from ansible_collections.deployctl.core.plugins.module_utils._runas import user_ids
from ansible_collections.deployctl.core.plugins.module_utils._service_unit import record_units, units_match
from ansible_collections.deployctl.core.plugins.module_utils._shared import link_shared, shared_paths

# Check mode lists at most this many of the commits a deploy brings (the newest).
PENDING_LIMIT = 50


@dataclasses.dataclass(frozen=True)
class StageRequest:
    """What state=staged is asked for: the release module's options of the same names."""

    release_id: str
    repo_url: str
    version: str
    # The commit `version` resolved to in an earlier batch of the run (None: resolve `version`).
    commit: str | None
    app_user: str
    app_user_create: bool
    repo_ssh_command: str | None
    shared_dirs: list[str]
    shared_files: list[str]
    config_path: str
    config_content: str | None
    config_owner: str
    config_mode: str
    migrations_dir: str
    deployed_by: str
    min_free_mb: int
    service_unit: str | None
    socket_unit: str | None
    logrotate_rule: str | None
    logrotate_path: str | None
    require_master_key: bool
    allowed_refs: list[str]
    secret_environment: dict | None
    secret_files: dict | None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> StageRequest:
        """The request made of the module's parameters (other keys are ignored)."""
        return cls(**{field.name: params[field.name] for field in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class SecretFile:
    """A file of the release that carries secrets, written after the release is chowned to the app user."""

    path: str  # relative to the release
    content: str | None  # None: the release has no such file
    uid: int
    gid: int
    mode: int


def secret_release_files(request: StageRequest, config_uid: int, gid: int, config_mode: int) -> list[SecretFile]:
    """The config file, the secret files (owned and moded like it) and the secret environment (0600 root).

    A release is the same as the live one only when each of these matches. Raises InputError
    for a secret file path that is absolute or leaves the release, or a secret environment
    variable name that is not one.
    """
    files = [SecretFile(request.config_path, request.config_content, config_uid, gid, config_mode)]
    for path, content in sorted((request.secret_files or {}).items()):
        if os.path.isabs(path) or ".." in path.split("/") or not path.strip("/"):
            raise InputError(
                f"deploy_secret_files: {path!r} must be a path inside the release, such as config/master.key"
            )
        files.append(SecretFile(path, str(content), config_uid, gid, config_mode))
    environment = render_environment(request.secret_environment) if request.secret_environment else None
    files.append(SecretFile(ENVIRONMENT_FILE, environment, 0, 0, 0o600))
    return files


class Staging:
    """One state=staged call; `created` tells, also after a failure, whether it created the release.

    created: this call created the staging directory and the record of the release, so
    there is a release of this run to mark failed if the deploy fails.
    user_created: this call created the app user (app_user_create); "would" in check mode.
    """

    def __init__(self, request: StageRequest, layout: Layout, store: ReleaseStore, check: bool) -> None:
        self.request = request
        self.layout = layout
        self.store = store
        self.check = check
        self.created = False
        self.user_created: bool | str = False
        self.live_commit: str | None = None
        self.pending: dict = {}

    def run(self) -> dict:
        """Stage the release (in check mode, only say what would be staged); return the module's result.

        With app_user_create, the app user is created first when the host lacks it.

        Raises InputError (UnknownUser among them) for input the user can fix, found
        before anything on the host changed; DeployError for a repository that cannot
        be fetched, a commit that cannot be exported or a user that cannot be created
        (then with the detail `stage` setup, as for an invalid user name); OSError and
        ValueError (a damaged release record) for anything else.
        """
        request, layout = self.request, self.layout
        if request.app_user_create:
            self.user_created = ensure_app_user(request.app_user, self.check)
        # Everything the user can get wrong and that needs no fetch is checked before the
        # host is touched (no layout, no staging directory, no record): such a failure
        # means "bad input, nothing changed".
        if self.user_created == "would":
            uid = gid = -1  # check mode: the user does not exist yet, and nothing is chowned
        else:
            uid, gid, _home = user_ids(request.app_user)
        # Secret files are owned and moded like the config file, also when there is no config file.
        config_uid, config_mode = config_owner_and_mode(
            request.config_content if not request.secret_files else request.config_content or "",
            request.config_owner,
            request.config_mode,
        )
        secrets = secret_release_files(request, config_uid, gid, config_mode)
        shared = shared_paths(layout.shared, request.shared_dirs, request.shared_files)
        mirror = Mirror(layout.repo, request.repo_url, request.repo_ssh_command)
        current_id = layout.current_release()
        current = self.store.get(current_id)
        result: dict = {
            "release_id": request.release_id,
            "previous": current_id,
            "changed": bool(self.user_created),
            "created": False,
            "user_created": self.user_created,
        }
        result["free_mb"] = self._check_free_space()

        self.live_commit = (current or {}).get("commit")
        commit, names = self._resolve(mirror, uid, gid)
        result.update(self.pending)
        migrations = sorted(n.split("_", 1)[0] for n in names if n.split("_", 1)[0].isdigit())
        applied = (current or {}).get("migrations", [])
        result.update(
            commit=commit,
            migrations=migrations,
            pending_migrations=[m for m in migrations if m not in applied],
        )

        if request.logrotate_rule is not None and request.logrotate_path:
            result["logrotate"] = ensure_rule(request.logrotate_path, request.logrotate_rule, self.check)
            result["changed"] = result["changed"] or result["logrotate"] == INSTALLED
        discard_leftovers(layout, self.store, self.check, result)
        if (
            current_id
            and current
            and current.get("state") == ACTIVE
            and current.get("commit") == commit
            and all(config_matches(layout.release(current_id), file.path, file.content) for file in secrets)
            and units_match(layout, current_id, request.service_unit, request.socket_unit)
        ):
            result.update(already_live=True, release_id=current_id, path=layout.release(current_id))
            return result

        staging = layout.staging(request.release_id)
        # An older ref: the database keeps the live release's newer schema, which this code has never run on.
        # Said as a warning (no guard refuses it: rollback is the way back across a schema change).
        schema_ahead = [m for m in applied if m not in migrations]
        result.update(already_live=False, changed=True, path=staging, schema_ahead=schema_ahead)
        if os.path.lexists(layout.release(request.release_id)):
            raise InputError(
                f"release {request.release_id} already exists in {layout.releases}: pass a new deploy_release_id"
            )
        if self.check:
            return result

        self._create(mirror, staging, commit, migrations)
        result["created"] = True
        link_shared(staging, layout.shared, shared, uid, gid)
        chown_tree(staging, uid, gid)
        for file in secrets:
            write_config(staging, file.path, file.content, file.uid, file.gid, file.mode)
        self.store.journal("staged", request.release_id, commit=commit, ref=request.version, by=request.deployed_by)
        return result

    def _pending(self, mirror: Mirror, commit: str) -> dict:
        """Check mode (Capistrano's deploy:pending): the commits a deploy of `commit` brings over the live one,
        and how many of the live one's it leaves out; {} when the live commit is not in the mirror."""
        live = self.live_commit
        if live and not mirror.has_commit(live):
            return {}
        commits, behind = mirror.log(live, commit, PENDING_LIMIT)
        return {"commits": commits, "commits_behind": behind, "live_commit": live}

    def _check_free_space(self) -> int:
        """MiB free under DEPLOY_TO; raises InputError when fewer than min_free_mb."""
        free_mb = free_mib(self.layout.root)
        wanted = self.request.min_free_mb
        if free_mb < wanted:
            raise InputError(
                f"only {free_mb} MiB free under {self.layout.root} (deploy_min_free_mb is {wanted}): "
                "free some space (old logs, releases) or lower deploy_min_free_mb; nothing was changed"
            )
        return free_mb

    def _resolve(self, mirror: Mirror, uid: int, gid: int) -> tuple[str, list[str]]:
        """The commit the requested version names and the file names of its migrations directory.

        Outside check mode the layout is created (DEPLOY_TO/shared owned by uid:gid) and
        the mirror brought up to date first; check mode leaves the host as it is. Raises
        DeployError for a ref the repository does not have (input_error) or a repository
        that cannot be fetched (with git's stderr and the mirror's path), InputError for a
        commit that declares git submodules or (require_master_key) a Rails app with
        credentials and no key to read them, a commit deploy_allowed_refs does not allow.
        """
        # A rolling deploy's later batches deploy the commit its first batch resolved, not the ref again.
        version, migrations_dir = self.request.commit or self.request.version, self.request.migrations_dir
        try:
            if self.check:
                with mirror.preview(version) as (scratch, commit):
                    self.pending = self._pending(scratch, commit)
                    names = scratch.list_dir(commit, migrations_dir)
                    submodules = scratch.submodules(commit)
                    holders = self._refs_allowing(scratch, commit)
                    config_names = scratch.list_dir(commit, "config") if self.request.require_master_key else []
            else:
                self.layout.ensure(uid, gid)
                mirror.update(version)
                commit = mirror.resolve(version)
                names = mirror.list_dir(commit, migrations_dir)
                submodules = mirror.submodules(commit)
                holders = self._refs_allowing(mirror, commit)
                config_names = mirror.list_dir(commit, "config") if self.request.require_master_key else []
        except MirrorError as err:
            # An unknown ref is the user's to fix; an unreachable repository is not (it may
            # be the network as well as a wrong repo_url, and the fetch may be retried).
            raise DeployError(err.msg, input_error=err.input_error, repo=self.layout.repo, **err.details) from err
        if submodules:
            raise InputError(
                f"the app uses git submodules ({', '.join(submodules)}) that a release cannot include: "
                "deployctl exports the commit with `git archive`, which leaves submodule directories empty. "
                "Vendor the code into the repository, or make it a dependency that the build installs "
                "(a gem, for example), and deploy a commit without .gitmodules",
                commit=commit,
                submodules=submodules,
            )
        request = self.request
        if holders is not None:
            raise InputError(refusal(request.version, commit, holders, request.allowed_refs), commit=commit)
        missing = missing_master_key(
            config_names,
            request.secret_environment or {},
            request.secret_files or {},
            request.shared_files,
            request.service_unit,
        )
        if missing:
            raise InputError(missing, commit=commit)
        return commit, names

    def _refs_allowing(self, mirror: Mirror, commit: str) -> list[str] | None:
        """None when deploy_allowed_refs lets `commit` be deployed; else the refs that hold it.

        A refusal is checked again after fetching every ref: a commit already in the mirror
        is not fetched, so its branches may be older than the remote's (and check mode's
        scratch repository holds only the ref asked for). Raises MirrorError.
        """
        patterns, version = self.request.allowed_refs, self.request.version
        if not patterns or is_allowed(version, [], patterns):
            return None
        holders = mirror.refs_containing(commit)
        if not is_allowed(version, holders, patterns):
            mirror.fetch_all()
            holders = mirror.refs_containing(commit)
        return None if is_allowed(version, holders, patterns) else holders

    def _create(self, mirror: Mirror, staging: str, commit: str, migrations: list[str]) -> None:
        """Create the staging directory and the release's record, export `commit` into it.

        Sets `created` as soon as the directory exists. Raises OSError, or MirrorError
        when the export fails; the staging directory and the record stay then (the deploy
        marks the release failed).
        """
        request = self.request
        os.mkdir(staging, 0o755)
        self.created = True
        self.store.put(
            {
                "id": request.release_id,
                "state": BUILDING,
                "commit": commit,
                "ref": request.version,
                "created_at": utc_now(),
                "deployed_by": request.deployed_by,
                "migrations": migrations,
            }
        )
        if request.service_unit is not None:
            # Recorded with the release, so that switching to it (deploy, revert, rollback)
            # installs the units it was deployed with.
            record_units(self.layout, request.release_id, request.service_unit, request.socket_unit)
        mirror.export(commit, staging)
        with open(os.path.join(staging, "REVISION"), "w", encoding="utf-8") as handle:
            handle.write(commit + "\n")
