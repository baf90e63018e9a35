# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The values of a vars file that are encrypted one by one, with the vault id of each."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: vault_entries
short_description: List the vault-encrypted values of a vars file and their vault ids
description:
  - Reads the text of a YAML vars file (not its values) and returns one entry per top-level
    variable whose value is C(!vault) (encrypted on its own, as C(ansible-vault encrypt_string)
    writes it), with the vault id in its header (format 1.2), or V("") when the header has none (1.1).
  - Nothing is decrypted, so it also works when no password given matches; the preflight uses it
    to name the vault id whose password is missing.
version_added: 0.2.0
author: deployctl contributors
positional: _input
options:
  _input:
    description: The file's text.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Name the vault ids in use
  ansible.builtin.debug:
    msg: >-
      {{ lookup('ansible.builtin.file', 'group_vars/all/vault.yml')
         | deployctl.core.vault_entries | map(attribute='label') | unique }}
"""

RETURN = r"""
_value:
  description: One C({name, label}) mapping per encrypted value, in file order.
  type: list
  elements: dict
"""

import re

ENTRY = re.compile(
    r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*):[ \t]*!vault[ \t]*[|>][-+]?[ \t]*\n"
    r"[ \t]+\$ANSIBLE_VAULT;1\.[12];AES256(?:;(?P<label>[^\s;]+))?",
    re.MULTILINE,
)


def vault_entries(text: str) -> list[dict[str, str]]:
    """[{"name": VAR, "label": VAULT_ID or ""}] for each `VAR: !vault |` value of `text`."""
    return [{"name": m["name"], "label": m["label"] or ""} for m in ENTRY.finditer(str(text or ""))]


class FilterModule:
    def filters(self) -> dict:
        return {"vault_entries": vault_entries}
