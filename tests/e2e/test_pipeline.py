"""The shipped GitLab CI pipeline (examples/gitlab-ci/.gitlab-ci.yml), run by a real runner of the file.

gitlab-ci-local (tests/harness/setup.sh installs it) runs the pipeline with its shell executor in an
app repository as a team would have it: the sample app with the pipeline at its root and its
deployctl inventories under deploy/inventories (staging = web1, production = web2). Each "push"
is a commit pushed to the bare repository the hosts fetch from, then a pipeline run. The secrets
come as CI/CD variables from gitlab-ci-local's home variables file: the vault password as a plain
(masked, in GitLab) variable, the SSH key as a File variable.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import DEMO_PASSWORD, INVENTORY, REPO_ROOT, Fleet
from tests.harness import targets

GITLAB_CI_LOCAL = REPO_ROOT / ".cache/node/node_modules/.bin/gitlab-ci-local"
PIPELINE = REPO_ROOT / "examples/gitlab-ci/.gitlab-ci.yml"
UPSTREAM = targets.UPSTREAM / "pipeline-app.git"
ENVIRONMENTS = {"staging": "web1", "production": "web2"}


@dataclass
class Pipeline:
    """One gitlab-ci-local run: its exit code and what it printed."""

    rc: int
    output: str

    def result(self, job: str) -> str | None:
        """PASS or FAIL from the run's summary, None when the job did not run."""
        for line in self.output.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] in ("PASS", "FAIL") and words[1] == job:
                return words[0]
        return None

    def log(self, job: str) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith(f"{job} ")]


def known_hosts(fleet: Fleet) -> str:
    """The hosts' SSH keys as `ssh-keyscan` gives them, for the SSH_KNOWN_HOSTS variable."""
    ports = [str(v["ansible_port"]) for v in fleet.hosts.values()]
    lines = []
    for port in ports:
        proc = subprocess.run(["ssh-keyscan", "-p", port, "127.0.0.1"], capture_output=True, text=True, check=True)
        lines.append(proc.stdout)
    return "".join(lines)


