"""Notifications: a Grafana annotation, a Sentry release and deploy (the real sentry-cli), and a
webhook, each checked as its receiver sees it. No Grafana or Sentry server runs here: a local
HTTP server (tests/e2e/recorder.py) records every request and answers as Sentry's API does, or
500 when told to fail. The tokens are vault values in an extra-vars file and show nowhere.

One module-scoped run of three: a deploy with every receiver answering (ansible-playbook), a deploy
with every receiver failing (the CLI), a rollback with every receiver failing (ansible-playbook).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import INVENTORY, REPO_ROOT, VAULT_ID, AwxJob, Fleet, Run, awx_job
from tests.e2e.recorder import Call, Recorder
from tests.e2e.test_cli import Cli, deployctl
from tests.harness import vault

# The binary npm's @sentry/cli runs (its optional package for this platform), without node in between.
SENTRY_CLI = REPO_ROOT / ".cache/node/node_modules/@sentry/cli-linux-x64/bin/sentry-cli"


@dataclass
class Notified:
    tokens: dict[str, str]  # grafana, sentry, webhook
    commits: dict[str, str]
    ok_run: Run
    ok_calls: list[Call]
    ok_release: str
    ref: str
    cli_run: Cli
    cli_calls: list[Call]
    rollback_run: Run
    rollback_calls: list[Call]
    cli_release: str
    awx: AwxJob
    awx_calls: list[Call]
    artifacts: Path


def encrypted(value: str) -> str:
    """`!vault |` and the ciphertext, indented for a YAML mapping's value."""
    text = vault.vault_lib([VAULT_ID]).encrypt(value, secret=None, vault_id="demo").decode()
    return "!vault |\n" + "\n".join("    " + line for line in text.splitlines())


def receivers_file(path: Path, url: str, tokens: dict[str, str]) -> Path:
    path.write_text(
        f"deploy_grafana_url: {url}/grafana\n"
        f"deploy_grafana_token: {encrypted(tokens['grafana'])}\n"
        "deploy_grafana_tags: [team-shop]\n"
        f"deploy_sentry_url: {url}/\n"
        "deploy_sentry_org: acme\n"
        "deploy_sentry_project: sample\n"
        "deploy_sentry_repo: acme/sample\n"
        f"deploy_sentry_cli: {SENTRY_CLI}\n"
        f"deploy_sentry_token: {encrypted(tokens['sentry'])}\n"
        f"deploy_webhook_url: {url}/hooks/deploy\n"
        "deploy_webhook_headers:\n"
        f"  X-Deploy-Secret: {encrypted(tokens['webhook'])}\n"
    )
    return path


@pytest.fixture(scope="module")
def notified(fleet: Fleet, commits: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Notified]:
    assert SENTRY_CLI.exists(), f"{SENTRY_CLI} is missing: run `make setup` (tests/harness/setup.sh installs it)"
    tmp = tmp_path_factory.mktemp("notify")
    tokens = {name: f"{name}-token-{uuid.uuid4().hex}" for name in ("grafana", "sentry", "webhook")}
    # Not a no-op on any host: the ref the hosts do not run, then back to the other one. An earlier test file
    # on this worker's hosts may have left them on different commits: brought to one first.
    live = {fleet.health(host)[1].get("revision") for host in fleet.hosts}
    if len(live) > 1:
        setup = fleet.deploy("v1")
        assert setup.rc == 0, setup.output[-3000:]
        live = {commits["v1"]}
    ref, other = ("v2", "v1") if live == {commits["v1"]} else ("v1", "v2")
    with Recorder() as rec:
        receivers = f"@{receivers_file(tmp / 'receivers.yml', rec.url, tokens)}"
        ok_run = fleet.deploy(ref, "-e", receivers)
        ok_calls = rec.take()
        ok_release = fleet.current("web1")
        rec.failing = True
        cli_run = deployctl("deploy", str(INVENTORY), "--ref", other, "-e", receivers,
                            env={"XDG_CACHE_HOME": str(tmp / "cache")})  # fmt: skip
        cli_calls = rec.take()
        cli_release = fleet.current("web1")
        # Back to `ref`: v1's code on v2's schema when ref is v1 (the sample app runs on it).
        rollback_run = fleet.playbook("rollback.yml", "-e", receivers, "-e", "deploy_rollback_force=true")
        rollback_calls = rec.take()
        # AWX: a rollback to the CLI's release, the receivers answering; no token (survey answers are no place for one).
        rec.failing = False
        survey = {"deploy_rollback_to": cli_release, "deploy_rollback_force": True,
                  "deploy_grafana_url": f"{rec.url}/grafana", "deploy_webhook_url": f"{rec.url}/hooks/awx"}  # fmt: skip
        awx = awx_job(tmp / "awx", "playbooks/rollback.yml", survey)
        awx_calls = rec.take()
    yield Notified(tokens, commits, ok_run, ok_calls, ok_release, ref, cli_run, cli_calls, rollback_run,
                   rollback_calls, cli_release, awx, awx_calls, tmp / "cache")  # fmt: skip


