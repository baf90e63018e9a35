# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A systemd unit's Environment= line, escaped so that systemd reads back exactly the value given."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: systemd_environment
short_description: Quote one variable for a systemd unit's C(Environment=) line
description:
  - Returns C("NAME=VALUE") quoted and escaped for a unit file, so the service sees VALUE unchanged.
  - C(%) becomes C(%%) (systemd expands specifiers such as C(%h) in C(Environment=), and rejects
    the line, printing it whole into the journal, on an unknown one such as C(%40) in a URL-encoded
    password); C(\) and C(") are escaped inside the double quotes.
  - Fails on a name systemd would not accept and on a value with a line break (a unit line cannot hold one).
version_added: 0.2.0
author: deployctl contributors
positional: _input, value
options:
  _input:
    description: The variable's name.
    type: str
    required: true
  value:
    description: The variable's value (numbers and booleans are written as text).
    type: raw
    required: true
"""

EXAMPLES = r"""
# In a unit template; gives Environment="DATABASE_URL=postgres://app:p%%40ss@db/app"
- name: Show a unit's environment line
  ansible.builtin.debug:
    msg: "Environment={{ 'DATABASE_URL' | deployctl.core.systemd_environment('postgres://app:p%40ss@db/app') }}"
"""

RETURN = r"""
_value:
  description: The quoted C(NAME=VALUE) assignment, ready to follow C(Environment=).
  type: str
"""

import re

from ansible.errors import AnsibleFilterError

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def systemd_environment(name: str, value: object) -> str:
    """`"NAME=VALUE"` for a unit file; raises AnsibleFilterError for a bad name or a multi-line value."""
    if not NAME.match(str(name)):
        raise AnsibleFilterError(f"{name!r} is not a valid environment variable name (letters, digits, _)")
    text = str(value)
    if "\n" in text or "\r" in text:
        raise AnsibleFilterError(f"the value of {name} has a line break, which a systemd unit line cannot hold")
    escaped = f"{name}={text}".replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


class FilterModule:
    def filters(self) -> dict:
        return {"systemd_environment": systemd_environment}
