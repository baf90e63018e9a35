"""Secrets from an external store through a lookup: `pass` (GnuPG-encrypted), a real store that runs here.

The same pattern serves any store with a command-line client (HashiCorp Vault's
`vault kv get -field=...`, `aws secretsmanager get-secret-value`, 1Password's `op read`):
the lookup runs on the controller, the secret comes back on the client's stdout, and
only its name is ever in argv.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

from tests.e2e.conftest import DEPLOY_TO

LOOKUP = "{{ lookup('ansible.builtin.pipe', 'pass show deployctl/demo/secret_key_base') }}"


def make_store(home: Path, secret: str) -> dict[str, str]:
    """A password store holding `secret`, encrypted to a throwaway GnuPG key."""
    env = {**os.environ, "GNUPGHOME": str(home / "gnupg"), "PASSWORD_STORE_DIR": str(home / "store")}
    (home / "gnupg").mkdir(mode=0o700)
    subprocess.run(
        ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "deployctl-test@example.invalid", "default",
         "default", "never"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(["pass", "init", "deployctl-test@example.invalid"], env=env, check=True, capture_output=True)
    subprocess.run(
        ["pass", "insert", "--multiline", "deployctl/demo/secret_key_base"],
        input=secret, text=True, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return {"GNUPGHOME": env["GNUPGHOME"], "PASSWORD_STORE_DIR": env["PASSWORD_STORE_DIR"]}


def test_a_secret_from_an_external_store_reaches_the_config_and_nowhere_else(fleet, on_v2, tmp_path):
    secret = f"from-pass-{uuid.uuid4().hex}"
    store = make_store(tmp_path, secret)

    run = fleet.playbook(
        "deploy.yml", "-e", "deploy_ref=v2", "-e", json.dumps({"vault_sample_secret_key_base": LOOKUP}), "-v",
        env=store,
    )  # fmt: skip
    assert run.rc == 0, run.output[-3000:]
    assert secret not in run.output
    for host, before in on_v2.items():
        assert fleet.current(host) != before  # the config changed, so a new release
        found = fleet.ssh(host, f"grep -cF -f /dev/stdin {DEPLOY_TO}/current/config/production.yml", stdin=secret)
        assert found.strip() == "1"
        assert fleet.health(host)[0] == 200
