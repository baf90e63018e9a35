# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tell Grafana, Sentry and a webhook how a deploy or rollback went (docs: plugins/modules/deploy_notify.py).

Runs in the controller's process: no host is contacted. The receivers' settings, tokens included,
are read here from the play's variables (vault-decrypted when templated), never passed as task
arguments (those land in job events); no token is returned, and error text is scrubbed of them.
"""

from __future__ import annotations

import time
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.deployctl.core.plugins.plugin_utils import (
    _notify_grafana as grafana,
)
from ansible_collections.deployctl.core.plugins.plugin_utils import (
    _notify_sentry as sentry,
)
from ansible_collections.deployctl.core.plugins.plugin_utils import (
    _notify_webhook as webhook,
)
from ansible_collections.deployctl.core.plugins.plugin_utils._notify_run import (
    RunData,
    Sent,
    scrub,
    skip_reason,
    with_lost_hosts,
)

# The role variables read here, with the value that means "not set".
SETTINGS = {
    "deploy_grafana_url": "",
    "deploy_grafana_token": "",
    "deploy_grafana_tags": [],
    "deploy_sentry_url": "",
    "deploy_sentry_org": "",
    "deploy_sentry_project": "",
    "deploy_sentry_token": "",
    "deploy_sentry_cli": "sentry-cli",
    "deploy_sentry_repo": "",
    "deploy_webhook_url": "",
    "deploy_webhook_headers": {},
    "deploy_notify_timeout": 10,
}
ARGS = {"kind", "app", "environment", "ref", "release", "by", "started_at", "hosts", "batch", "last_batch"}


def secrets_of(settings: dict[str, Any]) -> list[str]:
    """What must never be shown: the tokens, the webhook's URL (Slack's holds its key) and header values."""
    found = [settings["deploy_grafana_token"], settings["deploy_sentry_token"], settings["deploy_webhook_url"]]
    return [str(value) for value in found + list(settings["deploy_webhook_headers"].values()) if value]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def settings(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        templar = self._templar.copy_with_new_env(available_variables=task_vars)
        found = {}
        for name, default in SETTINGS.items():
            value = templar.template(task_vars[name]) if name in task_vars else default
            found[name] = value if isinstance(value, list | dict) else str(value) if value is not None else default
        return found

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self._task.args
        unknown = set(args) - ARGS
        if unknown:
            raise AnsibleActionFail(f"deploy_notify: unknown options {', '.join(sorted(unknown))}")
        if args.get("kind") not in ("deploy", "rollback"):
            raise AnsibleActionFail(f"deploy_notify: kind must be deploy or rollback, not {args.get('kind')!r}")
        settings = self.settings(task_vars or {})
        hosts = with_lost_hosts(args.get("hosts") or {}, args.get("batch") or [])
        reason = skip_reason(hosts, bool(args.get("last_batch", True)))
        if reason:
            return {**result, "skipped": True, "skip_reason": reason, "notifications": {}}
        run = RunData(
            kind=args["kind"],
            app=str(args.get("app", "")),
            environment=str(args.get("environment", "")),
            ref=str(args.get("ref") or ""),
            release=str(args.get("release") or ""),
            by=str(args.get("by") or ""),
            started_at=float(args.get("started_at") or time.time()),
            finished_at=time.time(),
            hosts=hosts,
        )
        sent = self.notify(run, settings)
        secrets = secrets_of(settings)
        notifications = {
            name: {**outcome.as_dict(), "message": scrub(outcome.message, secrets)} for name, outcome in sent.items()
        }
        warnings = [
            f"notification to {name} failed (the {run.kind} itself is unaffected): {n['message']}"
            for name, n in notifications.items()
            if not n["ok"]
        ]
        if warnings:
            result["warnings"] = warnings
        return {
            **result,
            "changed": any(n["ok"] for n in notifications.values()),
            "outcome": run.outcome,
            "notifications": notifications,
        }

    def notify(self, run: RunData, settings: dict[str, Any]) -> dict[str, Sent]:
        """Each receiver whose URL is set, one after the other; none raises."""
        timeout = float(settings["deploy_notify_timeout"])
        sent: dict[str, Sent] = {}
        if settings["deploy_grafana_url"]:
            sent["grafana"] = grafana.annotate(
                run,
                settings["deploy_grafana_url"],
                settings["deploy_grafana_token"],
                settings["deploy_grafana_tags"],
                timeout,
            )
        if settings["deploy_sentry_url"] and not run.succeeded:
            sent["sentry"] = Sent(True, f"Sentry: not told: the {run.kind} ended {run.outcome}, no new release is live")
        elif settings["deploy_sentry_url"]:
            sent["sentry"] = sentry.release(run, sentry.target(settings), timeout)
        if settings["deploy_webhook_url"]:
            sent["webhook"] = webhook.send(
                run, settings["deploy_webhook_url"], settings["deploy_webhook_headers"], timeout
            )
        return sent
