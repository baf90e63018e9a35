# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible's template lookup, without its deep copy of every variable of the task."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: render
short_description: Ansible's template lookup, without a deep copy of the task's variables
description:
  - Renders each template file as L(ansible.builtin.template,https://docs.ansible.com/ansible/latest/collections/ansible/builtin/template_lookup.html)
    does, with the same options, search path, variables and result, with one difference. The builtin lookup
    deep-copies every variable of the task before it adds the template's own (C(template_path),
    C(ansible_managed)...). This one lays them over the task's variables instead (a C(ChainMap)), which are
    left as they are.
  - A deploy renders its configuration, its service unit and its logrotate rule per host. The copies cost about
    6% of a deploy's controller CPU (py-spy, a no-op deploy of two hosts).
  - When ansible-core's lookup no longer copies with C(deepcopy), this is the builtin lookup unchanged.
version_added: 0.3.0
author: deployctl contributors
options:
  _terms:
    description: The template files, found as the builtin lookup finds them (the role's C(templates) first).
    required: true
  template_vars:
    description: A dictionary, the keys become additional variables available for templating.
    default: {}
    type: dict
  variable_start_string:
    description: The string marking the beginning of a print statement.
    default: '{{'
    type: str
  variable_end_string:
    description: The string marking the end of a print statement.
    default: '}}'
    type: str
  comment_start_string:
    description: The string marking the beginning of a comment statement.
    default: '{#'
    type: str
  comment_end_string:
    description: The string marking the end of a comment statement.
    default: '#}'
    type: str
  trim_blocks:
    description: Whether the first newline after a block is removed.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Render the service unit
  ansible.builtin.set_fact:
    unit: "{{ lookup('deployctl.core.render', 'app.service.j2') }}"
"""

RETURN = r"""
_raw:
  description: The rendered text of each template.
  type: list
  elements: str
"""

import collections
import typing as t

from ansible.plugins.lookup import template as builtin


def _layered(variables: t.Mapping[str, t.Any]) -> t.MutableMapping[str, t.Any]:
    """The task's variables with an empty layer on top, where the lookup writes the template's own."""
    return collections.ChainMap({}, variables)  # type: ignore[arg-type]


class LookupModule(builtin.LookupModule):
    """ansible.builtin.template, rendering with the task's variables under a layer of the template's own."""

    def run(self, terms: list[t.Any], variables: dict[str, t.Any] | None = None, **kwargs: t.Any) -> list[t.Any]:
        copy = getattr(builtin, "deepcopy", None)
        if copy is None:  # pragma: no cover - another ansible-core: the builtin lookup as it is
            return super().run(terms, variables, **kwargs)
        # The builtin lookup's module-wide name, for this call only: a worker process runs one task at a time.
        builtin.deepcopy = _layered
        try:
            return super().run(terms, variables, **kwargs)
        finally:
            builtin.deepcopy = copy
