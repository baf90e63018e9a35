"""A vault secret used in config/production.yml never shows where people and tools look."""

from __future__ import annotations

from tests.e2e.conftest import DEPLOY_TO


def test_secrets_stay_out_of_verbose_diff_output_and_world_readable_files(fleet, vault_secrets):
    run = fleet.deploy("v1", "-v", "--diff")
    assert run.rc == 0, run.output[-3000:]
    for name, secret in vault_secrets.items():
        assert secret not in run.output, f"{name} leaked into ansible-playbook -v --diff output"

    secrets = "\n".join(vault_secrets.values()) + "\n"
    for host in fleet.hosts:
        # Every file another user could read, and everything deployctl records. The
        # patterns go through a 0600 file, so the test puts no secret in argv either.
        hits = fleet.ssh(
            host,
            "umask 077; cat > /root/.canary;"
            f" find {DEPLOY_TO} /etc/systemd/system -xdev -type f -perm -o=r -print0"
            " | xargs -0 grep -lF -f /root/.canary;"
            f" grep -lF -f /root/.canary {DEPLOY_TO}/.deployctl/journal.jsonl {DEPLOY_TO}/current/REVISION"
            f" {DEPLOY_TO}/.deployctl/releases/*.json; rm /root/.canary; true",
            stdin=secrets,
        )
        assert hits.strip() == "", f"a vault secret was found in {hits.split()}"
        # ... while the app itself can read its config.
        config = fleet.ssh(host, f"stat -c '%a %U %G' $(readlink -f {DEPLOY_TO}/current)/config/production.yml")
        assert config.split() == ["640", "root", "sample"]
