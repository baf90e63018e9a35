"""release state=staged: bad input is flagged (input_error) and refused before the host changes.

The deploy role reports such a failure as "bad input, nothing changed" (exit code 5), and
marks a release of the run failed only when the result says the call created one (created).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.deployctl.core.plugins.modules import release
from tests.unit.conftest import Upstream, deploy, git, run_module, staged_args, tree

R1, R2 = "20240101T000000Z", "20240102T000000Z"


def staged(
    deploy_to: Path, upstream: Upstream, release_id: str = R1, check_mode: bool = False, **overrides: Any
) -> dict[str, Any]:
    return run_module(release, staged_args(deploy_to, upstream, release_id, **overrides), check_mode=check_mode)


def refused(result: dict[str, Any]) -> str:
    """The message of a failure flagged as bad input that created nothing."""
    assert result["failed"] is True, result
    assert (result["input_error"], result["created"]) == (True, False), result
    msg: str = result["msg"]
    return msg


def nothing_staged(deploy_to: Path) -> bool:
    """No staging directory, no release directory and no release record."""
    releases = os.listdir(deploy_to / "releases") if (deploy_to / "releases").exists() else []
    states = deploy_to / ".deployctl" / "releases"
    records = os.listdir(states) if states.exists() else []
    return releases == [] and records == []


def push_commit(
    upstream: Upstream, tmp_path: Path, files: dict[str, str], date: str = "2024-03-01T00:00:00+00:00"
) -> str:
    """Commit `files` on top of main upstream; return the new commit."""
    work = tmp_path / "push"
    if not work.exists():
        git(tmp_path, "clone", "-q", upstream.url, str(work))
    for name, content in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(content)
    git(work, "add", "-A", date=date)
    git(work, "commit", "-q", "-m", "more", date=date)
    git(work, "push", "-q", "origin", "main")
    return git(work, "rev-parse", "HEAD")


# -- input_error and created ------------------------------------------------------


@pytest.mark.parametrize("check_mode", [False, True], ids=["real", "check"])
def test_unknown_ref_is_input_and_creates_nothing(deploy_to: Path, upstream: Upstream, check_mode: bool) -> None:
    msg = refused(staged(deploy_to, upstream, version="v9", check_mode=check_mode))

    assert msg == f"ref 'v9' is not a branch, tag or commit of {upstream.url}; known refs include: main, v2, v1"
    assert nothing_staged(deploy_to)


def test_a_refused_stage_names_the_release_that_serves_on(deploy_to: Path, upstream: Upstream) -> None:
    # Refused before the stage read what is live: the role reports `current` from `previous`, never "no release".
    deploy(deploy_to, upstream, R1)
    result = staged(deploy_to, upstream, R2, version="v9")
    refused(result)
    assert result["previous"] == R1
    assert staged(deploy_to.parent / "fresh", upstream, R2, version="v9")["previous"] == ""


@pytest.mark.parametrize("check_mode", [False, True], ids=["real", "check"])
def test_an_unreachable_repository_is_no_input_error(deploy_to: Path, tmp_path: Path, check_mode: bool) -> None:
    gone = Upstream(path=tmp_path / "gone.git", url=f"file://{tmp_path}/gone.git", v1="", v2="")

    result = staged(deploy_to, gone, check_mode=check_mode)

    assert result["failed"] is True
    assert result["msg"].startswith(f"cannot {'fetch' if check_mode else 'clone'} {gone.url}"), result["msg"]
    assert (result["input_error"], result["created"]) == (False, False)
    assert nothing_staged(deploy_to)


def test_too_little_free_space_is_input(deploy_to: Path, upstream: Upstream) -> None:
    refused(staged(deploy_to, upstream, min_free_mb=2**40))

    assert not deploy_to.exists()


# "" and the path escapes were never valid: the release id is a path component under DEPLOY_TO.
INVALID_IDS = ["latest", "", "../x", "20240101T000000Z/../../etc"]


def invalid_id(release_id: str) -> str:
    return (
        f"release id {release_id!r} is not valid: use a UTC timestamp such as 20261126T145204Z, "
        "optionally followed by -SUFFIX"
    )


@pytest.mark.parametrize("release_id", INVALID_IDS)
def test_invalid_release_id_is_input(deploy_to: Path, upstream: Upstream, release_id: str) -> None:
    assert refused(staged(deploy_to, upstream, release_id)) == invalid_id(release_id)

    assert not deploy_to.exists()


@pytest.mark.parametrize("release_id", INVALID_IDS)
@pytest.mark.parametrize("state", ["built", "active", "failed"])
def test_invalid_release_id_is_refused_by_every_state_that_takes_one(
    deploy_to: Path, upstream: Upstream, state: str, release_id: str
) -> None:
    deploy(deploy_to, upstream, R1)
    before = tree(deploy_to)

    result = run_module(release, {"deploy_to": str(deploy_to), "state": state, "release_id": release_id})

    assert result["failed"] is True
    assert result["msg"] == invalid_id(release_id)
    # input_error and created belong to state=staged's result only.
    assert "input_error" not in result and "created" not in result
    assert tree(deploy_to) == before


@pytest.mark.parametrize("check_mode", [False, True], ids=["real", "check"])
def test_missing_shared_file_is_input_and_leaves_no_staging_nor_record(
    deploy_to: Path, upstream: Upstream, check_mode: bool
) -> None:
    deploy(deploy_to, upstream, R1)
    before = tree(deploy_to)

    msg = refused(
        staged(deploy_to, upstream, R2, version="v2", shared_files=["config/master.key"], check_mode=check_mode)
    )

    assert msg == (
        f"shared file config/master.key is missing: create {deploy_to / 'shared' / 'config' / 'master.key'} "
        "on the host (it is linked into every release)"
    )
    assert tree(deploy_to) == before
    assert sorted(os.listdir(deploy_to / "releases")) == [R1]
    assert sorted(os.listdir(deploy_to / ".deployctl" / "releases")) == [f"{R1}.json"]


def test_missing_shared_file_on_a_new_host_creates_nothing_at_all(deploy_to: Path, upstream: Upstream) -> None:
    refused(staged(deploy_to, upstream, shared_files=["config/master.key"]))

    assert not deploy_to.exists()


@pytest.mark.parametrize("path", ["..", "../etc", "log/../../x", "/"])
def test_bad_shared_path_is_input(deploy_to: Path, upstream: Upstream, path: str) -> None:
    msg = refused(staged(deploy_to, upstream, shared_dirs=["log", path]))

    assert msg == f"shared path {path.strip('/')!r} must be relative to the release, without '..'"
    assert not deploy_to.exists()


def test_existing_release_id_is_input(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)

    msg = refused(staged(deploy_to, upstream, R1, version="v2"))

    assert msg == f"release {R1} already exists in {deploy_to / 'releases'}: pass a new deploy_release_id"
    assert sorted(os.listdir(deploy_to / "releases")) == [R1]


@pytest.mark.parametrize("option", ["app_user", "config_owner"])
def test_unknown_user_is_input(deploy_to: Path, upstream: Upstream, option: str) -> None:
    overrides: dict[str, Any] = {option: "no-such-user-here"}
    msg = refused(staged(deploy_to, upstream, **overrides))

    assert msg.startswith("user 'no-such-user-here' does not exist on the host"), msg
    assert not deploy_to.exists()


@pytest.mark.parametrize("mode", ["0999", "rw-r-----", "77777"])
def test_bad_config_mode_is_input(deploy_to: Path, upstream: Upstream, mode: str) -> None:
    msg = refused(staged(deploy_to, upstream, config_mode=mode))

    assert msg == f"deploy_config_mode {mode!r} is not an octal file mode such as 0640"
    assert not deploy_to.exists()


def test_config_owner_and_mode_do_not_matter_without_a_config(deploy_to: Path, upstream: Upstream) -> None:
    result = staged(deploy_to, upstream, config_content=None, config_owner="no-such-user-here", config_mode="x")

    assert not result.get("failed"), result["msg"]


def test_a_failure_after_staging_started_says_it_created_the_release(deploy_to: Path, upstream: Upstream) -> None:
    # Gemfile is a file of the commit: a shared directory under it cannot be linked.
    result = staged(deploy_to, upstream, shared_dirs=["Gemfile/cache"])

    assert result["failed"] is True
    assert result["msg"].startswith("staged: "), result["msg"]
    assert (result["input_error"], result["created"]) == (False, True)
    assert (deploy_to / "releases" / f".staging-{R1}").is_dir()
    assert (deploy_to / ".deployctl" / "releases" / f"{R1}.json").is_file()


def test_created_on_success(deploy_to: Path, upstream: Upstream) -> None:
    assert staged(deploy_to, upstream, check_mode=True)["created"] is False
    assert staged(deploy_to, upstream)["created"] is True


def test_nothing_created_when_already_live(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)

    result = staged(deploy_to, upstream, R2)

    assert (result["already_live"], result["created"], result["changed"]) == (True, False, False)


# -- submodules ---------------------------------------------------------------------


@pytest.fixture
def with_submodules(upstream: Upstream, tmp_path: Path) -> str:
    """Upstream's main gets two real submodules (the upstream itself is their source); tag v3."""
    work = tmp_path / "submodules"
    git(tmp_path, "clone", "-q", upstream.url, str(work))
    for path in ("vendor/engine", "lib/x"):
        git(work, "-c", "protocol.file.allow=always", "submodule", "add", "-q", upstream.url, path)
    date = "2024-03-01T00:00:00+00:00"
    git(work, "commit", "-q", "-m", "submodules", date=date)
    git(work, "tag", "v3", date=date)
    git(work, "push", "-q", "origin", "main", "v3")
    return git(work, "rev-parse", "HEAD")


