#!/usr/bin/env python3
"""Vault password client: the password comes from an environment variable, never a file.

    export DEPLOYCTL_VAULT_PASSWORD_PROD=...    # or DEPLOYCTL_VAULT_PASSWORD for any vault id
    ansible-playbook playbooks/deploy.yml -i inventories/production --vault-id prod@inventories/vault-env-client.py

Ansible runs this script with `--vault-id LABEL` and reads the password from its stdout.
"""

from __future__ import annotations

import argparse
import os
import re
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vault-id", default="default")
    label = parser.parse_args().vault_id
    names = [f"DEPLOYCTL_VAULT_PASSWORD_{re.sub(r'[^A-Za-z0-9]', '_', label).upper()}", "DEPLOYCTL_VAULT_PASSWORD"]
    for name in names:
        if os.environ.get(name):
            sys.stdout.write(os.environ[name] + "\n")
            return 0
    sys.stderr.write(f"vault-env-client: set {' or '.join(names)} to the password of vault id {label!r}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
