"""The repository works as an AWX project: job templates, surveys and the execution environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_ansible_builder_creates_a_build_context(tmp_path):
    builder = Path(sys.executable).parent / "ansible-builder"
    proc = subprocess.run(
        [str(builder), "create", "-f", str(AWX / "execution-environment.yml"), "-c", str(tmp_path / "context")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (tmp_path / "context" / "Containerfile").read_text()
    assert "ansible-core>=2.19,<2.20" in containerfile
    assert (tmp_path / "context" / "_build" / "requirements.yml").is_file()