SUBMODULE_MSG = (
    "the app uses git submodules (vendor/engine, lib/x) that a release cannot include: deployctl exports the "
    "commit with `git archive`, which leaves submodule directories empty. Vendor the code into the repository, "
    "or make it a dependency that the build installs (a gem, for example), and deploy a commit without .gitmodules"
)


def test_a_commit_with_submodules_is_refused_before_staging(
    deploy_to: Path, upstream: Upstream, with_submodules: str
) -> None:
    result = staged(deploy_to, upstream, version="v3")

    assert refused(result) == SUBMODULE_MSG
    assert (result["commit"], result["submodules"]) == (with_submodules, ["vendor/engine", "lib/x"])
    assert os.listdir(deploy_to / "releases") == []
    assert nothing_staged(deploy_to)


def test_a_commit_with_submodules_is_refused_in_check_mode(
    deploy_to: Path, upstream: Upstream, with_submodules: str, tmp_path: Path
) -> None:
    before = tree(tmp_path)

    result = staged(deploy_to, upstream, version="v3", check_mode=True)

    assert refused(result) == SUBMODULE_MSG
    assert result["submodules"] == ["vendor/engine", "lib/x"]
    assert tree(tmp_path) == before


def test_a_commit_with_submodules_is_refused_in_check_mode_with_a_mirror(
    deploy_to: Path, upstream: Upstream, with_submodules: str
) -> None:
    deploy(deploy_to, upstream, R1)
    before = tree(deploy_to)

    result = staged(deploy_to, upstream, R2, version=with_submodules[:10], check_mode=True)

    assert refused(result) == SUBMODULE_MSG
    assert tree(deploy_to) == before


