"""What the molecule scenario's checks need from the controller's side."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
UPSTREAM = REPO_ROOT / ".cache" / "upstream" / "sample-app.git"


@pytest.fixture(scope="session")
def v2_commit() -> str:
    """v2's commit, read from the upstream repository itself, not from what deployctl recorded."""
    return subprocess.run(
        ["git", "--git-dir", str(UPSTREAM), "rev-parse", "v2^{commit}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
