#!/usr/bin/python
# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Create, publish, switch, list and prune releases of one application on a host."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release
short_description: Manage the releases of an application under one deploy directory
description:
  - Keeps the deployctl host layout under O(deploy_to) (C(repo/), C(releases/), C(shared/),
    C(current), C(.deployctl/)) and the recorded state of every release.
  - O(state=staged) updates the cached bare mirror, resolves O(version) to a commit, exports
    it into a staging directory, links the shared directories and files, writes the
    configuration file and the C(REVISION) file. It does nothing when the same commit with
    the same configuration is already live.
  - O(state=built) publishes the staging directory as C(releases/ID).
  - O(state=active) switches C(current) to the release atomically (a new link renamed over
    the old one), recording the previous release.
  - O(state=failed) records a release as failed, keeping its directory for inspection, and
    removes older failed releases.
  - O(state=query) lists the releases with their recorded state.
  - O(state=clean) keeps O(keep_releases) good releases and never removes the current
    release or the rollback target; it removes staging leftovers and older failed releases.
  - The previous release is always taken from the recorded state and C(readlink(current)),
    never from directory modification times.
version_added: 0.1.0
author: deployctl contributors
options:
  deploy_to:
    description: Root directory of the application on the host.
    type: path
    required: true
  state:
    description: What to do; see the description.
    type: str
    choices: [staged, built, active, failed, query, clean]
    required: true
  release_id:
    description: ID of the release (a UTC timestamp such as V(20261126T145204Z)).
    type: str
  repo_url:
    description: Git URL of the application. Required for O(state=staged).
    type: str
  version:
    description: Branch, tag or commit to deploy. Required for O(state=staged).
    type: str
  repo_ssh_command:
    description: Value of C(GIT_SSH_COMMAND) for fetches, for example to use a deploy key.
    type: str
  app_user:
    description: User that owns the release files and runs the application.
    type: str
  shared_dirs:
    description: Directories, relative to the release, linked to C(shared/).
    type: list
    elements: str
    default: []
  shared_files:
    description: Files, relative to the release, linked to C(shared/). They must exist in C(shared/).
    type: list
    elements: str
    default: []
  config_path:
    description: Path of the configuration file, relative to the release.
    type: str
    default: config/production.yml
  config_content:
    description:
      - Content of the configuration file. It carries secrets and is never logged or returned.
      - When omitted, no configuration file is written.
    type: str
  config_owner:
    description: Owner of the configuration file; its group is the app user's group.
    type: str
    default: root
  config_mode:
    description: Mode of the configuration file.
    type: str
    default: "0640"
  migrations_dir:
    description: Directory of migration files, relative to the release; their numeric prefixes are the versions.
    type: str
    default: db/migrate
  deployed_by:
    description: Who deploys, recorded with the release and in the journal.
    type: str
    default: unknown
  host_label:
    description: Name of the host recorded in the journal.
    type: str
    default: ""
  reason:
    description: Why the release failed, for O(state=failed).
    type: str
    default: ""
  schema_version:
    description: Database schema version after this release's migrations, recorded on O(state=active).
    type: str
  keep_releases:
    description: Number of good releases O(state=clean) keeps, the current one included.
    type: int
    default: 5
  min_free_mb:
    description: O(state=staged) refuses to start when less than this many MiB are free under O(deploy_to).
    type: int
    default: 0
  previous_state:
    description:
      - State given to the release O(state=active) switches away from. V(rolled_back) keeps it
        from being chosen as a rollback target again.
    type: str
    choices: [built, rolled_back]
    default: built
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - Needs C(git) and C(tar) on the host.
"""

EXAMPLES = r"""
- name: Stage release 20261126T145204Z of v1.4.2
  deployctl.core.release:
    deploy_to: /srv/shop
    state: staged
    release_id: 20261126T145204Z
    repo_url: https://git.example.com/shop.git
    version: v1.4.2
    app_user: shop
    shared_dirs: [log, tmp/pids, storage]
    config_content: "{{ lookup('ansible.builtin.template', 'production.yml.j2') }}"
  register: staged

