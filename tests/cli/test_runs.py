"""Runs on one controller share nothing they change: real concurrent runs, and the artifacts' rotation.

The real runs are ansible-playbook through runner.run, each in its own process (as two
`deployctl` commands are), against a playbook of this file on localhost (connection local):
no hosts needed.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import shutil
import stat
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret

from deployctl import runner
from deployctl.runner import KEEP_ARTIFACTS, Environment, Request, Vault, Vaults

PLAYBOOK = """\
- name: A play on the controller only
  hosts: all
  gather_facts: false
  tasks:
    - name: Say something
      ansible.builtin.debug:
        msg: "{{ inventory_hostname }} runs"
    - name: The secrets of both vault ids are read
      ansible.builtin.assert:
        that: [db_password == "the db password", api_key == "the api key"]
        quiet: true
      when: check_secrets | default(false) | bool
"""


@pytest.fixture
def local(tmp_path: Path) -> tuple[Path, Path]:
    """A playbooks directory and an inventory of localhost."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "local.yml").write_text(PLAYBOOK)
    inventory = tmp_path / "inventories" / "staging"
    inventory.mkdir(parents=True)
    (inventory / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    return playbooks, inventory


def real_run(cache: str, playbooks: str, inventory: str, vaults: Vaults, start: Any) -> tuple[int, str, str]:
    """One deployctl process's run (in a process of its own)."""
    os.environ["XDG_CACHE_HOME"] = cache
    os.environ["AWS_SECRET_ACCESS_KEY"] = "not for the artifacts"
    start.wait(timeout=60)
    request = Request("status", "local.yml", Environment("staging", Path(inventory)), vaults)
    request.extravars = {"check_secrets": bool(vaults)}
    finished = runner.run(request, lambda event: None, playbooks=Path(playbooks))
    return finished.rc, finished.status, str(finished.artifacts)


def real_runs(
    count: int, cache: Path, local: tuple[Path, Path], vaults: Vaults | None = None
) -> list[tuple[int, str, str]]:
    """`count` real runs started together; each one's rc, status and artifacts (or its exception, raised here)."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(count, mp_context=context) as pool:
        start = manager.Barrier(count)
        args = (str(cache), str(local[0]), str(local[1]), vaults or Vaults(), start)
        futures = [pool.submit(real_run, *args) for _ in range(count)]
        return [future.result(timeout=300) for future in futures]


def old_run(folder: Path, env: str, index: int, status: str | None = "successful") -> Path:
    """The artifacts of a past run (the index-th minute of 2020), finished with `status` (None: killed)."""
    stamp = (datetime(2020, 1, 1, tzinfo=UTC) + timedelta(minutes=index)).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{stamp}-deploy-{env}-{index:06x}"
    (path / "job_events").mkdir(parents=True)
    if status:
        (path / "status").write_text(status)
    return path


def names(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


def test_concurrent_runs_all_finish(tmp_path: Path, local: tuple[Path, Path]) -> None:
    """Three runs at once on a controller that already keeps more than KEEP_ARTIFACTS runs."""
    cache = tmp_path / "cache"
    artifacts = cache / "deployctl" / "artifacts"
    past = [old_run(artifacts / "staging", "staging", index) for index in range(KEEP_ARTIFACTS + 2)]
    production = [old_run(artifacts / "production", "production", index) for index in range(3)]
    production.append(old_run(artifacts / "production", "production", 3, status="failed"))

    finished = real_runs(3, cache, local)

    assert [(rc, status) for rc, status, _ in finished] == [(0, "successful")] * 3
    new = [Path(path) for _, _, path in finished]
    assert {path.parent for path in new} == {artifacts / "staging"} and len(set(new)) == 3
    for path in new:
        assert (path / "status").read_text() == "successful"
        assert "localhost runs" in (path / "stdout").read_text()
        recorded = json.loads((path / "command").read_text())
        assert "AWS_SECRET_ACCESS_KEY" not in recorded["env"] and "PATH" in recorded["env"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    # The newest KEEP_ARTIFACTS runs of staging; production untouched.
    assert names(artifacts / "staging") == {path.name for path in new + past[-(KEEP_ARTIFACTS - 3) :]}
    assert names(artifacts / "production") == {path.name for path in production}
    # Each run's private data dir is gone.
    assert list((cache / "deployctl" / "runs").iterdir()) == []
    for directory in (cache / "deployctl", cache / "deployctl" / "runs", artifacts, artifacts / "staging"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def encrypted(label: str, password: str, plaintext: str) -> str:
    secret = VaultSecret(password.encode())
    text = VaultLib([(label, secret)]).encrypt(plaintext, secret, vault_id=label).decode()
    return "!vault |\n" + "".join(f"  {line}\n" for line in text.splitlines())


def test_two_vault_ids_answer_ansible_playbook_s_prompts(tmp_path: Path, local: tuple[Path, Path]) -> None:
    passwords = {"prod": "first vault password", "prod_payments": "second vault password"}
    (local[1] / "group_vars").mkdir()
    (local[1] / "group_vars" / "all.yml").write_text(
        f"db_password: {encrypted('prod', passwords['prod'], 'the db password')}"
        f"api_key: {encrypted('prod_payments', passwords['prod_payments'], 'the api key')}"
    )
    vaults = Vaults(tuple(Vault(label, password) for label, password in passwords.items()))
    cache = tmp_path / "cache"

    [(rc, status, path)] = real_runs(1, cache, local, vaults)

    assert (rc, status) == (0, "successful"), Path(path, "stdout").read_text()
    recorded = json.loads(Path(path, "command").read_text())
    assert recorded["command"][1:5] == ["--vault-id", "prod@prompt", "--vault-id", "prod_payments@prompt"]
    for password in passwords.values():
        leaks = [str(p) for p in cache.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
        assert leaks == []


def test_rotation_keeps_the_newest_runs_and_the_newest_failed_ones(tmp_path: Path) -> None:
    staging = tmp_path / "artifacts" / "staging"
    statuses: dict[int, str | None] = {2: "failed", 5: None, 27: "canceled"}
    runs = [old_run(staging, "staging", index, statuses.get(index, "successful")) for index in range(30)]
    other = [old_run(tmp_path / "artifacts" / "production", "production", index, "failed") for index in range(30)]

    removed = runner.rotate(staging, tmp_path / "runs")

    # The newest 20 (10..29) and the failed ones (2, 5: killed, 27); another environment's are not looked at.
    kept = {*range(10, 30), 2, 5}
    assert names(staging) == {runs[index].name for index in kept}
    assert sorted(removed) == sorted(runs[index] for index in range(30) if index not in kept)
    assert names(tmp_path / "artifacts" / "production") == {path.name for path in other}


def test_a_failed_run_stays_until_enough_later_runs_and_failures(tmp_path: Path) -> None:
    staging = tmp_path / "artifacts" / "staging"
    failed = old_run(staging, "staging", 0, "failed")
    index = 1
    for status, count in (("successful", 3 * KEEP_ARTIFACTS), ("failed", KEEP_ARTIFACTS - 1)):
        for _ in range(count):
            old_run(staging, "staging", index, status)
            index += 1
            runner.rotate(staging, tmp_path / "runs")
            assert failed.exists()
    old_run(staging, "staging", index, "failed")
    runner.rotate(staging, tmp_path / "runs")
    assert not failed.exists()
    assert len(names(staging)) == KEEP_ARTIFACTS  # the newest, all failed


def test_a_run_of_another_environment_leaves_a_failed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "deployctl"
    failed = old_run(base / "artifacts" / "production", "production", 0, "failed")
    for index in range(1, 3 * KEEP_ARTIFACTS):
        old_run(base / "artifacts" / "staging", "staging", index)
        runner.housekeeping(base, "staging")
    assert failed.exists()
    assert len(names(base / "artifacts" / "staging")) == KEEP_ARTIFACTS


def test_a_running_run_is_never_removed(tmp_path: Path) -> None:
    staging = tmp_path / "artifacts" / "staging"
    running = old_run(staging, "staging", 0, status=None)
    for index in range(1, 2 * KEEP_ARTIFACTS + 2):
        old_run(staging, "staging", index, "failed")
    run_dir = tmp_path / "runs" / running.name
    run_dir.mkdir(parents=True)
    lock = os.open(run_dir / "lock", os.O_CREAT | os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        runner.rotate(staging, tmp_path / "runs")
        assert running.exists()
    finally:
        os.close(lock)
    runner.rotate(staging, tmp_path / "runs")
    assert not running.exists()


def test_rotation_tolerates_directories_vanishing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    staging = tmp_path / "artifacts" / "staging"
    for index in range(3 * KEEP_ARTIFACTS):
        old_run(staging, "staging", index)
    status = runner._status

    def another_run_removes_everything(path: Path) -> str | None:
        shutil.rmtree(staging, ignore_errors=True)
        return status(path)

    monkeypatch.setattr(runner, "_status", another_run_removes_everything)
    runner.rotate(staging, tmp_path / "runs")
    assert not staging.exists()
    assert runner.rotate(staging, tmp_path / "runs") == []  # no folder at all


def test_rotations_at_once(tmp_path: Path) -> None:
    staging = tmp_path / "artifacts" / "staging"
    runs = [old_run(staging, "staging", index) for index in range(10 * KEEP_ARTIFACTS)]
    errors: list[BaseException] = []

    def rotate() -> None:
        try:
            runner.rotate(staging, tmp_path / "runs")
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=rotate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert names(staging) == {path.name for path in runs[-KEEP_ARTIFACTS:]}


def test_housekeeping_adopts_old_artifacts_and_removes_what_killed_runs_left(tmp_path: Path) -> None:
    base = tmp_path / "deployctl"
    finished = old_run(base / "artifacts", "production", 1)
    unfinished = old_run(base / "artifacts", "production", 2, status=None)
    stale = base / "runs" / "20200101T000000Z-deploy-staging-abcdef"
    fresh = base / "runs" / "20200101T000000Z-deploy-staging-fedcba"
    for path in (stale, fresh):
        path.mkdir(parents=True)
    an_hour_ago = time.time() - runner.STALE_RUN_DIR_SECONDS - 60
    os.utime(stale, (an_hour_ago, an_hour_ago))

    runner.housekeeping(base, "staging")

    assert names(base / "artifacts" / "production") == {finished.name}
    assert unfinished.exists()  # maybe an older deployctl still running: left where it is
    assert names(base / "runs") == {fresh.name}
