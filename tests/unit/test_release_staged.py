"""release state=staged: mirror, export, shared links, config file, already-live detection."""

from __future__ import annotations

import json
import os
import pwd
import re
import stat
from pathlib import Path

from ansible_collections.deployctl.core.plugins.modules import release
from tests.unit.conftest import APP_USER, Upstream, deploy, git, journal, run_module, staged_args, state, tree

R1, R2 = "20240101T000000Z", "20240102T000000Z"
SECRET = "s3cr3t-do-not-leak"
APP = pwd.getpwnam(APP_USER)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def owner(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid


def test_first_deploy_creates_the_layout_and_a_staging_release(deploy_to: Path, upstream: Upstream) -> None:
    result = run_module(release, staged_args(deploy_to, upstream, R1))

    staging = deploy_to / "releases" / f".staging-{R1}"
    assert result["changed"] is True
    assert result["already_live"] is False
    assert result["release_id"] == R1
    assert result["previous"] is None
    assert result["commit"] == upstream.v1
    assert result["path"] == str(staging)
    assert result["migrations"] == ["20240101000000"]
    assert result["pending_migrations"] == ["20240101000000"]
    assert result["removed"] == []

    root_dirs = {deploy_to: 0o755, deploy_to / "releases": 0o755}
    root_dirs.update({deploy_to / ".deployctl" / sub: 0o700 for sub in ("", "releases", "logs", "running")})
    for path, wanted in root_dirs.items():
        assert (mode(path), owner(path)) == (wanted, (0, 0)), path
    assert (mode(deploy_to / "shared"), owner(deploy_to / "shared")) == (0o755, (APP.pw_uid, APP.pw_gid))
    assert git(deploy_to / "repo", "config", "--bool", "remote.origin.mirror") == "true"
    assert not (deploy_to / "releases" / R1).exists()

    assert (staging / "REVISION").read_text() == upstream.v1 + "\n"
    assert (staging / "db/migrate/20240101000000_y.rb").read_text() == "# y\n"
    assert not (staging / "db/migrate/20240201000000_x.rb").exists()


def test_shared_dirs_are_links_into_shared_owned_by_the_app_user(deploy_to: Path, upstream: Upstream) -> None:
    run_module(release, staged_args(deploy_to, upstream, R1, shared_dirs=["log", "tmp/pids", "/storage/"]))

    staging = deploy_to / "releases" / f".staging-{R1}"
    shared = deploy_to / "shared"
    # log/ exists in the repository (log/.keep): the directory is replaced by the link.
    assert os.readlink(staging / "log") == str(shared / "log")
    assert os.readlink(staging / "tmp" / "pids") == str(shared / "tmp" / "pids")
    assert os.readlink(staging / "storage") == str(shared / "storage")
    for path in (shared / "log", shared / "tmp", shared / "tmp" / "pids", shared / "storage"):
        assert path.is_dir() and not path.is_symlink(), path
        assert owner(path) == (APP.pw_uid, APP.pw_gid), path


def test_release_files_belong_to_the_app_user_and_the_config_to_root(deploy_to: Path, upstream: Upstream) -> None:
    run_module(release, staged_args(deploy_to, upstream, R1))

    staging = deploy_to / "releases" / f".staging-{R1}"
    config = staging / "config" / "production.yml"
    for path in (staging, staging / "Gemfile", staging / "db" / "migrate", staging / "REVISION", staging / "log"):
        assert owner(path) == (APP.pw_uid, APP.pw_gid), path
    assert config.read_text() == f"production:\n  secret_key_base: {SECRET}\n"
    assert mode(config) == 0o640
    assert owner(config) == (0, APP.pw_gid)
    assert [p.name for p in config.parent.iterdir() if p.name.startswith(".tmp-")] == []


def test_config_mode_and_owner_follow_the_options(deploy_to: Path, upstream: Upstream) -> None:
    run_module(
        release,
        staged_args(deploy_to, upstream, R1, config_path="settings/app.yml", config_mode="0600", config_owner=APP_USER),
    )

    config = deploy_to / "releases" / f".staging-{R1}" / "settings" / "app.yml"
    assert mode(config) == 0o600
    assert owner(config) == (APP.pw_uid, APP.pw_gid)


def test_staging_is_recorded_as_building_and_journaled(deploy_to: Path, upstream: Upstream) -> None:
    run_module(release, staged_args(deploy_to, upstream, R1))

    record = state(deploy_to, R1)
    assert {k: record[k] for k in ("id", "state", "commit", "ref", "deployed_by", "migrations")} == {
        "id": R1,
        "state": "building",
        "commit": upstream.v1,
        "ref": "v1",
        "deployed_by": "alice",
        "migrations": ["20240101000000"],
    }
    [line] = journal(deploy_to)
    assert {k: v for k, v in line.items() if k != "time"} == {
        "event": "staged",
        "release": R1,
        "commit": upstream.v1,
        "ref": "v1",
        "by": "alice",
        "host": "web1",
    }


def test_next_release_has_only_the_new_migrations_pending(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)

    result = run_module(release, staged_args(deploy_to, upstream, R2, version="v2"))

    assert result["commit"] == upstream.v2  # the annotated tag, peeled to its commit
    assert result["previous"] == R1
    assert result["migrations"] == ["20240101000000", "20240201000000"]
    assert result["pending_migrations"] == ["20240201000000"]
    assert result["schema_ahead"] == []


def test_an_older_ref_over_a_newer_schema_names_the_migrations_it_lacks(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1, version="v2")

    result = run_module(release, staged_args(deploy_to, upstream, R2, version="v1"))

    assert result["created"] is True and result["pending_migrations"] == []
    assert result["schema_ahead"] == ["20240201000000"]


def test_same_commit_and_config_already_live_changes_nothing(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    before = tree(deploy_to / "releases")

    result = run_module(release, staged_args(deploy_to, upstream, R2))

    assert result["changed"] is False
    assert result["already_live"] is True
    assert result["release_id"] == R1
    assert result["path"] == str(deploy_to / "releases" / R1)
    assert result["pending_migrations"] == []
    assert tree(deploy_to / "releases") == before
    assert not (deploy_to / ".deployctl" / "releases" / f"{R2}.json").exists()


def test_same_commit_with_other_config_is_a_new_release(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)

    result = run_module(release, staged_args(deploy_to, upstream, R2, config_content="production: {}\n"))

    assert result["changed"] is True
    assert result["already_live"] is False
    assert result["release_id"] == R2
    assert (deploy_to / "releases" / f".staging-{R2}" / "config" / "production.yml").read_text() == "production: {}\n"


def test_unknown_ref_names_it_and_lists_the_known_refs(deploy_to: Path, upstream: Upstream) -> None:
    result = run_module(release, staged_args(deploy_to, upstream, R1, version="v9"))

    assert result["failed"] is True
    assert result["msg"] == (
        f"ref 'v9' is not a branch, tag or commit of {upstream.url}; known refs include: main, v2, v1"
    )
    # Named by the call itself: its task does the fetch and the build ("Fetch and build: ...").
    assert result["stage"] == "fetch"
    assert not (deploy_to / "releases" / f".staging-{R1}").exists()


def test_invalid_release_id_is_refused_before_touching_the_host(deploy_to: Path, upstream: Upstream) -> None:
    result = run_module(release, staged_args(deploy_to, upstream, "latest"))

    assert result["failed"] is True
    assert result["msg"] == (
        "release id 'latest' is not valid: use a UTC timestamp such as 20261126T145204Z, optionally followed by -SUFFIX"
    )
    assert not deploy_to.exists()


def test_existing_release_id_is_refused(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)

    result = run_module(release, staged_args(deploy_to, upstream, R1, version="v2"))

    assert result["failed"] is True
    assert result["msg"] == f"release {R1} already exists in {deploy_to / 'releases'}: pass a new deploy_release_id"


def test_missing_shared_file_is_named(deploy_to: Path, upstream: Upstream) -> None:
    result = run_module(release, staged_args(deploy_to, upstream, R1, shared_files=["config/master.key"]))

    assert result["failed"] is True
    assert result["msg"] == (
        f"shared file config/master.key is missing: create {deploy_to / 'shared' / 'config' / 'master.key'} "
        "on the host (it is linked into every release)"
    )


def test_shared_file_is_linked(deploy_to: Path, upstream: Upstream) -> None:
    (deploy_to / "shared" / "config").mkdir(parents=True)
    (deploy_to / "shared" / "config" / "master.key").write_text("k\n")

    run_module(release, staged_args(deploy_to, upstream, R1, shared_files=["config/master.key"]))

    link = deploy_to / "releases" / f".staging-{R1}" / "config" / "master.key"
    assert os.readlink(link) == str(deploy_to / "shared" / "config" / "master.key")


def test_leftover_staging_of_an_interrupted_deploy_is_removed_and_journaled(
    deploy_to: Path, upstream: Upstream
) -> None:
    deploy(deploy_to, upstream, R1)
    interrupted = "20240101T120000Z"
    run_module(release, staged_args(deploy_to, upstream, interrupted, version="v2"))  # then the deploy died

    result = run_module(release, staged_args(deploy_to, upstream, R2, version="v2"))

    assert (result["changed"], result["removed"], result["killed"]) == (True, [f".staging-{interrupted}"], [])
    assert sorted(os.listdir(deploy_to / "releases")) == [".staging-" + R2, R1]
    assert sorted(os.listdir(deploy_to / ".deployctl" / "releases")) == [f"{R1}.json", f"{R2}.json"]
    discarded = [line for line in journal(deploy_to) if line["event"] == "discarded_staging"]
    assert [line["release"] for line in discarded] == [interrupted]


def test_leftover_staging_is_removed_also_when_already_live(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    run_module(release, staged_args(deploy_to, upstream, R2, version="v2"))  # then the deploy died

    result = run_module(release, staged_args(deploy_to, upstream, "20240103T000000Z"))

    assert (result["already_live"], result["changed"], result["removed"]) == (True, True, [f".staging-{R2}"])
    assert sorted(os.listdir(deploy_to / "releases")) == [R1]


def test_too_little_free_space_is_refused_before_touching_the_host(deploy_to: Path, upstream: Upstream) -> None:
    result = run_module(release, staged_args(deploy_to, upstream, R1, min_free_mb=2**40))

    assert result["failed"] is True
    match = re.fullmatch(
        rf"only (\d+) MiB free under {re.escape(str(deploy_to))} \(deploy_min_free_mb is {2**40}\): "
        r"free some space \(old logs, releases\) or lower deploy_min_free_mb; nothing was changed",
        result["msg"],
    )
    assert match, result["msg"]
    st = os.statvfs(deploy_to.parent.parent)
    assert abs(int(match[1]) - st.f_bavail * st.f_frsize // 2**20) < 1024
    assert not deploy_to.exists()


def test_free_space_is_reported(deploy_to: Path, upstream: Upstream) -> None:
    result = run_module(release, staged_args(deploy_to, upstream, R1, min_free_mb=1))

    st = os.statvfs(deploy_to)
    assert abs(result["free_mb"] - st.f_bavail * st.f_frsize // 2**20) < 1024


def test_check_mode_on_a_new_host_writes_nothing_but_reports_the_commit(
    deploy_to: Path, upstream: Upstream, tmp_path: Path
) -> None:
    before = tree(tmp_path)

    result = run_module(release, staged_args(deploy_to, upstream, R1, version="v2"), check_mode=True)

    assert not result.get("failed"), result["msg"]
    assert result["changed"] is True
    assert result["already_live"] is False
    assert result["commit"] == upstream.v2
    assert tree(tmp_path) == before
    assert not deploy_to.exists()


def test_check_mode_on_a_deployed_host_changes_no_release(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1)
    run_module(release, staged_args(deploy_to, upstream, "20240101T120000Z", version="v2"))  # then the deploy died
    before = {sub: tree(deploy_to / sub) for sub in ("releases", "shared", ".deployctl")}

    result = run_module(release, staged_args(deploy_to, upstream, R2, version="v2"), check_mode=True)

    assert result["changed"] is True
    assert result["commit"] == upstream.v2
    assert result["pending_migrations"] == ["20240201000000"]
    assert (result["removed"], result["killed"]) == ([".staging-20240101T120000Z"], [])
    assert os.readlink(deploy_to / "current") == f"releases/{R1}"
    assert {sub: tree(deploy_to / sub) for sub in before} == before


def test_check_mode_does_not_fetch_into_the_mirror(deploy_to: Path, upstream: Upstream, tmp_path: Path) -> None:
    deploy(deploy_to, upstream, R1, version="main")
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", upstream.url, str(work))
    (work / "NEW").write_text("new\n")
    git(work, "add", "NEW")
    git(work, "commit", "-q", "-m", "new", date="2024-03-01T00:00:00+00:00")
    git(work, "push", "-q", "origin", "main")
    new_main = git(work, "rev-parse", "HEAD")
    before = tree(deploy_to)

    result = run_module(release, staged_args(deploy_to, upstream, R2, version="main"), check_mode=True)

    assert result["commit"] == new_main
    assert git(deploy_to / "repo", "rev-parse", "refs/heads/main") == git(upstream.path, "rev-parse", "v2^{commit}")
    assert tree(deploy_to) == before
    # What the deploy would bring (deploy:pending): the pushed commit, read from the preview, not the mirror.
    [pending] = result["commits"]
    assert (pending["commit"], pending["subject"], pending["date"]) == (new_main, "new", "2024-03-01T00:00:00+00:00")
    assert result["commits_behind"] == 0


def test_check_mode_counts_the_commits_an_older_ref_leaves_out(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1, version="v2")
    result = run_module(release, staged_args(deploy_to, upstream, R2, version="v1"), check_mode=True)
    assert (result["commits"], result["commits_behind"]) == ([], 1)


def test_the_config_content_appears_only_in_the_config_file(deploy_to: Path, upstream: Upstream) -> None:
    results = [
        run_module(release, staged_args(deploy_to, upstream, R1), check_mode=True),
        run_module(release, staged_args(deploy_to, upstream, R1)),
        run_module(release, staged_args(deploy_to, upstream, R2, version="v9")),
    ]
    assert [bool(r.get("failed")) for r in results] == [False, False, True]
    for result in results:
        assert SECRET not in json.dumps(result)

    holding = []
    for directory, _dirs, files in os.walk(deploy_to):
        for name in files:
            path = Path(directory) / name
            if not path.is_symlink() and SECRET.encode() in path.read_bytes():
                holding.append(path.relative_to(deploy_to))
    assert holding == [Path("releases", f".staging-{R1}", "config", "production.yml")]


def test_a_pinned_commit_is_deployed_whatever_the_branch_names_now(deploy_to: Path, upstream: Upstream) -> None:
    # A rolling deploy's later batch: main was v1 when the first batch resolved it, then moved to v2.
    git(upstream.path, "update-ref", "refs/heads/main", upstream.v2)

    result = run_module(release, staged_args(deploy_to, upstream, R1, version="main", commit=upstream.v1))

    assert result["commit"] == upstream.v1
    assert (deploy_to / "releases" / f".staging-{R1}" / "REVISION").read_text() == upstream.v1 + "\n"
    # The release records the ref as the user gave it.
    assert (state(deploy_to, R1)["ref"], state(deploy_to, R1)["commit"]) == ("main", upstream.v1)


def test_a_pinned_commit_the_repository_lacks_is_bad_input(deploy_to: Path, upstream: Upstream) -> None:
    result = run_module(release, staged_args(deploy_to, upstream, R1, version="main", commit="0" * 40))

    assert (result["failed"], result["input_error"]) == (True, True)
    assert result["msg"].startswith(f"ref {'0' * 40!r} is not a branch, tag or commit of {upstream.url}")
    assert not (deploy_to / "releases" / f".staging-{R1}").exists()
