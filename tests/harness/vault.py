"""Read vault-encrypted values the way Ansible does, for the harness and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible.parsing.vault import VaultLib, VaultSecret

REPO_ROOT = Path(__file__).resolve().parents[2]


def vault_lib(vault_ids: list[str]) -> VaultLib:
    """A VaultLib for `--vault-id LABEL@FILE` arguments (FILE relative to the repository)."""
    secrets = []
    for vault_id in vault_ids:
        label, _, path = vault_id.partition("@")
        secrets.append((label, VaultSecret((REPO_ROOT / path).read_bytes().strip())))
    return VaultLib(secrets)


def reveal(value: Any, vault_ids: list[str]) -> Any:
    """Decrypt a value as `ansible-inventory --list` prints an encrypted one; pass others through."""
    if isinstance(value, dict) and "__ansible_vault" in value:
        return vault_lib(vault_ids).decrypt(value["__ansible_vault"]).decode()
    return value
