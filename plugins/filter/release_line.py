# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One line of text per recorded release, for playbook output."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: release_line
short_description: Format a recorded release as one line
description:
  - Turns one entry of M(deployctl.core.release)'s O(state=query) result into
    C(ID STATE COMMIT REF by WHO schema VERSION), with C(*) after the state of the current release
    and C(<) after that of the rollback target, and C(, never checked) at the end for a release switched to
    whose health check never passed (its record's C(verified) is false), C(, missing) for one whose directory is
    gone.
version_added: 0.1.0
author: deployctl contributors
positional: _input, rollback_target
options:
  _input:
    description: One entry of the C(releases) list.
    type: dict
    required: true
  rollback_target:
    description: The query's C(rollback_target), marked C(<).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Show releases
  ansible.builtin.debug:
    msg: "{{ result.releases | map('deployctl.core.release_line') | list }}"
"""

RETURN = r"""
_value:
  description: The line.
  type: str
"""


def release_line(release: dict, rollback_target: str = "") -> str:
    state = release.get("state", "?") + ("*" if release.get("current") else "")
    if rollback_target and release.get("id") == rollback_target:
        # A good release that is not live is what a rollback goes to: say so, not just "built".
        state += "<"
    # Short enough for the 80-column YAML output of ansible-playbook; the ID is the time.
    return (
        f"{release.get('id', '?')} {state:<12} {(release.get('commit') or '?')[:8]} "
        f"{release.get('ref') or '-'} by {release.get('deployed_by', '-')} "
        f"schema {release.get('schema_version') or '-'}"
        # Switched to, its health check never passed (its host was lost in between): no rollback target.
        + (", never checked" if release.get("verified") is False else "")
        # Its directory is gone (removed by hand): recorded, but nothing to switch to.
        + (", missing" if release.get("present") is False and release.get("state") != "building" else "")
    )


class FilterModule:
    def filters(self) -> dict:
        return {"release_line": release_line}
