"""vault_entries reads which vault id each secret of a vars file is encrypted with, without decrypting."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.deployctl.core.plugins.filter.vault_entries import vault_entries

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_vault_lists_each_secret_under_its_id() -> None:
    text = (REPO / "inventories/demo/group_vars/all/vault.yml").read_text()
    assert vault_entries(text) == [
        {"name": "vault_sample_db_password", "label": "demo"},
        {"name": "vault_sample_secret_key_base", "label": "demo"},
    ]


def test_two_ids_an_unlabelled_value_and_plain_values() -> None:
    text = (
        "---\nplain: 1\nvault_a: !vault |\n  $ANSIBLE_VAULT;1.2;AES256;prod\n  6162\n"
        "vault_b: !vault |-\n    $ANSIBLE_VAULT;1.2;AES256;payments\n    6364\n"
        "vault_c: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6566\n"
        "not_vault: '$ANSIBLE_VAULT;1.2;AES256;x'\n"
    )
    assert vault_entries(text) == [
        {"name": "vault_a", "label": "prod"},
        {"name": "vault_b", "label": "payments"},
        {"name": "vault_c", "label": ""},
    ]


def test_nothing_to_read() -> None:
    assert vault_entries("") == []
