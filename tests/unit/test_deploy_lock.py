"""deploy_lock: an atomic per-host lock naming its holder; stale locks, forced release, races."""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.deployctl.core.plugins.modules import deploy_lock
from tests.unit.conftest import journal, run_module

R1, R2 = "20240101T000000Z", "20240102T000000Z"
ALICE = {"user": "alice", "ref": "v1", "release": R1}
BOB = {"user": "bob", "ref": "v2", "release": R2}


def lock(
    deploy_to: Path, token: str | None, holder: dict | None = None, check_mode: bool = False, **args: Any
) -> dict[str, Any]:
    args = {"deploy_to": str(deploy_to), "token": token, "holder": holder or {}, **args}
    return run_module(deploy_lock, args, check_mode=check_mode)


def lock_file(deploy_to: Path) -> Path:
    return deploy_to / ".deployctl" / "lock"


def held_by(deploy_to: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(lock_file(deploy_to).read_text())
    return data


def stale_lock(deploy_to: Path, age: float) -> dict[str, Any]:
    (deploy_to / ".deployctl").mkdir(parents=True, mode=0o700)
    holder: dict[str, Any] = {"user": "carol", "ref": "v0", "release": "20231231T000000Z", "token": "20231231T000000Z"}
    holder.update(started_at="2023-12-31T00:00:00Z", started_epoch=int(time.time() - age))
    lock_file(deploy_to).write_text(json.dumps(holder))
    return holder


def test_acquire_writes_the_holder(deploy_to: Path) -> None:
    before = int(time.time())

    result = lock(deploy_to, R1, ALICE)

    assert result["changed"] is True
    holder = held_by(deploy_to)
    assert result["holder"] == holder
    assert {k: holder[k] for k in ("user", "ref", "release", "token")} == {**ALICE, "token": R1}
    assert before <= holder["started_epoch"] <= time.time()
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(holder["started_epoch"])) == holder["started_at"]
    assert stat.S_IMODE(os.stat(deploy_to / ".deployctl").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(lock_file(deploy_to)).st_mode) & 0o022 == 0
    assert sorted(os.listdir(deploy_to / ".deployctl")) == ["lock", "lock.guard"]


def test_second_deploy_is_refused_naming_the_holder(deploy_to: Path) -> None:
    lock(deploy_to, R1, ALICE)
    holder = held_by(deploy_to)

    result = lock(deploy_to, R2, BOB)

    assert result["failed"] is True
    assert result["msg"] == (
        f"another deploy holds the lock on this host: alice since {holder['started_at']} (ref v1, release {R1}). "
        "Wait for it to finish; if it is dead, run deployctl unlock ENV --reason TEXT "
        "(playbooks/unlock.yml -e deploy_unlock_reason=TEXT) (or wait 3600s for the lock to go stale)"
    )
    assert result["holder"] == holder
    assert held_by(deploy_to) == holder


def test_a_lock_taken_by_hand_never_goes_stale_and_names_its_message(deploy_to: Path) -> None:
    manual = {"user": "alice", "message": "DB maintenance until 14:00", "manual": True}
    assert lock(deploy_to, "manual-1", manual)["changed"] is True
    held = held_by(deploy_to)
    held["started_epoch"] = 0  # long past any ttl
    (deploy_to / ".deployctl" / "lock").write_text(json.dumps(held))

    result = lock(deploy_to, R2, BOB)

    assert result["failed"] is True
    assert result["msg"] == (
        f"the deploy lock on this host was taken by hand: alice since {held['started_at']}: "
        "'DB maintenance until 14:00'. Deploys and rollbacks are refused until it is released: deployctl unlock ENV "
        "--reason TEXT (playbooks/unlock.yml -e deploy_unlock_reason=TEXT)"
    )
    journal = [json.loads(line) for line in (deploy_to / ".deployctl" / "journal.jsonl").read_text().splitlines()]
    assert [(e["event"], e.get("message")) for e in journal] == [("lock_held", "DB maintenance until 14:00")]


def test_second_deploy_in_check_mode_is_refused_too(deploy_to: Path) -> None:
    lock(deploy_to, R1, ALICE)
    holder = held_by(deploy_to)

    result = lock(deploy_to, R2, BOB, check_mode=True)

    assert result["failed"] is True
    assert result["msg"].startswith(
        f"another deploy holds the lock on this host: alice since {holder['started_at']} (ref v1, release {R1})"
    )


def test_same_token_is_reentrant(deploy_to: Path) -> None:
    lock(deploy_to, R1, ALICE)
    holder = held_by(deploy_to)

    result = lock(deploy_to, R1, ALICE)

    assert (result["changed"], result["holder"]) == (False, holder)
    assert held_by(deploy_to) == holder


