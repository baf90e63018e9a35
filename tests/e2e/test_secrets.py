"""A vault secret used in config/production.yml never shows where people and tools look."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import DEPLOY_TO, VAULT_ID
from tests.harness import targets, vault

SLOW_BUILD_AND_MIGRATE = json.dumps(
    {
        "deploy_build_command": ["sh", "-c", "sleep 2 && exec make deploy"],
        "deploy_migrate_command": ["sh", "-c", "sleep 2 && exec bin/rails db:migrate"],
    }
)


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A unique secret, vault-encrypted in an extra-vars file: (its value, `-e @file`)."""
    secret = f"canary-{uuid.uuid4().hex}"
    encrypted = vault.vault_lib([VAULT_ID]).encrypt(secret, secret=None, vault_id="demo").decode()
    path = tmp_path / "canary.yml"
    body = "\n".join("  " + line for line in encrypted.splitlines())
    path.write_text(f"vault_sample_secret_key_base: !vault |\n{body}\n")
    yield secret, f"@{path}"


def sample_processes(fleet, host: str, seconds: int) -> subprocess.Popen:
    """Record every process's argv and environment on `host`, several times a second."""
    loop = (
        f"for i in $(seq {seconds * 4}); do ps -eo args; "
        "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'; sleep 0.25; done"
    )
    port = fleet.hosts[host]["ansible_port"]
    return subprocess.Popen(
        ["ssh", *targets.ssh_options(), "-p", str(port), "root@127.0.0.1", loop],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def leaks_in_files(fleet, host: str, secret: str, deploy_to: str = DEPLOY_TO) -> list[str]:
    """Files another user could read, and everything deployctl records, holding `secret`.

    The pattern goes through a 0600 file, so the test puts no secret in argv either.
    """
    hits = fleet.ssh(
        host,
        "umask 077; cat > /root/.canary;"
        f" find {deploy_to} /etc/systemd/system /etc/logrotate.d /tmp -xdev -type f -perm -o=r -print0"
        " | xargs -0 -r grep -lF -f /root/.canary;"
        f" grep -lF -f /root/.canary {deploy_to}/.deployctl/journal.jsonl {deploy_to}/current/REVISION"
        f" {deploy_to}/.deployctl/releases/*.json {deploy_to}/.deployctl/logs/*; rm /root/.canary; true",
        stdin=secret + "\n",
    )
    return hits.split()


def config_holds(fleet, host: str, secret: str) -> bool:
    return (
        fleet.ssh(host, f"grep -cF -f /dev/stdin {DEPLOY_TO}/current/config/production.yml", stdin=secret).strip()
        == "1"
    )


def test_a_canary_secret_stays_out_of_output_argv_and_readable_files(fleet, vault_secrets, canary):
    secret, extra = canary
    assert fleet.deploy("v1").rc == 0

    preview = fleet.deploy("v2", "-e", extra, "-vvv", "--diff", "--check")
    assert preview.rc == 0, preview.output[-3000:]
    samplers = {host: sample_processes(fleet, host, seconds=40) for host in fleet.hosts}
    run = fleet.deploy("v2", "-e", extra, "-e", SLOW_BUILD_AND_MIGRATE, "-vvv", "--diff")
    seen = {host: sampler.communicate(timeout=120)[0] for host, sampler in samplers.items()}
    assert run.rc == 0, run.output[-3000:]
    # Past the candidate check: the failed health check after the switch and the revert (their output too).
    failed = fleet.deploy(
        "v3-unhealthy",
        "-e",
        extra,
        "-e",
        "deploy_health_deadline=5",
        "-e",
        "deploy_candidate_check=false",
        "-vvv",
        "--diff",
    )
    assert failed.rc == 2

    for label, output in (("--check -vvv --diff", preview), ("-vvv --diff", run), ("a failed run", failed)):
        assert secret not in output.output, f"the canary leaked into the output of {label}"
        for name, value in vault_secrets.items():
            assert value not in output.output, f"{name} leaked into the output of {label}"
    for host in fleet.hosts:
        # The samplers saw make deploy and rails db:migrate run, without the secret.
        assert "sleep 2 && exec make deploy" in seen[host]
        assert secret not in seen[host], f"the canary was in a process's argv or environment on {host}"
        assert leaks_in_files(fleet, host, secret) == []
        # ... while the app itself can read its config, and nobody else can.
        config = fleet.ssh(host, f"stat -c '%a %U %G' {DEPLOY_TO}/current/config/production.yml")
        assert config.split() == ["640", "root", "sample"]
        assert config_holds(fleet, host, secret)
    assert "sleep 2 && exec bin/rails db:migrate" in seen["web1"]


def test_a_secret_changed_in_the_vault_gives_a_new_release_at_the_same_ref(fleet, commits, on_v2, canary):
    secret, extra = canary
    run = fleet.deploy("v2", "-e", extra)
    assert run.rc == 0, run.output[-3000:]
    for host, before in on_v2.items():
        after = fleet.current(host)
        assert after != before
        assert fleet.records(host)[after]["commit"] == commits["v2"]
        assert config_holds(fleet, host, secret)
        assert fleet.health(host)[0] == 200
