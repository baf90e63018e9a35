"""Scheduling of the host tests under pytest-xdist (`make test` runs tests/fleet and tests/e2e together).

Each e2e file shares its deploys between its tests (module fixtures on the worker's own hosts): a file
is one unit of work, as with `--dist loadfile`. The fleet files share one set of four hosts: they are one
unit, given first (with `--no-loadscope-reorder`), so that the longest unit runs beside the e2e files
instead of after them. (`--dist loadgroup` with xdist_group marks would say the same, but pytest-xdist 3.8
writes the group into `item._nodeid`, which pytest 9 no longer reads: the marks are ignored.)
"""

from __future__ import annotations

from collections.abc import Generator

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadFileScheduling

FLEET = "tests/fleet/"


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to: "fleet" for every fleet test, else its file."""
    path = nodeid.split("::", 1)[0]
    return "fleet" if path.startswith(FLEET) else path


class FleetTogether(LoadFileScheduling):
    """`--dist loadfile`, with every fleet test in one unit."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> LoadFileScheduling | None:
    return FleetTogether(config, log) if config.getvalue("dist") == "loadfile" else None


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Generator[None]:
    # The fleet's unit first (a stable sort keeps the rest in collection order).
    items.sort(key=lambda item: not item.nodeid.startswith(FLEET))
    return (yield)
