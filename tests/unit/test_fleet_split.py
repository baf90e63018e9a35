"""fleet_split: the hosts that run different commits are named by commit, with the way back to one."""

from __future__ import annotations

from ansible_collections.deployctl.core.plugins.filter.fleet_split import FilterModule, fleet_split

V1, V2 = "1111111122222222", "3333333344444444"


def host(name: str, commit: str | None, ref: str = "v1") -> dict:
    releases = [{"id": "R0", "commit": V1, "ref": "v1", "current": False}]
    if commit:
        releases.append({"id": "R1", "commit": commit, "ref": ref, "current": True})
    return {"inventory_hostname": name, "__deploy_releases": {"releases": releases}}


def test_hosts_on_one_commit_or_with_nothing_live_say_nothing() -> None:
    assert fleet_split([host("web1", V1), host("web2", V1, ref="main"), host("web3", None)]) == ""
    assert fleet_split([]) == ""


def test_hosts_on_different_commits_are_named_by_commit() -> None:
    said = fleet_split([host("web1", V1), host("web2", V2, "v2"), host("web3", V1)])

    assert said == (
        "the hosts run different commits (web1, web3: 11111111 (v1); web2: 33333333 (v2)): deploy one ref to every "
        "host (deployctl deploy ENV --ref REF) to put them back on one"
    )


def test_fleet_split_is_the_collections_filter() -> None:
    assert FilterModule().filters() == {"fleet_split": fleet_split}
