"""Every plugin's documentation is what `ansible-doc` can read: a YAML slip in a description
(a plain scalar with ': ' in it becomes a mapping) breaks `ansible-doc` and ansible-lint silently."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.harness.targets import tool

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGINS = REPO_ROOT / "collections/ansible_collections/deployctl/core/plugins"
# ansible-doc's plugin types, by the plugins/ directory that holds them.
TYPES = {
    "modules": "module",
    "filter": "filter",
    "lookup": "lookup",
    "callback": "callback",
    "vars": "vars",
    "strategy": "strategy",
}


def bad_descriptions(entries: dict | None, where: str) -> list[str]:
    """Options or return values (and their suboptions/contains) whose description is not text."""
    bad = []
    for name, entry in (entries or {}).items():
        description = entry.get("description")
        lines = description if isinstance(description, list) else [description]
        if not all(isinstance(line, str) for line in lines):
            bad.append(f"{where}.{name}: {description!r}")
        for nested in ("suboptions", "contains", "options"):
            bad += bad_descriptions(entry.get(nested), f"{where}.{name}")
    return bad


def plugin_names(directory: str) -> list[str]:
    return sorted(f"deployctl.core.{p.stem}" for p in (PLUGINS / directory).glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("directory", sorted(TYPES))
def test_ansible_doc_reads_every_plugin(directory: str) -> None:
    names = plugin_names(directory)
    assert names, f"no plugins under {directory}/"
    proc = subprocess.run(
        [tool("ansible-doc"), "--json", "-t", TYPES[directory], *names],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(REPO_ROOT / "collections")},
    )
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, proc.stderr
    docs = json.loads(proc.stdout)
    assert sorted(docs) == names
    for name, doc in docs.items():
        assert doc["doc"]["short_description"], name
        # ansible-doc's text output refuses these ("Expected string in description").
        bad = bad_descriptions(doc["doc"].get("options"), name) + bad_descriptions(doc.get("return"), name)
        assert not bad, bad
