"""Deploy metrics on a real host: Debian's node_exporter serves what deployctl writes into its
textfile collector directory, promtool accepts the file, and a reverted deploy says so."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import INVENTORY, REPO_ROOT, Fleet

PROMTOOL = REPO_ROOT / ".cache/prometheus/usr/bin/promtool"
# Debian's node_exporter reads this directory (deploy_metrics_textfile_dir's default).
TEXTFILE = "/var/lib/prometheus/node-exporter/deployctl-sample.prom"
SAMPLE = re.compile(r"^(deployctl_\w+)\{(.*)\} (\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    """The sample app's deployctl samples in a text in Prometheus's format: (name, labels, value). (Other
    apps deployed to the same hosts, as test_rails_new's blog, have their own file and label.)"""
    samples = [
        (match[1], dict(LABEL.findall(match[2])), float(match[3]))
        for match in map(SAMPLE.match, text.splitlines())
        if match
    ]
    return [sample for sample in samples if sample[1].get("app") == "sample"]


def scrape(fleet: Fleet, host: str) -> list[tuple[str, dict[str, str], float]]:
    """deployctl's samples as node_exporter serves them on the host's /metrics."""
    return parse(
        fleet.ssh(host, "curl -fsS --retry 10 --retry-connrefused --retry-delay 1 http://127.0.0.1:9100/metrics")
    )


def written(fleet: Fleet, host: str) -> list[tuple[str, dict[str, str], float]]:
    """deployctl's samples as the file on the host holds them."""
    return parse(fleet.ssh(host, f"cat {TEXTFILE}"))


def value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """The one sample of `name` whose labels include `labels` (0 when there is none: a counter not yet counted)."""
    matching = [v for n, lab, v in samples if n == name and labels.items() <= lab.items()]
    assert len(matching) <= 1, (name, labels, matching)
    return matching[0] if matching else 0.0


def labels_of(samples: list[tuple[str, dict[str, str], float]], name: str) -> dict[str, str]:
    (found,) = [lab for n, lab, _ in samples if n == name]
    return found


@pytest.fixture(scope="module")
def exporter(fleet: Fleet) -> Iterator[None]:
    """node_exporter running on web1 (installed, but off, in the target image)."""
    fleet.ssh("web1", "systemctl start prometheus-node-exporter")
    yield
    fleet.ssh("web1", "systemctl stop prometheus-node-exporter")


def test_node_exporter_serves_the_deploy_metrics_and_a_reverted_deploy_says_so(fleet, commits, on_v2, exporter):
    live = on_v2["web1"]
    before = scrape(fleet, "web1")
    # The live release, with the labels of its record, and every metric labelled with app and environment.
    info = labels_of(before, "deployctl_release_info")
    assert {k: info[k] for k in ("app", "environment", "release", "commit", "schema_version")} == {
        "app": "sample",
        "environment": Path(INVENTORY).name,
        "release": live,
        "commit": commits["v2"],
        "schema_version": "20240201000000",
    }
    assert info["ref"]  # the ref that deployed it (v2, or another name of its commit)

    # Past the candidate check (it would stop v3-unhealthy before the switch): a reverted deploy.
    run = fleet.deploy(
        "v3-unhealthy",
        "-e",
        "deploy_health_deadline=8",
        "-e",
        "deploy_hosts=web1",
        "-e",
        "deploy_candidate_check=false",
    )
    assert run.rc == 2 and "REVERTED" in run.output, run.output[-3000:]

    after = scrape(fleet, "web1")
    failed = fleet.newest("web1")["id"]
    last = labels_of(after, "deployctl_last_run_info")
    assert (last["action"], last["outcome"], last["release"]) == ("deploy", "reverted", failed)
    assert last["ref"] == "v3-unhealthy"
    reverted = {"action": "deploy", "outcome": "reverted"}
    assert value(after, "deployctl_runs_total", **reverted) == value(before, "deployctl_runs_total", **reverted) + 1
    # Health deadline (8 s) and the switch back: the run took at least the deadline.
    assert value(after, "deployctl_last_run_duration_seconds", **reverted) >= 8
    assert labels_of(after, "deployctl_release_info")["release"] == live
    stages = {lab["stage"] for n, lab, _ in after if n == "deployctl_last_deploy_stage_duration_seconds"}
    assert {"fetch", "build"} <= stages

    # A deploy refused on its input (an unknown ref: nothing changed, CLI exit 5) is no run to count: an alert
    # on the last run's outcome must not fire on a typo.
    counted = written(fleet, "web1")
    typo = fleet.deploy("v9-no-such-ref", "-e", "deploy_hosts=web1")
    assert typo.rc == 2 and "v9-no-such-ref" in typo.output, typo.output[-3000:]
    assert written(fleet, "web1") == counted

    # The file as written on the host: promtool (Debian's prometheus) accepts it, and node_exporter
    # (its own user) can read it.
    checked = subprocess.run(
        [str(PROMTOOL), "check", "metrics"], input=fleet.ssh("web1", f"cat {TEXTFILE}"), capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert fleet.ssh("web1", f"stat -c '%a %U' {TEXTFILE}").split() == ["644", "root"]