def git(cwd: Path, *args: str) -> str:
    identity = ["-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    return subprocess.run(["git", *identity, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


class AppRepository:
    """The app's repository on a developer's machine: the sample app, the pipeline, the inventories."""

    def __init__(self, root: Path, fleet: Fleet, secrets: dict[str, str]) -> None:
        self.work = root / "app"
        self.home = root / "runner-home"
        self.outputs: list[str] = []  # every run's output, for the secret check
        git(root, "clone", "-q", str(targets.UPSTREAM / "sample-app.git"), str(self.work))
        git(self.work, "checkout", "-q", "-B", "main", "v1")
        git(self.work, "remote", "rename", "origin", "sample")
        shutil.rmtree(UPSTREAM, ignore_errors=True)
        git(root, "init", "-q", "--bare", str(UPSTREAM))
        git(self.work, "remote", "add", "upstream", str(UPSTREAM))
        shutil.copy(PIPELINE, self.work / ".gitlab-ci.yml")
        for env, host in ENVIRONMENTS.items():
            self._inventory(fleet, env, host)
        # The runner's CI/CD variables (never in the repository, never in argv).
        variables = {
            "DEPLOYCTL_VAULT_PASSWORD_STAGING": secrets["vault_password"],
            "DEPLOYCTL_VAULT_PASSWORD_PRODUCTION": secrets["vault_password"],
            "DEPLOY_SSH_KEY": {"type": "file", "values": {"*": targets.SSH_KEY.read_text()}},
            "SSH_KNOWN_HOSTS": {"type": "file", "values": {"*": known_hosts(fleet)}},
            "STAGING_URL": f"http://127.0.0.1:{fleet.http_port('web1')}",
            "PRODUCTION_URL": f"http://127.0.0.1:{fleet.http_port('web2')}",
        }
        (self.home / ".gitlab-ci-local").mkdir(parents=True)
        variables_file = self.home / ".gitlab-ci-local" / "variables.yml"
        variables_file.touch(mode=0o600)
        variables_file.write_text(yaml.safe_dump({"global": variables}))

    def _inventory(self, fleet: Fleet, env: str, host: str) -> None:
        """deploy/inventories/ENV: the e2e inventory's variables and vault, one host, no key file (the
        job's ssh-agent holds the key), a short health deadline for the failing case."""
        inventory = self.work / "deploy" / "inventories" / env
        (inventory / "group_vars" / "all").mkdir(parents=True)
        hostvars = fleet.hosts[host]
        hosts = {"all": {"vars": {"sample_db_host": hostvars["sample_db_host"]}, "children": {"app": {"hosts": {
            host: {"ansible_port": hostvars["ansible_port"]}}}}}}  # fmt: skip
        (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
        shutil.copy(INVENTORY / "group_vars/all/vault.yml", inventory / "group_vars/all/vault.yml")
        connection = yaml.safe_load((INVENTORY / "group_vars/all/connection.yml").read_text())
        # As production has it: the key from the job's agent, host keys checked against SSH_KNOWN_HOSTS.
        connection.pop("ansible_ssh_private_key_file")
        connection.pop("ansible_ssh_common_args")
        variables = yaml.safe_load((INVENTORY / "group_vars/all/vars.yml").read_text())
        variables.update(connection, deploy_repo_url=f"file:///srv/upstream/{UPSTREAM.name}", deploy_health_deadline=15)
        (inventory / "group_vars" / "all" / "vars.yml").write_text("---\n" + yaml.safe_dump(variables))

    def push(self, message: str, tree_of: str | None = None, files: dict[str, str] | None = None) -> str:
        """Commit (the files of tag `tree_of` of the sample app, then `files`) and push main; the commit."""
        if tree_of:
            git(self.work, "checkout", "-q", tree_of, "--", ".")
        for path, content in (files or {}).items():
            (self.work / path).parent.mkdir(parents=True, exist_ok=True)
            (self.work / path).write_text(content)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        git(self.work, "push", "-q", "upstream", "main")
        return git(self.work, "rev-parse", "HEAD").strip()

    def pipeline(self, *args: str) -> Pipeline:
        """gitlab-ci-local in the repository (deployctl on the runner's PATH, as the README asks)."""
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        proc = subprocess.run(
            [str(GITLAB_CI_LOCAL), "--no-color", "--home", str(self.home), *args],
            cwd=self.work,
            capture_output=True,
            text=True,
            env=env,
        )
        self.outputs.append(proc.stdout + proc.stderr)
        return Pipeline(proc.returncode, self.outputs[-1])

    def report(self, job: str) -> dict:
        """The job's artifact: deployctl's --report file (gitlab-ci-local names the directory after the
        job, each run of characters other than word characters and '-' base64url-encoded)."""
        safe = re.sub(r"[^\w-]+", lambda m: base64.urlsafe_b64encode(m.group().encode()).decode().rstrip("="), job)
        return json.loads((self.work / ".gitlab-ci-local" / "artifacts" / safe / "deployctl-report.json").read_text())


@pytest.fixture(scope="module")
def app(
    fleet: Fleet, vault_secrets: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppRepository]:
    if not GITLAB_CI_LOCAL.exists():
        pytest.fail(f"{GITLAB_CI_LOCAL} is missing: run `make setup` (tests/harness/setup.sh installs it)")
    yield AppRepository(tmp_path_factory.mktemp("pipeline"), fleet, {"vault_password": DEMO_PASSWORD})


def revision(fleet: Fleet, host: str) -> str | None:
    return fleet.health(host)[1].get("revision")


def journal_length(fleet: Fleet, host: str) -> int:
    return len(fleet.journal(host))


def test_the_pipeline_tests_deploys_gates_reverts_and_rolls_back(fleet: Fleet, app: AppRepository, vault_secrets):
    production_before = revision(fleet, "web2")

    # A push to main: the app's tests, then staging; production waits for its manual job.
    v1 = app.push("v1 with the pipeline")
    run = app.pipeline()
    assert run.rc == 0, run.output[-4000:]
    assert (run.result("test"), run.result("deploy:staging"), run.result("deploy:production")) == ("PASS", "PASS", None)
    assert revision(fleet, "web1") == v1
    assert revision(fleet, "web2") == production_before
    assert app.report("deploy:staging")["hosts"]["web1"]["outcome"] == "deployed"

    # The next push, with production's manual job played.
    v2 = app.push("v2: notes.title", tree_of="v2")
    run = app.pipeline("--manual", "deploy:production")
    assert run.rc == 0, run.output[-4000:]
    assert run.result("deploy:production") == "PASS"
    assert revision(fleet, "web1") == revision(fleet, "web2") == v2
    report = app.report("deploy:production")
    assert (report["exit_code"], report["hosts"]["web2"]["outcome"]) == (0, "deployed")
    v2_release = fleet.current("web2")

    # A commit whose app tests fail never reaches a host.
    journals = {host: journal_length(fleet, host) for host in fleet.hosts}
    failing_test = (
        'require "test_helper"\nclass GateTest < ActiveSupport::TestCase\n  test "gate" do\n    flunk\n  end\nend\n'
    )
    app.push("a failing test", files={"test/integration/gate_test.rb": failing_test})
    run = app.pipeline("--manual", "deploy:production")
    assert run.rc != 0 and run.result("test") == "FAIL", run.output[-4000:]
    assert run.result("deploy:staging") is None and run.result("deploy:production") is None
    assert not run.log("deploy:staging"), "no deploy job started"
    for host in fleet.hosts:
        assert (revision(fleet, host), journal_length(fleet, host)) == (v2, journals[host])

    # Fixed, and a change without a migration, deployed everywhere.
    v2b = app.push(
        "v2b: the test fixed", files={"test/integration/gate_test.rb": failing_test.replace("flunk", "pass")}
    )
    run = app.pipeline("--manual", "deploy:production")
    assert run.rc == 0, run.output[-4000:]
    assert revision(fleet, "web1") == revision(fleet, "web2") == v2b

    # A release that boots but does not answer: the staging job fails with deployctl's exit code,
    # staging keeps serving (the candidate check stops it before the switch), production is never offered.
    puma = (app.work / "config/puma.rb").read_text().replace('Integer(ENV.fetch("PORT", "3000"))', "3999")
    app.push("listens on the wrong port", files={"config/puma.rb": puma})
    run = app.pipeline("--manual", "deploy:production")
    assert run.rc != 0 and run.result("deploy:staging") == "FAIL", run.output[-4000:]
    assert any("FAIL 1" in line for line in run.log("deploy:staging")), run.log("deploy:staging")[-5:]
    assert any("aborted" in line for line in run.log("deploy:staging"))
    assert run.result("deploy:production") is None
    report = app.report("deploy:staging")
    assert (report["exit_code"], report["hosts"]["web1"]["outcome"], report["hosts"]["web1"]["stage"]) == (
        1, "aborted", "candidate",
    )  # fmt: skip
    assert (revision(fleet, "web1"), revision(fleet, "web2")) == (v2b, v2b)

    # The manual rollback job: production goes back to the release before v2b.
    run = app.pipeline("rollback:production")
    assert run.rc == 0 and run.result("rollback:production") == "PASS", run.output[-4000:]
    assert (fleet.current("web2"), revision(fleet, "web2")) == (v2_release, v2)
    assert app.report("rollback:production")["hosts"]["web2"]["outcome"] == "rolled_back"

    # No secret in anything the runner printed or kept (job logs, artifacts, its state).
    kept = [path.read_text(errors="replace") for path in (app.work / ".gitlab-ci-local").rglob("*") if path.is_file()]
    key_body = targets.SSH_KEY.read_text().splitlines()[1]
    for secret in (vault_secrets["vault_sample_db_password"], DEMO_PASSWORD, key_body):
        assert not [text for text in app.outputs + kept if secret in text]
