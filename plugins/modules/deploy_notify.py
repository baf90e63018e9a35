#!/usr/bin/python
# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the deploy_notify action (plugins/action/deploy_notify.py): it has no module code."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_notify
short_description: Tell Grafana, Sentry and a webhook how a deploy or rollback went
description:
  - An action that runs on the controller only (no host is contacted), once per run, after every
    host's outcome is known (the deploy role's C(notify.yml)).
  - Each receiver is on when its URL variable is set, and off by default. The receivers' settings
    are read from the play's variables, not from options, so that tokens (vault values) never appear
    in task arguments, job events or results; error text is scrubbed of them.
  - "Grafana gets an annotation (C(POST {deploy_grafana_url}/api/annotations) with the bearer token
    C(deploy_grafana_token)) tagged C(deployctl), C(app:NAME), C(env:ENV), C(release:ID), C(outcome:OUTCOME),
    C(kind:KIND) and the tags of C(deploy_grafana_tags)."
  - Sentry gets a release named by the commit and a deploy to the environment through C(sentry-cli)
    (C(releases new), C(releases set-commits --commit REPO@SHA) when C(deploy_sentry_repo) is set,
    C(releases finalize), C(deploys new)), only when every host succeeded; the token is passed in
    C(SENTRY_AUTH_TOKEN).
  - The webhook gets one JSON document (see the README, "Notifications").
  - A receiver that fails (refused, timed out, an HTTP error, sentry-cli missing or failing) is a
    warning; the task never fails for it.
  - Skipped when every host was unchanged (nothing happened), and on a serial batch that is not the
    last unless one of its hosts failed.
version_added: 0.2.0
author: deployctl contributors
options:
  kind:
    description: What ran.
    type: str
    choices: [deploy, rollback]
    required: true
  app:
    description: The application's name (C(deploy_app_name)).
    type: str
    required: true
  environment:
    description: The environment's label (C(deploy_environment)).
    type: str
    required: true
  ref:
    description: The ref deployed (empty for a rollback).
    type: str
    default: ""
  release:
    description: The run's release ID.
    type: str
    required: true
  by:
    description: Who ran it.
    type: str
    default: ""
  started_at:
    description: When the run started, epoch seconds (the annotation's start, the deploy's).
    type: float
  hosts:
    description: Each host's published result (docs/results.md), by host name.
    type: dict
    required: true
  batch:
    description: The hosts of this serial batch; one that published no result was lost (unreachable).
    type: list
    elements: str
    default: []
  last_batch:
    description:
      - Whether the run ends with this serial batch (the last one, or one that stops the rollout). Only then
        are the receivers told, once, about every host of the run.
    type: bool
    default: true
attributes:
  check_mode:
    support: none
    details: The role does not notify in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: "Notify: tell the receivers how the run went"
  deployctl.core.deploy_notify:
    kind: deploy
    app: "{{ deploy_app_name }}"
    environment: "{{ deploy_environment }}"
    ref: "{{ deploy_ref }}"
    release: "{{ __deploy_release_id }}"
    hosts: {web1: {outcome: deployed, commit: 0123abcd}}
  run_once: true
"""

RETURN = r"""
outcome:
  description: The run's outcome (V(deployed) or V(rolled_back) when every host succeeded, else the worst host's).
  returned: when not skipped
  type: str
  sample: deployed
notifications:
  description: Each receiver that is on, with C(ok), C(message), and C(status) (HTTP) or C(rc) (sentry-cli).
  returned: always
  type: dict
  sample: {grafana: {ok: true, status: 200, message: "Grafana: HTTP 200"}}
"""
