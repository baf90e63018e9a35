"""Turn a real run's artifacts into an event fixture for these tests.

    python -m tests.cli.record ~/.cache/deployctl/artifacts/<env>/<ident> NAME

writes tests/cli/events/NAME.jsonl: the run's events in order, cut down to what
deployctl reads (and without module invocations, which repeat every argument).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).with_name("events")
# runner_retry: each poll of `deployctl logs --follow`.
KEPT_EVENTS = {"verbose", "error", "playbook_on_stats", "runner_retry"} | {
    f"runner_on_{kind}" for kind in ("start", "ok", "failed", "skipped", "unreachable")
}
KEPT_DATA = ("host", "task", "task_action", "duration", "ignore_errors", "res", "artifact_data")
DROPPED_RES = ("invocation", "stdout_lines", "stderr_lines", "stdout", "stderr", "body")


def trim(event: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {"event": event["event"]}
    if event["event"] in ("verbose", "error"):
        kept["stdout"] = event.get("stdout", "")
    data = {k: v for k, v in (event.get("event_data") or {}).items() if k in KEPT_DATA}
    if isinstance(data.get("res"), dict):
        # systemd_service's `status` is the whole unit; http_check's is a number, and kept.
        data["res"] = {
            k: v for k, v in data["res"].items() if k not in DROPPED_RES and not (k == "status" and isinstance(v, dict))
        }
    if data:
        kept["event_data"] = data
    return kept


def main(artifacts: str, name: str) -> None:
    """Record the run in the artifacts directory (or re-trim an existing fixture)."""
    files = sorted(Path(artifacts, "job_events").glob("*.json"), key=lambda p: int(p.name.split("-", 1)[0]))
    events = [json.loads(f.read_text()) for f in files]
    lines = [json.dumps(trim(event), sort_keys=True) for event in events if event["event"] in KEPT_EVENTS]
    (EVENTS / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} events -> {EVENTS / name}.jsonl")


if __name__ == "__main__":
    main(*sys.argv[1:3])
