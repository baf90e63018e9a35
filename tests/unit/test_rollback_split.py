"""rollback_split: a rollback whose hosts' targets run different commits is refused with each target and the fix."""

from __future__ import annotations

from ansible_collections.deployctl.core.plugins.filter.rollback_split import FilterModule, rollback_split

R1, R2, R3, R4 = "20240101T000000Z", "20240102T000000Z", "20240103T000000Z", "20240104T000000Z"
COMMIT = {"v1": "1111111122222222", "v2": "3333333344444444"}


def record(release_id: str, ref: str, state: str = "built", present: bool = True) -> dict:
    return {"id": release_id, "ref": ref, "commit": COMMIT[ref], "state": state, "present": present}


def host(name: str, current: str, target: str, records: list[dict]) -> dict:
    """A host of the batch as the filter gets it, its hostvars: its query (registered as __deploy_releases)."""
    return {
        "inventory_hostname": name,
        "__deploy_releases": {"current": current, "rollback_target": target or None, "releases": records},
    }


def later(name: str, current: str, target: str, records: list[dict]) -> dict:
    """A host of a later batch as the filter gets it: one result of the query looped over those hosts."""
    return {
        "__deploy_later_host": name,
        "ansible_loop_var": "__deploy_later_host",
        "changed": False,
        "current": current,
        "rollback_target": target,
        "releases": records,
    }


def test_targets_on_one_commit_pass_even_as_different_releases() -> None:
    web1 = host("web1", R3, R2, [record(R1, "v1"), record(R2, "v2"), record(R3, "v1", "active")])
    # web2's v2 release is another ID (deployed by a run of its own): the same commit all the same.
    web2 = host("web2", R3, R1, [record(R1, "v2"), record(R3, "v1", "active")])

    assert rollback_split([web1, web2]) == ""
    assert rollback_split([web1]) == ""


def test_no_host_with_a_target_is_left_to_each_hosts_own_refusal() -> None:
    web1 = host("web1", R1, "", [record(R1, "v1", "active")])
    web2 = host("web2", R1, "", [record(R1, "v1", "active")])

    assert rollback_split([web1, web2], "", COMMIT["v2"]) == ""


def test_a_release_removed_on_one_host_splits_the_targets_and_names_the_release_every_host_has() -> None:
    web1 = host("web1", R3, R2, [record(R1, "v1"), record(R2, "v2"), record(R3, "v1", "active")])
    web2 = host("web2", R3, R1, [record(R1, "v1"), record(R2, "v2", present=False), record(R3, "v1", "active")])

    message = rollback_split([web1, web2])

    assert message.startswith(
        f"the hosts would roll back to different commits (web1: {R2} (v2, commit 33333333); "
        f"web2: {R1} (v1, commit 11111111)), and a rollback leaves every host on one commit: "
        "these hosts were not changed."
    )
    # R3, current on both, would be no rollback; R2 is not on web2.
    assert f"-e deploy_rollback_to={R1} (deployctl rollback ENV --to {R1}), the newest release every host has" in (
        message
    )


def test_a_host_without_a_target_splits_the_fleet_and_a_mixed_fleet_is_offered_its_older_current() -> None:
    # web1 already runs the older release (a rollback of its own): nothing older; web2 would go to R1 too.
    web1 = host("web1", R1, "", [record(R1, "v1", "active"), record(R2, "v2", "rolled_back")])
    web2 = host("web2", R2, R1, [record(R1, "v1"), record(R2, "v2", "active")])

    message = rollback_split([web1, web2])

    assert f"(web1: nothing older to roll back to; web2: {R1} (v1, commit 11111111))" in message
    assert f"-e deploy_rollback_to={R1} " in message


def test_a_named_release_missing_or_failed_on_a_host_and_no_release_in_common() -> None:
    web1 = host("web1", R4, "", [record(R3, "v2"), record(R4, "v1", "active")])
    web2 = host("web2", R4, "", [record(R3, "v2", "failed"), record(R4, "v1", "active")])

    message = rollback_split([web1, web2], R3)

    assert f"web1: {R3} (v2, commit 33333333); web2: no usable release {R3}" in message
    assert "No release is on every host: deploy the ref to go back to (deployctl deploy ENV --ref REF)" in message


def test_a_later_batch_is_held_to_the_commit_of_the_earlier_ones() -> None:
    web3 = host("web3", R3, R2, [record(R2, "v2"), record(R3, "v1", "active")])

    assert rollback_split([web3], earlier_commit=COMMIT["v2"]) == ""
    message = rollback_split([web3], "", COMMIT["v1"])
    assert f"(web3: {R2} (v2, commit 33333333); the earlier batches: commit 11111111)" in message
    assert "The earlier batches are back on commit 11111111: roll these hosts back to a release of that" in message


def test_in_batches_the_first_one_compares_the_hosts_of_the_later_ones_too() -> None:
    web1 = host("web1", R3, R2, [record(R1, "v1"), record(R2, "v2"), record(R3, "v1", "active")])
    web2 = later("web2", R3, R1, [record(R1, "v1"), record(R2, "v2", present=False), record(R3, "v1", "active")])
    # A host whose query failed or could not reach it is left to its own batch; a skipped loop adds nothing.
    web3 = {"item": "web3", "failed": True, "msg": "damaged record"}
    web4 = {"item": "web4", "unreachable": True, "msg": "ssh: connect to host web4 port 22: Connection refused"}

    message = rollback_split([web1, web2, web3, web4, {"skipped": True, "changed": False}])

    assert f"(web1: {R2} (v2, commit 33333333); web2: {R1} (v1, commit 11111111))" in message
    assert f"-e deploy_rollback_to={R1} " in message
    assert rollback_split([web1, web2], R1) == ""


def test_rollback_split_is_the_collections_filter() -> None:
    assert FilterModule().filters() == {"rollback_split": rollback_split}
