"""deploy_test_command: the app's own tests run in the new release before anything live changes."""

from __future__ import annotations

import json

from tests.e2e.conftest import DEPLOY_TO, Fleet
from tests.e2e.test_cli import ENV, deployctl


def test_passing_app_tests_let_the_release_go_live_and_their_output_is_kept(fleet: Fleet, commits, on_v2):
    run = deployctl("deploy", ENV, "--ref", "v1", "-e", json.dumps({"deploy_test_command": ["make", "test"]}), "--json")

    assert run.rc == 0, run.out + run.err
    for host, result in run.hosts.items():
        assert result["outcome"] == "deployed"
        assert fleet.health(host)[1]["revision"] == commits["v1"]
        log = fleet.ssh(host, f"cat {DEPLOY_TO}/.deployctl/logs/{result['release']}-test.log")
        assert "2 runs, 6 assertions, 0 failures, 0 errors" in log
        assert fleet.ssh(host, f"stat -c '%a %U' {DEPLOY_TO}/.deployctl/logs/{result['release']}-test.log").split() == [
            "600",
            "root",
        ]

    # The tests' whole output, from every host, through the CLI as the failure message points to it.
    logs = deployctl("logs", ENV, "--source", "test", password=False)
    assert logs.rc == 0, logs.out + logs.err
    for host in run.hosts:
        said = [line for line in logs.out.splitlines() if line.startswith(f"{host} | ")]
        assert any("2 runs, 6 assertions, 0 failures, 0 errors" in line for line in said), logs.out
