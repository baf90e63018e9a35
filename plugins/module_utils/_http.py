# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP health check, shared by the http_check module and release state=active."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class HealthCheck:
    """What counts as healthy: an answer from `url` with one of the `status` codes whose body
    contains `body_contains` (when given), within `deadline` seconds, trying every `interval`
    seconds, each request allowed `timeout` seconds."""

    url: str
    status: tuple[int, ...] = (200,)
    body_contains: str | None = None
    deadline: float = 60
    interval: float = 1
    timeout: float = 5

    def problem(self) -> str:
        """Why the check cannot be made (a URL that is not http or https), or ''."""
        if not self.url.startswith(("http://", "https://")):
            return f"url {self.url!r} must start with http:// or https://"
        return ""

    def run(self) -> dict:
        """Request the URL until healthy or past the deadline; return what was seen.

        The result has `healthy` (bool), `status` (int, None without an answer), `body` (the
        first 500 characters), `error` (why the last answer did not count, '' when healthy),
        `attempts`, `elapsed` (seconds to the good answer or the deadline) and `latency_ms`
        (of the last request). Never raises for what the endpoint does.
        """
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            sent = time.monotonic()
            code, body, error = probe(self.url, self.timeout)
            latency_ms = round((time.monotonic() - sent) * 1000, 1)
            if code is not None:
                # Any status may be the healthy one (a listed 503 included): judge it here.
                if code not in self.status:
                    error = f"status {code}, expected {' or '.join(map(str, self.status))}"
                elif self.body_contains and self.body_contains not in body:
                    error = f"status {code} but the body does not contain {self.body_contains!r}"
            healthy = not error
            elapsed = round(time.monotonic() - started, 2)
            if healthy or elapsed + self.interval > self.deadline:
                return {
                    "healthy": healthy,
                    "status": code,
                    "body": body[:500],
                    "error": error,
                    "attempts": attempts,
                    "elapsed": elapsed,
                    "latency_ms": latency_ms,
                }
            time.sleep(self.interval)

    def failure(self, result: dict) -> str:
        """The message for a result of run() that is not healthy: the URL, the attempts and the last answer."""
        return (
            f"{self.url} is not healthy after {result['attempts']} attempts in {result['elapsed']}s: "
            f"{result['error']}" + (f"; last body: {result['body'][:200]!r}" if result["body"] else "")
        )


def probe(url: str, timeout: float) -> tuple[int | None, str, str]:
    """One request: (status, body, error).

    status is None and error says why when no answer came (refused, timed out after
    `timeout` seconds); otherwise error is empty, whatever the status.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "deployctl-http-check"})  # noqa: S310 - scheme checked by HealthCheck.problem()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked by HealthCheck.problem()
            return response.status, response.read(4096).decode("utf-8", errors="replace"), ""
    except urllib.error.HTTPError as err:
        return err.code, err.read(4096).decode("utf-8", errors="replace"), ""
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return None, "", f"no answer: {reason}"
