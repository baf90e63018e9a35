"""release state=staged with app_user_create: the app user is created in the staging call.

No user is created on this machine: useradd is a stand-in (`fake_commands`) that records
its calls, and the user database answers as if that stand-in had created the user.
"""

from __future__ import annotations

import grp
import pwd
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.deployctl.core.plugins.modules import release
from tests.unit.conftest import APP_USER, FakeCommands, Upstream, run_module, staged_args

R1 = "20240101T000000Z"
NEW_USER = "shopapp"
USERADD = ["useradd", "--system", "--create-home", "--shell", "/usr/sbin/nologin"]


@pytest.fixture
def useradd(fake_commands: FakeCommands, monkeypatch: pytest.MonkeyPatch) -> FakeCommands:
    """A useradd stand-in; NEW_USER exists (as `nobody`'s ids) once it has been called."""
    fake_commands.add("useradd")
    nobody = pwd.getpwnam(APP_USER)
    getpwnam = pwd.getpwnam

    def lookup(name: str) -> pwd.struct_passwd:
        if name != NEW_USER:
            return getpwnam(name)
        if not any(call[0] == "useradd" for call in fake_commands.calls()):
            raise KeyError(name)
        return pwd.struct_passwd(
            (NEW_USER, "x", nobody.pw_uid, nobody.pw_gid, "", f"/home/{NEW_USER}", "/usr/sbin/nologin")
        )

    monkeypatch.setattr(pwd, "getpwnam", lookup)
    return fake_commands


def stage(
    deploy_to: Path, upstream: Upstream, release_id: str = R1, check_mode: bool = False, **overrides: Any
) -> dict[str, Any]:
    args = staged_args(deploy_to, upstream, release_id, **{"app_user": NEW_USER, "app_user_create": True, **overrides})
    return run_module(release, args, check_mode=check_mode)


def test_a_missing_user_is_created_first(deploy_to: Path, upstream: Upstream, useradd: FakeCommands) -> None:
    result = stage(deploy_to, upstream)

    assert not result.get("failed"), result["msg"]
    assert useradd.calls() == [[*USERADD, "--user-group", NEW_USER]]
    assert (result["user_created"], result["changed"], result["created"]) == (True, True, True)
    staging = deploy_to / "releases" / f".staging-{R1}"
    assert staging.stat().st_uid == pwd.getpwnam(APP_USER).pw_uid


def test_the_user_joins_the_existing_group_of_its_name(
    deploy_to: Path, upstream: Upstream, useradd: FakeCommands, monkeypatch: pytest.MonkeyPatch
) -> None:
    getgrnam = grp.getgrnam
    existing = grp.struct_group((NEW_USER, "x", 990, []))
    monkeypatch.setattr(grp, "getgrnam", lambda name: existing if name == NEW_USER else getgrnam(name))

    result = stage(deploy_to, upstream)

    assert result["user_created"] is True
    assert useradd.calls() == [[*USERADD, "--gid", NEW_USER, NEW_USER]]


def test_an_existing_user_is_left_alone(deploy_to: Path, upstream: Upstream, useradd: FakeCommands) -> None:
    result = stage(deploy_to, upstream, app_user=APP_USER)

    assert (result["user_created"], result["created"]) == (False, True)
    assert useradd.calls() == []


def test_an_existing_user_changes_nothing_when_the_release_is_live(
    deploy_to: Path, upstream: Upstream, useradd: FakeCommands
) -> None:
    stage(deploy_to, upstream)
    run_module(release, {"deploy_to": str(deploy_to), "state": "built", "release_id": R1})
    run_module(release, {"deploy_to": str(deploy_to), "state": "active", "release_id": R1})

    again = stage(deploy_to, upstream, "20240102T000000Z")

    assert (again["already_live"], again["changed"], again["user_created"]) == (True, False, False)
    assert len(useradd.calls()) == 1


def test_without_app_user_create_no_user_is_created(deploy_to: Path, upstream: Upstream, useradd: FakeCommands) -> None:
    result = stage(deploy_to, upstream, app_user_create=False)

    assert result["failed"] is True
    assert result["msg"].startswith(f"user '{NEW_USER}' does not exist on the host"), result["msg"]
    assert useradd.calls() == []


@pytest.mark.parametrize("name", ["bad:user", "-shop", "1234", "a" * 33, "..", "shop app", ""])
def test_an_invalid_name_is_refused_before_anything_is_run(
    deploy_to: Path, upstream: Upstream, useradd: FakeCommands, name: str
) -> None:
    result = stage(deploy_to, upstream, app_user=name)

    assert result["failed"] is True
    assert result["msg"] == (
        f"invalid app user name {name!r}: a user name has only letters, digits, '_', '.' and '-', "
        "does not start with '-', is not only digits and has at most 32 characters; nothing was changed"
    )
    # What the deploy role reports: bad input at stage setup, nothing created.
    assert (result["input_error"], result["created"], result["user_created"], result["stage"]) == (
        True,
        False,
        False,
        "setup",
    )
    assert useradd.calls() == []
    assert not deploy_to.exists()


def test_a_failed_useradd_fails_at_stage_setup_with_its_error(
    deploy_to: Path, upstream: Upstream, useradd: FakeCommands
) -> None:
    useradd.answer("useradd", rc=10, stderr="useradd: cannot lock /etc/group; try again later.\n")

    result = stage(deploy_to, upstream)

    assert result["failed"] is True
    assert result["msg"] == (
        f"cannot create the app user '{NEW_USER}': `{' '.join([*USERADD, '--user-group', NEW_USER])}` exited 10: "
        "useradd: cannot lock /etc/group; try again later."
    )
    assert (result["input_error"], result["created"], result["stage"], result["rc"]) == (False, False, "setup", 10)
    assert not deploy_to.exists()


def test_check_mode_says_it_would_create_the_user_and_runs_nothing(
    deploy_to: Path, upstream: Upstream, useradd: FakeCommands
) -> None:
    result = stage(deploy_to, upstream, check_mode=True)

    assert not result.get("failed"), result["msg"]
    assert (result["user_created"], result["changed"], result["created"], result["already_live"]) == (
        "would",
        True,
        False,
        False,
    )
    assert useradd.calls() == []
    assert not deploy_to.exists()
