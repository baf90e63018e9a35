#!/usr/bin/python
# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check an HTTP endpoint until it answers as expected or a deadline passes."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: http_check
short_description: Health-check an HTTP endpoint with retries and a deadline
description:
  - Requests O(url) from the managed host until the answer has one of the O(status) codes
    and, when given, its body contains O(body_contains), or until O(deadline) seconds
    have passed.
  - Reports the attempts, the time until the first good answer and the last answer seen,
    so a failure says what the app really answered.
  - Changes nothing on the host, except for one record with O(release_id): see there.
version_added: 0.1.0
author: deployctl contributors
extends_documentation_fragment:
  - deployctl.core.deploy.journal
options:
  url:
    description: URL to request, as seen from the managed host.
    type: str
    required: true
  status:
    description: Status codes that count as healthy.
    type: list
    elements: int
    default: [200]
  body_contains:
    description: Text the body must contain (for example the deployed commit).
    type: str
  deadline:
    description: Seconds to keep trying.
    type: float
    default: 60
  interval:
    description: Seconds between attempts.
    type: float
    default: 0.25
  timeout:
    description: Seconds one request may take.
    type: float
    default: 5
  method:
    description: The request's method; V(HEAD) gets no body, so it cannot be combined with O(body_contains).
    type: str
    choices: [GET, HEAD]
    default: GET
  host:
    description: Host header to send, for a name-based virtual host (the URL then names the address).
    type: str
  validate_certs:
    description: Check the certificate of an https URL; false accepts a self-signed one.
    type: bool
    default: true
  release_id:
    description:
      - The release this check is of, under O(deploy_to). When the check passes (not in check mode), and the
        switch to it left it not verified (M(deployctl.core.release) with
        O(deployctl.core.release#module:health_checked_after)), its record says C(verified) true and the
        journal gets the C(verified) line that ends the deploy's run. The result's C(changed) stays false.
    type: str
  deploy_to:
    description: The app's base directory on the host, for O(release_id).
    type: path
attributes:
  check_mode:
    support: full
    details: The request is read-only, so it is made in check mode too.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Wait for the new release to answer with its revision
  deployctl.core.http_check:
    url: http://127.0.0.1:3000/up
    body_contains: "{{ staged.commit }}"
    deadline: 60
"""

RETURN = r"""
healthy:
  description: Whether the endpoint answered as expected before the deadline.
  returned: always
  type: bool
status:
  description: Status code of the last answer (V(null) when there was none).
  returned: always
  type: int
  sample: 200
body:
  description: First 500 characters of the last answer's body.
  returned: always
  type: str
error:
  description: Why the last attempt did not count (connection refused, wrong status, body mismatch).
  returned: always
  type: str
attempts:
  description: Number of requests made.
  returned: always
  type: int
  sample: 3
elapsed:
  description: Seconds from the first request to the good answer (or the deadline).
  returned: always
  type: float
latency_ms:
  description: Duration of the last request in milliseconds.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deployctl.core.plugins.module_utils._http import HEALTH_OPTIONS, HealthCheck
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            # No fail_after here: HealthCheck's default (0, the deadline is waited out).
            **{name: spec for name, spec in HEALTH_OPTIONS.items() if name != "fail_after"},
            "url": {"type": "str", "required": True},
            "release_id": {"type": "str"},
            "deploy_to": {"type": "path"},
            "host_label": {"type": "str", "default": ""},
        },
        required_together=[("release_id", "deploy_to")],
        supports_check_mode=True,
    )
    p = module.params
    health = HealthCheck.from_params(p)
    if health.problem():
        module.fail_json(msg=health.problem())
    result = health.run()
    if not result["healthy"]:
        module.fail_json(msg=health.failure(result), changed=False, **result)
    if p["release_id"] and not module.check_mode:
        try:
            ReleaseStore(Layout(p["deploy_to"]), p["host_label"]).passed_check(
                p["release_id"], result.get("elapsed"), switched=False
            )
        except (OSError, ValueError) as err:
            module.fail_json(msg=f"the check passed, but it could not be recorded under {p['deploy_to']}: {err}")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
