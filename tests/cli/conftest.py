"""Unit tests of the deployctl CLI's pure parts: no hosts, no ansible-playbook.

Runs are replayed from tests/cli/events/*.jsonl, the events of real runs against the
demo hosts (recorded with `python -m tests.cli.record`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

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
