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
  - Each host picks its own rollback target (the release that served before its current one, else the newest good
    older one; or C(deploy_rollback_to)). On a fleet whose hosts went through different deploys (a host lost or
    added, a release removed by hand) those targets can run different commits, and a rollback would leave the fleet
    split.
  - Returns the empty string when every host's target runs one commit (or no host has a target, which each host's
    own refusal says), else a message that names each host's target and the fix, C(deploy_rollback_to) with the
    newest release every host has, when there is one.
version_added: 0.1.0
author: deployctl contributors
positional: _input, named, earlier_commit
options:
  _input:
    description:
      - What each host's M(deployctl.core.release) O(state=query) found, as either the host's C(hostvars) (with
        C(inventory_hostname) and the query registered as C(__deploy_releases), for the hosts of this batch) or one
        result of a query looped over other hosts with C(delegate_to) (its loop variable is the host), for the hosts
        of the later serial batches. A result that failed, was skipped or could not reach its host is left out.
    type: list
    elements: dict
    required: true
  named:
    description: C(deploy_rollback_to), the release every host goes to ("" for each host's own target).
    type: str
    default: ""
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
    problem: >-
      {{ ansible_play_batch | map('extract', hostvars) | selectattr('__deploy_releases', 'defined')
         | deployctl.core.rollback_split(deploy_rollback_to) }}
"""

RETURN = r"""
_value:
  description: The message, or the empty string.
  type: str
"""

# States of a release that a named rollback may go to (not failed, not half-built).
_USABLE_STATES = ("built", "active", "rolled_back")


def _queries(entries: Sequence[Mapping]) -> dict[str, Mapping]:
    """Each host's query result, by host: from its hostvars, or from a looped, delegated query's result."""
    queries: dict[str, Mapping] = {}
    for entry in entries:
        if "__deploy_releases" in entry:
            queries[str(entry["inventory_hostname"])] = entry["__deploy_releases"]
        elif not entry.get("failed") and not entry.get("skipped") and not entry.get("unreachable"):
            # The loop's variable names the host (`item`, or its loop_control.loop_var).
            host = entry.get(entry.get("ansible_loop_var", "item"))
            if host:
                queries[str(host)] = entry
    return queries


def _target(query: Mapping, named: str) -> tuple[str, str]:
    """(commit, words) of a host's target, as rollback.yml chooses it; commit "" when it has none."""
    target = named or query.get("rollback_target") or ""
    if not target:
        return "", "nothing older to roll back to"
    record: Mapping = next((r for r in query.get("releases", []) if r.get("id") == target), {})
    if not record.get("present") or record.get("state") == "failed":
        return "", f"no usable release {target}"
    commit = record.get("commit") or ""
    return commit, f"{target} ({record.get('ref') or '-'}, commit {commit[:8] or '?'})"


def _common_release(queries: Mapping[str, Mapping]) -> str:
    """The newest release that every host has and can run, no newer than any host's current one and not the
    current one of every host (no rollback at all), "" when there is none. Release IDs sort by time."""
    shared: set[str] | None = None
    currents = {query.get("current") or "" for query in queries.values()}
    for query in queries.values():
        records = query.get("releases", [])
        usable = {
            r["id"]
            for r in records
            if r.get("present") and r.get("state") in _USABLE_STATES and r.get("verified") is not False
        }
        shared = usable if shared is None else shared & usable
    oldest_current, newest_current = min(currents), max(currents)
    backwards = {r for r in shared or () if (not oldest_current or r <= oldest_current) and r != newest_current}
    return max(backwards) if backwards else ""


def rollback_split(entries: Sequence[Mapping], named: str = "", earlier_commit: str = "") -> str:
    queries = _queries(entries)
    targets = {host: _target(query, named) for host, query in queries.items()}
    commits = {commit for commit, _ in targets.values()}
    if earlier_commit and commits and commits != {""}:
        commits.add(earlier_commit)
    if len(commits) <= 1:
        return ""
    listing = "; ".join(f"{host}: {words}" for host, (_, words) in targets.items())
    common = _common_release(queries)
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