def test_a_gitmodules_that_declares_no_submodule_is_harmless(
    deploy_to: Path, upstream: Upstream, tmp_path: Path
) -> None:
    commit = push_commit(upstream, tmp_path, {".gitmodules": "# no submodules any more\n"})

    result = staged(deploy_to, upstream, version="main")

    assert not result.get("failed"), result["msg"]
    assert result["commit"] == commit


def test_an_unreadable_gitmodules_is_input(deploy_to: Path, upstream: Upstream, tmp_path: Path) -> None:
    commit = push_commit(upstream, tmp_path, {".gitmodules": "[submodule\n"})

    msg = refused(staged(deploy_to, upstream, version="main"))

    assert msg == (
        f"the app's .gitmodules at {commit} cannot be parsed, so deployctl cannot tell which git submodules "
        "it declares (a release cannot include submodules): fix or remove .gitmodules"
    )


# -- abbreviated commits in check mode --------------------------------------------------


def test_check_mode_resolves_an_abbreviated_commit_without_a_mirror(
    deploy_to: Path, upstream: Upstream, tmp_path: Path
) -> None:
    before = tree(tmp_path)

    preview = staged(deploy_to, upstream, version=upstream.v2[:10], check_mode=True)

    assert not preview.get("failed"), preview["msg"]
    assert preview["commit"] == upstream.v2
    assert preview["pending_migrations"] == ["20240101000000", "20240201000000"]
    assert tree(tmp_path) == before
    real = staged(deploy_to, upstream, version=upstream.v2[:10])
    assert real["commit"] == preview["commit"]
    assert real["pending_migrations"] == preview["pending_migrations"]


