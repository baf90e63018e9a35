#!/usr/bin/python
# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a build or migration command in a release, as the app user."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_command
short_description: Run a command (build, migrate) inside a release as the app user
description:
  - Runs O(argv) in the release's directory (the staging directory while the release is
    being built, C(releases/ID) after) as O(user), with a clean environment made of
    C(HOME), C(USER), C(PATH), C(LANG) and O(env).
  - The whole output goes to C(DEPLOY_TO/.deployctl/logs/ID-STAGE.log) (mode 0600); the
    result and any failure message carry its last lines.
  - Secrets never travel through argv or the environment; the application reads them from
    its configuration file.
version_added: 0.1.0
author: deployctl contributors
extends_documentation_fragment:
  - deployctl.core.deploy
  - deployctl.core.deploy.journal
options:
  release_id:
    description: The release to run in.
    type: str
    required: true
  stage:
    description: Name of the stage, used in the log file name and in messages.
    type: str
    required: true
  argv:
    description: The command and its arguments; no shell is involved.
    type: list
    elements: str
    required: true
  user:
    description: User to run as.
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
  secret_environment:
    description:
      - Add the release's secret environment (C(RELEASE/.deployctl-environment), written by
        M(deployctl.core.release) from its O(deployctl.core.release#module:secret_environment)) to
        O(env), read on the host (the values travel neither in the task's arguments nor in
        an argv). Nothing is added when the release has none.
    type: bool
    default: false
  test_argv:
    description:
      - A second command (the app's tests) run after O(argv) succeeded, the same way (user, directory,
        environment, O(timeout)), as stage C(test) with its own log C(DEPLOY_TO/.deployctl/logs/ID-test.log),
        before O(publish). Its failure is reported as stage C(test) (RV(stage)) and publishes nothing.
      - Empty (the default) runs nothing.
    type: list
    elements: str
    default: []
  publish:
    description:
      - After the command succeeded, publish the release as M(deployctl.core.release) with
        O(deployctl.core.release#module:state=built) does (the staging directory becomes
        C(releases/ID)), in the same call (for the build, one round trip fewer per host).
      - A failed command publishes nothing.
    type: bool
    default: false
  backup:
    description:
      - Before O(argv) runs (the migrations), dump the database as M(deployctl.core.db_backup) with
        O(deployctl.core.db_backup#module:state=dumped) does for O(release_id), in the same call (one round trip
        and one module payload fewer per deploy). Its keys are that module's options of the same names
        (C(connection), C(command), C(size_command), C(schema_command), C(backup_dir), C(shared_paths), C(keep),
        C(headroom_mb), C(timeout), C(schema_version)); the passwords in C(connection) are no_log.
      - A dump that cannot be taken fails the task with RV(stage=backup) before O(argv) runs, leaving no partial
        dump.
    type: dict
attributes:
  check_mode:
    support: full
    details: In check mode nothing runs; the result says what would.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Build the release
  deployctl.core.release_command:
    deploy_to: /srv/shop
    release_id: 20261126T145204Z
    stage: build
    argv: [make, deploy]
    user: shop
    env:
      RAILS_ENV: production
"""

RETURN = r"""
elapsed:
  description: Seconds the call worked on the host (the deploy metrics' stage durations).
  returned: success
  type: float
rc:
  description: Exit status of the command.
  returned: when it ran
  type: int
  sample: 0
seconds:
  description: How long it ran.
  returned: when it ran
  type: float
  sample: 1.07
log:
  description: File holding the whole output.
  returned: always
  type: str
  sample: /srv/shop/.deployctl/logs/20261126T145204Z-build.log
tail:
  description: Last lines of the output.
  returned: when it ran
  type: list
  elements: str
chdir:
  description: Directory the command ran in.
  returned: always
  type: str
stage:
  description:
    - V(test) when the command of O(test_argv) failed, V(backup) when the dump of O(backup) could not be taken (a
      failure of O(argv) carries no stage).
  returned: failure of the test command or of the backup
  type: str
backup:
  description:
    - With O(backup), the dump as M(deployctl.core.db_backup) returns it, C(removed) (older dumps removed) and
      C(elapsed) (seconds the whole step took, checks and queries included; C(seconds) is the dump command's).
  returned: success with backup
  type: dict
test:
  description: The run of O(test_argv), with C(rc), C(seconds), C(log) and C(tail) as for O(argv).
  returned: success with test_argv
  type: dict
path:
  description: Directory of the published release, with O(publish).
  returned: success with publish
  type: str
"""

import os
import shlex
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deployctl.core.plugins.module_utils._db_dump import DUMP_OPTIONS, take_stage
from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._release_build import (
    BUILD_OPTIONS,
    Command,
    build,
    run_stage,
    with_secret_environment,
)
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore


def take_backup(module: AnsibleModule, layout: Layout) -> dict:
    """The dump of the `backup` option (its record, with `removed` and `elapsed`); fails the module at stage
    backup."""
    params = module.params
    try:
        taken = take_stage(layout, params["release_id"], params["backup"], params["host_label"])
    except DeployError as err:
        module.fail_json(msg=err.msg, input_error=err.input_error, **err.details)
    return taken


def main() -> None:
    started = time.monotonic()
    module = AnsibleModule(
        argument_spec={
            "deploy_to": {"type": "path", "required": True},
            "release_id": {"type": "str", "required": True},
            "stage": {"type": "str", "required": True},
            # argv, user, env, timeout, tail_lines, test_argv: release state=staged's `build` takes the same.
            **BUILD_OPTIONS,
            "publish": {"type": "bool", "default": False},
            "backup": {"type": "dict", "options": DUMP_OPTIONS},
            "secret_environment": {"type": "bool", "default": False},
            "host_label": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    params = module.params
    layout = Layout(params["deploy_to"])
    release_id, stage = params["release_id"], params["stage"]
    chdir = layout.staging(release_id)
    if not os.path.isdir(chdir):
        chdir = layout.release(release_id)
    log = layout.log(release_id, stage)
    if module.check_mode:
        # Check mode stages nothing: say what would run.
        shown = shlex.join(params["argv"])
        module.exit_json(changed=True, log=log, chdir=chdir, msg=f"would run `{shown}` as {params['user']}")
    if not os.path.isdir(chdir):
        module.fail_json(
            msg=f"{stage}: release {release_id} does not exist under {layout.releases}", log=log, chdir=chdir
        )

    command = Command.from_params(params)
    try:
        if params["secret_environment"]:
            command = with_secret_environment(command, chdir, stage, release_id)
        backup = take_backup(module, layout) if params["backup"] else None
        if params["publish"]:
            store = ReleaseStore(layout, params["host_label"])
            argv, test_argv = params["argv"], params["test_argv"]
            result = build(layout, store, release_id, argv, command, stage=stage, chdir=chdir, test_argv=test_argv)
        else:
            result = run_stage(layout, release_id, stage, params["argv"], chdir, command)
            if params["test_argv"]:
                result["test"] = run_stage(layout, release_id, "test", params["test_argv"], chdir, command, "test")
    except DeployError as err:
        module.fail_json(msg=err.msg, **err.details)
    if backup is not None:
        result["backup"] = backup
    module.exit_json(changed=True, elapsed=round(time.monotonic() - started, 2), **result)


if __name__ == "__main__":
    main()