def test_check_mode_takes_nothing(deploy_to: Path) -> None:
    result = lock(deploy_to, R1, ALICE, check_mode=True)

    assert (result["changed"], result["holder"]["token"]) == (True, R1)
    assert not deploy_to.exists()


def test_stale_lock_is_taken_over_and_journaled(deploy_to: Path) -> None:
    stale = stale_lock(deploy_to, age=120)

    result = lock(deploy_to, R1, ALICE, ttl=60, host_label="web1")

    assert result["changed"] is True
    assert result["previous_holder"] == stale
    assert held_by(deploy_to)["token"] == R1
    assert sorted(os.listdir(deploy_to / ".deployctl")) == ["journal.jsonl", "lock", "lock.guard"]
    [line] = journal(deploy_to)
    assert {k: v for k, v in line.items() if k != "time"} == {
        "event": "lock_taken_over",
        "release": R1,
        "host": "web1",
        "stale_holder": stale,
    }


def test_lock_younger_than_ttl_is_not_stale(deploy_to: Path) -> None:
    stale_lock(deploy_to, age=50)

    result = lock(deploy_to, R1, ALICE, ttl=60)

    assert result["failed"] is True
    assert result["msg"].startswith("another deploy holds the lock on this host: carol since 2023-12-31T00:00:00Z")
    assert result["msg"].endswith("(or wait 60s for the lock to go stale)")
    assert held_by(deploy_to)["token"] == "20231231T000000Z"
    assert journal(deploy_to) == []


@pytest.mark.parametrize(
    ("controller", "live_pids", "stale"),
    [
        pytest.param("ctl1", [100, 200], True, id="its-deploy-died-on-this-controller"),
        pytest.param("ctl1", [100, 4242], False, id="its-deploy-still-runs"),
        pytest.param("ctl2", [100, 200], False, id="other-controller"),
        pytest.param("", [], False, id="controller-unknown"),
    ],
)
def test_lock_of_a_dead_deploy_on_this_controller_is_stale(
    deploy_to: Path, controller: str, live_pids: list[int], stale: bool
) -> None:
    lock(deploy_to, R1, {**ALICE, "controller": "ctl1", "pid": 4242})
    holder = held_by(deploy_to)

    result = lock(deploy_to, R2, BOB, controller=controller, controller_live_pids=live_pids)

    if stale:
        assert (result["changed"], result["previous_holder"]) == (True, holder)
        assert held_by(deploy_to)["token"] == R2
        assert [line["event"] for line in journal(deploy_to)] == ["lock_taken_over"]
    else:
        assert result["failed"] is True
        assert result["msg"].startswith(
            f"another deploy holds the lock on this host: alice since {holder['started_at']} "
            f"(ref v1, release {R1}, controller ctl1, pid 4242). Wait for it to finish;"
        )
        assert held_by(deploy_to) == holder


def test_check_mode_predicts_the_takeover_of_a_stale_lock(deploy_to: Path) -> None:
    stale_lock(deploy_to, age=120)

    result = lock(deploy_to, R1, ALICE, ttl=60, check_mode=True)

    assert not result.get("failed"), result["msg"]
    assert result["changed"] is True


def test_unreadable_lock_file_is_taken_over(deploy_to: Path) -> None:
    (deploy_to / ".deployctl").mkdir(parents=True)
    lock_file(deploy_to).write_text("{not json")

    result = lock(deploy_to, R1, ALICE)

    assert result["changed"] is True
    assert result["previous_holder"] == {"token": None, "note": "unreadable lock file"}
    assert held_by(deploy_to)["token"] == R1


def test_release_with_another_token_leaves_the_lock(deploy_to: Path) -> None:
    lock(deploy_to, R1, ALICE)
    holder = held_by(deploy_to)

    result = lock(deploy_to, R2, state="released")

    assert (result["changed"], result["holder"]) == (False, holder)
    assert result["msg"] == "the lock belongs to another deploy; left in place"
    assert held_by(deploy_to) == holder


def test_release_with_the_token_removes_the_lock(deploy_to: Path) -> None:
    lock(deploy_to, R1, ALICE)
    holder = held_by(deploy_to)

    result = lock(deploy_to, R1, state="released")

    assert (result["changed"], result["holder"], result["previous_holder"]) == (True, None, holder)
    assert not lock_file(deploy_to).exists()
    assert journal(deploy_to) == []
    assert lock(deploy_to, R1, state="released")["changed"] is False


def test_release_in_check_mode_keeps_the_lock(deploy_to: Path) -> None:
    lock(deploy_to, R1, ALICE)

    result = lock(deploy_to, R1, state="released", check_mode=True)

    assert result["changed"] is True
    assert held_by(deploy_to)["token"] == R1


