"""release state=staged with require_master_key: a Rails app's credentials need their key before the build."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.deployctl.core.plugins.modules import release
from tests.unit.conftest import Upstream, git, run_module, staged_args

R1 = "20240101T000000Z"
KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def with_credentials(upstream: Upstream, tmp_path: Path) -> str:
    """Tag `creds` of the upstream: v2 plus config/credentials.yml.enc, as `rails new` makes it."""
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(upstream.path), str(work))
    (work / "config/credentials.yml.enc").write_text("c2VjcmV0--abc--def\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "credentials")
    git(work, "tag", "creds")
    git(work, "push", "-q", "origin", "creds")
    return "creds"


def test_credentials_without_a_key_are_refused_before_the_release_is_created(
    deploy_to: Path, upstream: Upstream, with_credentials: str
) -> None:
    result = run_module(
        release, staged_args(deploy_to, upstream, R1, version=with_credentials, require_master_key=True)
    )

    assert result["failed"] is True
    assert result["input_error"] is True
    assert "config/credentials.yml.enc but no key" in result["msg"]
    assert "RAILS_MASTER_KEY" in result["msg"] and "deploy_require_master_key: false" in result["msg"]
    assert not (deploy_to / "releases" / f".staging-{R1}").exists()
    assert not list((deploy_to / ".deployctl" / "releases").glob("*.json"))


@pytest.mark.parametrize(
    "given",
    [
        {"secret_environment": {"RAILS_MASTER_KEY": KEY}},
        {"secret_environment": {"SECRET_KEY_BASE": KEY}},
        {"secret_files": {"config/master.key": KEY}},
        {"service_unit": "[Service]\nEnvironment=RAILS_MASTER_KEY=not-secret-in-a-test\n"},
        {"service_unit": '[Service]\nEnvironment="RAILS_MASTER_KEY=as the role quotes it"\n'},
        {"require_master_key": False},
    ],
    ids=[
        "RAILS_MASTER_KEY",
        "SECRET_KEY_BASE",
        "master.key file",
        "unit environment",
        "quoted unit environment",
        "check off",
    ],
)
def test_a_key_from_any_source_or_the_check_off_lets_the_release_stage(
    deploy_to: Path, upstream: Upstream, with_credentials: str, given: dict
) -> None:
    args = staged_args(deploy_to, upstream, R1, version=with_credentials, require_master_key=True)
    result = run_module(release, {**args, **given})

    assert not result.get("failed"), result.get("msg")
    assert (deploy_to / "releases" / f".staging-{R1}" / "config/credentials.yml.enc").exists()
    assert KEY not in str(result)


def test_an_app_without_credentials_needs_no_key(deploy_to: Path, upstream: Upstream) -> None:
    result = run_module(release, staged_args(deploy_to, upstream, R1, require_master_key=True))

    assert not result.get("failed"), result.get("msg")
