"""Build deployctl's execution environment image here, cached by recipe like the target image.

No registry is reachable, so the EE is built FROM a local base: the harness's Debian 12 base
plus python3-pip/python3-venv and this machine's CA bundle (ee/Containerfile), then
`ansible-builder build` of playbooks/awx/execution-environment-debian.yml with
`--build-arg EE_BASE_IMAGE=` that base. Cold: about a minute; cached: the time to find the tag.

    python -m tests.harness.ee_image     (prints the image's name; `make ee` runs it)
"""

from __future__ import annotations

import importlib.metadata
import os
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tests.harness import podman
from tests.harness.image import ensure_base_image, ensure_image, recipe_digest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFINITION = REPO_ROOT / "playbooks/awx/execution-environment-debian.yml"
EE_BASE_CONTAINERFILE = Path(__file__).with_name("ee") / "Containerfile"
EE_BASE_IMAGE = "localhost/deployctl-ee-base"
EE_IMAGE = "localhost/deployctl-ee"


class EEBuildError(RuntimeError):
    """ansible-builder failed; the message ends with its output."""


def ensure_ee_image() -> str:
    """Return the name of an up-to-date execution environment image, building what is missing.

    Raises podman.PodmanError (a base image) or EEBuildError (the EE itself) when a build fails."""
    base = ensure_image(
        EE_BASE_IMAGE,
        EE_BASE_CONTAINERFILE,
        ensure_base_image(),
        "the Python tools ansible-builder needs",
        {"host-ca-bundle.crt": _ca_bundle().read_bytes()},
    )
    recipe = recipe_digest(
        base,
        importlib.metadata.version("ansible-builder"),
        *(path.read_text() for path in _definition_files()),
    )
    name = f"{EE_IMAGE}:{recipe}"
    if podman.exists("image", name):
        return name
    print(f"building {name} (ansible-builder, {DEFINITION.relative_to(REPO_ROOT)})", file=sys.stderr)
    builder = Path(sys.executable).parent / "ansible-builder"
    with tempfile.TemporaryDirectory(prefix="deployctl-ee-context-") as context:
        proc = subprocess.run(
            [
                str(builder), "build", "-f", str(DEFINITION), "-c", context, "-t", name,
                "--container-runtime", "podman", "--build-arg", f"EE_BASE_IMAGE={base}",
                # No intermediate images to remove afterwards (never `--prune-images`: it prunes the machine's).
                "--extra-build-cli-args=--layers=false", "-v", "2",
            ],
            capture_output=True,
            text=True,
            env=podman.environment(),
        )  # fmt: skip
    if proc.returncode != 0:
        raise EEBuildError(f"ansible-builder build of {name} failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}")
    return name


def _definition_files() -> list[Path]:
    """The definition and the dependency files it names: what the image is built from."""
    dependencies = yaml.safe_load(DEFINITION.read_text())["dependencies"]
    named = [value for value in dependencies.values() if isinstance(value, str)]
    return [DEFINITION, *(DEFINITION.parent / file for file in named)]


def _ca_bundle() -> Path:
    """The CA bundle this machine's pip trusts: pip inside the build must reach PyPI the same way."""
    candidates = (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"), ssl.get_default_verify_paths().cafile)
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return Path("/etc/ssl/certs/ca-certificates.crt")


if __name__ == "__main__":
    print(ensure_ee_image())
