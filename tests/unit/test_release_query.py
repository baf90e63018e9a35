"""release state=query: the recorded releases, which one is current, and the rollback target."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.deployctl.core.plugins.modules import release
from tests.unit.conftest import Upstream, deploy, release_to, run_module, staged_args

R1, R2, R3, R4 = "20240101T000000Z", "20240102T000000Z", "20240103T000000Z", "20240104T000000Z"


def query(deploy_to: Path) -> dict:
    result = run_module(release, {"deploy_to": str(deploy_to), "state": "query"})
    assert not result.get("failed"), result["msg"]
    return result


def test_query_on_a_new_host(deploy_to: Path) -> None:
    result = query(deploy_to)

    assert (result["changed"], result["current"], result["rollback_target"], result["releases"]) == (
        False,
        None,
        None,
        [],
    )


def test_query_lists_releases_oldest_first_with_current_and_rollback_target(
    deploy_to: Path, upstream: Upstream
) -> None:
    deploy(deploy_to, upstream, R1)
    deploy(deploy_to, upstream, R2, version="v2", deployed_by="bob")
    run_module(release, staged_args(deploy_to, upstream, R3, version="main", config_content="y: 1\n"))
    release_to(deploy_to, R3, "failed", reason="build: exited 2")
    run_module(release, staged_args(deploy_to, upstream, R4, version="main", config_content="x: 1\n"))

    result = query(deploy_to)

    assert result["current"] == R2
    assert result["rollback_target"] == R1  # never the failed R3 nor the half-built R4
    rows = [
        (r["id"], r["state"], r["current"], r["present"], r["commit"], r["ref"], r["deployed_by"])
        for r in result["releases"]
    ]
    assert rows == [
        (R1, "built", False, True, upstream.v1, "v1", "alice"),
        (R2, "active", True, True, upstream.v2, "v2", "bob"),
        (R3, "failed", False, True, upstream.v2, "main", "alice"),
        (R4, "building", False, False, upstream.v2, "main", "alice"),
    ]
    assert result["releases"][2]["reason"] == "build: exited 2"
