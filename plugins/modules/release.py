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
    configuration file and the C(REVISION) file, and records O(service_unit) with the release.
    It does nothing when the same commit with the same configuration (and the same
    O(service_unit), when given) is already live.
  - O(state=staged) checks its input before it changes anything on the host; a failure caused
    by input the user can fix is flagged with RV(input_error). It refuses a commit that has a
    C(.gitmodules) file declaring submodules, which C(git archive) would leave empty.
  - O(state=built) publishes the staging directory as C(releases/ID).
  - O(state=active) switches C(current) to the release atomically (a new link renamed over
    the old one), recording the previous release. With O(unit_path), it then installs the
    service unit recorded with the release at O(unit_path), also when C(current) already
    pointed at the release (a revert or rollback restores the unit of the release it restores).
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
  service_unit:
    description:
      - Full content of the systemd unit file the release runs with, for O(state=staged).
      - It is recorded with the release as C(DEPLOY_TO/.deployctl/releases/ID.service) (mode
        C(0644), owner root) and removed with the release's record (O(state=clean), pruning
        of failed releases).
      - It takes part in the "already live" decision like the configuration does. The live
        release counts as the same only when the unit recorded with it is this one; a live
        release recorded without a unit differs.
      - When omitted, no unit is recorded, and the unit plays no part in that decision.
      - It is logged and may be shown in diffs, so it must hold no secrets.
    type: str
  unit_path:
    description:
      - Where the service unit is installed, for example C(/etc/systemd/system/shop.service),
        for O(state=active).
      - After C(current) points at the release, the unit recorded with the release
        (O(service_unit) when it was staged) is written there atomically (mode C(0644),
        root:root) when it differs from the installed file. A release recorded without a unit
        leaves the installed file alone.
      - The module neither reloads systemd nor restarts the service; RV(unit_changed) tells
        whether that is needed.
    type: path
attributes:
  check_mode:
    support: full
  diff_mode:
    support: partial
    details: Only O(state=active) reports a diff, of the service unit at O(unit_path).
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
    service_unit: "{{ lookup('ansible.builtin.template', 'shop.service.j2') }}"
  register: staged

- name: Switch current to it, with the service unit it was staged with
  deployctl.core.release:
    deploy_to: /srv/shop
    state: active
    release_id: "{{ staged.release_id }}"
    unit_path: /etc/systemd/system/shop.service
  register: switched

- name: Restart the app (reload systemd first when the unit changed)
  ansible.builtin.systemd_service:
    name: shop
    state: restarted
    daemon_reload: "{{ switched.unit_changed }}"
  when: switched is changed

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
  description:
    - Whether the requested commit with the same configuration (and the same O(service_unit),
      when given) is already current. Nothing was staged then.
  returned: state is staged
  type: bool
created:
  description:
    - Whether this call created the staging directory or the record of the release
      (O(release_id)); then a release of this run exists, to mark failed if the deploy fails.
    - V(false) when already live, in check mode, and on failures before staging started.
  returned: state is staged, also on failure
  type: bool
input_error:
  description:
    - On a failure of O(state=staged), V(true) when the cause is input the user can fix and
      nothing on the host was changed yet (a caching fetch into the mirror aside). That is an
      invalid or already used release id, an unknown user, a bad config mode, a bad shared path, a
      missing shared file, too little free disk, a ref that is not a branch, tag or commit of
      the repository, a commit that uses git submodules.
    - V(false) for every other failure, for example a repository that cannot be fetched
      (network, credentials, a wrong URL look the same) or a failure after staging started.
  returned: failure of state staged
  type: bool
submodules:
  description: Paths of the git submodules the commit declares, when O(state=staged) refuses it for them.
  returned: failure of state staged, when the commit uses submodules
  type: list
  elements: str
  sample: [vendor/engine]
unit_changed:
  description:
    - Whether the service unit at O(unit_path) was (or, in check mode, would be) replaced by
      the one recorded with the release. Part of C(changed).
    - Always V(false) without O(unit_path), for a release recorded without a unit, and in check
      mode for a release that check mode only pretended to stage.
  returned: state is active
  type: bool
