"""deploy_run: the run record shared by the slices of a sliced deploy (join, gate, report)."""

from __future__ import annotations

import json
import multiprocessing
import stat
from pathlib import Path
from typing import Any

from ansible_collections.deployctl.core.plugins.modules import deploy_run
from tests.unit.conftest import run_module

RUN = "7001"
C1 = "a" * 40
C2 = "b" * 40


def call(deploy_to: Path, state: str, slice_id: str, check_mode: bool = False, **args: Any) -> dict[str, Any]:
    args = {
        "deploy_to": str(deploy_to),
        "run_id": RUN,
        "state": state,
        "slice": slice_id,
        "coordinator": "web1",
        **args,
    }
    return run_module(deploy_run, args, check_mode=check_mode)


def record(deploy_to: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((deploy_to / ".deployctl" / "runs" / f"{RUN}.json").read_text())
    return data


def join(deploy_to: Path, slice_id: str, release_id: str) -> str:
    return str(call(deploy_to, "joined", slice_id, hosts=[f"host-of-{slice_id}"], release_id=release_id)["release_id"])


def test_the_first_slice_sets_the_release_id_and_the_others_adopt_it(tmp_path):
    preview = call(tmp_path, "joined", "101", check_mode=True, release_id="20261130T100000Z")
    assert (preview["created"], preview["changed"]) == (True, True)
    assert not (tmp_path / ".deployctl" / "runs").exists()

    first = call(tmp_path, "joined", "101", hosts=["web1", "web2"], release_id="20261130T100000Z")
    later = call(tmp_path, "joined", "102", hosts=["web3", "web4"], release_id="20261130T100005Z")
    assert (first["created"], later["created"]) == (True, False)
    assert later["release_id"] == "20261130T100000Z"
    assert record(tmp_path)["slices"]["102"]["hosts"] == ["web3", "web4"]
    runs = tmp_path / ".deployctl" / "runs"
    assert stat.S_IMODE(runs.stat().st_mode) == 0o700
    assert stat.S_IMODE((runs / f"{RUN}.json").stat().st_mode) == 0o600


def test_slices_joining_at_the_same_moment_agree_on_one_release_id(tmp_path):
    # Processes of a fork server: a fork of this process (earlier tests ran ansible-runner, with its threads)
    # can deadlock on a lock one of those threads held.
    with multiprocessing.get_context("forkserver").Pool(3) as pool:
        ids = pool.starmap(join, [(tmp_path, str(n), f"20261130T10000{n}Z") for n in range(3)])
    assert len(set(ids)) == 1
    assert ids[0] == record(tmp_path)["release_id"]
    assert sorted(record(tmp_path)["slices"]) == ["0", "1", "2"]


def test_a_slice_waits_for_the_migrating_slice_and_times_out_naming_the_record(tmp_path):
    call(tmp_path, "joined", "101", release_id="20261130T100000Z")
    # The slice that holds the migrate host does not wait.
    assert not call(tmp_path, "gate", "101", commit=C1, migrating=True).get("failed")

    waited = call(tmp_path, "gate", "102", commit=C1, wait_timeout=1)
    assert waited.get("failed")
    assert waited["msg"].startswith(f"sliced run {RUN}: waited 1 s before the switch for the slice that holds")
    # No slice has said it holds web1 (this test's slices joined with no hosts): a slice not started, or a typo.
    said = waited["msg"]
    assert "No slice that joined holds web1 (slice 101: ?): either the slice that holds it never started" in said
    assert f"Run record: web1:{tmp_path}/.deployctl/runs/{RUN}.json" in waited["msg"]

    call(tmp_path, "reported", "101", outcomes={"web1": {"outcome": "deployed"}}, migration={"status": "migrated"})
    passed = call(tmp_path, "gate", "102", commit=C1, wait_timeout=1)
    assert not passed.get("failed")
    assert passed["record"]["migration"]["status"] == "migrated"


def test_a_failure_of_another_slice_or_another_commit_stops_a_slice_before_its_switch(tmp_path):
    call(tmp_path, "joined", "101", release_id="20261130T100000Z")
    assert not call(tmp_path, "gate", "101", commit=C1, migrating=True).get("failed")

    moved = call(tmp_path, "gate", "103", commit=C2, wait_timeout=1)
    assert moved["msg"].startswith(
        f"sliced run {RUN}: this slice resolved deploy_ref to {C2}, an earlier slice to {C1}"
    )

    outcome = {"outcome": "reverted", "stage": "verify", "message": "GET /up answered 503", "hook": None}
    call(tmp_path, "reported", "101", outcomes={"web2": outcome}, migration={"status": "migrated"})
    stopped = call(tmp_path, "gate", "102", commit=C1, wait_timeout=1)
    assert (stopped.get("failed"), stopped["stage"]) == (True, "switch")
    assert stopped["record_path"] == f"{tmp_path}/.deployctl/runs/{RUN}.json"
    assert "mode" not in stopped
    assert (
        "another slice failed before this slice switched, so no host of this slice switched: "
        "web2 (slice 101) reverted at stage verify: GET /up answered 503." in stopped["msg"]
    )
    assert record(tmp_path)["hosts"]["web2"] == {"slice": "101", **{k: v for k, v in outcome.items() if v}}


def test_a_run_id_that_is_no_file_name_is_refused(tmp_path):
    result = call(tmp_path, "joined", "101", release_id="20261130T100000Z", run_id="../x")
    assert result["msg"].startswith("run id '../x' is not valid")


def test_a_run_id_used_before_for_another_ref_is_refused_naming_both(tmp_path):
    call(tmp_path, "joined", "101", hosts=["web1"], release_id="20261130T100000Z", ref="v2")
    call(tmp_path, "gate", "101", commit=C1, migrating=True)
    for check_mode in (True, False):
        refused = call(tmp_path, "joined", "102", check_mode, hosts=["web2"], release_id="20261201T090000Z", ref="v1")
        assert refused["failed"], refused
        assert refused["msg"].startswith(
            f"sliced run {RUN}: its run record was made for ref v2 (commit {C1[:12]}) on "
        ), refused["msg"]
        words = "this slice deploys v1: the run ID was used before. Give each run its own deploy_run_id"
        assert words in refused["msg"]
    assert "102" not in record(tmp_path)["slices"]
    # The same ref joins as before.
    assert call(tmp_path, "joined", "103", hosts=["web3"], release_id="x", ref="v2")["release_id"] == "20261130T100000Z"


def test_a_slice_that_waited_in_vain_names_the_slice_that_holds_the_migrate_host(tmp_path):
    call(tmp_path, "joined", "101", hosts=["web1", "web2"], release_id="20261130T100000Z")
    call(tmp_path, "joined", "102", hosts=["web3"], release_id="20261130T100000Z")

    waited = call(tmp_path, "gate", "102", commit=C1, wait_timeout=0)

    assert "Slice 101 holds web1, the migrate host: its job says why it did not report." in waited["msg"]


def test_a_migrate_host_no_slice_holds_is_named_with_the_hosts_of_each_slice(tmp_path):
    run = {"deploy_to": str(tmp_path), "run_id": RUN, "coordinator": "wbe1"}
    run_module(deploy_run, {**run, "state": "joined", "slice": "101", "hosts": ["web1", "web2"], "release_id": "R"})
    run_module(deploy_run, {**run, "state": "joined", "slice": "102", "hosts": ["web3"], "release_id": "R"})

    waited = run_module(deploy_run, {**run, "state": "gate", "slice": "102", "commit": C1, "wait_timeout": 0})

    assert (
        "No slice that joined holds wbe1 (slice 101: web1, web2; slice 102: web3): either the slice that holds it "
        "never started, or no inventory has a host of that name (deploy_migrate_host, deploy_run_coordinator.name)."
    ) in waited["msg"]
