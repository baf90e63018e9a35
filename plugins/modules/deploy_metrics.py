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
    run per action and outcome), C(deployctl_last_run_info) (the most recent run, labelled with its action, outcome,
    release and ref),
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
    description:
      - When the run started (Unix time, seconds; the controller's clock). It finishes when this module runs
        (the host's clock, so keep the clocks in sync, as NTP does).
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
from ansible_collections.deployctl.core.plugins.module_utils._metrics import METRICS_OPTIONS, write


def main() -> None:
    module = AnsibleModule(argument_spec={"deploy_to": {"type": "path", "required": True}, **METRICS_OPTIONS})
    result = write(Layout(module.params["deploy_to"]), module.params)
    if result.get("warning"):
        module.warn(result.pop("warning"))
    module.exit_json(changed=result["written"], **result)


if __name__ == "__main__":
    main()
