# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A generic webhook for one run: POST of one JSON document (README "Notifications")."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ansible_collections.deployctl.core.plugins.plugin_utils._notify_run import RunData, Sent, post_json

# What each host's entry keeps of its result.
HOST_FIELDS = ("outcome", "release", "commit", "current", "stage", "message", "warning")


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def body(run: RunData) -> dict[str, Any]:
    """The document: the run, its overall outcome, each host's, and `text` (one line, what a
    Slack-like receiver shows)."""
    return {
        "kind": run.kind,
        "app": run.app,
        "environment": run.environment,
        "ref": run.ref,
        "release": run.release,
        "commit": run.commit,
        "outcome": run.outcome,
        "hosts": {
            name: {key: result[key] for key in HOST_FIELDS if result.get(key) not in (None, "")}
            for name, result in sorted(run.hosts.items())
        },
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "by": run.by,
        "text": run.summary,
    }


def send(run: RunData, url: str, headers: Mapping[str, str], timeout: float) -> Sent:
    return post_json(url, body(run), {str(k): str(v) for k, v in headers.items()}, timeout, "the webhook")
