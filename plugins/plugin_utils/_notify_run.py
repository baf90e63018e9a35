# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one deploy (or rollback) run tells its receivers, and whether it tells them anything.

Controller-side only (the deploy_notify action): the run's data, its overall outcome, the
result of one receiver, one HTTP POST of JSON, and the scrubbing of secrets from error text.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# A run whose every host succeeded has the outcome of its kind.
SUCCESS = {"deploy": "deployed", "rollback": "rolled_back"}
# Outcomes that leave a host as it should be after its run.
SUCCEEDED = {"deployed", "rolled_back", "unchanged"}
# Otherwise the worst host outcome is the run's, from least to most severe. A host of the
# batch that published no outcome was lost on the way (unreachable).
SEVERITY = ["reverted", "aborted", "invalid", "failed", "unreachable", "locked"]
MASK = "********"


@dataclass(frozen=True)
class RunData:
    """One run, as its hosts reported it (docs/results.md): `hosts` maps each host to its result;
    times are epoch seconds."""

    kind: str  # deploy or rollback
    app: str
    environment: str
    ref: str
    release: str
    by: str
    started_at: float
    finished_at: float
    hosts: Mapping[str, Mapping[str, Any]]

    @property
    def outcome(self) -> str:
        return overall_outcome(self.kind, (str(r.get("outcome", "")) for r in self.hosts.values()))

    @property
    def succeeded(self) -> bool:
        return self.outcome == SUCCESS[self.kind]

    @property
    def commit(self) -> str:
        """The commit the run brought (the first host's that names one; '' when none does)."""
        return next((str(r["commit"]) for r in self.hosts.values() if r.get("commit")), "")

    @property
    def summary(self) -> str:
        """One line: "sample v2 (0123abcd) deployed on production by alice: web1 deployed, web2 deployed"."""
        commit = f" ({self.commit[:8]})" if self.commit else ""
        what = self.ref or self.release
        hosts = ", ".join(f"{name} {result.get('outcome', '?')}" for name, result in sorted(self.hosts.items()))
        outcome = self.outcome.replace("_", " ")
        return f"{self.app} {what}{commit} {outcome} on {self.environment} by {self.by}: {hosts}"


def overall_outcome(kind: str, outcomes: Iterable[str]) -> str:
    """deployed / rolled_back when every host succeeded, else the worst host outcome."""
    bad = [o if o in SEVERITY else "failed" for o in outcomes if o not in SUCCEEDED]
    if not bad:
        return SUCCESS[kind]
    return max(bad, key=SEVERITY.index)


def with_lost_hosts(reported: Mapping[str, Any], batch: Iterable[str]) -> dict[str, Any]:
    """Every host's result: a host of this batch that published none was lost on the way."""
    hosts = dict(reported)
    for name in batch:
        hosts.setdefault(name, {"outcome": "unreachable", "message": "no result: the host was lost during the run"})
    return hosts


def skip_reason(hosts: Mapping[str, Mapping[str, Any]], last_batch: bool) -> str:
    """Why this run tells nobody ('' when it tells the receivers)."""
    outcomes = [str(r.get("outcome", "")) for r in hosts.values()]
    if not outcomes:
        return "no host reported an outcome"
    if all(o == "unchanged" for o in outcomes):
        return "every host was unchanged: nothing happened"
    if all(r.get("bad_input") or r.get("outcome") == "invalid" for r in hosts.values()):
        # An unknown ref, a refused rollback: nothing was changed anywhere (CLI exit 5), nothing to tell.
        return "every host refused the input before changing anything"
    if not last_batch:
        # A later serial batch tells the whole run (a failure deploy_max_fail_percentage tolerates included);
        # a batch that stops the rollout is the run's last.
        return "a later serial batch notifies"
    return ""


@dataclass
class Sent:
    """The result of one receiver: `ok`, the HTTP `status` or command `rc`, and what it said."""

    ok: bool
    message: str
    status: int | None = None
    rc: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"ok": self.ok, "message": self.message}
        if self.status is not None:
            found["status"] = self.status
        if self.rc is not None:
            found["rc"] = self.rc
        return {**found, **self.extra}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret masked (longest first: one may contain another)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def post_json(url: str, body: Any, headers: Mapping[str, str], timeout: float, receiver: str) -> Sent:
    """POST `body` as JSON; ok on a 2xx answer. Never raises: a refusal, a timeout or an error
    answer is a failed Sent naming the receiver, the status and the start of the answer."""
    if not url.startswith(("http://", "https://")):
        return Sent(False, f"{receiver}: its URL must start with http:// or https://")
    request = urllib.request.Request(  # noqa: S310 (the user's http(s) URL, checked by the action)
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return Sent(True, f"{receiver} answered HTTP {answer.status}", status=answer.status)
    except urllib.error.HTTPError as err:
        text = err.read(300).decode(errors="replace").strip()
        return Sent(False, f"{receiver} answered HTTP {err.code}: {text}", status=err.code)
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        # A refusal or an unknown name is not slowness: only a timeout names the time it waited.
        if isinstance(reason, TimeoutError):
            return Sent(False, f"{receiver} did not answer within {timeout:g} s")
        return Sent(False, f"{receiver} could not be reached: {reason}")