- name: Switch current to it
  deployctl.core.release:
    deploy_to: /srv/shop
    state: active
    release_id: "{{ staged.release_id }}"

- name: Keep five good releases
  deployctl.core.release:
    deploy_to: /srv/shop
    state: clean
    keep_releases: 5
"""

RETURN = r"""
release_id:
  description: The release acted on (for O(state=staged), the live one when nothing was to do).
  returned: success
  type: str
  sample: 20261126T145204Z
commit:
  description: Commit the release holds.
  returned: state is staged
  type: str
  sample: 9f1c0e5d2b6a4c3e8f7a6b5c4d3e2f1a0b9c8d7e
already_live:
  description: Whether the requested commit with the same configuration is already current.
  returned: state is staged
  type: bool
path:
  description: Directory of the release (the staging directory while O(state=staged)).
  returned: state is staged or built
  type: str
previous:
  description: The release that was current before (V(null) on a first deploy).
  returned: state is staged or active
  type: str
pending_migrations:
  description: Migration versions of the release not yet applied by the current release.
  returned: state is staged
  type: list
  elements: str
migrations:
  description: All migration versions of the release.
  returned: state is staged
  type: list
  elements: str
current:
  description: The release C(current) points at.
  returned: state is query or clean
  type: str
rollback_target:
  description: The newest good release other than the current one.
  returned: state is query or clean
  type: str
releases:
  description:
    - Recorded releases, oldest first, with C(id), C(state), C(commit), C(ref), C(created_at),
      C(deployed_by), C(schema_version), C(current).
  returned: state is query
  type: list
  elements: dict
removed:
  description: Release directories removed (or that would be, in check mode).
  returned: state is clean, staged or failed
  type: list
  elements: str
killed:
  description: Commands of an interrupted deploy that were still running and were killed.
  returned: state is staged
  type: list
  elements: dict
free_mb:
  description: MiB free under O(deploy_to) before staging.
  returned: state is staged
  type: int
