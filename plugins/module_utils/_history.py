# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host's deploy history, read from its journal (DEPLOY_TO/.deployctl/journal.jsonl).

The journal records steps, not runs; a run is recovered from them:
- a deploy starts with `staged` (who, ref, commit) and ends with `switched` to its release
  (deployed), `aborted` (stopped before its release was created) or `failed` (after the switch:
  failed; before it: aborted, as the run reported it); a `switched` with `verify` (its call checks the health
  next, or a task after hooks does: http_check records the pass) ends it only with the `verified` that follows:
  without one (the host was lost between the switch and the check), the deploy is unfinished;
- a `switched` to another release that no deploy staged is a rollback (from `previous`), unless a
  `failed` of the release it switched away from follows: then it was that deploy's revert;
- `db_restored` is a database restore.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Iterable
from typing import Any

# The outcome a deploy has before its run's last step is read (killed mid-run, or still running).
UNFINISHED = "unfinished"


def _epoch(stamp: str | None) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def _finish(entry: dict[str, Any], outcome: str, line: dict[str, Any]) -> None:
    entry.update(outcome=outcome, finished_at=line.get("time"))
    if line.get("reason"):
        entry["reason"] = line["reason"]
    started, finished = _epoch(entry.get("started_at")), _epoch(line.get("time"))
    entry["duration"] = finished - started if started is not None and finished is not None else None


def runs(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs the journal `lines` (oldest first) record, oldest first: each with `kind` (deploy, rollback,
    db_restore), `release`, `started_at`, `finished_at` (journal times, UTC), `duration` (seconds, or None),
    `outcome` (deployed, reverted, failed, aborted, rolled_back, restored, or unfinished), `by`, and for a
    deploy `ref`, `commit`, for a rollback `from` (and `commit`, when its release's deploy is in the journal),
    for a failure `reason`."""
    history: list[dict[str, Any]] = []
    deploys: dict[str, dict[str, Any]] = {}
    # The releases switched to whose health check is still to come (`switched` with `verify`).
    unverified: set[str] = set()
    for line in lines:
        event, release = line.get("event"), line.get("release")
        if event == "staged":
            entry = {"kind": "deploy", "release": release, "started_at": line.get("time"), "finished_at": None,
                     "duration": None, "outcome": UNFINISHED, "by": line.get("by"), "ref": line.get("ref"),
                     "commit": line.get("commit")}  # fmt: skip
            deploys[str(release)] = entry
            history.append(entry)
        elif event == "switched":
            deploy = deploys.get(str(release))
            if deploy is not None and deploy["outcome"] == UNFINISHED and str(release) not in unverified:
                if line.get("verify"):
                    unverified.add(str(release))
                else:
                    _finish(deploy, "deployed", line)
            else:
                history.append(
                    {
                        "kind": "rollback",
                        "release": release,
                        "from": line.get("previous"),
                        "started_at": line.get("time"),
                        "finished_at": line.get("time"),
                        "duration": None,
                        "outcome": "rolled_back",
                        "by": line.get("by"),
                        # The commit its own deploy recorded, when the journal still has it.
                        "commit": (deploy or {}).get("commit"),
                    }
                )
        elif event in ("failed", "aborted"):
            deploy = deploys.get(str(release))
            last = history[-1] if history else None
            if last and last["kind"] == "rollback" and last.get("from") == release:
                # The switch back of this deploy's own revert, not a rollback.
                history.pop()
                outcome = "reverted"
            elif event == "failed" and str(release) in unverified:
                # Switched to, then its health check failed with nothing to go back to.
                outcome = "failed"
            elif event == "failed" and deploy is not None and deploy["outcome"] == UNFINISHED:
                # Marked failed before it was switched to: it stopped before the switch (as the run reported it).
                outcome = "aborted"
            else:
                outcome = event
            if deploy is not None:
                _finish(deploy, outcome, line)
        elif event == "verified" and str(release) in unverified:
            unverified.discard(str(release))
            if (deploy := deploys.get(str(release))) is not None and deploy["outcome"] == UNFINISHED:
                _finish(deploy, "deployed", line)
        elif event == "db_restored":
            history.append(
                {
                    "kind": "db_restore",
                    "release": release,
                    "started_at": line.get("time"),
                    "finished_at": line.get("time"),
                    "duration": line.get("seconds"),
                    "outcome": "restored",
                    "by": line.get("by"),
                    "dump": line.get("path"),
                }
            )
    return history


def read(journal: str, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` runs of the journal file, newest first; [] without a journal. Unreadable lines
    (a write cut short) are skipped."""
    lines = []
    try:
        with open(journal, encoding="utf-8") as handle:
            for text in handle:
                try:
                    lines.append(json.loads(text))
                except ValueError:
                    continue
    except FileNotFoundError:
        return []
    return list(reversed(runs(lines)))[: max(limit, 0)]
