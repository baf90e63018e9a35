"""_layout: the host layout and its atomic file operations."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

from ansible_collections.deployctl.core.plugins.module_utils._layout import (
    Layout,
    append_line,
    atomic_symlink,
    atomic_write,
)


def test_switching_a_link_never_leaves_it_missing(tmp_path: Path) -> None:
    link = tmp_path / "current"
    os.symlink("releases/a", link)
    stop = threading.Event()
    seen: set[str] = set()
    errors: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.add(os.readlink(link))
            except OSError as err:
                errors.append(err)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(200):
            atomic_symlink(f"releases/{'ab'[i % 2]}", str(link))
    finally:
        stop.set()
        thread.join()

    assert errors == []
    assert seen == {"releases/a", "releases/b"}
    assert os.readlink(link) == "releases/b"
    assert sorted(os.listdir(tmp_path)) == ["current"]


def test_atomic_symlink_replaces_a_leftover_temporary_link(tmp_path: Path) -> None:
    link = tmp_path / "current"
    os.symlink("releases/old", f"{link}.tmp-{os.getpid()}")

    atomic_symlink("releases/new", str(link))

    assert os.readlink(link) == "releases/new"
    assert sorted(os.listdir(tmp_path)) == ["current"]


def test_atomic_write_sets_mode_and_owner_and_replaces_whole(tmp_path: Path) -> None:
    path = tmp_path / "production.yml"
    path.write_text("old content that is longer than the new one\n")

    atomic_write(str(path), "new\n", mode=0o640, uid=0, gid=65534)

    st = os.stat(path)
    assert path.read_text() == "new\n"
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, 65534)
    assert sorted(os.listdir(tmp_path)) == ["production.yml"]


def test_append_line_keeps_one_sorted_json_record_per_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"

    append_line(str(path), {"event": "staged", "release": "R1"})
    append_line(str(path), {"release": "R2", "event": "built"})

    assert path.read_text() == '{"event": "staged", "release": "R1"}\n{"event": "built", "release": "R2"}\n'
    assert [json.loads(line)["release"] for line in path.read_text().splitlines()] == ["R1", "R2"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_current_release_is_read_from_the_link(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path / "app"))
    assert layout.current_release() is None
    os.makedirs(layout.releases)

    for target in ("releases/20240101T000000Z", "releases/20240101T000000Z/", f"{layout.releases}/20240102T000000Z"):
        atomic_symlink(target, layout.current)
        assert layout.current_release() == os.path.basename(target.rstrip("/"))


def test_staging_directories_are_told_from_releases(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path / "app"))
    assert layout.staging_dirs() == []
    for name in ("20240102T000000Z", ".staging-20240104T000000Z", "20240101T000000Z", ".staging-20240103T000000Z"):
        os.makedirs(os.path.join(layout.releases, name))

    assert layout.staging_dirs() == [
        os.path.join(layout.releases, ".staging-20240103T000000Z"),
        os.path.join(layout.releases, ".staging-20240104T000000Z"),
    ]


def test_ensure_creates_only_what_is_missing(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path / "app"))

    layout.ensure(65534, 65534)
    os.chmod(layout.releases, 0o700)
    layout.ensure(65534, 65534)

    assert stat.S_IMODE(os.stat(layout.releases).st_mode) == 0o700
    st = os.stat(layout.shared)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o755, 65534, 65534)
    for path in (layout.meta, layout.states, layout.logs):
        st = os.stat(path)
        assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o700, 0), path
