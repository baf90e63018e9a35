"""Hook files and controller commands beside an inventory (README "Hooks") are no inventory sources.

Ansible parses an inventory directory file by file and runs every executable in it as an inventory
script (`PROGRAM --list`), on every run: ansible.cfg's [inventory] ignore_patterns leaves out the
README's hooks/ and bin/. Checked with ansible-inventory and the checkout's ansible.cfg, no host needed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_INVENTORY = Path(sys.executable).with_name("ansible-inventory")


def test_hooks_and_commands_beside_an_inventory_are_neither_parsed_nor_run(tmp_path: Path) -> None:
    inventory = tmp_path / "production"
    shutil.copytree(REPO_ROOT / "inventories/demo", inventory)
    ran = tmp_path / "ran"
    (inventory / "bin").mkdir()
    notify = inventory / "bin/notify"
    notify.write_text(f'#!/bin/sh\necho "$@" >> {ran}\n')
    notify.chmod(0o755)
    (inventory / "hooks").mkdir()
    (inventory / "hooks/warm_cache.yml").write_text(
        "- name: Warm the cache\n  ansible.builtin.command: bin/rails runner Cache.warm!\n"
    )
    listed = subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(inventory), "--graph", "--vault-id",
         "demo@inventories/demo/demo-vault-password.txt"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "web1" in listed.stdout and "web2" in listed.stdout
    assert "WARNING" not in listed.stderr, listed.stderr
    assert not ran.exists(), f"bin/notify was run as an inventory script: {ran.read_text()}"
