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
  - Never changes anything.
version_added: 0.1.0
author: deployctl contributors
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
    default: 1
  timeout:
    description: Seconds one request may take.
    type: float
    default: 5
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

import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule


def probe(url: str, timeout: float) -> tuple[int | None, str, str]:
    """One request: (status, body, error).

    status is None and error says why when no answer came (refused, timed out after
    `timeout` seconds); otherwise error is empty, whatever the status.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "deployctl-http-check"})  # noqa: S310 - scheme checked in main()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked in main()
            return response.status, response.read(4096).decode("utf-8", errors="replace"), ""
    except urllib.error.HTTPError as err:
        return err.code, err.read(4096).decode("utf-8", errors="replace"), ""
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return None, "", f"no answer: {reason}"


def check(
    url: str, status: list[int], body_contains: str | None, deadline: float, interval: float, timeout: float
) -> dict:
    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        sent = time.monotonic()
        code, body, error = probe(url, timeout)
        latency_ms = round((time.monotonic() - sent) * 1000, 1)
        if code is not None:
            # Any status may be the healthy one (a listed 503 included): judge it here.
            if code not in status:
                error = f"status {code}, expected {' or '.join(map(str, status))}"
            elif body_contains and body_contains not in body:
                error = f"status {code} but the body does not contain {body_contains!r}"
        healthy = not error
        elapsed = round(time.monotonic() - started, 2)
        if healthy or elapsed + interval > deadline:
            return {
                "healthy": healthy,
                "status": code,
                "body": body[:500],
                "error": error,
                "attempts": attempts,
                "elapsed": elapsed,
                "latency_ms": latency_ms,
            }
        time.sleep(interval)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "status": {"type": "list", "elements": "int", "default": [200]},
            "body_contains": {"type": "str"},
            "deadline": {"type": "float", "default": 60},
            "interval": {"type": "float", "default": 1},
            "timeout": {"type": "float", "default": 5},
        },
        supports_check_mode=True,
    )
    p = module.params
    if not p["url"].startswith(("http://", "https://")):
        module.fail_json(msg=f"url {p['url']!r} must start with http:// or https://")
    result = check(p["url"], p["status"], p["body_contains"], p["deadline"], p["interval"], p["timeout"])
    if not result["healthy"]:
        module.fail_json(
            msg=(
                f"{p['url']} is not healthy after {result['attempts']} attempts in {result['elapsed']}s: "
                f"{result['error']}" + (f"; last body: {result['body'][:200]!r}" if result["body"] else "")
            ),
            changed=False,
            **result,
        )
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
