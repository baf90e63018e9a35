# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""At the end of a deploy, one line per host: which release it runs, and what happened."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: deploy_summary
type: aggregate
short_description: Say which host runs which release at the end of a deploy
description:
  - Reads the outcome each host of a deploy published with C(set_stats) (C(deployctl.hosts))
    and prints one line per host with the release it runs now, and whether it was deployed,
    unchanged, reverted, aborted or failed (in check mode, what it would deploy). Hosts of
    the play that never started (a failed serial batch stops the rollout) are listed as untouched.
  - For playbooks/logs.yml (outcomes with a C(source)), prints each host's log lines as C(HOST | line) instead.
  - A notification receiver that failed (C(deployctl.notifications), see M(deployctl.core.deploy_notify))
    adds a warning line; a failed C(deploy_local_after) command (M(deployctl.core.deploy_local_hook)) a
    FAILED line (every host's outcome stands; the run failed after them).
  - A host that could not be reached and published no outcome is listed as unreachable, with Ansible's
    message, also when no host of the run could publish one (its first batch could not be reached; the
    hosts of the later batches are listed as untouched).
  - Enabled in deployctl's ansible.cfg; prints nothing for playbooks that publish no outcome, and only the
    warnings of those that read (status, releases, unlock), such as status's when the hosts run different commits.
version_added: 0.1.0
author: deployctl contributors
requirements:
  - enable in ansible.cfg with C(callbacks_enabled = deployctl.core.deploy_summary)
"""

from typing import Any

from ansible.plugins.callback import CallbackBase

RUNS_NOW = {
    "deployed": "runs {release} (commit {commit:.8}), deployed now; previous {previous}",
    "unchanged": "runs {release} (commit {commit:.8}), already live: nothing changed",
    "would_deploy": "check mode: would deploy commit {commit:.8} as release {release}; migrations to run: {pending}",
    "reverted": "runs {current} again: release {release} failed at stage {stage} and was reverted",
    # deploy_on_batch_failure revert_all: a host whose release was healthy, switched back with the rollout.
    "reverted_rollout": "runs {current} again: {message}",
    "aborted": "runs {current}, unchanged: release {release} failed at stage {stage} before the switch",
    "aborted_input": "runs {current}, unchanged: the deploy stopped at stage {stage} before changing anything",
    # A deploy_local_before command failed: no host was read, so what it runs is not known here (it runs on).
    "aborted_local": "unchanged: the deploy stopped at stage {stage}, before any host was touched",
    "failed": "runs {current}: release {release} failed at stage {stage} and could NOT be reverted",
    # Its message says whose lock (another deploy's, or one taken by hand for a maintenance window).
    "locked": "unchanged: {message}",
    "invalid": "untouched: the input was rejected before any host was touched ({message})",
    # playbooks/rollback.yml
    "rolled_back": "runs {to} now, rolled back from {from}",
    "rollback_aborted": "runs {current}, unchanged: the rollback stopped at stage {stage}: {message}",
}
# A host of a serial batch that never started (an earlier batch stopped the rollout).
UNTOUCHED = "not reached: an earlier batch failed, so this one was not started; it serves what it served before"


# A host lost to the run (SSH failed) that published no outcome: what it serves was not seen.
UNREACHABLE = "could not be reached, so this run cannot say what it serves: {message}"

# Outcomes of the entry points that change no release (status, releases, unlock).
# status's `unhealthy` fails its host: Ansible's own failure line says why.
READ_ONLY = {"ok", "unlocked", "unhealthy"}


def log_lines(reported: dict[str, Any]) -> str:
    """playbooks/logs.yml: each host's lines as HOST | line, or the host's error."""
    lines = []
    for host in sorted(reported):
        outcome = reported[host]
        if outcome.get("outcome") == "ok":
            lines += [f"{host} | {line}" for line in outcome.get("lines") or []]
            # An empty log (roles/deploy/tasks/logs.yml says so): read, with nothing in it.
            lines += [f"{host}: warning: {outcome['warning']}"] if outcome.get("warning") else []
        else:
            lines.append(f"{host}: {outcome.get('outcome', '?')}: {outcome.get('message', '')}")
    return "\n".join(lines) if lines else "no log lines"


LOCAL_HOOK_ACTIONS = {"deploy_local_hook", "deployctl.core.deploy_local_hook"}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "deployctl.core.deploy_summary"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # deploy_local_after commands that failed: no host's outcome carries them (they ran after the hosts').
        self._local_after_failed: list[str] = []
        # Ansible's message for each host it could not reach; a host lost this way publishes no outcome.
        self._unreachable: dict[str, str] = {}

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._unreachable[result._host.get_name()] = str(result._result.get("msg", "")).strip()

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        task = result._task
        if task.action in LOCAL_HOOK_ACTIONS and result._result.get("stage") == "local_after" and not ignore_errors:
            self._local_after_failed.append(str(result._result.get("msg", "")))

    def v2_playbook_on_stats(self, stats: Any) -> None:
        data = stats.custom.get("_run", {}).get("deployctl") or {}
        # No host published its outcome when none of the first batch could be reached: a deploy's or a rollback's
        # run, ref and hosts are published before any host is contacted (roles/deploy/tasks/identity.yml).
        if not data.get("hosts") and not (data.get("run") and self._unreachable):
            return
        data = {"run": "", **data, "hosts": data.get("hosts") or {}}
        if any("source" in outcome for outcome in data["hosts"].values()):
            self._display.display(log_lines(data["hosts"]))
            return
        if data["hosts"] and all(outcome.get("outcome") in READ_ONLY for outcome in data["hosts"].values()):
            # status, releases, unlock: their own output says it all, but for a warning (status: the hosts run
            # different commits), said once for the hosts that have it.
            warned: dict[str, list[str]] = {}
            for host, outcome in sorted(data["hosts"].items()):
                if outcome.get("warning"):
                    warned.setdefault(str(outcome["warning"]), []).append(host)
            if warned:
                said = [f"{', '.join(hosts)}: warning: {text}" for text, hosts in warned.items()]
                self._display.display("\n".join(said))
            return
        reported = data["hosts"]
        releases = {outcome.get("release") for outcome in reported.values() if outcome.get("release")}
        release = releases.pop() if len(releases) == 1 else "(per host)" if releases else ""
        # deploy.yml or rollback.yml, or a run refused as a whole, says which (`run`); otherwise a rollback is the
        # run that names no ref (it goes back to a release). A run refused before any release was chosen names none.
        rollback = data["run"] == "rollback" if data["run"] else not data.get("ref")
        if rollback:
            title = f"ROLLBACK SUMMARY: to {release}" if release else "ROLLBACK SUMMARY"
        else:
            title = f"DEPLOY SUMMARY: {data['ref']}" if data.get("ref") else "DEPLOY SUMMARY"
            title += f" as release {release}" if release else ""
        lines = [title]
        for host in sorted(set(reported) | set(data.get("play_hosts", [])) | set(self._unreachable)):
            outcome = reported.get(host)
            if outcome is None and host in self._unreachable:
                message = UNREACHABLE.format(message=self._unreachable[host])
                lines.append(f"  {host:<20} {'unreachable':<10} {message}")
                continue
            if outcome is None:
                # The CLI says the same (src/deployctl/outcome.py UNTOUCHED); an unreachable host has a result.
                lines.append(f"  {host:<20} untouched: {UNTOUCHED}")
                continue
            fields = {"release": "?", "commit": "?", "previous": None, "current": "?", "stage": "?", "message": ""}
            fields.update({key: value for key, value in outcome.items() if value not in (None, "")})
            fields["previous"] = fields["previous"] or "none"
            if "current" in outcome:
                # A first deploy that stopped early leaves no current release to name.
                fields["current"] = outcome["current"] or "no release"
            fields["pending"] = ", ".join(outcome.get("pending_migrations") or []) or "none"
            kind = str(outcome.get("outcome", ""))
            if kind == "reverted" and outcome.get("stage") == "rollout":
                kind = "reverted_rollout"
            elif kind == "aborted" and rollback:
                kind = "rollback_aborted"
            elif kind == "aborted" and outcome.get("stage") == "local_before":
                kind = "aborted_local"
            elif kind == "aborted" and (str(outcome.get("bad_input")).lower() == "true" or not outcome.get("release")):
                # Refused on its input, or stopped before this host had the release: nothing changed on it.
                kind = "aborted_input"
            template = RUNS_NOW.get(kind, "{outcome}")
            lines.append(f"  {host:<20} {outcome.get('outcome', '?'):<10} {template.format(**fields)}")
            if outcome.get("warning"):
                lines.append(f"  {'':<20} warning: {outcome['warning']}")
        # A receiver that failed (deploy_notify) is a warning: the deploy's result stands.
        for name, sent in sorted((data.get("notifications") or {}).items()):
            if not sent.get("ok"):
                lines.append(f"  warning: notification to {name} failed: {sent.get('message', '')}")
        for message in dict.fromkeys(self._local_after_failed):
            lines.append(f"  FAILED after the deploy (nothing was reverted): {message}")
        self._display.display("\n".join(lines))
