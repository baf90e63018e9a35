"""What the collection tarball and the Python wheel hold, the license, the version, the changelog."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

import deployctl

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# What the collection is made of: every file below these is in the tarball and in the wheel.
COLLECTION_DIRS = ("meta", "plugins", "playbooks", "roles")


def collection_files() -> list[str]:
    """The collection's files in this tree, relative to it (what the others edit meanwhile too)."""
    return sorted(
        str(path.relative_to(REPO))
        for folder in COLLECTION_DIRS
        for path in (REPO / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The names in the tarball `ansible-galaxy collection build` makes of this tree."""
    output = tmp_path_factory.mktemp("collection")
    subprocess.run(
        [BIN / "ansible-galaxy", "collection", "build", "--output-path", output, REPO],
        check=True,
        capture_output=True,
    )
    [built] = output.glob("deployctl-core-*.tar.gz")
    with tarfile.open(built) as tar:
        return tar.getnames()


def test_the_collection_tarball_holds_the_collection(tarball: list[str]) -> None:
    assert not set(collection_files()) - set(tarball)
    for name in ("README.md", "LICENSE", "CHANGELOG.md", "changelogs/config.yaml", "MANIFEST.json"):
        assert name in tarball
    assert "plugins/modules/release.py" in tarball and "roles/deploy/tasks/main.yml" in tarball
    assert "playbooks/deploy.yml" in tarball


def test_the_collection_tarball_leaves_the_checkouts_tooling_out(tarball: list[str]) -> None:
    assert "ansible.cfg" not in tarball
    assert not [name for name in tarball if "vault-password" in name or name.startswith("inventories")]
    # .venv, .cache, .ansible (ansible-lint's installed copy of the collection), .git, linters' configs.
    assert not [name for name in tarball if any(part.startswith(".") for part in name.split("/"))]
    assert not [name for name in tarball if "__pycache__" in name or "changelogs/fragments" in name]
    top = {name.split("/")[0] for name in tarball}
    assert top <= {"MANIFEST.json", "FILES.json", "README.md", "LICENSE", "CHANGELOG.md"} | {
        "changelogs",
        "docs",
        *COLLECTION_DIRS,
    }


def test_the_wheel_holds_the_collection_the_settings_and_the_license(tmp_path: Path) -> None:
    """Built from a copy of what it needs (pip builds in the source tree): a few seconds."""
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("src", *COLLECTION_DIRS):
        shutil.copytree(REPO / name, source / name, symlinks=True, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE", "ansible.cfg", "galaxy.yml"):
        shutil.copy2(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "wheel", source],
        check=True,
        capture_output=True,
    )
    [wheel] = (tmp_path / "wheel").glob("deployctl-*.whl")
    with zipfile.ZipFile(wheel) as zipped:
        names = set(zipped.namelist())
        content = "deployctl/_content/"
        assert zipped.read(f"{content}ansible.cfg") == (REPO / "ansible.cfg").read_bytes()
        collection = f"{content}ansible_collections/deployctl/core/"
        assert not {collection + name for name in collection_files()} - names
        assert f"{collection}galaxy.yml" in names
        assert "deployctl/py.typed" in names
        version = PYPROJECT["project"]["version"]
        assert f"deployctl-{version}.dist-info/licenses/LICENSE" in names
        assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_the_license_is_the_one_declared() -> None:
    text = (REPO / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the full text
    assert GALAXY["license"] == [PYPROJECT["project"]["license"]] == ["GPL-3.0-or-later"]


def test_the_version_is_pyprojects_everywhere() -> None:
    version = PYPROJECT["project"]["version"]
    assert GALAXY["version"] == version
    # From the installed metadata (`make setup` installs again when pyproject.toml changes).
    assert deployctl.__version__ == importlib.metadata.version("deployctl") == version


def test_galaxy_names_no_placeholder_repository() -> None:
    repository = GALAXY.get("repository")
    assert repository is None or (repository.startswith("https://") and ".invalid" not in repository)


def test_changelog_fragments_are_antsibull_changelogs() -> None:
    config = yaml.safe_load((REPO / "changelogs" / "config.yaml").read_text())
    sections = {name for name, _title in config["sections"]} | {config["trivial_section_name"]}
    fragments = sorted((REPO / "changelogs" / config["notesdir"]).glob("*.y*ml"))
    assert fragments
    for fragment in fragments:
        content = yaml.safe_load(fragment.read_text())
        assert isinstance(content, dict) and content, fragment
        for section, entries in content.items():
            if section == config["prelude_section_name"]:
                assert isinstance(entries, str) and entries, fragment
            else:
                assert section in sections, f"{fragment.name}: unknown section {section}"
                assert isinstance(entries, list) and all(isinstance(e, str) and e for e in entries), fragment
    assert "changelogs/fragments" in (REPO / "CHANGELOG.md").read_text()
