# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deploy metrics in Prometheus's text format, for node_exporter's textfile collector.

After every deploy, revert and rollback, the host's file TEXTFILE_DIR/deployctl-APP.prom is
rewritten whole (a temp file in the same directory, renamed: the collector never reads half a
file). What must survive between runs (the counters, the last run per outcome) is kept in
DEPLOY_TO/.deployctl/metrics.json (root only); the live release's labels come from its record.
Runs of one app never write at once: they hold the deploy lock.

Metric names follow Prometheus's conventions (`_total` counters, `_seconds` units, `_info` for
labels with the value 1); every metric has the labels `app` and `environment`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout, atomic_write
from ansible_collections.deployctl.core.plugins.module_utils._release_state import ReleaseStore

# The argument spec of a run's metrics: deploy_metrics's options, and release's `metrics` dict
# (the switch call of a deploy writes them itself when it is the run's last call on the host).
METRICS_OPTIONS: dict[str, dict[str, Any]] = {
    "textfile_dir": {"type": "path", "required": True},
    "app": {"type": "str", "required": True},
    "environment": {"type": "str", "required": True},
    "action": {"type": "str", "required": True, "choices": ["deploy", "rollback"]},
    "outcome": {"type": "str", "required": True},
    "release": {"type": "str", "default": ""},
    "ref": {"type": "str", "default": ""},
    "started_at": {"type": "float", "required": True},
    "stages": {"type": "dict", "default": {}},
}

# name: (type, help). The order is the file's.
METRICS: dict[str, tuple[str, str]] = {
    "deployctl_runs_total": ("counter", "Deploys and rollbacks run on this host, by action and outcome."),
    "deployctl_last_run_timestamp_seconds": (
        "gauge",
        "When the last run of this action with this outcome finished (Unix time, the host's clock).",
    ),
    "deployctl_last_run_duration_seconds": (
        "gauge",
        "How long the last run of this action with this outcome took, from its start to its report.",
    ),
    "deployctl_last_run_info": ("gauge", "The most recent run on this host: its action, outcome, release and ref."),
    "deployctl_release_info": ("gauge", "The release current points at: release ID, commit, ref, schema version."),
    "deployctl_last_deploy_stage_duration_seconds": (
        "gauge",
        "Seconds each stage's call of the last deploy worked on this host (fetch, build, backup, migrate, switch).",
    ),
}


@dataclass
class Run:
    """One finished run, as the deploy role reports it.

    action: deploy or rollback. outcome: the role's outcome (deployed, unchanged, reverted, aborted,
    failed, rolled_back). started_at: Unix time in seconds when the run (its first batch) started, by the
    controller's clock; finished_at: when it ended on the host, by the host's (NTP keeps them close).
    stages: seconds per stage, of the stage calls that finished.
    """

    action: str
    outcome: str
    release: str = ""
    ref: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)


def _escape(value: object) -> str:
    """A label value as the text format writes it (backslash, double quote and newline escaped)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(name: str, labels: dict[str, object], value: float) -> str:
    pairs = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
    return f"{name}{{{pairs}}} {value}"


def record(state: dict[str, Any], run: Run) -> dict[str, Any]:
    """The persisted state with `run` counted in (a new dict; `state` is what metrics.json held, or {})."""
    runs = {key: dict(value) for key, value in (state.get("runs") or {}).items()}
    key = f"{run.action}/{run.outcome}"
    entry = runs.setdefault(key, {"count": 0})
    entry.update(
        count=int(entry.get("count", 0)) + 1,
        timestamp=run.finished_at,
        duration=max(run.finished_at - run.started_at, 0.0),
    )
    new = {**state, "runs": runs, "last": {"action": run.action, "outcome": run.outcome, "release": run.release,
                                           "ref": run.ref, "timestamp": run.finished_at}}  # fmt: skip
    if run.action == "deploy" and run.stages:
        new["stages"] = dict(run.stages)
    return new


def render(state: dict[str, Any], labels: dict[str, str], live: dict[str, Any] | None) -> str:
    """The .prom file's text for the persisted `state`, the `labels` every metric carries (app,
    environment), and the live release's record (None when current points nowhere)."""
    samples: dict[str, list[str]] = {name: [] for name in METRICS}
    for key, entry in sorted((state.get("runs") or {}).items()):
        action, _, outcome = key.partition("/")
        run_labels = {**labels, "action": action, "outcome": outcome}
        samples["deployctl_runs_total"].append(_sample("deployctl_runs_total", run_labels, int(entry["count"])))
        for name, value in (("timestamp", entry["timestamp"]), ("duration", entry["duration"])):
            metric = f"deployctl_last_run_{name}_seconds"
            samples[metric].append(_sample(metric, run_labels, round(float(value), 3)))
    last = state.get("last")
    if last:
        last_labels = {**labels, **{k: last.get(k) or "" for k in ("action", "outcome", "release", "ref")}}
        samples["deployctl_last_run_info"].append(_sample("deployctl_last_run_info", last_labels, 1))
    if live:
        live_labels = {
            **labels,
            "release": live.get("id") or "",
            "commit": live.get("commit") or "",
            "ref": live.get("ref") or "",
            "schema_version": live.get("schema_version") or "",
        }
        samples["deployctl_release_info"].append(_sample("deployctl_release_info", live_labels, 1))
    for stage, seconds in sorted((state.get("stages") or {}).items()):
        metric = "deployctl_last_deploy_stage_duration_seconds"
        samples[metric].append(_sample(metric, {**labels, "stage": stage}, round(float(seconds), 3)))
    lines = []
    for name, (kind, text) in METRICS.items():
        if samples[name]:
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *samples[name]]
    return "\n".join(lines) + "\n"


