"""Fleet tests: rolling deploys to four container hosts (`make test` runs them with the e2e tests; `make fleet` alone).

The hosts are the e2e tests' kind (tests/e2e/conftest.py's Fleet), from their own
inventory (tests/fleet/inventory, prefix deployctl-fleet), started once per session.
DEPLOYCTL_FLEET_INVENTORY points the suite at another copy of it (other ports and prefix,
e.g. a developer's while `make test-fleet` runs), as DEPLOYCTL_E2E_INVENTORY does for tests/e2e.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import conftest as e2e
from tests.e2e.conftest import VAULT_ID, Fleet, Run
from tests.harness import targets

REPO_ROOT = Path(__file__).resolve().parents[2]
INVENTORY = Path(os.environ.get("DEPLOYCTL_FLEET_INVENTORY") or Path(__file__).with_name("inventory")).resolve()

# How long each deploy took, printed as they happen and again at the end of the session.
TIMINGS: list[str] = []


class FleetHosts(Fleet):
    """The e2e tests' Fleet, pointed at an inventory of our choosing; every deploy is timed."""

    def __init__(self, inventory: Path = INVENTORY, name: str = "") -> None:
        super().__init__(inventory)
        self.name = name or str(inventory.relative_to(REPO_ROOT) if inventory.is_relative_to(REPO_ROOT) else inventory)

    def deploy(self, ref: str, *args: str) -> Run:
        started = time.monotonic()
        run = super().deploy(ref, *args)
        line = f"{' '.join(['deploy', ref, *args])} [{self.name}]: {time.monotonic() - started:.1f}s, exit {run.rc}"
        TIMINGS.append(line)
        print(f"\n{line}")
        return run


def inventory_with_host_vars(dest: Path, host: str, host_vars: str) -> Path:
    """A copy of the fleet's inventory in `dest`, with a host_vars file for one host."""
    return e2e.inventory_with_host_vars(dest, host, host_vars, INVENTORY)


@pytest.fixture(scope="session")
def fleet() -> Iterator[FleetHosts]:
    targets.up(str(INVENTORY), [VAULT_ID])
    yield FleetHosts()
    if not os.environ.get("DEPLOYCTL_KEEP_HOSTS"):
        targets.down(str(INVENTORY), [VAULT_ID])


@pytest.fixture(scope="session")
def commits(fleet: FleetHosts) -> dict[str, str]:
    """Commit of each tag of the sample app (the harness builds its repository in targets.up)."""
    return targets.sample_commits()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("fleet deploy timings")
        for line in TIMINGS:
            terminalreporter.write_line(line)
