# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Why a rollback would leave the hosts on different commits ("" when it would not)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

DOCUMENTATION = r"""
---
name: rollback_split
short_description: Why a rollback would leave the hosts on different commits
description:
  - Each host picks its own rollback target (the newest good release older than its current one, or
    C(deploy_rollback_to)). On a fleet whose hosts went through different deploys (a host lost or added, a release
    removed by hand) those targets can run different commits, and a rollback would leave the fleet split.
  - Returns the empty string when every host's target runs one commit (or no host has a target, which each host's
    own refusal says), else a message that names each host's target and the fix, C(deploy_rollback_to) with the
    newest release every host has, when there is one.
version_added: 0.1.0
author: deployctl contributors
positional: _input, earlier_commit
options:
  _input:
    description:
      - The hosts of the batch, each a mapping (the host's C(hostvars)) with C(inventory_hostname),
        C(__deploy_rollback) (C(from), C(to), C(to_record)) and C(__deploy_releases) (M(deployctl.core.release)'s
        O(state=query) result).
    type: list
    elements: dict
    required: true
  earlier_commit:
    description: The commit the earlier serial batches of this rollback went to ("" in the first batch).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Refuse a rollback that would split the fleet
  ansible.builtin.assert:
    that: problem | length == 0
    fail_msg: "{{ problem }}"
  vars:
    problem: "{{ ansible_play_batch | map('extract', hostvars) | deployctl.core.rollback_split }}"
"""

RETURN = r"""
_value:
  description: The message, or the empty string.
  type: str
"""

# States of a release that a named rollback may go to (not failed, not half-built).
_USABLE_STATES = ("built", "active", "rolled_back")


def _target(entry: Mapping) -> tuple[str, str]:
    """(commit, words) of a host's target; commit "" when it has none."""
    rollback = entry["__deploy_rollback"]
    record = rollback.get("to_record") or {}
    if not rollback.get("to"):
        return "", "nothing older to roll back to"
    if not record.get("present") or record.get("state") == "failed":
        return "", f"no usable release {rollback['to']}"
    commit = record.get("commit") or ""
    return commit, f"{rollback['to']} ({record.get('ref') or '-'}, commit {commit[:8] or '?'})"


def _common_release(entries: Sequence[Mapping]) -> str:
    """The newest release that every host has and can run, no newer than any host's current one and not the
    current one of every host (no rollback at all), "" when there is none. Release IDs sort by time."""
    shared: set[str] | None = None
    currents = {entry["__deploy_releases"].get("current") or "" for entry in entries}
    for entry in entries:
        records = entry["__deploy_releases"].get("releases", [])
        usable = {
            r["id"]
            for r in records
            if r.get("present") and r.get("state") in _USABLE_STATES and r.get("verified") is not False
        }
        shared = usable if shared is None else shared & usable
    oldest_current, newest_current = min(currents), max(currents)
    backwards = {r for r in shared or () if (not oldest_current or r <= oldest_current) and r != newest_current}
    return max(backwards) if backwards else ""


def rollback_split(entries: Sequence[Mapping], earlier_commit: str = "") -> str:
    targets = {entry["inventory_hostname"]: _target(entry) for entry in entries}
    commits = {commit for commit, _ in targets.values()}
    if earlier_commit and commits and commits != {""}:
        commits.add(earlier_commit)
    if len(commits) <= 1:
        return ""
    listing = "; ".join(f"{host}: {words}" for host, (_, words) in targets.items())
    common = _common_release(entries)
    if earlier_commit:
        listing += f"; the earlier batches: commit {earlier_commit[:8]}"
        # Those hosts are back already: these follow them, not the other way round.
        fix = (
            f"The earlier batches are back on commit {earlier_commit[:8]}: roll these hosts back to a release of that "
            "commit too (-e deploy_rollback_to=RELEASE, deployctl rollback ENV --to RELEASE)"
        )
    elif common:
        fix = (
            f"Name one release for every host: -e deploy_rollback_to={common} (deployctl rollback ENV --to {common}), "
            "the newest release every host has"
        )
    else:
        fix = "No release is on every host: deploy the ref to go back to (deployctl deploy ENV --ref REF)"
    return (
        f"the hosts would roll back to different commits ({listing}), and a rollback leaves every host on one "
        f"commit: these hosts were not changed. {fix}; `deployctl releases ENV` lists each host's releases."
    )


class FilterModule:
    def filters(self) -> dict:
        return {"rollback_split": rollback_split}
