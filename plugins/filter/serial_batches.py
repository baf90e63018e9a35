# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""deploy_serial as a play's `serial` takes it, and what is wrong with it."""

from __future__ import annotations

import re
from typing import Any

import yaml

DOCUMENTATION = r"""
---
name: serial_batches
short_description: The batches of a rolling deploy or rollback, from deploy_serial
description:
  - Reads V(deploy_serial) in every form an entry point gives it, a number of hosts (V(3)), a percentage
    of them (V(50%)), a list of these (V([1, "50%"])), or any of these as text (an AWX survey's
    V(1,50%) or V([1, "50%"]), C(-e deploy_serial=0)), and returns the batches for the play's C(serial)
    with the problems found.
  - A batch is at least one host and at most 100% of them. Ansible itself runs every host at once for
    V(0) or a negative size, takes V(150%) as all, and stops with an unexpected exception on the text
    V(1,50%); so a value with a problem gives the batches V(["100%"]), one batch of every host, whose
    preflight (playbooks/tasks/whole_run.yml) then refuses the run on every host with the problems, before
    any host is touched.
version_added: 0.12.0
author: deployctl contributors
positional: _input
options:
  _input:
    description: The value of V(deploy_serial) (V(100%) when it is not set).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Deploy
  hosts: all
  serial: "{{ (deploy_serial | default('100%') | deployctl.core.serial_batches).batches }}"
"""

RETURN = r"""
_value:
  description: The batches and the problems.
  type: dict
  contains:
    batches:
      description:
        - Numbers of hosts (int) and percentages (str, V(50%)) for C(serial).
        - V(["100%"]) when there are problems.
      type: list
    problems:
      description: One sentence naming the value, what is wrong with it and how to write it; empty when it is right.
      type: list
      elements: str
"""

# 1 or more hosts, or 1% to 100% of them.
BATCH = re.compile(r"^(?:[1-9][0-9]*|(?:[1-9][0-9]?|100)%)$")


def _items(value: Any) -> list[Any]:
    """The batch sizes of `value`: a list, one size, or text holding either (YAML list, or comma-separated)."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return [value]
        return parsed if isinstance(parsed, list) else [value]
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")]
    return [value]


def serial_batches(value: Any) -> dict[str, list[Any]]:
    """{"batches": [1, "50%"], "problems": []} for 1,50%; the problems name each wrong size (str).

    None and "" (an AWX survey's answer left empty) are unset: every host in one batch.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return {"batches": ["100%"], "problems": []}
    items = _items(value)
    wrong = [str(item) for item in items if isinstance(item, bool) or not BATCH.match(str(item).strip())]
    if not items or wrong:
        named = ", ".join(wrong)
        # deploy_serial 0 is not ...; deploy_serial [0, '50%', -1]: 0, -1 are not ...
        where = f"deploy_serial {value}: {named}" if named and [str(value)] != wrong else f"deploy_serial {value}"
        return {
            "batches": ["100%"],
            "problems": [
                f"{where} {'are not batch sizes' if len(wrong) > 1 else 'is not a batch size'}: "
                "a batch is a number of hosts (1 or more) or a percentage of them (1% to 100%). Give e.g. "
                '[1, "50%"] (a canary host, then half of the others; 1,50% in an AWX survey or the CLI\'s '
                "--serial), or leave it unset to run on every host at once"
            ],
        }
    sizes = [str(item).strip() for item in items]
    return {"batches": [size if size.endswith("%") else int(size) for size in sizes], "problems": []}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"serial_batches": serial_batches}