"""

import os
import shutil
import traceback
from typing import NoReturn

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deployctl.core.plugins.module_utils._layout import (
    STAGING_PREFIX,
    Layout,
    atomic_symlink,
    atomic_write,
    validate_release_id,
)
from ansible_collections.deployctl.core.plugins.module_utils._mirror import Mirror, MirrorError
from ansible_collections.deployctl.core.plugins.module_utils._release_state import (
    ACTIVE,
    BUILDING,
    BUILT,
    FAILED,
    GOOD_STATES,
    ReleaseStore,
    utc_now,
)
from ansible_collections.deployctl.core.plugins.module_utils._runas import UnknownUser, kill_leftovers, user_ids


class Releases:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.layout = Layout(module.params["deploy_to"])
        self.store = ReleaseStore(self.layout, module.params["host_label"])
        self.check = module.check_mode

    def fail(self, msg: str, **extra: object) -> NoReturn:
        self.module.fail_json(msg=msg, **extra)
        raise AssertionError("fail_json exits")

    # -- staged ---------------------------------------------------------------

    def staged(self) -> dict:
        params = self.params
        release_id = params["release_id"]
        uid, gid, _home = user_ids(params["app_user"])
        mirror = Mirror(self.layout.repo, params["repo_url"], params["repo_ssh_command"])
        current_id = self.layout.current_release()
        current = self.store.get(current_id)
        result: dict = {"release_id": release_id, "previous": current_id, "changed": False}
        result["free_mb"] = self._check_free_space()

        try:
            if self.check:
                commit, names = mirror.preview(params["version"], params["migrations_dir"])
            else:
                self.layout.ensure(uid, gid)
                mirror.update(params["version"])
                commit = mirror.resolve(params["version"])
                names = mirror.list_dir(commit, params["migrations_dir"])
        except MirrorError as err:
            self.fail(str(err), stderr=err.stderr, repo=self.layout.repo)

        migrations = sorted(n.split("_", 1)[0] for n in names if n.split("_", 1)[0].isdigit())
        applied = (current or {}).get("migrations", [])
        result.update(
            commit=commit,
            migrations=migrations,
            pending_migrations=[m for m in migrations if m not in applied],
        )

        self._discard_leftovers(result)
        if (
            current_id
            and current
            and current.get("state") == ACTIVE
            and current.get("commit") == commit
            and self._config_matches(current_id)
        ):
            result.update(already_live=True, release_id=current_id, path=self.layout.release(current_id))
            return result

        result.update(already_live=False, changed=True, path=self.layout.staging(release_id))
        if os.path.lexists(self.layout.release(release_id)):
            self.fail(f"release {release_id} already exists in {self.layout.releases}: pass a new deploy_release_id")
        if self.check:
            return result

        staging = self.layout.staging(release_id)
        os.mkdir(staging, 0o755)
        self.store.put(
            {
                "id": release_id,
                "state": BUILDING,
                "commit": commit,
                "ref": params["version"],
                "created_at": utc_now(),
                "deployed_by": params["deployed_by"],
                "migrations": migrations,
            }
        )
        try:
            mirror.export(commit, staging)
        except MirrorError as err:
            self.fail(str(err), stderr=err.stderr)
        with open(os.path.join(staging, "REVISION"), "w", encoding="utf-8") as handle:
            handle.write(commit + "\n")
        self._link_shared(staging, uid, gid)
        _chown_tree(staging, uid, gid)
        self._write_config(staging, gid)
        self.store.journal("staged", release_id, commit=commit, ref=params["version"], by=params["deployed_by"])
        return result

    def _discard_leftovers(self, result: dict) -> None:
        """Remove what an interrupted deploy (kill -9, dropped connection) left behind.

        The lock is held, so any staging directory is a leftover, never a release;
        its build may even still be running: kill that first.
        """
        result["removed"] = [os.path.basename(p) for p in self.layout.staging_dirs()]
        result["killed"] = []
        if self.check or not os.path.isdir(self.layout.meta):
            return
        result["killed"] = kill_leftovers(self.layout.running)
        for leftover in result["killed"]:
            self.store.journal("killed_leftover", None, argv=leftover.get("argv"), pid=leftover.get("pid"))
        for path in self.layout.staging_dirs():
            shutil.rmtree(path)
            release_id = os.path.basename(path)[len(STAGING_PREFIX) :]
            self.store.remove(release_id)
            self.store.journal("discarded_staging", release_id)
        if result["removed"] or result["killed"]:
            result["changed"] = True

    def _check_free_space(self) -> int:
        path = self.layout.root
        while not os.path.exists(path):
            path = os.path.dirname(path)
        stats = os.statvfs(path)
        free_mb = stats.f_bavail * stats.f_frsize // (1024 * 1024)
        wanted = self.params["min_free_mb"]
        if free_mb < wanted:
            self.fail(
                f"only {free_mb} MiB free under {self.layout.root} (deploy_min_free_mb is {wanted}): "
                "free some space (old logs, releases) or lower deploy_min_free_mb; nothing was changed"
            )
        return free_mb

    def _config_matches(self, release_id: str | None) -> bool:
        if not release_id:
            return False
        path = os.path.join(self.layout.release(release_id), self.params["config_path"])
        wanted = self.params["config_content"]
        try:
            with open(path, encoding="utf-8") as handle:
                return wanted is not None and handle.read() == wanted
        except FileNotFoundError:
            return wanted is None

    def _link_shared(self, staging: str, uid: int, gid: int) -> None:
        for relative, is_dir in [(d, True) for d in self.params["shared_dirs"]] + [
            (f, False) for f in self.params["shared_files"]
        ]:
            relative = relative.strip("/")
            if not relative or ".." in relative.split("/"):
                self.fail(f"shared path {relative!r} must be relative to the release, without '..'")
            source = os.path.join(self.layout.shared, relative)
            if is_dir:
                _makedirs_owned(source, uid, gid)
            elif not os.path.exists(source):
                self.fail(
                    f"shared file {relative} is missing: create {source} on the host (it is linked into every release)"
                )
            link = os.path.join(staging, relative)
            if os.path.isdir(link) and not os.path.islink(link):
                shutil.rmtree(link)
            elif os.path.lexists(link):
                os.unlink(link)
            _makedirs_owned(os.path.dirname(link), uid, gid)
            os.symlink(source, link)

    def _write_config(self, staging: str, gid: int) -> None:
        content = self.params["config_content"]
        if content is None:
            return
        path = os.path.join(staging, self.params["config_path"])
        owner_uid = user_ids(self.params["config_owner"])[0]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, content, mode=int(self.params["config_mode"], 8), uid=owner_uid, gid=gid)

    # -- built / active / failed ------------------------------------------------

    def built(self) -> dict:
        release_id = self.params["release_id"]
        staging, release = self.layout.staging(release_id), self.layout.release(release_id)
        result = {"release_id": release_id, "path": release, "changed": False}
        if os.path.isdir(release) and not os.path.exists(staging):
            return result
        if self.check:
            # Check mode stages nothing: the release would be published.
            result["changed"] = True
            return result
        if not os.path.isdir(staging):
            self.fail(f"release {release_id} has no staging directory {staging}: stage it first")
        result["changed"] = True
        if not self.check:
            os.rename(staging, release)
            self.store.update(release_id, state=BUILT, built_at=utc_now())
            self.store.journal("built", release_id)
        return result

    def active(self) -> dict:
        release_id = self.params["release_id"]
        release = self.layout.release(release_id)
        previous = self.layout.current_release()
        result = {"release_id": release_id, "previous": previous, "changed": previous != release_id}
        record = self.store.get(release_id)
        if self.check and record is None:
            # A release check mode only pretended to stage: it would be switched to.
            return result
        if not os.path.isdir(release) or record is None:
            self.fail(f"release {release_id} does not exist under {self.layout.releases}")
        assert record is not None
        if record.get("state") == FAILED:
            self.fail(
                f"release {release_id} is marked failed ({record.get('reason') or 'no reason recorded'}); "
                "refusing to switch to it"
            )
        if self.check or not result["changed"]:
            return result
        atomic_symlink(os.path.join("releases", release_id), self.layout.current)
        previous_record = self.store.get(previous)
        if previous and previous_record and previous_record.get("state") == ACTIVE:
            self.store.update(previous, state=self.params["previous_state"], deactivated_at=utc_now())
        changes: dict = {"state": ACTIVE, "activated_at": utc_now(), "previous": previous}
        if self.params["schema_version"] is not None:
            changes["schema_version"] = self.params["schema_version"]
        self.store.update(release_id, **changes)
        self.store.journal("switched", release_id, previous=previous)
        return result

    def failed(self) -> dict:
        release_id = self.params["release_id"]
        record = self.store.get(release_id)
        result = {"release_id": release_id, "changed": record is not None and record.get("state") != FAILED}
        if self.check or not result["changed"]:
            return result
        staging = self.layout.staging(release_id)
        if os.path.isdir(staging):
            # Kept as releases/ID for inspection; clean removes older failed ones.
            os.rename(staging, self.layout.release(release_id))
        self.store.update(release_id, state=FAILED, failed_at=utc_now(), reason=self.params["reason"])
        self.store.journal("failed", release_id, reason=self.params["reason"])
        # Only the newest failed release is kept for inspection.
        current = self.layout.current_release()
        result["removed"] = []
        for record in self.store.all():
            if record.get("state") == FAILED and record["id"] not in (release_id, current):
                shutil.rmtree(self.layout.release(record["id"]), ignore_errors=True)
                self.store.remove(record["id"])
                self.store.journal("removed", record["id"])
                result["removed"].append(record["id"])
        return result

    # -- query / clean ----------------------------------------------------------

    def query(self) -> dict:
        current = self.layout.current_release()
        rollback = self.store.previous_good(current)
        releases = []
        for record in self.store.all():
            entry = dict(record)
            entry["current"] = record["id"] == current
            entry["present"] = os.path.isdir(self.layout.release(record["id"]))
            releases.append(entry)
        return {
            "changed": False,
            "current": current,
            "rollback_target": rollback["id"] if rollback else None,
            "releases": releases,
        }

    def clean(self) -> dict:
        current = self.layout.current_release()
        rollback = self.store.previous_good(current)
        records = [r for r in self.store.all() if os.path.isdir(self.layout.release(r["id"]))]
        good = [r["id"] for r in records if r.get("state") in GOOD_STATES]
        failed = [r["id"] for r in records if r.get("state") == FAILED]
        keep = set(good[-max(self.params["keep_releases"], 1) :]) | set(failed[-1:])
        keep |= {current, rollback["id"] if rollback else None}
        doomed = [r["id"] for r in records if r["id"] not in keep and r.get("state") != BUILDING]
        result: dict = {
            "changed": bool(doomed),
            "current": current,
            "rollback_target": rollback["id"] if rollback else None,
        }
        self._discard_leftovers(result)
        result["removed"] = doomed + result["removed"]
        if self.check:
            result["changed"] = bool(result["removed"])
            return result
        for release_id in doomed:
            shutil.rmtree(self.layout.release(release_id))
            self.store.remove(release_id)
            self.store.journal("removed", release_id)
        return result


def _makedirs_owned(path: str, uid: int, gid: int) -> None:
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        os.mkdir(directory, 0o755)
        os.chown(directory, uid, gid)


def _chown_tree(root: str, uid: int, gid: int) -> None:
    os.lchown(root, uid, gid)
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            os.lchown(os.path.join(directory, name), uid, gid)


REQUIRED_BY_STATE = {
    "staged": ["release_id", "repo_url", "version", "app_user"],
    "built": ["release_id"],
    "active": ["release_id"],
    "failed": ["release_id"],
}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "deploy_to": {"type": "path", "required": True},
            "state": {
                "type": "str",
                "required": True,
                "choices": ["staged", "built", "active", "failed", "query", "clean"],
            },
            "release_id": {"type": "str"},
            "repo_url": {"type": "str"},
            "version": {"type": "str"},
            "repo_ssh_command": {"type": "str"},
            "app_user": {"type": "str"},
            "shared_dirs": {"type": "list", "elements": "str", "default": []},
            "shared_files": {"type": "list", "elements": "str", "default": []},
            "config_path": {"type": "str", "default": "config/production.yml"},
            "config_content": {"type": "str", "no_log": True},
            "config_owner": {"type": "str", "default": "root"},
            "config_mode": {"type": "str", "default": "0640"},
            "migrations_dir": {"type": "str", "default": "db/migrate"},
            "deployed_by": {"type": "str", "default": "unknown"},
            "host_label": {"type": "str", "default": ""},
            "reason": {"type": "str", "default": ""},
            "schema_version": {"type": "str"},
            "keep_releases": {"type": "int", "default": 5},
            "min_free_mb": {"type": "int", "default": 0},
            "previous_state": {"type": "str", "default": "built", "choices": ["built", "rolled_back"]},
        },
        required_if=[("state", state, fields) for state, fields in REQUIRED_BY_STATE.items()],
        supports_check_mode=True,
    )
    release_id = module.params["release_id"]
    if release_id and module.params["state"] == "staged":
        problem = validate_release_id(release_id)
        if problem:
            module.fail_json(msg=problem)
    releases = Releases(module)
    try:
        result = getattr(releases, module.params["state"])()
    except UnknownUser as err:
        module.fail_json(msg=str(err))
    except OSError as err:
        module.fail_json(msg=f"{module.params['state']}: {err}", exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
