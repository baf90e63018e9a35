# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the hosts run different commits ("" when they run one)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

DOCUMENTATION = r"""
---
name: fleet_split
short_description: Say which host runs which commit when the hosts run different ones
description:
  - A fleet whose hosts went through different deploys (a host lost mid-deploy, one deployed to alone) can run
    different commits, each host healthy. C(status) says so, as a warning, with this.
  - Returns the empty string when every host with a current release runs one commit, else the hosts by commit, and
    how to put them back on one.
version_added: 0.1.0
author: deployctl contributors
options:
  _input:
    description:
      - The hosts, each a mapping (the host's C(hostvars)) with C(inventory_hostname) and C(__deploy_releases)
        (M(deployctl.core.release)'s O(state=query) result). A host without it (its query failed) is left out.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Say that the hosts run different commits
  ansible.builtin.debug:
    msg: "{{ ansible_play_hosts | map('extract', hostvars) | deployctl.core.fleet_split }}"
"""

RETURN = r"""
_value:
  description: The warning, or the empty string.
  type: str
"""


def fleet_split(entries: Sequence[Mapping]) -> str:
    by_commit: dict[str, list[str]] = {}  # commit: the hosts that run it
    refs: dict[str, list[str]] = {}  # commit: the refs it was deployed as
    for entry in entries:
        releases = entry.get("__deploy_releases") or {}
        live = [r for r in releases.get("releases", []) if r.get("current")]
        if live:
            commit = live[0].get("commit") or "?"
            by_commit.setdefault(commit, []).append(entry["inventory_hostname"])
            refs.setdefault(commit, []).append(live[0].get("ref") or "-")
    if len(by_commit) <= 1:
        return ""
    hosts = "; ".join(
        f"{', '.join(names)}: {commit[:8]} ({', '.join(dict.fromkeys(refs[commit]))})"
        for commit, names in by_commit.items()
    )
    return (
        f"the hosts run different commits ({hosts}): deploy one ref to every host (deployctl deploy ENV --ref REF) "
        "to put them back on one"
    )


class FilterModule:
    def filters(self) -> dict:
        return {"fleet_split": fleet_split}
