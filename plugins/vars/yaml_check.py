# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Name the file and line of a malformed group_vars/host_vars file (vault.yml above all)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: yaml_check
short_description: Stop on a malformed inventory variables file, naming the file and the line
description:
  - Parses every YAML file under the inventory's C(group_vars/) and C(host_vars/) before
    Ansible loads them, and on a syntax error stops with the file, the line and the column,
    which Ansible's own message leaves out.
  - Enabled in deployctl's ansible.cfg before C(host_group_vars); it returns no variables.
version_added: 0.1.0
author: deployctl contributors
options:
  stage:
    ini:
      - key: stage
        section: vars_deployctl_yaml_check
    env:
      - name: ANSIBLE_VARS_PLUGIN_STAGE
extends_documentation_fragment:
  - vars_plugin_staging
"""

import os

import yaml
from ansible.errors import AnsibleError
from ansible.plugins.vars import BaseVarsPlugin


class _VaultTolerantLoader(yaml.SafeLoader):
    """SafeLoader that accepts Ansible's !vault and !unsafe tags (only syntax matters here)."""


def _tagged_scalar(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    return (
        loader.construct_object(yaml.ScalarNode("tag:yaml.org,2002:str", node.value))
        if isinstance(node, yaml.ScalarNode)
        else None
    )


_VaultTolerantLoader.add_constructor("!vault", _tagged_scalar)
_VaultTolerantLoader.add_constructor("!unsafe", _tagged_scalar)


# The version of each file that parsed, as (mtime_ns, size), by path. Ansible calls
# get_vars for every host and group of every play (hundreds of times a run) and the
# files do not change in between: each is parsed once per process unless it changes.
# A malformed file is never recorded, so it fails again on every call.
_CHECKED: dict[str, tuple[int, int]] = {}


def check_file(path: str) -> None:
    """Raise AnsibleError, naming the file, the line and the column, when `path` is not valid YAML.

    A file that parsed before and has the same modification time and size is not read again.
    """
    stat = os.stat(path)
    version = (stat.st_mtime_ns, stat.st_size)
    if _CHECKED.get(path) == version:
        return
    _parse(path)
    _CHECKED[path] = version


def _parse(path: str) -> None:
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    if text.startswith("$ANSIBLE_VAULT"):
        return  # a whole-file vault: Ansible decrypts it first
    try:
        yaml.load(text, Loader=_VaultTolerantLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown line"
        raise AnsibleError(
            f"{path} is not valid YAML ({where}: {err.problem or err.context}): fix that line "
            "(for a vault file: ansible-vault edit, or encrypt_string the value again)"
        ) from None


class VarsModule(BaseVarsPlugin):
    def get_vars(self, loader, path, entities, cache=True):
        super().get_vars(loader, path, entities)
        for kind in ("group_vars", "host_vars"):
            top = os.path.join(path, kind)
            for directory, _dirs, files in os.walk(top, followlinks=True):
                for name in files:
                    if name.endswith((".yml", ".yaml")):
                        check_file(os.path.join(directory, name))
        return {}
