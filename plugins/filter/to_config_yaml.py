# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a mapping as the YAML of an application's config file, vault values decrypted."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: to_config_yaml
short_description: Render a mapping as a config file's YAML, decrypting vault values
description:
  - Like C(to_nice_yaml), but every vault-encrypted value (C(!vault)) is decrypted into plain
    text, where C(to_nice_yaml) would write its ciphertext; a value no given vault password
    decrypts is an error, so a wrong password never yields a config file full of ciphertext.
  - Keys are sorted, so the same settings always give the same text.
version_added: 0.1.0
author: deployctl contributors
positional: _input
options:
  _input:
    description: The settings.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Render config/production.yml
  ansible.builtin.copy:
    content: "{{ deploy_config | deployctl.core.to_config_yaml }}"
    dest: /srv/shop/shared/config/production.yml
    mode: "0640"
  no_log: true
"""

RETURN = r"""
_value:
  description: The YAML text.
  type: str
"""

from collections.abc import Mapping
from typing import Any

import yaml


def plain(value: Any) -> Any:
    """Builtin types only; str() of a vault-encrypted value decrypts it (or raises)."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def to_config_yaml(data: Mapping) -> str:
    return yaml.safe_dump(plain(data), default_flow_style=False, sort_keys=True, allow_unicode=True, width=1000)


class FilterModule:
    def filters(self) -> dict:
        return {"to_config_yaml": to_config_yaml}
