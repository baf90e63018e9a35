"""Run podman, working around this machine kind's defaults only where they fail.

Plain `podman run` fails on cgroup v1/hybrid hosts with low hard ulimits (see
shared PLATFORM.md). We probe once per process and, only when the plain call
fails, point CONTAINERS_CONF at our own file so a working setup is left alone.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

CONTAINERS_CONF = Path(__file__).with_name("containers.conf")


class PodmanError(RuntimeError):
    pass


def run(*args: str, check: bool = True, input_data: bytes | None = None) -> str:
    proc = subprocess.run(
        ["podman", *args],
        input=input_data,
        capture_output=True,
        env=_environment(),
    )
    if check and proc.returncode != 0:
        raise PodmanError(
            f"podman {' '.join(args[:3])} ... failed (exit {proc.returncode}): "
            f"{proc.stderr.decode(errors='replace').strip()}"
        )
    return proc.stdout.decode(errors="replace").strip()


def exists(kind: str, name: str) -> bool:
    return subprocess.run(["podman", kind, "exists", name], env=_environment()).returncode == 0


def environment() -> dict[str, str]:
    """The environment every podman call (ours, molecule's, a user's) should use."""
    return _environment()


@functools.cache
def _environment() -> dict[str, str]:
    env = dict(os.environ)
    if "CONTAINERS_CONF" in env or _plain_run_works(env):
        return env
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return env


def _plain_run_works(env: dict[str, str]) -> bool:
    images = subprocess.run(
        ["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        env=env,
    ).stdout.split()
    probe = next((i for i in images if i.startswith("localhost/deployctl-")), None)
    if probe is None:
        # Nothing to probe with yet: our settings work wherever we have tried
        # them, and the first process that has an image probes for real.
        return False
    proc = subprocess.run(["podman", "run", "--rm", probe, "true"], capture_output=True, env=env)
    return proc.returncode == 0
