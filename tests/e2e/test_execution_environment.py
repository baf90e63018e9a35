"""deployctl's execution environment for real: the image ansible-builder builds from the shipped
definition (tests/harness/ee_image.py), a deploy run inside it by ansible-navigator as AAP users run
EEs, and jobs handed to a worker in another container through ansible-runner's streaming protocol
(`transmit | worker | process`), as AWX hands a job to an execution node.

A real AWX server does not run here: the private data dir is laid out as AWX lays it out (project/,
inventory/, the survey in env/extravars, the Vault credential's answer in env/passwords, the machine
credential's key in env/ssh_key).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import (
    DEMO_PASSWORD,
    REPO_ROOT,
    VAULT_ID,
    VAULT_PROMPT,
    AwxJob,
    Fleet,
    copy_project,
    serve,
    set_stats,
)
from tests.harness import navigator, podman, targets
from tests.harness.ee_image import ensure_ee_image

IDENT = "job"


@pytest.fixture(scope="module")
def ee_image(fleet: Fleet) -> str:
    with targets.shared_setup():
        return ensure_ee_image()


@pytest.fixture
def on_v1(fleet: Fleet, commits: dict[str, str]) -> dict[str, str]:
    return serve(fleet, commits, "v1")


def test_ansible_navigator_deploys_from_inside_the_execution_environment(
    fleet, commits, on_v2, vault_secrets, ee_image, tmp_path
):
    proc = subprocess.run(
        navigator.run_command(
            "playbooks/deploy.yml", str(fleet.inventory), ee_image, tmp_path / "navigator.log",
            "--vault-id", VAULT_ID, "-e", "deploy_ref=v1",
        ),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=podman.environment(),
        timeout=900,
    )  # fmt: skip
    output = navigator.EVENT_MARKER.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, output[-4000:]

    summary = re.search(r"DEPLOY SUMMARY: v1 as release (\S+)", output)
    assert summary, output[-4000:]
    release = summary.group(1)
    assert release not in on_v2.values()
    for host in fleet.hosts:
        assert re.search(rf"{host} +deployed +runs {release} \(commit {commits['v1'][:8]}\)", output)
        assert fleet.current(host) == release
        status, answer = fleet.health(host)
        assert (status, answer.get("revision")) == (200, commits["v1"])
    for secret in (DEMO_PASSWORD, *vault_secrets.values()):
        assert secret not in output


def test_a_job_streamed_to_a_worker_in_the_execution_environment_deploys(fleet, commits, on_v1, ee_image, tmp_path):
    survey = {"deploy_ref": "v2", "deploy_serial": '[1, "100%"]', "awx_job_id": 4343}
    pipeline_rcs, job = streamed_job(job_dir(tmp_path / "deploy", fleet, survey), fleet, ee_image)
    assert pipeline_rcs == (0, 0, 0)
    assert (job.status, job.rc) == ("successful", 0), job.stdout[-4000:]

    assert job.artifacts["deployctl"]["ref"] == "v2"
    for host in fleet.hosts:
        outcome = job.hosts[host]
        assert (outcome["outcome"], outcome["previous"], outcome["commit"]) == ("deployed", on_v1[host], commits["v2"])
        assert fleet.current(host) == outcome["release"]
        status, answer = fleet.health(host)
        assert (status, answer.get("revision")) == (200, commits["v2"])
    assert f"DEPLOY SUMMARY: v2 as release {job.hosts['web1']['release']}" in job.stdout
    assert_no_secret_leaked(tmp_path / "deploy")


def test_a_failed_job_through_the_stream_reads_as_failed_in_its_artifacts(fleet, commits, on_v2, ee_image, tmp_path):
    pipeline_rcs, job = streamed_job(
        job_dir(tmp_path / "refused", fleet, {"deploy_ref": "no-such-ref"}), fleet, ee_image
    )
    # The trap: a shell pipeline exits as its last command, and `process` exits 0 whatever became of
    # the job (only the worker's exit says 2). The job's status and rc in the artifacts tell.
    assert pipeline_rcs == (0, 2, 0)
    assert (job.status, job.rc) == ("failed", 2), job.stdout[-4000:]
    for host in fleet.hosts:
        assert job.hosts[host]["outcome"] == "aborted"
        assert "ref 'no-such-ref' is not a branch, tag or commit" in " ".join(job.hosts[host]["message"].split())
        assert fleet.current(host) == on_v2[host]
        assert fleet.health(host)[1].get("revision") == commits["v2"]
    assert "ref 'no-such-ref' is not a branch, tag or commit" in job.stdout
    assert_no_secret_leaked(tmp_path / "refused")


def job_dir(path: Path, fleet: Fleet, survey: dict) -> Path:
    """A job's private data dir as AWX hands it to an execution node: the project, the inventory
    (its hosts and group_vars, without the controller's key file: the machine credential brings the
    user and the key), the survey's answers, the Vault credential's answer and the key, 0600."""
    copy_project(path)
    inventory = path / "inventory"
    shutil.copytree(fleet.inventory / "group_vars", inventory / "group_vars")
    shutil.copy(fleet.inventory / "hosts.yml", inventory / "hosts.yml")
    connection = inventory / "group_vars" / "all" / "connection.yml"
    settings = yaml.safe_load(connection.read_text())
    for machine_credential in ("ansible_user", "ansible_ssh_private_key_file"):
        settings.pop(machine_credential)
    connection.write_text("---\n" + yaml.safe_dump(settings))
    (path / "env").mkdir(mode=0o700)
    for name, content in {
        "extravars": json.dumps(survey),
        "passwords": json.dumps({VAULT_PROMPT: DEMO_PASSWORD}),
        "ssh_key": targets.SSH_KEY.read_text(),
    }.items():
        descriptor = os.open(path / "env" / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(content)
    return path


def streamed_job(private_data_dir: Path, fleet: Fleet, ee_image: str) -> tuple[tuple[int, int, int], AwxJob]:
    """`ansible-runner transmit | podman run EE ansible-runner worker | ansible-runner process`: the
    three exit codes, and the job as its artifacts tell it (status, rc, stdout, set_stats)."""
    prefix = next(iter(fleet.hosts.values()))["harness_prefix"]
    worker_name = f"{prefix}-ee-worker"
    transmit = subprocess.Popen(
        [
            targets.tool("ansible-runner"), "transmit", str(private_data_dir), "-p", "playbooks/deploy.yml",
            "--ident", IDENT, "--cmdline", "--vault-id demo@prompt -u root --limit web1,web2",
        ],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    worker = subprocess.Popen(
        [
            "podman", "run", "-i", "--rm", "--replace", "--name", worker_name, "--label",
            f"deployctl.harness={prefix}", "--net=host", ee_image, "ansible-runner", "worker",
        ],
        stdin=transmit.stdout,
        stdout=subprocess.PIPE,
        env=podman.environment(),
    )  # fmt: skip
    assert transmit.stdout and worker.stdout
    transmit.stdout.close()
    try:
        process = subprocess.run(
            [targets.tool("ansible-runner"), "process", str(private_data_dir), "--ident", IDENT],
            stdin=worker.stdout,
            capture_output=True,
            timeout=900,
        )
        rcs = (transmit.wait(timeout=60), worker.wait(timeout=60), process.returncode)
    finally:
        worker.stdout.close()
        if worker.poll() is None:  # a job that hung: no worker left behind
            podman.run("rm", "-f", "-t", "0", worker_name, check=False)
        transmit.kill()

    artifacts = private_data_dir / "artifacts" / IDENT
    events = [json.loads(path.read_text()) for path in (artifacts / "job_events").glob("*.json")]
    job = AwxJob(
        (artifacts / "status").read_text().strip(),
        int((artifacts / "rc").read_text()),
        (artifacts / "stdout").read_text(),
        set_stats(events),
    )
    return rcs, job


def assert_no_secret_leaked(private_data_dir: Path) -> None:
    """The vault password and the key are in env/passwords and env/ssh_key only, both 0600: not in the
    artifacts (stdout, events, command) that AWX keeps and shows. project/ is the repository, whose
    demo password file is public by design."""
    secrets = (DEMO_PASSWORD, targets.SSH_KEY.read_text().splitlines()[1])
    holders = {
        path.relative_to(private_data_dir).as_posix(): stat.S_IMODE(path.stat().st_mode)
        for path in private_data_dir.rglob("*")
        if path.is_file()
        and not path.is_symlink()
        and path.relative_to(private_data_dir).parts[0] != "project"
        and any(secret in path.read_text(errors="replace") for secret in secrets)
    }
    assert holders == {"env/passwords": 0o600, "env/ssh_key": 0o600}