def calls_to(calls: list[Call], prefix: str) -> list[Call]:
    return [call for call in calls if call.path.startswith(prefix)]


def test_grafana_gets_one_annotation_with_the_token_tags_and_text(notified: Notified) -> None:
    assert notified.ok_run.rc == 0, notified.ok_run.output[-3000:]
    [call] = calls_to(notified.ok_calls, "/grafana")
    assert (call.method, call.path) == ("POST", "/grafana/api/annotations")
    assert call.headers["Authorization"] == f"Bearer {notified.tokens['grafana']}"
    body = call.json()
    commit = notified.commits[notified.ref]
    assert body["tags"] == ["deployctl", "app:sample", f"env:{INVENTORY.name}", f"release:{notified.ok_release}",
                            "outcome:deployed", "kind:deploy", "team-shop"]  # fmt: skip
    assert body["text"].startswith(f"sample {notified.ref} ({commit[:8]}) deployed on {INVENTORY.name} by ")
    assert body["text"].endswith(": web1 deployed, web2 deployed")
    assert 0 < body["timeEnd"] - body["time"] < 600_000


def test_sentry_cli_creates_the_release_sets_its_commit_finalizes_and_deploys(notified: Notified) -> None:
    commit = notified.commits[notified.ref]
    calls = calls_to(notified.ok_calls, "/api/0/")
    assert {call.headers["Authorization"] for call in calls} == {f"Bearer {notified.tokens['sentry']}"}
    requests = [(call.method, call.path.split("?")[0]) for call in calls]
    releases, release = "/api/0/organizations/acme/releases/", f"/api/0/organizations/acme/releases/{commit}/"
    assert requests == [("POST", releases), ("GET", "/api/0/organizations/acme/repos/"), ("POST", releases),
                        ("PUT", release), ("PUT", release), ("POST", release + "deploys/")]  # fmt: skip
    assert calls[0].json()["version"] == commit and calls[0].json()["projects"] == ["sample"]
    assert calls[3].json()["refs"] == [{"repository": "acme/sample", "commit": commit, "previousCommit": None}]
    assert "dateReleased" in calls[4].json()
    deploy = calls[5].json()
    assert (deploy["environment"], deploy["name"]) == (INVENTORY.name, notified.ok_release)


