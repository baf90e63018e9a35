#!/usr/bin/python
# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the host's deploy metrics for node_exporter's textfile collector."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_metrics
short_description: Write a host's deploy metrics in Prometheus's text format
description:
  - Counts a finished deploy or rollback in and rewrites C(TEXTFILE_DIR/deployctl-APP.prom) whole (a temp file
    renamed), for node_exporter's textfile collector. The deploy role calls it from its report, after every
    deploy, revert and rollback, also failed ones.
  - The metrics (all with the labels C(app) and C(environment)) are C(deployctl_runs_total) (counter, by C(action)
    and C(outcome)), C(deployctl_last_run_timestamp_seconds) and C(deployctl_last_run_duration_seconds) (the last
    run per action and outcome), C(deployctl_last_run_info) (the most recent run, labelled with its action, outcome, release and ref),
    C(deployctl_release_info) (the live release with its release, commit, ref and schema_version, read from the
    release's record on the host) and C(deployctl_last_deploy_stage_duration_seconds) (per stage).
  - Counters persist in C(DEPLOY_TO/.deployctl/metrics.json) (root only).
  - Never fails the task for the metrics' sake. A missing directory is reported as C(written=false) with the
    reason (no textfile collector on this host), a write error as a warning.
version_added: 0.2.0
author: deployctl contributors
extends_documentation_fragment:
  - deployctl.core.deploy
options:
  textfile_dir:
    description: node_exporter's C(--collector.textfile.directory) (Debian's is C(/var/lib/prometheus/node-exporter)).
    type: path
    required: true
  app:
    description: The app's name (label C(app), and the file's name).
    type: str
    required: true
  environment:
    description: The environment's name (label C(environment)).
    type: str
    required: true
  action:
    description: What ran.
    type: str
    required: true
    choices: [deploy, rollback]
  outcome:
    description:
      - Its outcome as the role reports it (V(deployed), V(unchanged), V(reverted), V(aborted), V(failed),
        V(rolled_back)).
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
    description: When the run started (Unix time, seconds).
    type: float
    required: true
  finished_at:
    description: When the run reported its outcome (Unix time, seconds, the same clock as O(started_at)).
    type: float
    required: true
  stages:
    description:
      - Seconds each stage's call worked on the host (a deploy's C(fetch), C(build), C(backup), C(migrate),
        C(switch)).
    type: dict
    default: {}
attributes:
  check_mode:
    support: none
    details: The role does not call it in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Count a deploy in
  deployctl.core.deploy_metrics:
    deploy_to: /srv/shop
    textfile_dir: /var/lib/prometheus/node-exporter
    app: shop
    environment: production
    action: deploy
    outcome: deployed
    release: 20261130T101500Z
    ref: v1.4.2
    started_at: 1764497700.2
    finished_at: 1764497716.9
    stages: {fetch: 1.2, build: 8.4, migrate: 2.1, switch: 2.9}
"""

RETURN = r"""
written:
  description: Whether the file was written.
  returned: always
  type: bool
path:
  description: The file.
  returned: always
  type: str
reason:
  description: Why it was not written.
  returned: when not written
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._metrics import Run, Textfile
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "deploy_to": {"type": "path", "required": True},
            "textfile_dir": {"type": "path", "required": True},
            "app": {"type": "str", "required": True},
            "environment": {"type": "str", "required": True},
            "action": {"type": "str", "required": True, "choices": ["deploy", "rollback"]},
            "outcome": {"type": "str", "required": True},
            "release": {"type": "str", "default": ""},
            "ref": {"type": "str", "default": ""},
            "started_at": {"type": "float", "required": True},
            "finished_at": {"type": "float", "required": True},
            "stages": {"type": "dict", "default": {}},
        },
    )
    params = module.params
    layout = Layout(params["deploy_to"])
    textfile = Textfile(layout, params["textfile_dir"], params["app"])
    run = Run(
        action=params["action"],
        outcome=params["outcome"],
        release=params["release"],
        ref=params["ref"],
        started_at=params["started_at"],
        finished_at=params["finished_at"],
        stages={stage: float(seconds) for stage, seconds in params["stages"].items() if seconds is not None},
    )
    labels = {"app": params["app"], "environment": params["environment"]}
    try:
        live = ReleaseStore(layout).get(layout.current_release())
    except ValueError:
        live = None
    try:
        textfile.write(run, labels, live)
    except FileNotFoundError as err:
        reason = f"{err} (no node_exporter textfile collector here: set deploy_metrics_textfile_dir)"
        module.exit_json(changed=False, written=False, path=textfile.path, reason=reason)
    except (OSError, ValueError) as err:
        module.warn(f"the deploy metrics were not written to {textfile.path}: {err}")
        module.exit_json(changed=False, written=False, path=textfile.path, reason=str(err))
    module.exit_json(changed=True, written=True, path=textfile.path)


if __name__ == "__main__":
    main()
