# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recorded release state per host, and the append-only deploy journal.

"Previous" and "current" are decided from these records and readlink(current),
never from directory mtimes: a half-built newer directory must never become the
rollback target.
"""

from __future__ import annotations

import contextlib
import json
import os
import time

from ansible_collections.deployctl.core.plugins.module_utils._layout import (
    Layout,
    append_line,
    atomic_write,
)

BUILDING = "building"
BUILT = "built"
ACTIVE = "active"
FAILED = "failed"
ROLLED_BACK = "rolled_back"
# Good releases count towards keep_releases; a release rolled back from is good
# (it built and ran) but is never picked as a rollback target again.
GOOD_STATES = (BUILT, ACTIVE, ROLLED_BACK)
ROLLBACK_TARGET_STATES = (BUILT, ACTIVE)


def utc_now(epoch: float | None = None) -> str:
    """`epoch` (Unix time, seconds; default now) as 2026-11-26T14:52:04Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class ReleaseStore:
    def __init__(self, layout: Layout, host: str = "") -> None:
        self.layout = layout
        self.host = host

    def _path(self, release_id: str) -> str:
        return os.path.join(self.layout.states, release_id + ".json")

    def get(self, release_id: str | None) -> dict | None:
        """The record of a release, None when there is none; ValueError names a damaged record's file."""
        if not release_id:
            return None
        path = self._path(release_id)
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None
        except ValueError as err:
            raise ValueError(f"the release record {path} is damaged ({err}): restore it, or remove it") from err

    def put(self, record: dict) -> None:
        atomic_write(self._path(record["id"]), json.dumps(record, indent=2, sort_keys=True) + "\n")

    def update(self, release_id: str, **changes: object) -> dict:
        record = self.get(release_id) or {"id": release_id}
        record.update(changes)
        self.put(record)
        return record

    def remove(self, release_id: str) -> None:
        """Forget a release: its record and the units (service, socket) recorded with it."""
        for path in (self._path(release_id), self.layout.unit(release_id), self.layout.unit(release_id, "socket")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def all(self) -> list[dict]:
        """Every recorded release, oldest first; release IDs sort by time."""
        try:
            names = os.listdir(self.layout.states)
        except FileNotFoundError:
            return []
        records = [self.get(n[: -len(".json")]) for n in sorted(names) if n.endswith(".json")]
        return [r for r in records if r]

    def previous_good(self, exclude: str | None) -> dict | None:
        """The rollback target from `exclude` (the current release): the release that served before it (its record's
        `previous`), when that one is a good target, else the newest good release older than it that once served
        (was activated). None when there is none.

        The one that served before first: after v1, v2, v1 again, a rollback to the first v1 and a deploy of v2,
        the newest older release is the first v2, which runs the live commit; the release it replaced is v1's.

        Older only: after a rollback to a named older release, the releases between it and the one rolled back
        from are still good, but going to one of them is a roll forward, which a rollback must never do
        unasked (`deploy_rollback_to` names any release). Release IDs sort by time.
        A release that was built but never went live (its deploy was interrupted, or stopped at
        the migrations) never proved it runs: it is no rollback target. Nor is one switched to whose health
        check never passed (`verified` false: its host was lost between the switch and the check). Records
        without the key (written before deployctl kept it, or switched with no check in the call) count as good.
        """
        candidates = [
            r
            for r in self.all()
            if (exclude is None or r["id"] < exclude)
            and r.get("state") in ROLLBACK_TARGET_STATES
            and r.get("activated_at")
            and r.get("verified") is not False
            and os.path.isdir(self.layout.release(r["id"]))
        ]
        served_before = (self.get(exclude) or {}).get("previous")
        chosen = [r for r in candidates if r["id"] == served_before] or candidates[-1:]
        return chosen[0] if chosen else None

    def passed_check(self, release_id: str, elapsed: float | None, switched: bool) -> None:
        """Record that the release passed a health check (`elapsed` seconds, the check's own figure): the journal's
        `verified` line when this run switched to it (`switched`, or its record still says `verified: false`
        from that switch: the check ran in a task of its own), and `verified: true` in its record when the
        switch marked it false (a release whose check never ran, its host lost, is then a rollback target again).
        Raises OSError, ValueError (a damaged record)."""
        record = self.get(release_id) or {}
        if switched or record.get("verified") is False:
            self.journal("verified", release_id, elapsed=elapsed)
        if record.get("verified") is False:
            self.update(release_id, verified=True)

    def journal(self, event: str, release_id: str | None, **details: object) -> None:
        record: dict[str, object] = {"time": utc_now(), "event": event, "release": release_id, "host": self.host}
        record.update({k: v for k, v in details.items() if v is not None})
        append_line(self.layout.journal, record)