def test_the_webhook_gets_the_documented_document(notified: Notified) -> None:
    [call] = calls_to(notified.ok_calls, "/hooks/")
    assert (call.method, call.path) == ("POST", "/hooks/deploy")
    assert call.headers["X-Deploy-Secret"] == notified.tokens["webhook"]
    assert call.headers["Content-Type"] == "application/json"
    body = call.json()
    commit = notified.commits[notified.ref]
    assert {k: body[k] for k in ("kind", "app", "environment", "ref", "release", "commit", "outcome")} == {
        "kind": "deploy", "app": "sample", "environment": INVENTORY.name, "ref": notified.ref,
        "release": notified.ok_release, "commit": commit, "outcome": "deployed",
    }  # fmt: skip
    for host in ("web1", "web2"):
        # v1 over v2 (the ref depends on what the hosts ran) carries the newer-schema warning: not compared here.
        result = {key: value for key, value in body["hosts"][host].items() if key != "warning"}
        assert result == {"outcome": "deployed", "release": notified.ok_release, "commit": commit,
                          "current": notified.ok_release}  # fmt: skip
        assert notified.ref == "v1" or "warning" not in body["hosts"][host]
    assert body["started_at"] <= body["finished_at"] and body["by"]


def test_receivers_answering_500_leave_the_cli_deploy_a_success_with_warnings(notified: Notified) -> None:
    run = notified.cli_run
    assert run.rc == 0, run.out + run.err
    assert "exit 0: success" in run.out
    out = " ".join(run.out.split())
    # The recorder's answer echoed each credential: masked.
    assert "warning: notification to grafana failed: Grafana answered HTTP 500: " in out
    assert "told to fail (Bearer ********)" in out
    assert "warning: notification to webhook failed: the webhook answered HTTP 500: " in out
    assert "told to fail (********)" in out
    assert "warning: notification to sentry failed: Sentry: sentry-cli releases new exited 1: " in out
    # Each receiver was tried once: a failure stops sentry-cli's sequence.
    assert [(c.method, c.path.split("?")[0]) for c in notified.cli_calls] == [
        ("POST", "/grafana/api/annotations"), ("POST", "/api/0/organizations/acme/releases/"),
        ("POST", "/hooks/deploy"),
    ]  # fmt: skip


def test_receivers_answering_500_leave_a_rollback_by_ansible_playbook_rc_0_with_a_warning(notified: Notified) -> None:
    run = notified.rollback_run
    assert run.rc == 0, run.output[-3000:]
    output = " ".join(run.output.split())
    assert "[WARNING]: notification to grafana failed (the rollback itself is unaffected): " in output
    assert "warning: notification to webhook failed: the webhook answered HTTP 500" in output  # the summary's line
    [hook] = calls_to(notified.rollback_calls, "/hooks/")
    body: dict[str, Any] = hook.json()
    assert (body["kind"], body["outcome"], body["ref"]) == ("rollback", "rolled_back", "")
    # The release is the rollback's target, the one every host runs now (not the run's own ID).
    assert body["release"] == notified.ok_release
    assert {h["current"] for h in body["hosts"].values()} == {notified.ok_release}


def test_the_tokens_show_in_no_output_and_no_artifact(notified: Notified) -> None:
    outputs = [notified.ok_run.output, notified.cli_run.out, notified.cli_run.err, notified.rollback_run.output]
    artifacts = [p.read_text(errors="replace") for p in notified.artifacts.rglob("*") if p.is_file()]
    assert artifacts, f"no artifacts under {notified.artifacts}"
    for name, token in notified.tokens.items():
        for text in outputs + artifacts:
            assert token not in text, name


def test_an_awx_job_shows_what_each_receiver_answered_in_its_artifacts(notified: Notified) -> None:
    job = notified.awx
    assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
    assert {h["outcome"] for h in job.hosts.values()} == {"rolled_back"}
    assert job.artifacts["deployctl"]["notifications"] == {
        "grafana": {"ok": True, "status": 200, "message": "Grafana answered HTTP 200"},
        "webhook": {"ok": True, "status": 200, "message": "the webhook answered HTTP 200"},
    }
    assert [(c.method, c.path) for c in notified.awx_calls] == [("POST", "/grafana/api/annotations"),
                                                                  ("POST", "/hooks/awx")]  # fmt: skip
    assert "Authorization" not in notified.awx_calls[0].headers
    assert notified.awx_calls[1].json()["hosts"]["web1"]["current"] == notified.cli_release
