# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy_* variables that look like a setting of deployctl misspelt, each with the setting it resembles."""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Iterable

import yaml

try:  # libyaml's loader: 5 ms for the two files, where the pure-Python one takes 60 ms (per host: a worker each).
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

DOCUMENTATION = r"""
---
name: misspelt_settings
short_description: Name the deploy_* variables that are a setting of deployctl misspelt
description:
  - A variable Ansible does not know is no error; a misspelt setting (C(deploy_helth_url),
    C(deploy_rollback_migrate_dwn)) would be ignored and its default used, without a word.
  - Returns one message per variable whose name is no setting of the role but is close to one (the part after
    C(deploy_) at least 85% alike, by difflib's ratio), naming the setting it resembles.
  - Other C(deploy_*) names pass, as an inventory may hold variables of its own with that prefix (C(deploy_user) is
    common).
  - The settings are the options of every entry point of the role's argument spec (C(meta/argument_specs.yml)),
    the C(deploy_*) variables of its C(vars/main.yml), and O(playbook_settings). Hook variables (C(deploy_*_tasks))
    and C(deploy_local_*) are left to the role's own checks of them.
version_added: 0.1.0
author: deployctl contributors
positional: _input, role_path, playbook_settings
options:
  _input:
    description: The names of the variables set for the host (the C(ansible.builtin.varnames) lookup of C(^deploy_)).
    type: list
    elements: str
    required: true
  role_path:
    description: The deploy role's directory.
    type: path
    required: true
  playbook_settings:
    description: Variables the playbooks read themselves (C(deploy_serial), C(deploy_hosts)).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Refuse a misspelt setting
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: >-
      {{ lookup('ansible.builtin.varnames', '^deploy_', wantlist=True) | deployctl.core.misspelt_settings(role_path) }}
"""

RETURN = r"""
_value:
  description: One message per misspelt setting, sorted by name; empty when there is none.
  type: list
  elements: str
"""

PREFIX = "deploy_"
# Checked by the role itself, with their own words (preflight.yml).
_OWN_CHECKS = re.compile(r"^deploy_(.+_tasks?|local_.*)$")
# How alike the names' parts after the prefix must be: deploy_helth_url (0.95), deploy_keep_release (0.96) are
# caught; deploy_user against deploy_app_user (0.67) is not.
CUTOFF = 0.85


@functools.cache
def _role_settings(role_path: str) -> frozenset[str]:
    """Raises OSError, yaml.YAMLError: the role's files are part of the collection."""
    with open(os.path.join(role_path, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        specs = yaml.load(handle, Loader=_Loader)["argument_specs"]
    with open(os.path.join(role_path, "vars", "main.yml"), encoding="utf-8") as handle:
        role_vars = yaml.load(handle, Loader=_Loader) or {}
    names = {name for spec in specs.values() for name in spec.get("options") or {}}
    return frozenset(names | {name for name in role_vars if name.startswith(PREFIX)})


def misspelt_settings(names: Iterable[str], role_path: str, playbook_settings: Iterable[str] = ()) -> list[str]:
    settings = _role_settings(str(role_path)) | set(playbook_settings)
    suffixes = {name[len(PREFIX) :]: name for name in settings if name.startswith(PREFIX)}
    problems = []
    for name in sorted(set(names)):
        if name in settings or not name.startswith(PREFIX) or _OWN_CHECKS.match(name):
            continue
        close = difflib.get_close_matches(name[len(PREFIX) :], suffixes, n=1, cutoff=CUTOFF)
        if close:
            problems.append(
                f"{name} is no setting of deployctl: did you mean {suffixes[close[0]]}? (as it is, it would be "
                "ignored and the default used; a variable of your own needs a name further from deployctl's)"
            )
    return problems


class FilterModule:
    def filters(self) -> dict:
        return {"misspelt_settings": misspelt_settings}
