"""An AWX-like job: ansible-runner with a private data dir laid out as AWX lays it out.

AWX itself cannot run here; this is the closest real thing: the project copied into
project/, the survey's answers as extra vars, the vault password answered at its
prompt by the runner (as AWX's Vault credential does), and set_stats read back as
AWX reads them for workflows.
"""

from __future__ import annotations

from tests.e2e.conftest import awx_job


def test_an_awx_job_deploys_from_survey_answers_and_returns_set_stats(fleet, commits, on_v2, tmp_path):
    survey = {"deploy_ref": "v1", "deploy_serial": '[1, "100%"]', "awx_job_id": 4242}
    deployed = awx_job(tmp_path, "playbooks/deploy.yml", survey)
    assert (deployed.status, deployed.rc) == ("successful", 0)

    # What AWX stores as the job's artifacts (set_stats), from the job's stats event.
    stats = deployed.artifacts["deployctl"]
    assert stats["ref"] == "v1"
    for host in ("web1", "web2"):
        outcome = deployed.hosts[host]
        assert (outcome["outcome"], outcome["previous"]) == ("deployed", on_v2[host])
        assert outcome["commit"] == commits["v1"]
        assert fleet.current(host) == outcome["release"]
        assert fleet.health(host)[1]["revision"] == commits["v1"]
    # One release ID for the whole job, in every serial batch.
    assert len({deployed.hosts[h]["release"] for h in ("web1", "web2")}) == 1
