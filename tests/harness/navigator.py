"""ansible-navigator running a playbook inside deployctl's execution environment, as AAP users run
EEs, against the harness's container hosts (tests/e2e/test_execution_environment.py, and the fleet
benchmark tests/bench/fleet_speed.py)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.harness import targets

# ansible-navigator's stdout carries ansible-runner's event markers between terminal escapes.
EVENT_MARKER = re.compile(r"\x1b\[K[A-Za-z0-9+/=]*\x1b\[\d+D|\x1b\[[0-9;]*[A-Za-z]")


def run_command(playbook: str, inventory: str, image: str, log_file: Path, *args: str) -> list[str]:
    """The argv of `ansible-navigator run` of playbook (relative to the repository) in image, args
    passed on to ansible-playbook; run it from the repository with podman.environment().

    Makes /dev/mqueue first: podman refuses navigator's container without it (setup.sh makes it,
    but /dev is lost on a reboot)."""
    Path("/dev/mqueue").mkdir(exist_ok=True)
    return [
        targets.tool("ansible-navigator"), "run", playbook, "-i", inventory, *args,
        "--ee", "true", "--eei", image, "--pull-policy", "never", "--mode", "stdout",
        # The hosts publish their SSH ports on the machine's loopback; the key the inventory names.
        "--co=--net=host", "--eev", f"{targets.SSH_KEY.parent}:{targets.SSH_KEY.parent}:ro",
        # No playbook artifact: it would keep every event of the run in a file beside the playbook.
        "--pae", "false", "--lf", str(log_file),
    ]  # fmt: skip
