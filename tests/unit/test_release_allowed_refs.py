"""release state=staged with allowed_refs: only the refs an environment accepts, also given as a commit."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.deployctl.core.plugins.modules import release
from tests.unit.conftest import Upstream, git, run_module, staged_args

R1 = "20240101T000000Z"


@pytest.fixture
def feature(upstream: Upstream, tmp_path: Path) -> str:
    """Branch `feature/x` of the upstream: one commit on top of v2, on no other branch or tag."""
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(upstream.path), str(work))
    git(work, "checkout", "-q", "-b", "feature/x")
    (work / "feature.txt").write_text("x\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "feature")
    git(work, "push", "-q", "origin", "feature/x")
    return git(work, "rev-parse", "HEAD")


@pytest.mark.parametrize("check_mode", [False, True], ids=["deploy", "check mode"])
@pytest.mark.parametrize("version", ["main", "v1", "V2SHA"], ids=["branch", "tag", "commit on main"])
def test_an_allowed_ref_or_a_commit_on_one_stages(
    deploy_to: Path, upstream: Upstream, version: str, check_mode: bool
) -> None:
    version = upstream.v2 if version == "V2SHA" else version
    args = staged_args(deploy_to, upstream, R1, version=version, allowed_refs=["main", "v*"])

    result = run_module(release, args, check_mode=check_mode)

    assert not result.get("failed"), result.get("msg")


@pytest.mark.parametrize("check_mode", [False, True], ids=["deploy", "check mode"])
def test_a_commit_only_on_a_feature_branch_is_refused_naming_where_it_is(
    deploy_to: Path, upstream: Upstream, feature: str, check_mode: bool
) -> None:
    args = staged_args(deploy_to, upstream, R1, version=feature, allowed_refs=["main", "v*"])

    result = run_module(release, args, check_mode=check_mode)

    assert (result["failed"], result["input_error"]) == (True, True)
    assert result["msg"] == (
        f"ref '{feature}' (commit {feature[:12]}) may not be deployed to this environment: deploy_allowed_refs is "
        "['main', 'v*'] and its commit is only on feature/x. Deploy a commit of an allowed branch or tag; to deploy "
        "this one anyway, pass -e '{\"deploy_allowed_refs\": []}'"
    )
    assert not (deploy_to / "releases" / f".staging-{R1}").exists()


def test_no_patterns_allow_any_ref(deploy_to: Path, upstream: Upstream, feature: str) -> None:
    result = run_module(release, staged_args(deploy_to, upstream, R1, version="feature/x"))

    assert not result.get("failed"), result.get("msg")
    assert result["commit"] == feature
