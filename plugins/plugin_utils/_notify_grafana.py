# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Grafana annotation for one run: POST {url}/api/annotations with a service account token."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ansible_collections.deployctl.core.plugins.plugin_utils._notify_run import RunData, Sent, post_json


def annotation(run: RunData, extra_tags: Iterable[str] = ()) -> dict[str, Any]:
    """The annotation (Grafana's HTTP API: time and timeEnd in epoch milliseconds, tags, text),
    organisation-wide: a dashboard shows it through an annotation query on its tags."""
    tags = [
        "deployctl",
        f"app:{run.app}",
        f"env:{run.environment}",
        f"release:{run.release}",
        f"outcome:{run.outcome}",
        f"kind:{run.kind}",
    ]
    return {
        "time": int(run.started_at * 1000),
        "timeEnd": int(run.finished_at * 1000),
        "tags": tags + [str(tag) for tag in extra_tags],
        "text": run.summary,
    }


def annotate(run: RunData, url: str, token: str, tags: Iterable[str], timeout: float) -> Sent:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return post_json(url.rstrip("/") + "/api/annotations", annotation(run, tags), headers, timeout, "Grafana")
