"""deploy_history: the runs a host's journal records, as `deployctl history` shows them."""

from __future__ import annotations

import json
from pathlib import Path

from ansible_collections.deployctl.core.plugins.module_utils._history import runs
from ansible_collections.deployctl.core.plugins.modules import deploy_history
from tests.unit.conftest import run_module

R1, R2, R3 = "20240101T000000Z", "20240102T000000Z", "20240103T000000Z"


def at(minute: int, second: int = 0) -> str:
    return f"2024-01-05T10:{minute:02d}:{second:02d}Z"


def staged(release: str, minute: int, ref: str) -> dict:
    return {"event": "staged", "release": release, "time": at(minute), "by": "alice", "ref": ref, "commit": "c" + ref}


JOURNAL = [
    staged(R1, 0, "v1"),
    {"event": "built", "release": R1, "time": at(0, 20)},
    {"event": "switched", "release": R1, "time": at(0, 42), "previous": None, "by": "alice"},
    # R2 went live, failed its health check, and was switched back: a revert, not a rollback.
    staged(R2, 10, "v2"),
    {"event": "switched", "release": R2, "time": at(10, 30), "previous": R1, "by": "alice"},
    {"event": "switched", "release": R1, "time": at(11), "previous": R2, "by": "alice"},
    {"event": "failed", "release": R2, "time": at(11, 5), "reason": "verify: /up answered 500"},
    # R3 stopped before the switch (marked failed: its release was created).
    staged(R3, 20, "v3"),
    {"event": "failed", "release": R3, "time": at(20, 9), "reason": "build: make deploy exited 2"},
    # Bob switches to R2 with a rollback --to (after fixing it by hand), then restores a dump.
    {"event": "switched", "release": R2, "time": at(30), "previous": R1, "by": "bob"},
    {"event": "db_restored", "release": R2, "time": at(31), "seconds": 1.5, "by": "bob", "path": "/b/R2.dump"},
    staged("20240104T000000Z", 40, "main"),  # killed mid-build
]


def test_the_journal_reads_as_deploys_reverts_rollbacks_and_restores() -> None:
    history = runs(JOURNAL)
    assert [(h["kind"], h["release"], h["outcome"]) for h in history] == [
        ("deploy", R1, "deployed"),
        ("deploy", R2, "reverted"),
        ("deploy", R3, "aborted"),
        ("rollback", R2, "rolled_back"),
        ("db_restore", R2, "restored"),
        ("deploy", "20240104T000000Z", "unfinished"),
    ]
    first, reverted, aborted, rollback = history[:4]
    assert (first["by"], first["ref"], first["commit"], first["duration"]) == ("alice", "v1", "cv1", 42.0)
    assert (reverted["duration"], reverted["reason"]) == (65.0, "verify: /up answered 500")
    assert aborted["reason"] == "build: make deploy exited 2"
    assert (rollback["from"], rollback["by"], rollback["commit"]) == (R1, "bob", "cv2")


def test_a_switch_whose_health_check_never_came_is_unfinished() -> None:
    # A call that checks the health after its switch says so (`verify`); its run is done with `verified`. Lost in
    # between (the host's SSH went with a hook after the switch), the deploy is unfinished, not deployed.
    R4 = "20240104T000000Z"
    journal = [
        staged(R1, 0, "v1"),
        {"event": "switched", "release": R1, "time": at(0, 30), "previous": None, "by": "alice", "verify": True},
        {"event": "verified", "release": R1, "time": at(0, 33), "elapsed": 2.9},
        staged(R2, 10, "v2"),
        {"event": "switched", "release": R2, "time": at(10, 30), "previous": R1, "by": "alice", "verify": True},
        # R2's health check failed, R1 went back (its own switch checked too): R2's revert.
        {"event": "switched", "release": R1, "time": at(11), "previous": R2, "by": "alice", "verify": True},
        {"event": "verified", "release": R1, "time": at(11, 2)},
        {"event": "failed", "release": R2, "time": at(11, 5), "reason": "verify: /up answered 500"},
        staged(R3, 20, "v3"),
        {"event": "switched", "release": R3, "time": at(20, 30), "previous": R1, "by": "alice", "verify": True},
        # A first deploy with nothing to go back to: switched, failed its check, not reverted.
        staged(R4, 30, "v4"),
        {"event": "switched", "release": R4, "time": at(30, 30), "previous": R3, "by": "alice", "verify": True},
        {"event": "failed", "release": R4, "time": at(30, 40), "reason": "verify: /up answered 500"},
    ]
    history = runs(journal)
    assert [(h["kind"], h["release"], h["outcome"]) for h in history] == [
        ("deploy", R1, "deployed"),
        ("deploy", R2, "reverted"),
        ("deploy", R3, "unfinished"),
        ("deploy", R4, "failed"),
    ]
    # Done when its check passed: the duration runs to `verified`.
    assert (history[0]["duration"], history[0]["finished_at"]) == (33.0, at(0, 33))


def test_the_module_returns_the_newest_first_and_skips_a_torn_line(tmp_path: Path) -> None:
    meta = tmp_path / "app" / ".deployctl"
    meta.mkdir(parents=True)
    lines = [json.dumps(line) for line in JOURNAL[:3]] + ['{"event": "stag']
    (meta / "journal.jsonl").write_text("\n".join(lines) + "\n")
    result = run_module(deploy_history, {"deploy_to": str(tmp_path / "app"), "limit": 5})
    assert [h["release"] for h in result["history"]] == [R1] and result["changed"] is False
    assert run_module(deploy_history, {"deploy_to": str(tmp_path / "none")})["history"] == []
