"""An AWX-like job: ansible-runner with a private data dir laid out as AWX lays it out.

AWX itself cannot run here; this is the closest real thing: the project copied into
project/, the survey's answers as extra vars, the vault password answered at its
prompt by the runner (as AWX's Vault credential does), and set_stats read back as
AWX reads them for workflows.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import ansible_runner

from tests.e2e.conftest import REPO_ROOT
from tests.e2e.test_vault_inputs import DEMO_PASSWORD

NOT_IN_A_PROJECT = shutil.ignore_patterns(".venv", ".cache", ".git", ".ansible", "*_cache", "__pycache__")


def test_an_awx_job_deploys_from_survey_answers_and_returns_set_stats(fleet, commits, tmp_path):
    shutil.copytree(REPO_ROOT, tmp_path / "project", symlinks=True, ignore=NOT_IN_A_PROJECT)
    (tmp_path / "env").mkdir()
    survey = {"deploy_ref": "v1", "deploy_serial": '[1, "100%"]', "awx_job_id": 4242}
    (tmp_path / "env" / "extravars").write_text(json.dumps(survey))
    deployed = ansible_runner.run(
        private_data_dir=str(tmp_path),
        playbook="playbooks/deploy.yml",
        inventory=str(tmp_path / "project/tests/e2e/inventory"),
        cmdline="--vault-id demo@prompt --limit web1,web2",
        passwords={r"^Vault password \(demo\):\s*$": DEMO_PASSWORD},
        # ansible-playbook must be on the runner's PATH (PLATFORM.md).
        envvars={"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},
        suppress_env_files=True,
        quiet=True,
    )
    assert (deployed.status, deployed.rc) == ("successful", 0)

    # What AWX stores as the job's artifacts (set_stats), from the job's stats event.
    final = next(e for e in deployed.events if e["event"] == "playbook_on_stats")
    stats = final["event_data"]["artifact_data"]["deployctl"]
    release = stats["release"]
    assert stats["ref"] == "v1"
    for host in ("web1", "web2"):
        outcome = stats["hosts"][host]
        assert outcome["outcome"] in {"deployed", "unchanged"}
        assert outcome["commit"] == commits["v1"]
        assert fleet.current(host) == outcome["release"]
        assert fleet.health(host)[1]["revision"] == commits["v1"]
    deployed_now = [h for h in ("web1", "web2") if stats["hosts"][h]["outcome"] == "deployed"]
    assert all(stats["hosts"][h]["release"] == release for h in deployed_now)
