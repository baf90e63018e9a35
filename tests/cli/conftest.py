"""Unit tests of the deployctl CLI's pure parts: no hosts, no ansible-playbook.

Runs are replayed from tests/cli/events/*.jsonl, the events of real runs against the
demo hosts (recorded with `python -m tests.cli.record`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from deployctl import runner
from deployctl.outcome import Run

EVENTS = Path(__file__).with_name("events")


def events(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (EVENTS / f"{name}.jsonl").read_text().splitlines() if line]


def replay(name: str) -> Run:
    run = Run()
    for clock, event in enumerate(events(name)):
        run.feed(event, now=float(clock))
    return run


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """An inventory without vault content."""
    folder = tmp_path / "inventories" / "staging"
    folder.mkdir(parents=True)
    (folder / "hosts.yml").write_text("all:\n  hosts:\n    web1:\n")
    return folder


Requests = list[runner.Request]


@pytest.fixture
def replaying(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, inventory: Path) -> Callable[..., Requests]:
    """Make runner.run replay a recorded run ending with `rc`; returns the requests it was given.

    Its status is ansible-runner's: successful for rc 0, else failed, unless `status` says (canceled: Ctrl-C).
    """
    monkeypatch.chdir(inventory.parents[1])
    monkeypatch.setenv("COLUMNS", "120")

    def use(name: str, rc: int, status: str | None = None) -> Requests:
        requests: Requests = []

        def fake_run(request: runner.Request, on_event: Callable[[Mapping[str, Any]], None]) -> runner.Finished:
            requests.append(request)
            for event in events(name):
                on_event(event)
            ended = status or ("successful" if rc == 0 else "failed")
            return runner.Finished(rc=rc, status=ended, artifacts=tmp_path / "a1")

        monkeypatch.setattr(runner, "run", fake_run)
        return requests

    return use
