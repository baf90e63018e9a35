"""Build the harness's images locally (no registry is reachable), cached by recipe.

debootstrap makes a minimal Debian 12 root (about a minute), `podman import` turns
it into a base image, and `podman build` adds PostgreSQL and Rails for the target
hosts (the execution environment's base starts from it too: ee_image.py). Each image
is tagged and labelled with the hash of its recipe, so a second run reuses it.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tests.harness import podman

DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = "systemd,systemd-sysv,dbus,openssh-server,sudo,python3,git,make,ca-certificates,curl,procps,iproute2"
CONTAINERFILE = Path(__file__).with_name("image") / "Containerfile"
TARGET_IMAGE = "localhost/deployctl-target"


def recipe_digest(*parts: str) -> str:
    """A short hash of everything an image is built from: its tag, so a changed recipe builds anew."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def ensure_target_image() -> str:
    """Return the name of an up-to-date target image, building what is missing."""
    return ensure_image(TARGET_IMAGE, CONTAINERFILE, ensure_base_image(), "PostgreSQL, Rails from Debian's packages")


def ensure_image(
    repository: str, containerfile: Path, base: str, what: str, files: Mapping[str, bytes] | None = None
) -> str:
    """Return `repository:RECIPE`, built FROM base (the Containerfile's `BASE` build argument) when missing.

    RECIPE hashes the base, the Containerfile and the build context's files (name -> content). The
    build keeps no intermediate images (`--layers=false`): nothing is left for anyone to prune.
    Raises podman.PodmanError when the build fails."""
    files = files or {}
    recipe = recipe_digest(
        base, containerfile.read_text(), *(f"{n}\0{hashlib.sha256(files[n]).hexdigest()}" for n in sorted(files))
    )
    name = f"{repository}:{recipe}"
    if podman.exists("image", name):
        return name
    print(f"building {name} ({what})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="deployctl-build-") as context:
        for file_name, content in files.items():
            (Path(context) / file_name).write_bytes(content)
        podman.run(
            "build", "--layers=false", "--build-arg", f"BASE={base}", "--label", f"deployctl.recipe={recipe}",
            "-t", name, "-f", str(containerfile), context,
        )  # fmt: skip
    return name


def ensure_base_image() -> str:
    """Return the name of the Debian 12 base image (debootstrap), building it when missing."""
    name = f"localhost/deployctl-base:{recipe_digest(BASE_PACKAGES, DEBIAN_MIRROR)}"
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
