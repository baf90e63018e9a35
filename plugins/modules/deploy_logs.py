#!/usr/bin/python
# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the last lines of one of the app's logs, or (following) the lines written since the last call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_logs
short_description: The last lines of the app's log, its service's journal, or a release's build, test or migrate log
description:
  - Reads one log of the application on the host, as root (the build, test and migrate logs are root's only).
  - O(source=app) reads O(app_path), or when it is empty the app's own output (stdout and stderr) in the
    journal of O(service) (C(_SYSTEMD_UNIT=SERVICE _TRANSPORT=stdout)), for an app that logs to stdout (as Rails
    does with C(RAILS_LOG_TO_STDOUT) or a logger on C($stdout)) and has no log file.
  - O(source=service) reads the whole journal of O(service) (C(journalctl -u)), systemd's own lines
    (started, stopped, failed) included.
  - O(source=build), O(source=test) (the app's tests, C(deploy_test_command)) and O(source=migrate) read
    C(DEPLOY_TO/.deployctl/logs/RELEASE-STAGE.log), the whole output of that stage of O(release) (the live release
    by default). The migrations run once per deploy, on one host, so the other hosts have no migrate log for that
    release.
  - Without O(follow), returns the last O(lines) lines. With O(follow), the first call returns the last O(lines)
    lines too, and each later call with the same O(follow) ID returns the lines written since the previous one,
    waiting up to O(wait) seconds for some (a long poll, returning as soon as there are some). Run it again and again
    (C(until) with many C(retries)) to follow the log. Where a call stopped is kept in a state file under
    O(state_dir) (0600 in a 0700 directory, root's), named by a hash of O(follow) and the log; states unused for
    an hour are removed.
  - A log file that was rotated (a new inode) or truncated since the previous call is read again from its
    start. Lines written to the old file after the previous call and before the rotation are not returned.
version_added: 0.1.0
author: deployctl contributors
extends_documentation_fragment:
  - deployctl.core.deploy
options:
  source:
    description: Which log.
    type: str
    required: true
    choices: [app, service, build, test, migrate]
  lines:
    description: How many of the last lines to return (without O(follow), or on its first call).
    type: int
    default: 50
  service:
    description: The app's systemd service (C(shop) or C(shop.service)); needed for O(source=service) and for
      O(source=app) without O(app_path).
    type: str
    default: ""
  app_path:
    description: The file the app logs to, e.g. C(DEPLOY_TO/shared/log/production.log). Empty, the app logs to
      stdout, read from the service's journal.
    type: path
    default: ""
  release:
    description: The release whose build, test or migrate log to read; empty, the live release (C(DEPLOY_TO/current)).
    type: str
    default: ""
  follow:
    description: An ID of the follow this call belongs to (the same on each call of one follow); empty, no follow.
    type: str
    default: ""
  wait:
    description: With O(follow), seconds to wait for new lines before returning none.
    type: float
    default: 1.5
  state_dir:
    description: Where the follows' states are kept (0700, root's); a tmpfs (C(/run)) forgets them at boot.
    type: path
    default: /run/deployctl
attributes:
  check_mode:
    support: full
    details: It only reads (a follow writes its state file, in check mode too).
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: The last 100 lines of the app's service journal
  deployctl.core.deploy_logs:
    deploy_to: /srv/shop
    source: service
    service: shop
    lines: 100
  register: logs
"""

RETURN = r"""
lines:
  description: The lines, oldest first (a journal's as C(journalctl -o short-iso) prints them); at most 4000
    characters each.
  returned: success
  type: list
  elements: str
cursor:
  description: Where the read stopped (a file's C(inode) and C(offset), or the journal's cursor).
  returned: success
  type: raw
log:
  description: What was read, the file's path or C(journal UNIT).
  returned: always
  type: str
  sample: /srv/shop/.deployctl/logs/20261126T145204Z-build.log
absent:
  description: Why this host has no migrate log for the release, with the file's path (O(source=migrate) without
    O(follow); the migrations run once per deploy, on one host). Not a failure; RV(lines) is empty.
  returned: success, when the migrate log is not on this host
  type: str
input_error:
  description: The failure is the input's (a release ID that is none, a negative O(lines)), not the host's.
  returned: failure, when true
  type: bool
restarted:
  description: With O(follow), whether the file was rotated or truncated since the previous call.
  returned: success
  type: bool
"""

import os
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deployctl.core.plugins.module_utils import _logs
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout, validate_release_id

SOURCES = ["app", "service", "build", "test", "migrate"]
POLL_SECONDS = 0.2
# A follow whose journal had no entry to start from reads at most this many of the first ones.
FOLLOW_CATCH_UP = 1000


class LogMissing(Exception):
    """The host has no such log; the message names it, why, and what to set."""


class BadRelease(LogMissing):
    """The release named is no release ID at all: input to fix (the result's `input_error`), not the host's state."""


def where(params: dict[str, Any]) -> tuple[str, list[str] | None]:
    """What to read: (a file's path, None) or (a description, journalctl's matches). Raises LogMissing."""
    source, layout = params["source"], Layout(params["deploy_to"])
    if source == "app" and params["app_path"]:
        return params["app_path"], None
    if source in ("app", "service"):
        if not params["service"]:
            raise LogMissing(f"source {source} reads the journal of the app's service: give its name (service)")
        unit = _logs.unit_name(params["service"])
        if source == "service":
            return f"journal {unit}", [f"--unit={unit}"]
        return f"journal {unit} (the app's stdout)", [f"_SYSTEMD_UNIT={unit}", "_TRANSPORT=stdout"]
    release = params["release"] or layout.current_release()
    if not release:
        raise LogMissing(f"no release is live under {layout.root}: deploy one, or name a release for its {source} log")
    invalid = validate_release_id(release)
    if invalid:
        raise BadRelease(invalid)
    return layout.log(release, source), None


def missing_file(params: dict[str, Any], path: str, err: OSError) -> str:
    """Why a log file cannot be read, and what to do."""
    source = params["source"]
    if not isinstance(err, FileNotFoundError):
        return f"cannot read the {source} log {path}: {err}"
    if source == "app":
        return (
            f"no app log at {path} (deploy_logs_app_path): set deploy_logs_app_path to the file the app logs to, "
            "or to an empty string when it logs to stdout (read from the service's journal)"
        )
    release = os.path.basename(path)[: -len(f"-{source}.log")]
    if source == "migrate":
        return (
            f"no migrate log for release {release} on this host ({path}): the migrations run once per deploy, on "
            "one host (deploy_migrate_host), and only when the release brings new ones"
        )
    if source == "test":
        return (
            f"no test log for release {release} on this host ({path}): the app's tests run after the build only when "
            "deploy_test_command is set"
        )
    return f"no build log for release {release} on this host ({path}): the release was not built here by deployctl"


def read_journal(module: AnsibleModule, matches: list[str], lines: int, cursor: str | None) -> tuple[list[str], Any]:
    rc, out, err = module.run_command(_logs.journal_argv(matches, lines, cursor))
    if rc != 0:
        raise LogMissing(f"journalctl failed (exit {rc}): {err.strip() or out.strip()}")
    return _logs.parse_journal(out, cursor)


def read_once(module: AnsibleModule, log: str, matches: list[str] | None, state: dict[str, Any] | None) -> dict:
    """One read: the last lines (no state) or those since the state's cursor."""
    lines = module.params["lines"]
    if matches is not None:
        if state is None:
            # At least one entry, for its cursor: a follow from -n 0 must know where "now" is.
            found, cursor = read_journal(module, matches, max(lines, 1), None)
            return {"lines": found[-lines:] if lines else [], "cursor": cursor, "restarted": False}
        # No cursor yet (the journal had no entry when the follow began): every entry is new.
        found, cursor = read_journal(module, matches, FOLLOW_CATCH_UP, state["cursor"])
        return {"lines": found, "cursor": cursor, "restarted": False}
    if state is None:
        found, position = _logs.tail_file(log, lines)
        return {"lines": found, "cursor": position, "restarted": False}
    found, position, restarted = _logs.read_file_since(log, state["cursor"])
    return {"lines": found, "cursor": position, "restarted": restarted}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "deploy_to": {"type": "path", "required": True},
            "source": {"type": "str", "required": True, "choices": SOURCES},
            "lines": {"type": "int", "default": 50},
            "service": {"type": "str", "default": ""},
            "app_path": {"type": "path", "default": ""},
            "release": {"type": "str", "default": ""},
            "follow": {"type": "str", "default": ""},
            "wait": {"type": "float", "default": 1.5},
            "state_dir": {"type": "path", "default": "/run/deployctl"},
        },
        supports_check_mode=True,
    )
    params = module.params
    if params["lines"] < 0:
        module.fail_json(msg=f"lines {params['lines']}: give 0 or more", input_error=True)
    try:
        log, matches = where(params)
    except LogMissing as err:
        module.fail_json(msg=str(err), log="", input_error=isinstance(err, BadRelease))
    state_file = _logs.state_path(params["state_dir"], params["follow"], f"{log}\0{params['source']}")
    state = _logs.load_state(state_file) if params["follow"] else None
    deadline = time.monotonic() + max(0.0, params["wait"])
    restarted = False
    try:
        while True:
            result = read_once(module, log, matches, state)
            restarted = restarted or result["restarted"]
            # A first call returns the last lines at once; a later one waits for new lines, up to `wait`.
            if state is None or result["lines"] or time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS)
            state = {"cursor": result["cursor"]}
    except FileNotFoundError as err:
        if params["source"] == "migrate" and not params["follow"]:
            # The other hosts of a deploy have none (the migrations run on one): what is there is read, not a failure.
            module.exit_json(
                changed=False, log=log, lines=[], cursor=None, restarted=False, absent=missing_file(params, log, err)
            )
        module.fail_json(msg=missing_file(params, log, err), log=log)
    except OSError as err:
        module.fail_json(msg=missing_file(params, log, err), log=log)
    except LogMissing as err:
        module.fail_json(msg=str(err), log=log)
    if params["follow"]:
        _logs.save_state(params["state_dir"], state_file, {"cursor": result["cursor"]})
        _logs.prune_states(params["state_dir"], keep=state_file)
    module.exit_json(changed=False, log=log, lines=result["lines"], cursor=result["cursor"], restarted=restarted)


if __name__ == "__main__":
    main()
