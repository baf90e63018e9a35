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
    With O(restart), it then restarts the service when anything changed, in the same call.
  - O(state=failed) records a release as failed, keeping its directory for inspection, and
    removes older failed releases.
  - O(state=query) lists the releases with their recorded state.
  - O(state=clean) keeps O(keep_releases) good releases and never removes the current
    release or the rollback target; it removes staging leftovers and older failed releases.
  - The previous release is always taken from the recorded state and C(readlink(current)),
    never from directory modification times.
version_added: 0.1.0
author: deployctl contributors
extends_documentation_fragment:
  - deployctl.core.deploy
  - deployctl.core.deploy.journal
options:
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
    description:
      - Branch, tag or commit to deploy. Required for O(state=staged).
      - It is recorded with the release as its ref, and O(allowed_refs) checks it, also with O(commit).
    type: str
  commit:
    description:
      - For O(state=staged), the full commit O(version) resolved to earlier in the same run (in a rolling
        deploy's first batch). This commit is deployed, whatever O(version) names now, so a branch
        pushed to during the rollout changes nothing. The mirror fetches only when it lacks the commit.
      - A commit the repository does not have fails with RV(input_error).
    type: str
  repo_ssh_command:
    description: Value of C(GIT_SSH_COMMAND) for fetches, for example to use a deploy key.
    type: str
  app_user:
    description: User that owns the release files and runs the application.
    type: str
  app_user_create:
    description:
      - For O(state=staged), create O(app_user) first when the host has no such user, as a
        system user with a home directory, the shell C(/usr/sbin/nologin) and a group of
        the same name (C(useradd --system --create-home --shell /usr/sbin/nologin)); the
        existing group of that name when there is one. RV(user_created) tells.
      - A name that cannot be a user name fails before anything is run, with RV(input_error)
        and RV(stage=setup); so does a failed C(useradd), without RV(input_error).
      - In check mode nothing is created; RV(user_created) is V(would) when it would be.
    type: bool
    default: false
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
  secret_files:
    description:
      - Further files of the release that carry secrets, for O(state=staged), as a mapping of
        path (relative to the release, for example V(config/master.key)) to content. Written
        like the configuration file (O(config_owner), the app user's group, O(config_mode)),
        parent directories created; never logged or returned. Each release has its own, so a
        rollback brings back the files the release was deployed with.
      - They take part in the "already live" decision like the configuration does.
    type: dict
  secret_environment:
    description:
      - Environment variables that carry secrets, for O(state=staged), as a mapping of name to
        value. Written to C(RELEASE/.deployctl-environment) (mode C(0600), owner root) in the
        format of systemd's C(EnvironmentFile=), escaped so that every value arrives unchanged.
        The service unit reads it through C(current) (C(EnvironmentFile=DEPLOY_TO/current/.deployctl-environment));
        M(deployctl.core.release_command) with O(deployctl.core.release_command#module:secret_environment=true)
        gives it to the commands it runs. Never logged or returned; never in the unit file or an argv.
      - It takes part in the "already live" decision like the configuration does.
      - A name that is not a variable name fails before anything is changed, with RV(input_error).
    type: dict
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
  socket_unit:
    description:
      - Full content of the systemd socket unit that owns the app's port (socket activation),
        for O(state=staged), recorded with the release as C(DEPLOY_TO/.deployctl/releases/ID.socket)
        beside O(service_unit) (only with it). Switching to the release installs it beside
        O(unit_path) (C(NAME.socket) for C(NAME.service)); switching to a release recorded
        with a service unit and no socket unit stops, disables and removes an installed socket
        unit deployctl wrote (its first line says so).
      - It takes part in the "already live" decision like O(service_unit) does.
    type: str
  logrotate_rule:
    description:
      - Full content of a logrotate rule for the app's logs, for O(state=staged); written at
        O(logrotate_path) (mode C(0644), root:root) when it differs, after the input is checked,
        also when the release is already live. It is host setup, not part of a release.
      - A host without the rule's directory (no logrotate installed) gets no rule; RV(logrotate) says so.
    type: str
  logrotate_path:
    description: Where O(logrotate_rule) is written, for example C(/etc/logrotate.d/shop).
    type: path
  allowed_refs:
    description:
      - For O(state=staged), globs on branch and tag names; when given, O(version) must match one, or its commit
        must be on a branch or tag of the mirror that matches (after a fetch of every ref). Otherwise the release
        is refused as bad input before it is created, naming the refs that hold the commit.
    type: list
    elements: str
    default: []
  require_master_key:
    description:
      - For O(state=staged), refuse (as bad input, before the release is created) a commit that has
        C(config/credentials.yml.enc) but neither C(config/master.key) nor a key given through
        O(secret_environment) (C(RAILS_MASTER_KEY), C(SECRET_KEY_BASE)), O(secret_files),
        O(shared_files) or O(service_unit). Such a Rails app passes a health check while every form fails.
    type: bool
    default: false
  unit_path:
    description:
      - Where the service unit is installed, for example C(/etc/systemd/system/shop.service),
        for O(state=active).
      - After C(current) points at the release, the unit recorded with the release
        (O(service_unit) when it was staged) is written there atomically (mode C(0644),
        root:root) when it differs from the installed file. A release recorded without a unit
        leaves the installed file alone.
      - Systemd is not reloaded unless O(restart) is true; RV(unit_changed) tells whether that is needed.
    type: path
  restart:
    description:
      - For O(state=active), restart O(restart_service) in the same call when the release was
        switched to or its unit installed (when the task reports a change). That is C(systemctl
        daemon-reload) when the unit file changed (RV(unit_changed)), C(systemctl enable) when
        C(systemctl is-enabled) says the unit is not enabled, then C(systemctl restart). This
        saves the round trip of a separate C(ansible.builtin.systemd_service) task.
      - A failed call fails the task with systemctl's error and the last lines of the unit's
        journal, with RV(stage=restart), C(changed) true and RV(switched) as it happened.
        C(current) is not switched back; that is for the caller's failure handling.
      - In check mode nothing is run; RV(restarted) is V(would) when the task reports a change.
    type: bool
    default: false
  restart_service:
    description: The systemd unit O(restart) restarts, for example V(shop). Required when O(restart) is true.
    type: str
  restart_timeout:
    description: Seconds each systemctl call of O(restart) may take before it is killed and the task fails.
    type: int
    default: 300
  lock:
    description:
      - Take the deploy lock first, in the same call (any O(state); a deploy takes it with
        O(state=staged), a rollback with O(state=query)), as M(deployctl.core.deploy_lock) with
        O(deployctl.core.deploy_lock#module:state=acquired) does; the suboptions are that
        module's. When another deploy holds it the task fails at once with RV(stage=lock),
        naming the holder, before anything else is looked at.
    type: dict
    suboptions:
      token:
        description: Identifies this deploy; only the same token releases the lock.
        type: str
        required: true
      holder:
        description: What to record about the holder (user, ref, controller, pid, awx_job_id ...).
        type: dict
        default: {}
      ttl:
        description: Seconds after which a held lock counts as stale and is taken over.
        type: int
        default: 3600
      controller:
        description: Name of the controller this deploy runs on.
        type: str
        default: ""
      controller_live_pids:
        description: PIDs of the Ansible processes alive on O(lock.controller).
        type: list
        elements: int
        default: []
  health_url:
    description:
      - For O(state=active), after the restart, request this URL from the host until it answers
        as M(deployctl.core.http_check) would call healthy (O(health_status),
        O(health_body_contains)) or O(health_deadline) seconds pass. Not in check mode.
      - A failed check fails the task with RV(stage=verify), C(changed) true when C(current) was switched.
    type: str
  health_status:
    description: Status codes that count as healthy.
    type: list
    elements: int
    default: [200]
  health_body_contains:
    description: Text the body must contain (for example the release's commit).
    type: str
  health_deadline:
    description: Seconds O(health_url) has to answer as healthy.
    type: float
    default: 60
  health_interval:
    description: Seconds between two requests of the health check.
    type: float
    default: 0.25
  health_timeout:
    description: Seconds one request of the health check may take.
    type: float
    default: 5
  health_method:
    description: Method of the health check's requests (V(HEAD) cannot be combined with O(health_body_contains)).
    type: str
    choices: [GET, HEAD]
    default: GET
  health_host:
    description: Host header of the health check's requests (a name-based virtual host).
    type: str
  health_validate_certs:
    description: Check the certificate of an https O(health_url); false accepts a self-signed one.
    type: bool
    default: true
  health_fail_after:
    description:
      - Seconds a 5xx answer of O(health_url) (and of the candidate) may persist before the check
        gives up early as failed; V(0) waits out O(health_deadline).
    type: float
    default: 0
  health_checked_after:
    description:
      - For O(state=active) without O(health_url) - a task after this call checks the release's health (hooks
        run between the switch and the check) - the switch records the release as not verified (its
        record's C(verified) false, the journal's C(switched) line with C(verify)) until that check records
        its pass (M(deployctl.core.http_check) with O(deployctl.core.http_check#module:release_id)). Until
        then it is no rollback target, and C(history) reads its run as unfinished.
    type: bool
    default: false
  candidate:
    description:
      - For O(state=active) with O(health_url), when C(current) does not point at the release yet,
        before the switch, start the release beside the live one as a transient systemd unit
        (C(systemd-run)) with the User, Group, Environment, EnvironmentFile and ExecStart of the
        service unit recorded with it, from the release's directory instead of C(current), with
        O(candidate.environment) over its environment (a side port), and check O(candidate.health_url)
        with the criteria of the health check (status, body, O(health_fail_after)). A candidate
        process that exits fails the check at once. The candidate is stopped afterwards in every
        case (a stale one is stopped first; C(RuntimeMaxSec) ends one a killed run left behind).
      - A failed check fails the task with RV(stage=candidate) before anything changed
        (RV(switched) false), so the release never takes traffic. The message says what the
        candidate answered, or the last lines of its journal when it exited.
      - A release recorded without a service unit is not checked (RV(candidate.skipped) says so).
        Not in check mode.
      - For O(state=staged) with O(build), a head start - once the release is built, its candidate is started
        (not checked), so that it boots while the migrations run; the check of a later O(state=active) call
        takes it over when it still runs for that release, judged by its first answer (any answer but a
        healthy one, or its exit, and the check starts a candidate of its own, as without a head start). The
        candidate of a release marked failed (O(state=failed)) is stopped; its C(RuntimeMaxSec) ends one
        that is never checked.
    type: dict
    suboptions:
      health_url:
        description: The URL the candidate answers on, e.g. V(http://127.0.0.1:13000/up).
        type: str
        required: true
      unit:
        description: Name of the transient unit; default C(RESTART_SERVICE-candidate).
        type: str
      environment:
        description: Environment variables set over the recorded unit's, for example C(PORT) with the side port.
        type: dict
        default: {}
      deadline:
        description: Seconds the candidate has to answer as healthy.
        type: float
        default: 60
  revert:
    description:
      - For O(state=active), when the restart or the health check fails after C(current) was
        switched, switch back to the release that was current (with the unit recorded with it),
        restart the service and check O(health_url) again, without O(health_body_contains) and
        with O(revert_health_deadline), in the same call. The task still fails, with the first
        failure's message; RV(revert) says how the switch back went.
    type: bool
    default: false
  revert_health_deadline:
    description: Seconds the restored release has to answer as healthy after O(revert).
    type: float
    default: 120
  outage_since:
    description:
      - For O(state=active), epoch seconds (the host's clock, as RV(switched_at) gave them) when
        the release being put back stopped serving; RV(outage_seconds) counts from then.
    type: float
  cleanup:
    description:
      - For O(state=active), after a successful switch, restart and health check, remove old
        releases as O(state=clean) with O(keep_releases) does. A failed cleanup does not fail the
        task; RV(cleanup.error) says why.
    type: bool
    default: false
  unlock_token:
    description:
      - For O(state=active), release the deploy lock taken with this token at the end of a
        successful call (RV(unlocked)). A failed call keeps it, for the caller's failure handling.
    type: str
  metrics:
    description:
      - For O(state=active), after a successful call, count the run in the host's deploy metrics as
        M(deployctl.core.deploy_metrics) does (the same options; the call's own seconds are stage C(switch)),
        so that the run's last call on the host needs no call after it (RV(metrics)). Not in check mode.
    type: dict
    suboptions:
      textfile_dir:
        description: node_exporter's textfile collector directory.
        type: path
        required: true
      app:
        description: The app's name (label and file name).
        type: str
        required: true
      environment:
        description: The environment's name (label).
        type: str
        required: true
      action:
        description: What ran.
        type: str
        required: true
        choices: [deploy, rollback]
      outcome:
        description: The run's outcome when this call succeeds.
        type: str
        required: true
      release:
        description: The release the run made or switched to.
        type: str
        default: ""
      ref:
        description: The ref the run deployed.
        type: str
        default: ""
      started_at:
        description: When the run started (Unix time, seconds; the controller's clock).
        type: float
        required: true
      stages:
        description: Seconds of the run's earlier stage calls on the host.
        type: dict
        default: {}
  build:
    description:
      - For O(state=staged), once the release is staged, build it in the same call (one round trip fewer per
        host), as M(deployctl.core.release_command) with O(deployctl.core.release_command#module:stage=build),
        O(deployctl.core.release_command#module:secret_environment=true) and
        O(deployctl.core.release_command#module:publish=true) does; its keys are that module's options of the
        same names. A failure is reported with RV(stage=build) (V(test) for the tests), with the build's
        C(log), C(rc) and C(tail), and publishes nothing.
      - Nothing is built when the commit is live already, nor in check mode (the build task says what would run).
    type: dict
    suboptions:
      argv:
        description: The build command and its arguments; no shell is involved.
        type: list
        elements: str
        required: true
      user:
        description: User to run as (the app user).
        type: str
        required: true
      env:
        description: Extra environment variables (never secrets).
        type: dict
        default: {}
      timeout:
        description: Seconds after which each command and its children are killed.
        type: int
        default: 1800
      tail_lines:
        description: How many last lines of output to return.
        type: int
        default: 25
      test_argv:
        description: The app's tests, run after the build succeeded, as stage C(test); empty runs nothing.
        type: list
        elements: str
        default: []
  migrate:
    description:
      - For O(state=staged) with O(build), when the release brings migrations (RV(pending_migrations)), run them in
        the same call once it is built (a one-host batch - no other host to wait for), as
        M(deployctl.core.release_command) with O(deployctl.core.release_command#module:stage=migrate) and
        O(deployctl.core.release_command#module:secret_environment=true) does, the dump of its C(backup) first;
        its keys are that module's options of the same names.
      - A failure is reported with RV(stage=backup) or V(migrate), the migrations' C(log), C(rc) and C(tail), and
        RV(migrate) (C(failed), C(msg), and the dump when it was taken); nothing is switched then.
      - With O(go_live) too, the release is then switched to in the same call (see O(go_live)).
    type: dict
    suboptions:
      argv:
        description: The migrate command and its arguments; no shell is involved.
        type: list
        elements: str
        required: true
      user:
        description: User to run as (the app user).
        type: str
        required: true
      env:
        description: Extra environment variables (never secrets).
        type: dict
        default: {}
      timeout:
        description: Seconds after which the command and its children are killed.
        type: int
        default: 1800
      tail_lines:
        description: How many last lines of output to return.
        type: int
        default: 25
      backup:
        description:
          - The dump before the migrations, as M(deployctl.core.release_command)'s
            O(deployctl.core.release_command#module:backup); the passwords in C(connection) are no_log.
        type: dict
  go_live:
    description:
      - The settings of the switch of a deploy, in one mapping that both of its calls take (the role passes one
        variable to both).
      - With O(state=staged), when the commit is live already (RV(already_live)), the same call then does what
        O(state=active) would do for the live release (one round trip fewer per host) - its unit put back if
        something changed it, an app that runs other code restarted, the health check, O(unlock_token) and
        O(metrics) (its stage seconds split into C(fetch) and C(switch)). Its result is RV(switch). A failure is
        reported with that call's stage (C(restart), C(verify)) and its details as RV(switch). Not in check mode.
      - With O(state=staged) and O(build), a new release built in the same call is switched to in it too, when it
        brings no migrations or O(migrate) ran them (a one-host batch - no other host to wait for); the whole of
        O(state=active) - the candidate check, the switch, the restart, the health check, the switch back on
        failure, the cleanup (O(cleanup), O(keep_releases)), O(unlock_token) and O(metrics) (stage seconds
        C(fetch), C(build), C(backup), C(migrate) and C(switch); outcome V(deployed)). A release with migrations
        that this call did not run is left for a later O(state=active) call.
      - With O(state=active), the same settings in place of the top-level options of the same names.
    type: dict
    suboptions:
      unit_path:
        description: As the top-level O(unit_path), which is used when this is not given (or null).
        type: path
      restart:
        description: As the top-level O(restart), which is used when this is not given (or null).
        type: bool
      restart_service:
        description: As the top-level O(restart_service), which is used when this is not given (or null).
        type: str
      restart_timeout:
        description: As the top-level O(restart_timeout), which is used when this is not given (or null).
        type: int
      health_url:
        description: As the top-level O(health_url), which is used when this is not given (or null).
        type: str
      health_status:
        description: As the top-level O(health_status), which is used when this is not given (or null).
        type: list
        elements: int
      health_deadline:
        description: As the top-level O(health_deadline), which is used when this is not given (or null).
        type: float
      health_interval:
        description: As the top-level O(health_interval), which is used when this is not given (or null).
        type: float
      health_timeout:
        description: As the top-level O(health_timeout), which is used when this is not given (or null).
        type: float
      health_method:
        description: As the top-level O(health_method), which is used when this is not given (or null).
        type: str
      health_host:
        description: As the top-level O(health_host), which is used when this is not given (or null).
        type: str
      health_validate_certs:
        description: As the top-level O(health_validate_certs), which is used when this is not given (or null).
        type: bool
      health_fail_after:
        description: As the top-level O(health_fail_after), which is used when this is not given (or null).
        type: float
      health_checked_after:
        description: As the top-level O(health_checked_after), which is used when this is not given (or null).
        type: bool
      candidate:
        description: As the top-level O(candidate), which is used when this is not given (or null).
        type: dict
      revert:
        description: As the top-level O(revert), which is used when this is not given (or null).
        type: bool
      revert_health_deadline:
        description: As the top-level O(revert_health_deadline), which is used when this is not given (or null).
        type: float
      unlock_token:
        description: As the top-level O(unlock_token), which is used when this is not given (or null).
        type: str
      health_expect_revision:
        description:
          - With O(state=staged), the health check's answer must hold the live release's commit (as
            O(health_body_contains) with that commit). O(state=active) takes O(health_body_contains) itself.
        type: bool
        default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: partial
    details: Only O(state=active) reports a diff, of the C(current) link and of the service unit at O(unit_path).
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

- name: Switch current to it, with the service unit it was staged with, and restart the app
  deployctl.core.release:
    deploy_to: /srv/shop
    state: active
    release_id: "{{ staged.release_id }}"
    unit_path: /etc/systemd/system/shop.service
    restart: true
    restart_service: shop
  register: switched

- name: Keep five good releases
  deployctl.core.release:
    deploy_to: /srv/shop
    state: clean
    keep_releases: 5
"""

RETURN = r"""
metrics:
  description: With O(metrics), whether the deploy metrics were written (C(written), C(path), C(reason)).
  returned: success, with O(metrics)
  type: dict
elapsed:
  description: Seconds the call worked on the host (the deploy metrics' stage durations).
  returned: success
  type: float
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
      nothing on the host was changed yet (a caching fetch into the mirror and a user that
      O(app_user_create) created aside). That is an invalid or already used release id, an
      unknown user or an invalid user name, a bad config mode, a bad shared path, a missing
      shared file, too little free disk, a ref that is not a branch, tag or commit of the
      repository, a commit that uses git submodules.
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
    - Whether the service unit at O(unit_path) (or the socket unit beside it, see O(socket_unit))
      was (or, in check mode, would be) replaced by the one recorded with the release, or the
      socket unit removed. Part of C(changed).
    - Always V(false) without O(unit_path), for a release recorded without a unit, and in check
      mode for a release that check mode only pretended to stage.
  returned: state is active
  type: bool
switched:
  description:
    - Whether C(current) was (or, in check mode, would be) pointed at the release by this call.
      V(false) when it pointed there already (then only the unit may have been installed).
  returned: state is active, also on failure
  type: bool
restarted:
  description:
    - Whether O(restart) restarted the service; V(would) in check mode when it would, V(false)
      when nothing changed or O(restart) is false.
  returned: state is active, also on failure
  type: raw
restarted_stale:
  description:
    - The release was current already and nothing changed, but the app answered the health URL with
      another revision than O(health_body_contains), because its restart after an earlier switch never
      happened. The service was restarted before the health check. Said as a warning too.
  returned: state is active, when it happened
  type: bool
stale_warning:
  description:
    - The warning said when RV(restarted_stale) is true, for a report to repeat.
  returned: state is active, when RV(restarted_stale) is true
  type: str
stage:
  description:
    - V(lock) when O(lock) was refused (another deploy holds the lock).
    - V(candidate) when the candidate check (O(candidate)) failed; nothing was switched.
    - V(restart) when the switch succeeded but the restart of O(restart) failed.
    - V(verify) when the health check of O(health_url) failed.
    - V(setup) when O(app_user_create) could not create the app user (O(state=staged)).
    - V(build) or V(test) when the build of O(build), or its tests, failed (O(state=staged)).
    - V(fetch) for any other failure of O(state=staged).
  returned: >-
    failure to take the lock, of state active in the restart or the health check, of state staged
  type: str
user_created:
  description:
    - Whether O(app_user_create) created the app user; V(would) in check mode when it would.
  returned: state is staged, also on failure
  type: raw
journal:
  description: The last lines of the service's journal, when its restart failed.
  returned: failure of state active in the restart
  type: list
  elements: str
switched_at:
  description: When C(current) was switched, in epoch seconds of the host's clock (see O(outage_since)).
  returned: state is active and switched, also on failure
  type: float
candidate:
  description:
    - The result of the candidate check (see O(candidate)), as RV(health) with C(url), and
      C(journal) (the candidate's last journal lines) when it exited; or C(skipped) with why not.
    - With a head start, C(head_start) - C(used) true when its candidate was the one checked, else false
      with C(reason), what it answered.
    - For O(state=staged), the head start - C(started) true with C(unit), or false with C(reason).
  returned: >-
    state is active with candidate, when current did not point at the release, also on failure; state is staged
    with candidate and build, when the release was built
  type: dict
socket:
  description:
    - How the socket unit fared in the restart, for a release that runs behind one (socket activation).
      V(kept) it held the port while only the service restarted (no connection refused);
      V(started) it was started (or restarted, when its unit changed) between a stop and a start of the
      service, a short gap once, as on the first deploy that moves a host to socket activation.
  returned: state is active with restart, restarted, for a release recorded with a socket unit
  type: str
socket_changed:
  description:
    - What the switch did to the installed socket unit - V(installed) (new or replaced) or V(removed)
      (the release runs without one, so an installed socket unit of deployctl's was stopped and removed).
  returned: state is active, when the socket unit changed
  type: str
socket_unit:
  description: The socket unit the release runs behind (for example V(shop.socket)).
  returned: state is active, for a release recorded with a socket unit
  type: str
health:
  description:
    - The result of the health check of O(health_url) (as M(deployctl.core.http_check) returns
      it, with C(healthy), C(status), C(body), C(error), C(attempts), C(elapsed), C(latency_ms)).
  returned: state is active with health_url, outside check mode, also on failure
  type: dict
revert:
  description:
    - With O(revert), after a failed restart or health check of a switched release, the result
      of the switch back to the release that was current (C(changed), C(switched), C(restarted),
      C(health), C(outage_seconds), C(elapsed), the seconds of this call it took), with C(error) when the
      switch back failed too.
  returned: failure of state active with revert, when current had been switched
  type: dict
outage_seconds:
  description:
    - With O(outage_since), seconds from then to the end of this call's health check (or restart).
      In RV(revert), from the switch to the failed release to the previous one answering again.
  returned: state is active with outage_since
  type: float
cleanup:
  description: With O(cleanup), the releases removed (C(removed)) and, when the cleanup failed, why (C(error)).
  returned: state is active with cleanup, success
  type: dict
unlocked:
  description: Whether O(unlock_token) released the deploy lock.
  returned: state is active with unlock_token, success
  type: bool
diff:
  description:
    - What O(state=active) changes (or would, in check mode), when the task runs with C(--diff);
      each entry has C(before), C(after) and their headers.
    - First the C(current) link when it is switched, as C(current -> releases/ID) (empty before
      a first deploy); then the service unit at O(unit_path) when it is replaced (RV(unit_changed)).
  returned: state is active, changed, diff mode
  type: list
  elements: dict
path:
  description: Directory of the release (the staging directory while O(state=staged)).
  returned: state is staged or built
  type: str
logrotate:
  description: What O(logrotate_rule) did, V(installed) (or would be, in check mode), V(unchanged), or why not.
  returned: state is staged with logrotate_rule
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
schema_ahead:
  description:
    - Migration versions the current release was deployed with that the new release lacks (an older ref deployed
      onto the newer schema, which the database keeps); empty when the release is newer or the same.
  returned: state is staged, when the commit is not live already
  type: list
  elements: str
commits:
  description:
    - In check mode, the commits the requested version holds and the live commit lacks (what the deploy brings),
      newest first, at most 50, each with C(commit), C(author), C(date) (ISO 8601) and C(subject); read from the
      preview, the mirror is not fetched into.
  returned: state is staged, in check mode
  type: list
  elements: dict
commits_behind:
  description: In check mode, how many commits of the live commit the requested version lacks (an older ref).
  returned: state is staged, in check mode
  type: int
live_commit:
  description: In check mode, the commit of the live release (V(null) when none).
  returned: state is staged, in check mode
  type: str
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
  description:
    - The newest good release older than the current one that served and passed its check (none when there is
      none).
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
build:
  description:
    - With O(build), the build as M(deployctl.core.release_command) returns it (C(rc), C(seconds), C(log),
      C(tail), C(chdir), C(test), C(path) of the published release) and C(elapsed), the seconds the build, the
      tests and the publish took together.
  returned: >-
    state is staged with build, when the release was built; on a failure of the build or its tests, with
    C(elapsed) only (and the call's C(elapsed))
  type: dict
switch:
  description:
    - With O(go_live), for a commit that was live already, what O(state=active) returns for it (C(switched),
      C(restarted), C(health), C(unlocked), C(metrics), C(stale_warning)...), with C(elapsed), its seconds of the
      call's. On a failure of that switch, its details with C(failed) and C(msg).
  returned: state is staged with go_live, when the commit was live (not in check mode)
  type: dict
free_mb:
  description: MiB free under O(deploy_to) before staging.
  returned: state is staged
  type: int
"""

import time
import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deployctl.core.plugins.module_utils._activation import GoLive, go_live
from ansible_collections.deployctl.core.plugins.module_utils._caller import gone as caller_gone
from ansible_collections.deployctl.core.plugins.module_utils._candidate import (
    Candidate,
    head_start,
    stop_head_start,
    stop_leftover,
)
from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError, InputError
from ansible_collections.deployctl.core.plugins.module_utils._http import HEALTH_OPTIONS, HealthCheck
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout, validate_release_id
from ansible_collections.deployctl.core.plugins.module_utils._lifecycle import clean, mark_failed, publish, query
from ansible_collections.deployctl.core.plugins.module_utils._lock import LOCK_OPTIONS, change
from ansible_collections.deployctl.core.plugins.module_utils._metrics import METRICS_OPTIONS
from ansible_collections.deployctl.core.plugins.module_utils._metrics import write as write_metrics
from ansible_collections.deployctl.core.plugins.module_utils._release_build import (
    BUILD_OPTIONS,
    MIGRATE_OPTIONS,
    staged_build,
    staged_migrate,
)
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore
from ansible_collections.deployctl.core.plugins.module_utils._staging import StageRequest, Staging

REQUIRED_BY_STATE = {
    "staged": ["release_id", "repo_url", "version", "app_user"],
    "built": ["release_id"],
    "active": ["release_id"],
    "failed": ["release_id"],
}


ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "deploy_to": {"type": "path", "required": True},
    "state": {
        "type": "str",
        "required": True,
        "choices": ["staged", "built", "active", "failed", "query", "clean"],
    },
    "release_id": {"type": "str"},
    "repo_url": {"type": "str"},
    "version": {"type": "str"},
    "commit": {"type": "str"},
    "repo_ssh_command": {"type": "str"},
    "app_user": {"type": "str"},
    "app_user_create": {"type": "bool", "default": False},
    "shared_dirs": {"type": "list", "elements": "str", "default": []},
    "shared_files": {"type": "list", "elements": "str", "default": []},
    "config_path": {"type": "str", "default": "config/production.yml"},
    "config_content": {"type": "str", "no_log": True},
    "config_owner": {"type": "str", "default": "root"},
    "secret_files": {"type": "dict", "no_log": True},
    "secret_environment": {"type": "dict", "no_log": True},
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
    "socket_unit": {"type": "str", "no_log": False},
    "logrotate_rule": {"type": "str"},
    "logrotate_path": {"type": "path"},
    "require_master_key": {"type": "bool", "default": False},
    "allowed_refs": {"type": "list", "elements": "str", "default": []},
    "unit_path": {"type": "path"},
    "restart": {"type": "bool", "default": False},
    "restart_service": {"type": "str"},
    "restart_timeout": {"type": "int", "default": 300},
    "lock": {"type": "dict", "options": {**LOCK_OPTIONS, "token": {"type": "str", "required": True}}},
    **{f"health_{name}": spec for name, spec in HEALTH_OPTIONS.items()},
    "health_checked_after": {"type": "bool", "default": False},
    "candidate": {
        "type": "dict",
        "options": {
            "health_url": {"type": "str", "required": True},
            "unit": {"type": "str"},
            "environment": {"type": "dict", "default": {}},
            "deadline": {"type": "float", "default": 60},
        },
    },
    "revert": {"type": "bool", "default": False},
    "revert_health_deadline": {"type": "float", "default": 120},
    "outage_since": {"type": "float"},
    "cleanup": {"type": "bool", "default": False},
    "unlock_token": {"type": "str", "no_log": False},
    "metrics": {"type": "dict", "options": METRICS_OPTIONS},
    "build": {"type": "dict", "options": BUILD_OPTIONS},
    "migrate": {"type": "dict", "options": MIGRATE_OPTIONS},
}

# The options of state=active that a stage call takes too, in `go_live`, for a commit it finds live.
GO_LIVE_KEYS = (
    "unit_path",
    "restart",
    "restart_service",
    "restart_timeout",
    "health_url",
    "health_status",
    "health_deadline",
    "health_interval",
    "health_timeout",
    "health_method",
    "health_host",
    "health_validate_certs",
    "health_fail_after",
    "health_checked_after",
    "candidate",
    "revert",
    "revert_health_deadline",
    "unlock_token",
)
# Without their defaults: a key left out (or null) in go_live keeps the top-level option's value.
GO_LIVE_SPEC = {
    "type": "dict",
    "options": {
        **{key: {k: v for k, v in ARGUMENT_SPEC[key].items() if k != "default"} for key in GO_LIVE_KEYS},
        "health_expect_revision": {"type": "bool", "default": False},
    },
}
ARGUMENT_SPEC.update(go_live=GO_LIVE_SPEC)


def main() -> None:
    started = time.monotonic()
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_if=[
            *[("state", state, fields) for state, fields in REQUIRED_BY_STATE.items()],
            ("restart", True, ["restart_service"]),
        ],
        supports_check_mode=True,
    )
    params = module.params
    state = params["state"]
    layout = Layout(params["deploy_to"])
    store = ReleaseStore(layout, params["host_label"])
    staging = Staging(StageRequest.from_params(params), layout, store, module.check_mode) if state == "staged" else None
    try:
        result = run_state(module, layout, store, staging)
    except DeployError as err:
        error = err
    except (OSError, ValueError) as err:
        # Unforeseen: the traceback goes with it, for -vvv.
        error = DeployError(f"{state}: {err}", exception=traceback.format_exc())
    else:
        elapsed = round(time.monotonic() - started, 2)
        # The switch's work: this call's (state=active), or the stage call's for a commit it found live (go_live).
        switch = result if state == "active" else result.get("switch")
        if switch is not None:
            finish_switch(module, layout, switch, call_elapsed=elapsed, staged=None if state == "active" else result)
        module.exit_json(elapsed=elapsed, **result)
    details: dict[str, Any] = dict(error.details)
    if state == "staged":
        # What the deploy role needs to report the failure: bad input, nothing changed (its
        # exit code 5), and whether there is a release of this run to mark failed.
        details.update(
            input_error=error.input_error,
            created=staging is not None and staging.created,
            user_created=staging is not None and staging.user_created,
        )
        # What serves on: a failure before the stage read it (an unknown ref) must not be reported as no release.
        details.setdefault("previous", layout.current_release() or "")
        # Its task does two stages' work ("Fetch and build"): a failure names its own (lock, setup, build and
        # test say so themselves).
        details.setdefault("stage", "fetch")
    module.fail_json(msg=error.msg, **details)


def run_state(module: AnsibleModule, layout: Layout, store: ReleaseStore, staging: Staging | None) -> dict:
    """Do what the task's state asks; return the module's result.

    staging: the Staging of state=staged, None for the other states. Raises InputError
    for a release_id that is not valid (before anything is looked at), and whatever the
    state's function raises (DeployError, OSError, ValueError).
    """
    params, check = module.params, module.check_mode
    state, release_id = params["state"], params["release_id"]
    if "release_id" in REQUIRED_BY_STATE.get(state, []):
        # Also a path component under DEPLOY_TO: "../x" must never reach one.
        problem = validate_release_id(release_id)
        if problem:
            raise InputError(problem)
    if params["lock"]:
        change(layout, store, {**params["lock"], "state": "acquired"}, check)
    if staging is not None:
        return stage_call(module, layout, store, staging)
    if state == "built":
        return publish(layout, store, release_id, check)
    if state == "active":
        return go_live(layout, store, go_live_request(go_live_settings(params)), check=check, diff=module._diff)
    if state == "failed":
        return mark_failed(layout, store, release_id, params["reason"], check)
    if state == "query":
        return query(layout, store)
    return clean(layout, store, params["keep_releases"], check)


def stage_call(module: AnsibleModule, layout: Layout, store: ReleaseStore, staging: Staging) -> dict:
    """state=staged: stage the release; with `build`, build it (then, unless the run is gone, the candidate's head
    start and, with `migrate`, the migrations); with `go_live`, switch to the commit found live or to the release
    built (and migrated) here. Returns the module's result; raises DeployError with what was staged and the seconds
    so far (the failed part's own details: `build`, `migrate`, `switch`)."""
    params, check, release_id = module.params, module.check_mode, module.params["release_id"]
    started = time.monotonic()
    result = staging.run()
    # Check mode builds nothing: release_command's build task, which runs when this call did not
    # build, says what would run.
    built = bool(params["build"]) and not result["already_live"] and not check
    if built:
        part = time.monotonic()
        try:
            result["build"] = staged_build(layout, store, release_id, params["build"])
        except DeployError as err:
            # The stage finished: the build's seconds are reported with it, also when it failed.
            raise stage_failure(err, result, started, build={"elapsed": round(time.monotonic() - part, 2)}) from err
        # An interrupted run goes no further than the build it was in: no candidate, no migration, no switch.
        stop_if_interrupted(store, release_id, "after its build, before the migrations and the switch")
        # The candidate's head start: it boots while the migrations run; the switch's call checks it.
        if params["candidate"]:
            service = go_live_settings(params)["restart_service"]
            result["candidate"] = head_start(layout, store, release_id, candidate_of(params["candidate"], service))
        if params["migrate"] and result["pending_migrations"]:
            # The schema the dump holds: the release's migrations the live one had applied.
            applied = sorted(set(result["migrations"]) - set(result["pending_migrations"]))
            try:
                result["migrate"] = staged_migrate(
                    layout, release_id, params["migrate"], params["host_label"], applied[-1] if applied else None
                )
            except DeployError as err:
                raise stage_failure(err, result, started) from err
    candidate = (params["go_live"] or {}).get("candidate") or params["candidate"]
    if result["already_live"] and candidate and not check:
        # Nothing is built: a candidate left by an interrupted run (which a build's head start would replace) is
        # stopped here. None runs legitimately while this run holds the lock.
        unit = candidate_of(candidate, go_live_settings(params)["restart_service"]).unit
        if stop_leftover(unit):
            result["stopped_candidate"] = unit
    # The switch in this call: of the commit found live, or of the release it built (and migrated).
    new_release = built and ("migrate" in result or not result["pending_migrations"])
    if params["go_live"] and not check and (result["already_live"] or new_release):
        if new_release and "migrate" in result:
            stop_if_interrupted(store, release_id, "after the migrations, before the switch")
        result["switch"] = stage_switch(module, layout, store, result, started)
    return result


def stage_failure(err: DeployError, staged: dict, started: float, **parts: object) -> DeployError:
    """A stage call's failure: `err` with what was staged (the commit, the previous release...: for its report), the
    seconds of the call so far (`elapsed`, from the time.monotonic() `started`) and `parts` over its details."""
    timing = {"elapsed": round(time.monotonic() - started, 2), **parts}
    return DeployError(err.msg, err.input_error, **{**staged, **err.details, **timing})


def stop_if_interrupted(store: ReleaseStore, release_id: str, where: str) -> None:
    """Raise DeployError (stage interrupted) when the run that called this stage call is gone (Ctrl-C, a killed
    run, a dropped connection: nothing reads its result), stopping the candidate a head start left for the release
    and journaling why; `where` says how far the call went ("after its build, ..."). A larger batch's calls stop
    there too: the controller never starts the next one."""
    if not caller_gone():
        return
    reason = f"the run that called it is gone (interrupted, killed or its connection lost); stopped {where}"
    stop_head_start(store, release_id)
    store.journal("aborted", release_id, reason=reason)
    raise DeployError(f"interrupted: {reason}", stage="interrupted")


def stage_switch(module: AnsibleModule, layout: Layout, store: ReleaseStore, staged: dict, started: float) -> dict:
    """A stage call's switch (`staged`, its result; the stage `started` at that time.monotonic()), of the commit it
    found live or of the release it built: what the switch's own call (state=active) would do, with go_live's
    settings - for a live commit the unit put back if something changed it, an app that runs other code restarted,
    the health check, the unlock; for a new release also the candidate check, the switch, the restart, the switch
    back on failure and the cleanup. Returns that call's result with `elapsed` (seconds); raises DeployError with
    the staged result, the seconds of the call so far (`elapsed`), the failed switch's details as `switch` (its own
    `elapsed`) and its stage (candidate, switch, restart, verify), InputError for settings it cannot use."""
    settings = {
        **go_live_settings(module.params),
        "release_id": staged["release_id"],
        "schema_version": staged["migrations"][-1] if staged["migrations"] else None,
        "health_body_contains": staged["commit"] if module.params["go_live"]["health_expect_revision"] else None,
    }
    if staged["already_live"]:
        # Nothing was added: nothing to clean up.
        settings["cleanup"] = False
    switching = time.monotonic()
    try:
        switch = go_live(layout, store, go_live_request(settings), check=False, diff=module._diff)
    except DeployError as err:
        now = time.monotonic()
        failed = {**err.details, "failed": True, "msg": err.msg, "elapsed": round(now - switching, 2)}
        # A setting it cannot use (no stage of its own) is the switch's, as in the switch's own call. The fetch
        # finished: its seconds are reported too (the call's, less the switch's).
        stage = err.details.get("stage") or "switch"
        timing = {"elapsed": round(now - started, 2)}
        raise DeployError(err.msg, err.input_error, **{**staged, **timing, "stage": stage, "switch": failed}) from err
    return {**switch, "elapsed": round(time.monotonic() - switching, 2)}


def finish_switch(
    module: AnsibleModule, layout: Layout, switch: dict, call_elapsed: float, staged: dict | None = None
) -> None:
    """After a successful switch (`switch`: go_live's result, changed in place; `staged`: the stage call's result
    when that call switched): the deploy metrics, when asked (the run's last call on the host: its outcome is the
    one the role passed, `unchanged` for a commit the stage call found live; the stage seconds of this call added:
    a stage call's split by stage_seconds()), and the warnings the role reports (`stale_warning`) or that only the
    output says (socket activation taking the port)."""
    params = module.params
    if params["metrics"] and not module.check_mode:
        options, stages = params["metrics"], {"switch": call_elapsed}
        if staged is not None:
            outcome = "unchanged" if staged["already_live"] else options["outcome"]
            options = {**options, "release": switch["release_id"], "outcome": outcome}
            stages = stage_seconds(staged, call_elapsed)
        switch["metrics"] = write_metrics(layout, options, stages)
        if switch["metrics"].get("warning"):
            module.warn(switch["metrics"].pop("warning"))
    if switch.get("restarted_stale"):
        # Also returned, for the role's report: the CLI, the summary and set_stats say it as the host's warning.
        switch["stale_warning"] = (
            f"the app answered with another revision than release {switch['release_id']}, which current points "
            "at: its restart after an earlier switch never happened (the host was lost between the two?). "
            "It was restarted now"
        )
        module.warn(switch["stale_warning"])
    if switch.get("socket") == "started":
        module.warn(
            f"{switch['socket_unit']} now owns the app's port (socket activation): the service was stopped and "
            "started behind it, a short gap this once; from now on a restart keeps the port open"
        )


def stage_seconds(staged: dict, call_elapsed: float) -> dict:
    """The seconds (`call_elapsed`) of a stage call that switched, by stage: its build, backup, migrate and switch
    (their results' `elapsed`, the backup's within the migrations'), the rest its fetch."""
    migrate = staged.get("migrate") or {}
    backup = (migrate.get("backup") or {}).get("elapsed")
    parts = {
        "build": (staged.get("build") or {}).get("elapsed"),
        "backup": backup,
        "migrate": round(migrate["elapsed"] - (backup or 0), 2) if "elapsed" in migrate else None,
        "switch": staged["switch"]["elapsed"],
    }
    given = {stage: seconds for stage, seconds in parts.items() if seconds is not None}
    return {"fetch": round(call_elapsed - sum(given.values()), 2), **given}


def go_live_settings(params: dict) -> dict:
    """The module's parameters with those given in go_live (not null) in place of the top-level ones."""
    given = {
        key: value for key, value in (params["go_live"] or {}).items() if key in GO_LIVE_KEYS and value is not None
    }
    return {**params, **given}


def go_live_request(params: dict) -> GoLive:
    """The GoLive of a state=active call, from the module's parameters (go_live_settings'); raises InputError for a
    bad health_url, or a restart without the service to restart."""
    if params["restart"] and not params["restart_service"]:
        raise InputError("restart is true but restart_service is not set: name the service to restart")
    health = None
    if params["health_url"]:
        health = HealthCheck.from_params(params, prefix="health_")
        if health.problem():
            raise InputError(health.problem())
    return GoLive(
        release_id=params["release_id"],
        unit_path=params["unit_path"],
        previous_state=params["previous_state"],
        schema_version=params["schema_version"],
        restart_service=params["restart_service"] if params["restart"] else None,
        restart_timeout=params["restart_timeout"],
        health=health,
        revert=params["revert"],
        revert_deadline=params["revert_health_deadline"],
        outage_since=params["outage_since"],
        keep_releases=params["keep_releases"] if params["cleanup"] else None,
        unlock_token=params["unlock_token"],
        candidate=candidate_request(params, health),
        verify_after=params["health_checked_after"] and health is None,
    )


def candidate_request(params: dict, health: HealthCheck | None) -> Candidate | None:
    """The candidate check of a state=active call (None without `candidate` or health_url); raises InputError."""
    options = params["candidate"]
    if not options or health is None:
        return None
    url = options["health_url"]
    if not url.startswith(("http://", "https://")):
        raise InputError(f"candidate.health_url {url!r} must start with http:// or https://")
    if url == health.url:
        raise InputError(
            f"candidate.health_url {url!r} is the live app's health URL: the candidate would not be the one "
            "answering (set deploy_candidate_health_url to its side port, or deploy_candidate_check: false)"
        )
    return candidate_of(options, params["restart_service"])


def candidate_of(options: dict, service: str | None) -> Candidate:
    """The Candidate of a `candidate` option's value; its unit is SERVICE-candidate (app-candidate) unless named."""
    return Candidate(
        unit=options["unit"] or f"{service or 'app'}-candidate",
        health_url=options["health_url"],
        environment={name: str(value) for name, value in options["environment"].items()},
        deadline=options["deadline"],
    )


if __name__ == "__main__":
    main()