def test_forced_release_is_journaled_with_the_reason(deploy_to: Path) -> None:
    lock(deploy_to, R1, ALICE)
    holder = held_by(deploy_to)

    result = lock(deploy_to, None, state="released", force=True, reason="controller rebooted", host_label="web1")

    assert (result["changed"], result["previous_holder"]) == (True, holder)
    assert not lock_file(deploy_to).exists()
    [line] = journal(deploy_to)
    assert {k: v for k, v in line.items() if k != "time"} == {
        "event": "lock_forced_open",
        "release": R1,
        "host": "web1",
        "reason": "controller rebooted",
        "holder": holder,
    }


def test_query_reports_the_holder(deploy_to: Path) -> None:
    empty = lock(deploy_to, None, state="query")
    assert (empty["changed"], empty["holder"]) == (False, None)
    lock(deploy_to, R1, ALICE)

    result = lock(deploy_to, None, state="query")

    assert (result["changed"], result["holder"]) == (False, held_by(deploy_to))


def _acquire_in_child(deploy_to: Path, token: str, start: Any, results: Any) -> None:
    start.wait()
    results.put(lock(deploy_to, token, {"user": token}))


@contextlib.contextmanager
def children(count: int, target: Any, *args: Any) -> Iterator[Any]:
    """`count` processes running target(*args, i, start, results); yields the results queue. Started by a
    fork server, not forked from here: a fork of this process (whose earlier tests ran ansible-runner, with its
    threads) can deadlock on a lock one of them held."""
    ctx = multiprocessing.get_context("forkserver")
    start, results = ctx.Barrier(count), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, f"2024010{i}T000000Z", start, results)) for i in range(count)]
    for proc in procs:
        proc.start()
    try:
        yield results
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()


def test_racing_deploys_exactly_one_wins(deploy_to: Path) -> None:
    (deploy_to / ".deployctl").mkdir(parents=True, mode=0o700)

    with children(8, _acquire_in_child, deploy_to) as queue:
        results = [queue.get(timeout=20) for _ in range(8)]

    winners = [r for r in results if r.get("changed")]
    losers = [r for r in results if r.get("failed")]
    assert (len(winners), len(losers)) == (1, 7)
    assert held_by(deploy_to) == winners[0]["holder"]
    assert {r["holder"]["token"] for r in losers} == {winners[0]["holder"]["token"]}
    assert sorted(os.listdir(deploy_to / ".deployctl")) == ["lock", "lock.guard"]


def _acquire_and_report(deploy_to: Path, token: str, results: Any) -> None:
    results.put(lock(deploy_to, token, {"user": "yvonne"}, ttl=60))


def test_a_takeover_waits_for_the_guard_and_sees_the_lock_taken_meanwhile(deploy_to: Path) -> None:
    """Deciding "stale" and replacing the lock is one step: a deploy that judged a lock stale
    cannot remove a fresh one that another deploy took meanwhile."""
    stale_lock(deploy_to, age=120)
    guard = open(deploy_to / ".deployctl" / "lock.guard", "a")  # noqa: SIM115 - held across the child's start
    fcntl.flock(guard, fcntl.LOCK_EX)  # another deploy is mid-decision
    ctx = multiprocessing.get_context("forkserver")
    results = ctx.Queue()
    child = ctx.Process(target=_acquire_and_report, args=(deploy_to, R2, results))
    child.start()
    time.sleep(0.3)
    assert results.empty(), "the deploy decided without the guard"
    # The deploy holding the guard takes the stale lock over, then lets go.
    lock_file(deploy_to).unlink()
    deploy_lock.create(str(lock_file(deploy_to)), {"user": "xavier", "token": R1, "started_epoch": int(time.time())})
    fcntl.flock(guard, fcntl.LOCK_UN)
    guard.close()
    slow = results.get(timeout=10)
    child.join(timeout=10)

    assert slow["failed"] is True
    assert slow["msg"].startswith("another deploy holds the lock on this host: xavier since ")
    assert held_by(deploy_to)["user"] == "xavier"


def test_query_says_whether_a_deploy_would_take_the_lock_over(deploy_to: Path) -> None:
    assert lock(deploy_to, None, state="query")["stale"] is False
    stale_lock(deploy_to, age=7200)
    assert lock(deploy_to, None, state="query", ttl=3600)["stale"] is True
    assert lock(deploy_to, None, state="query", ttl=86400)["stale"] is False
    # Its process on this controller is gone: stale, whatever its age.
    holder = {**held_by(deploy_to), "controller": "ci-runner", "pid": 999999}
    lock_file(deploy_to).write_text(json.dumps(holder))
    gone = lock(deploy_to, None, state="query", ttl=86400, controller="ci-runner", controller_live_pids=[1])
    assert gone["stale"] is True
    # Taken by hand (a maintenance window): never stale.
    lock_file(deploy_to).write_text(json.dumps({**holder, "manual": True, "message": "DB upgrade"}))
    assert (
        lock(deploy_to, None, state="query", ttl=1, controller="ci-runner", controller_live_pids=[1])["stale"] is False
    )
