# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP health check, shared by the http_check module and release state=active."""

from __future__ import annotations

import dataclasses
import http.client
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# The check's options as a module takes them (HealthCheck's fields; http_check's names, release's with the
# prefix health_), with HealthCheck's defaults.
HEALTH_OPTIONS: dict[str, dict[str, Any]] = {
    "url": {"type": "str"},
    "status": {"type": "list", "elements": "int", "default": [200]},
    "body_contains": {"type": "str"},
    "deadline": {"type": "float", "default": 60},
    "interval": {"type": "float", "default": 0.25},
    "timeout": {"type": "float", "default": 5},
    "method": {"type": "str", "default": "GET", "choices": ["GET", "HEAD"]},
    "host": {"type": "str"},
    "validate_certs": {"type": "bool", "default": True},
    "fail_after": {"type": "float", "default": 0},
}


@dataclass(frozen=True)
class HealthCheck:
    """What counts as healthy: an answer from `url` with one of the `status` codes whose body
    contains `body_contains` (when given), within `deadline` seconds, trying every `interval`
    seconds, each request allowed `timeout` seconds. Requests use `method` (GET or HEAD), send
    `host` as the Host header when given (a name-based virtual host behind a proxy on the
    host), and check an https URL's certificate unless `validate_certs` is false. A 5xx answer
    that persists for `fail_after` seconds ends the check early as unhealthy (0: wait out
    the deadline): a release that answers 500 does not serve its errors for the whole deadline."""

    url: str
    status: tuple[int, ...] = (200,)
    body_contains: str | None = None
    deadline: float = 60
    interval: float = 0.25
    timeout: float = 5
    method: str = "GET"
    host: str | None = None
    validate_certs: bool = True
    fail_after: float = 0

    @classmethod
    def from_params(cls, params: Mapping, prefix: str = "") -> HealthCheck:
        """The check a module's options describe: url, status, body_contains... each named PREFIX + field.

        A field the module has no option for keeps its default (http_check has no fail_after)."""
        values = {f.name: params[prefix + f.name] for f in dataclasses.fields(cls) if prefix + f.name in params}
        return cls(**{**values, "status": tuple(values["status"])})

    def problem(self) -> str:
        """Why the check cannot be made (a URL that is not http or https, a body to find in
        the answer to a HEAD request), or ''."""
        if not self.url.startswith(("http://", "https://")):
            return f"url {self.url!r} must start with http:// or https://"
        if self.method == "HEAD" and self.body_contains:
            return (
                "a HEAD request gets no body to find the deployed commit in: use GET, "
                "or set deploy_health_expect_revision: false"
            )
        return ""

    def run(self, gone: Callable[[], str] | None = None, until_answered: bool = False) -> dict:
        """Request the URL until healthy, past the deadline or failing fast; return what was seen.

        gone: asked after a request that got no answer; a non-empty reason (the process that
        should answer has exited) ends the check at once, as unhealthy with that reason.
        until_answered: the first answer ends the check, whatever its status (a candidate that booted long ago is
        judged by it).

        The result has `healthy` (bool), `status` (int, None without an answer), `body` (the
        first 500 characters), `error` (why the last answer did not count, '' when healthy),
        `attempts`, `elapsed` (seconds to the good answer or the deadline) and `latency_ms`
        (of the last request). Never raises for what the endpoint does.
        """
        started = time.monotonic()
        attempts = 0
        erring_since = None  # when the current run of 5xx answers began
        while True:
            attempts += 1
            sent = time.monotonic()
            code, body, error = probe(self.url, self.timeout, self.method, self.host, self.validate_certs)
            latency_ms = round((time.monotonic() - sent) * 1000, 1)
            if code is not None:
                # Any status may be the healthy one (a listed 503 included): judge it here.
                if code not in self.status:
                    error = f"status {code}, expected {' or '.join(map(str, self.status))}"
                elif self.body_contains and self.body_contains not in body:
                    error = f"status {code} but the body does not contain {self.body_contains!r}"
            healthy = not error
            now = time.monotonic()
            elapsed = round(now - started, 2)
            erring_since = (erring_since or now) if code is not None and code >= 500 else None
            stop = ""
            if code is None and gone is not None:
                stop = gone()
            elif erring_since is not None and self.fail_after and now - erring_since >= self.fail_after:
                stop = f"answered 5xx for {now - erring_since:.1f}s, gave up early (fail_after {self.fail_after:g}s)"
            if stop and not healthy:
                error = f"{error}; {stop}" if error else stop
            if healthy or stop or (until_answered and code is not None) or elapsed + self.interval > self.deadline:
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


def _unverified() -> ssl.SSLContext:
    """A TLS context that accepts any certificate (validate_certs: false, the user's choice)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def probe(
    url: str, timeout: float, method: str = "GET", host: str | None = None, validate_certs: bool = True
) -> tuple[int | None, str, str]:
    """One request: (status, body, error).

    status is None and error says why when no answer came (refused, timed out after
    `timeout` seconds, a certificate that does not validate); otherwise error is empty,
    whatever the status.
    """
    headers = {"User-Agent": "deployctl-http-check", **({"Host": host} if host else {})}
    request = urllib.request.Request(url, headers=headers, method=method)  # noqa: S310 - scheme checked by HealthCheck.problem()
    context = None if validate_certs else _unverified()
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310 - scheme checked by HealthCheck.problem()
            return response.status, response.read(4096).decode("utf-8", errors="replace"), ""
    except urllib.error.HTTPError as err:
        return err.code, err.read(4096).decode("utf-8", errors="replace"), ""
    except http.client.RemoteDisconnected as err:
        # Before OSError (it is a ConnectionResetError too): the server closed without a status line.
        return None, "", f"no answer: {err}"
    except http.client.HTTPException as err:
        # Something answered that is not HTTP (another daemon on that port: sshd's banner...): not healthy.
        # Not catching it crashed the module after the switch, so that nothing switched back.
        said = f"{type(err).__name__} {str(err)[:120]!r}"
        return None, "", f"not an HTTP answer: {said} (is another program on that port?)"
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return None, "", f"no answer: {reason}"