diff:
  description: The service unit at O(unit_path) before and after, when it changes and the task runs with C(--diff).
  returned: state is active, unit_changed, diff mode
  type: dict
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
        # Whether state=staged created the staging directory / release record of this run.
        self.created = False

    def fail(self, msg: str, input_error: bool = False, **extra: object) -> NoReturn:
        """Fail the task. For state=staged the result says what the role needs to report it.

        input_error: the user can fix it by changing the input, and nothing on the host was
        changed (the role's exit code 5). created: this call created a staging directory or
        a release record, so there is a release of this run to mark failed.
        """
        if self.params["state"] == "staged":
            extra.update(input_error=input_error, created=self.created)
        self.module.fail_json(msg=msg, **extra)
        raise AssertionError("fail_json exits")

    # -- staged ---------------------------------------------------------------

    def staged(self) -> dict:
        params = self.params
        release_id = params["release_id"]
        # Everything the user can get wrong and that needs no fetch is checked before the
        # host is touched (no layout, no staging directory, no record): such a failure
        # means "bad input, nothing changed".
        uid, gid = self._app_ids()
        config_uid, config_mode = self._config_owner_and_mode()
        shared = self._shared_paths()
        mirror = Mirror(self.layout.repo, params["repo_url"], params["repo_ssh_command"])
        current_id = self.layout.current_release()
        current = self.store.get(current_id)
        result: dict = {"release_id": release_id, "previous": current_id, "changed": False, "created": False}
        result["free_mb"] = self._check_free_space()

        try:
            if self.check:
                with mirror.preview(params["version"]) as (scratch, commit):
                    names = scratch.list_dir(commit, params["migrations_dir"])
                    submodules = scratch.submodules(commit)
            else:
                self.layout.ensure(uid, gid)
                mirror.update(params["version"])
                commit = mirror.resolve(params["version"])
                names = mirror.list_dir(commit, params["migrations_dir"])
                submodules = mirror.submodules(commit)
        except MirrorError as err:
            # An unknown ref is the user's to fix; an unreachable repository is not (it may
            # be the network as well as a wrong repo_url, and the fetch may be retried).
            self.fail(str(err), input_error=err.input_error, stderr=err.stderr, repo=self.layout.repo)
        if submodules:
            self.fail(
                f"the app uses git submodules ({', '.join(submodules)}) that a release cannot include: "
                "deployctl exports the commit with `git archive`, which leaves submodule directories empty. "
                "Vendor the code into the repository, or make it a dependency that the build installs "
                "(a gem, for example), and deploy a commit without .gitmodules",
                input_error=True,
                commit=commit,
                submodules=submodules,
            )

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
            and self._unit_matches(current_id)
        ):
            result.update(already_live=True, release_id=current_id, path=self.layout.release(current_id))
            return result

        result.update(already_live=False, changed=True, path=self.layout.staging(release_id))
        if os.path.lexists(self.layout.release(release_id)):
            self.fail(
                f"release {release_id} already exists in {self.layout.releases}: pass a new deploy_release_id",
                input_error=True,
            )
        if self.check:
            return result

        staging = self.layout.staging(release_id)
        os.mkdir(staging, 0o755)
        self.created = result["created"] = True
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
        if params["service_unit"] is not None:
            # Recorded with the release, so that switching to it (deploy, revert, rollback)
            # installs the unit it was deployed with.
            atomic_write(self.layout.unit(release_id), params["service_unit"], mode=0o644)
        try:
            mirror.export(commit, staging)
        except MirrorError as err:
            self.fail(str(err), stderr=err.stderr)
        with open(os.path.join(staging, "REVISION"), "w", encoding="utf-8") as handle:
            handle.write(commit + "\n")
        self._link_shared(staging, shared, uid, gid)
        _chown_tree(staging, uid, gid)
        self._write_config(staging, config_uid, config_mode, gid)
        self.store.journal("staged", release_id, commit=commit, ref=params["version"], by=params["deployed_by"])
        return result

    def _app_ids(self) -> tuple[int, int]:
        try:
            uid, gid, _home = user_ids(self.params["app_user"])
        except UnknownUser as err:
            self.fail(str(err), input_error=True)
        return uid, gid

    def _config_owner_and_mode(self) -> tuple[int, int]:
        """The owner's uid and the mode of the config file, checked before staging starts."""
        if self.params["config_content"] is None:
            return 0, 0  # no config file is written: the options do not matter
        try:
            owner_uid = user_ids(self.params["config_owner"])[0]
        except UnknownUser as err:
            self.fail(str(err), input_error=True)
        text = self.params["config_mode"]
        try:
            mode = int(text, 8)
        except ValueError:
            mode = -1
        if not 0 <= mode <= 0o7777:
            self.fail(f"deploy_config_mode {text!r} is not an octal file mode such as 0640", input_error=True)
        return owner_uid, mode

    def _shared_paths(self) -> list[tuple[str, bool]]:
        """The shared directories and files as (path relative to the release, is a directory).

        Checked before anything is created: a missing shared file must leave neither a
        staging directory nor a release record behind.
        """
        paths = []
        for relative, is_dir in [(d, True) for d in self.params["shared_dirs"]] + [
            (f, False) for f in self.params["shared_files"]
        ]:
            relative = relative.strip("/")
            if not relative or ".." in relative.split("/"):
                self.fail(f"shared path {relative!r} must be relative to the release, without '..'", input_error=True)
            source = os.path.join(self.layout.shared, relative)
            if not is_dir and not os.path.exists(source):
                self.fail(
                    f"shared file {relative} is missing: create {source} on the host (it is linked into every release)",
                    input_error=True,
                )
            paths.append((relative, is_dir))
        return paths

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
                "free some space (old logs, releases) or lower deploy_min_free_mb; nothing was changed",
                input_error=True,
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

    def _unit_matches(self, release_id: str) -> bool:
        """Whether the service unit recorded with `release_id` is the one asked for.

        Without service_unit this call does not manage the unit: any recorded one matches.
        """
        wanted = self.params["service_unit"]
        if wanted is None:
            return True
        recorded = _read(self.layout.unit(release_id))
        return recorded is not None and recorded == wanted

    def _link_shared(self, staging: str, shared: list[tuple[str, bool]], uid: int, gid: int) -> None:
        for relative, is_dir in shared:
            source = os.path.join(self.layout.shared, relative)
            if is_dir:
                _makedirs_owned(source, uid, gid)
            link = os.path.join(staging, relative)
            if os.path.isdir(link) and not os.path.islink(link):
                shutil.rmtree(link)
            elif os.path.lexists(link):
                os.unlink(link)
            _makedirs_owned(os.path.dirname(link), uid, gid)
            os.symlink(source, link)

    def _write_config(self, staging: str, owner_uid: int, mode: int, gid: int) -> None:
        content = self.params["config_content"]
        if content is None:
            return
        path = os.path.join(staging, self.params["config_path"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, content, mode=mode, uid=owner_uid, gid=gid)

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
        switch = previous != release_id
        result = {"release_id": release_id, "previous": previous, "changed": switch, "unit_changed": False}
        record = self.store.get(release_id)
        if self.check and record is None:
            # A release check mode only pretended to stage: it would be switched to. Its
            # unit is not recorded anywhere yet, so whether the unit changes is unknown.
            return result
        if not os.path.isdir(release) or record is None:
            self.fail(f"release {release_id} does not exist under {self.layout.releases}")
        assert record is not None
        if record.get("state") == FAILED:
            self.fail(
                f"release {release_id} is marked failed ({record.get('reason') or 'no reason recorded'}); "
                "refusing to switch to it"
            )
        # The unit first, the link after: a unit that cannot be installed leaves current as
        # it was. Also when current already points at the release: a revert or a rollback
        # must leave the unit of the release it restores in place, whatever installed another.
        unit_before = _read(self.params["unit_path"]) if self.params["unit_path"] else None
        try:
            self._install_unit(release_id, result)
        except OSError as err:
            self.fail(
                f"cannot install the service unit of release {release_id} at {self.params['unit_path']}: {err}; "
                "current was not switched",
                release_id=release_id,
                previous=previous,
                changed=False,
                unit_changed=False,
            )
        if switch and not self.check:
            try:
                atomic_symlink(os.path.join("releases", release_id), self.layout.current)
            except OSError:
                if result["unit_changed"] and unit_before is not None:
                    # Put the unit that goes with the release still live back.
                    atomic_write(self.params["unit_path"], unit_before, mode=0o644, uid=0, gid=0)
                raise
            previous_record = self.store.get(previous)
            if previous and previous_record and previous_record.get("state") == ACTIVE:
                self.store.update(previous, state=self.params["previous_state"], deactivated_at=utc_now())
            changes: dict = {"state": ACTIVE, "activated_at": utc_now(), "previous": previous}
            if self.params["schema_version"] is not None:
                changes["schema_version"] = self.params["schema_version"]
            self.store.update(release_id, **changes)
            self.store.journal("switched", release_id, previous=previous)
        return result

    def _install_unit(self, release_id: str, result: dict) -> None:
        """Install the unit recorded with `release_id` at unit_path when it differs."""
        unit_path = self.params["unit_path"]
        wanted = _read(self.layout.unit(release_id)) if unit_path else None
        if unit_path is None or wanted is None:
            # No unit recorded with the release (staged without service_unit): the
            # installed unit is not this module's to manage.
            return
        installed = _read(unit_path)
        if installed == wanted:
            return
        result.update(changed=True, unit_changed=True)
        if self.module._diff:
            result["diff"] = {
                "before": installed or "",
                "after": wanted,
                "before_header": unit_path,
                "after_header": f"{unit_path} (recorded with release {release_id})",
            }
        if self.check:
            return
        atomic_write(unit_path, wanted, mode=0o644, uid=0, gid=0)
        self.store.journal("unit_installed", release_id, path=unit_path)

    def failed(self) -> dict:
        release_id = self.params["release_id"]
        record = self.store.get(release_id)
        result = {"release_id": release_id, "changed": record is not None and record.get("state") != FAILED}
        if record is None and not self.check and os.path.isdir(self.layout.meta):
            # The deploy stopped before creating its release: the journal still says so.
            self.store.journal("aborted", release_id, reason=self.params["reason"])
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


def _read(path: str) -> str | None:
    """The text of a file, or None when there is none."""
    try:
        # errors="replace": an installed file that is not UTF-8 simply differs.
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


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
            # The unit is no secret, and logging it helps to see what a release runs with.
            "service_unit": {"type": "str", "no_log": False},
            "unit_path": {"type": "path"},
        },
        required_if=[("state", state, fields) for state, fields in REQUIRED_BY_STATE.items()],
        supports_check_mode=True,
    )
    state = module.params["state"]
    release_id = module.params["release_id"]
    if release_id and state == "staged":
        problem = validate_release_id(release_id)
        if problem:
            module.fail_json(msg=problem, input_error=True, created=False)
    releases = Releases(module)
    try:
        result = getattr(releases, state)()
    except UnknownUser as err:
        releases.fail(str(err))
    except (OSError, ValueError) as err:
        releases.fail(f"{state}: {err}", exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
