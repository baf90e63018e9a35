"""The repository works as an AWX project: job templates, surveys and the execution environment."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
AWX = REPO / "playbooks" / "awx"


def known_variables() -> set[str]:
    """Variables a survey may set: role options and the variables the playbooks read."""
    specs = yaml.safe_load((REPO / "roles/deploy/meta/argument_specs.yml").read_text())["argument_specs"]
    names = {name for entry in specs.values() for name in entry["options"]}
    playbooks = "".join(p.read_text() for p in (REPO / "playbooks").glob("*.yml"))
    return names | {name for name in ("deploy_hosts", "deploy_serial", "deploy_unlock_reason") if name in playbooks}


def test_every_job_template_names_a_playbook_of_the_project_and_known_survey_variables():
    templates = json.loads((AWX / "job_templates.json").read_text())["job_templates"]
    assert {t["playbook"] for t in templates} == {
        "playbooks/deploy.yml", "playbooks/rollback.yml", "playbooks/releases.yml", "playbooks/unlock.yml",
    }  # fmt: skip
    known = known_variables()
    for template in templates:
        assert (REPO / template["playbook"]).is_file()
        for question in template.get("survey_spec", {}).get("spec", []):
            assert question["variable"] in known, f"{template['name']}: unknown survey variable {question['variable']}"
            assert question["type"] in {"text", "multiplechoice", "integer", "password"}
    deploy = next(t for t in templates if t["playbook"] == "playbooks/deploy.yml")
    ref = next(q for q in deploy["survey_spec"]["spec"] if q["variable"] == "deploy_ref")
    assert ref["required"] is True


def test_no_collection_has_to_come_from_galaxy():
    requirements = yaml.safe_load((REPO / "collections/requirements.yml").read_text())
    assert requirements["collections"] == []
    assert (REPO / "collections/ansible_collections/deployctl/core/galaxy.yml").is_file()


DEFINITIONS = ["execution-environment.yml", "execution-environment-debian.yml"]


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_ansible_builder_creates_a_build_context(tmp_path, definition):
    builder = Path(sys.executable).parent / "ansible-builder"
    proc = subprocess.run(
        [str(builder), "create", "-f", str(AWX / definition), "-c", str(tmp_path / "context")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (tmp_path / "context" / "Containerfile").read_text()
    assert "ansible-core>=2.19,<2.20" in containerfile
    assert (tmp_path / "context" / "_build" / "requirements.yml").is_file()
    # Both definitions read the same dependency files (bindep has entries for rpm and dpkg platforms).
    assert "PyYAML>=6" in (tmp_path / "context" / "_build" / "requirements.txt").read_text()
    assert "openssh-client [platform:dpkg]" in (tmp_path / "context" / "_build" / "bindep.txt").read_text()


def test_the_two_definitions_install_what_the_package_needs_and_differ_only_in_their_base():
    """The RHEL-family definition (for a registry) and the Debian one (built and run by the tests)
    must not drift apart: what the tests prove of one holds for the other."""
    rhel, debian = (yaml.safe_load((AWX / name).read_text()) for name in DEFINITIONS)
    shared = ("ansible_core", "ansible_runner", "galaxy", "python", "system")
    assert {k: rhel["dependencies"][k] for k in shared} == {k: debian["dependencies"][k] for k in shared}
    package = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert rhel["dependencies"]["ansible_core"]["package_pip"] in package
    assert rhel["dependencies"]["ansible_runner"]["package_pip"] in package
    lines = (AWX / rhel["dependencies"]["python"]).read_text().splitlines()
    requirements = {line for line in lines if line.strip() and not line.startswith("#")}
    assert requirements and requirements <= set(package)
    assert debian["options"]["package_manager_path"] == "/usr/bin/apt-get"
