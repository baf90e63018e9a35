"""Build the target host image locally (no registry is reachable), cached by recipe.

debootstrap makes a minimal Debian 12 root (about a minute), `podman import` turns
it into a base image, and `podman build` adds PostgreSQL and Rails. Each image is
labelled with the hash of its recipe, so a second run reuses it.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.harness import podman

DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = "systemd,systemd-sysv,dbus,openssh-server,sudo,python3,git,make,ca-certificates,curl,procps,iproute2"
CONTAINERFILE = Path(__file__).with_name("image") / "Containerfile"
TARGET_IMAGE = "localhost/deployctl-target"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def ensure_target_image() -> str:
    """Return the name of an up-to-date target image, building what is missing."""
    base = _ensure_base_image()
    recipe = _digest(base, CONTAINERFILE.read_text())
    name = f"{TARGET_IMAGE}:{recipe}"
    if podman.exists("image", name):
        return name
    print(f"building {name} (PostgreSQL, Rails from Debian's packages)", file=sys.stderr)
    podman.run(
        "build",
        "--build-arg",
        f"BASE={base}",
        "--label",
        f"deployctl.recipe={recipe}",
        "-t",
        name,
        "-f",
        str(CONTAINERFILE),
        str(CONTAINERFILE.parent),
    )
    return name


def _ensure_base_image() -> str:
    name = f"localhost/deployctl-base:{_digest(BASE_PACKAGES, DEBIAN_MIRROR)}"
    if podman.exists("image", name):
        return name
    print(f"building {name} with debootstrap (about a minute)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="deployctl-rootfs-") as root:
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", root, DEBIAN_MIRROR],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tar = subprocess.run(["tar", "-C", root, "-c", "."], check=True, capture_output=True)
        podman.run("import", "-", name, input_data=tar.stdout)
    return name


if __name__ == "__main__":
    print(ensure_target_image())