class NoTextfileDirectory(FileNotFoundError):
    """The textfile collector's directory is not on the host: not an error, the host keeps no metrics."""


@dataclass
class Textfile:
    """Where one app's metrics go on a host: `directory` is the collector's (node_exporter's
    --collector.textfile.directory), `app` names the file."""

    layout: Layout
    directory: str
    app: str

    @property
    def path(self) -> str:
        return os.path.join(self.directory, f"deployctl-{self.app}.prom")

    @property
    def state_path(self) -> str:
        return os.path.join(self.layout.meta, "metrics.json")

    def write(self, run: Run, labels: dict[str, str], live: dict[str, Any] | None) -> str:
        """Count `run` in and rewrite the file; returns its path. Raises NoTextfileDirectory when the
        directory does not exist (no textfile collector here), OSError when the state or the file
        cannot be written (a missing deploy_to/.deployctl too)."""
        if not os.path.isdir(self.directory):
            raise NoTextfileDirectory(f"{self.directory} does not exist")
        try:
            with open(self.state_path, encoding="utf-8") as handle:
                state = json.load(handle)
        except (FileNotFoundError, ValueError):
            # No state yet, or a damaged one: the counters start again (Prometheus takes a reset).
            state = {}
        state = record(state, run)
        try:
            atomic_write(self.state_path, json.dumps(state, indent=2, sort_keys=True) + "\n")
        except OSError as err:
            # atomic_write's error names its temp file: name the file the user knows.
            raise OSError(err.errno, f"cannot write {self.state_path}: {err.strerror}") from err
        # World-readable: node_exporter runs as its own user; metrics hold no secret.
        atomic_write(self.path, render(state, labels, live), mode=0o644)
        return self.path


def write(layout: Layout, options: dict[str, Any], stages: dict[str, float] | None = None) -> dict[str, Any]:
    """Count the run `options` (METRICS_OPTIONS's values) in and rewrite the app's file; the run
    finishes now (the host's clock). `stages` adds to the options' stage seconds. Never raises for the
    metrics' sake: returns {written, path} and, when not written, `reason` and (for a failed write,
    not a missing directory) `warning`."""
    textfile = Textfile(layout, options["textfile_dir"], options["app"])
    given = {stage: float(seconds) for stage, seconds in (options.get("stages") or {}).items() if seconds is not None}
    run = Run(
        action=options["action"],
        outcome=options["outcome"],
        release=options.get("release") or "",
        ref=options.get("ref") or "",
        started_at=float(options["started_at"]),
        finished_at=time.time(),
        stages={**given, **(stages or {})},
    )
    labels = {"app": options["app"], "environment": options["environment"]}
    try:
        live = ReleaseStore(layout).get(layout.current_release())
    except ValueError:
        live = None
    try:
        textfile.write(run, labels, live)
    except NoTextfileDirectory as err:
        reason = f"{err} (no node_exporter textfile collector here: set deploy_metrics_textfile_dir)"
        return {"written": False, "path": textfile.path, "reason": reason}
    except (OSError, ValueError) as err:
        message = f"the deploy metrics were not written to {textfile.path}: {err}"
        return {"written": False, "path": textfile.path, "reason": str(err), "warning": message}
    return {"written": True, "path": textfile.path}