def test_check_mode_resolves_an_abbreviated_commit_the_mirror_has(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    before = tree(deploy_to)

    preview = staged(deploy_to, upstream, R2, version=upstream.v2[:10], check_mode=True)

    assert (preview["commit"], preview["pending_migrations"]) == (upstream.v2, ["20240201000000"])
    assert tree(deploy_to) == before


def test_check_mode_resolves_an_abbreviated_commit_the_mirror_lacks(
    deploy_to: Path, upstream: Upstream, tmp_path: Path
) -> None:
    deploy(deploy_to, upstream, R1)
    new = push_commit(upstream, tmp_path, {"db/migrate/20240301000000_z.rb": "# z\n"})
    before = tree(deploy_to)

    preview = staged(deploy_to, upstream, R2, version=new[:10], check_mode=True)

    assert not preview.get("failed"), preview["msg"]
    assert (preview["commit"], preview["pending_migrations"]) == (new, ["20240201000000", "20240301000000"])
    assert tree(deploy_to) == before
    real = staged(deploy_to, upstream, R2, version=new[:10])
    assert (real["commit"], real["pending_migrations"]) == (preview["commit"], preview["pending_migrations"])


def test_check_mode_resolves_a_full_commit_the_mirror_has_offline(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    upstream.path.rename(upstream.path.with_name("moved.git"))

    preview = staged(deploy_to, upstream, R2, version=upstream.v2, check_mode=True)

    assert not preview.get("failed"), preview["msg"]
    assert preview["commit"] == upstream.v2


@pytest.mark.parametrize("mirror", [False, True], ids=["new-host", "with-mirror"])
def test_an_unknown_abbreviated_commit_is_input_in_check_mode_as_for_real(
    deploy_to: Path, upstream: Upstream, mirror: bool
) -> None:
    if mirror:
        deploy(deploy_to, upstream, R1)
    unknown = next(
        c * 10 for c in "0123456789abcdef" if not upstream.v1.startswith(c) and not upstream.v2.startswith(c)
    )

    preview = refused(staged(deploy_to, upstream, R2, version=unknown, check_mode=True))
    real = refused(staged(deploy_to, upstream, R2, version=unknown))

    assert preview == real
    assert (
        preview == f"ref {unknown!r} is not a branch, tag or commit of {upstream.url}; known refs include: main, v2, v1"
    )
