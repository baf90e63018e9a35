"""deploy_metrics: the host's deploy metrics file, as node_exporter's textfile collector and
promtool (Debian's prometheus package, unpacked into .cache by the setup) read it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

from ansible_collections.deployctl.core.plugins.modules import deploy_metrics
from tests.unit.conftest import run_module

PROMTOOL = Path(__file__).resolve().parents[2] / ".cache/prometheus/usr/bin/promtool"
R1, R2 = "20261130T100000Z", "20261130T110000Z"


def deploy_to_with_live(tmp_path: Path, release: str) -> Path:
    """DEPLOY_TO with `current` at `release`, whose record names its commit, ref and schema."""
    root = tmp_path / "srv"
    (root / "releases" / release).mkdir(parents=True)
    (root / ".deployctl" / "releases").mkdir(parents=True)
    (root / "current").symlink_to(f"releases/{release}")
    record = {"id": release, "commit": "c0ffee" * 6 + "abcd", "ref": 'v2 "quoted"', "schema_version": "20240102000000"}
    (root / ".deployctl" / "releases" / f"{release}.json").write_text(json.dumps(record))
    return root


def write(root: Path, textfile: Path, outcome: str, release: str, **extra: object) -> dict:
    args = {
        "deploy_to": str(root),
        "textfile_dir": str(textfile),
        "app": "shop",
        "environment": "production",
        "action": "deploy",
        "outcome": outcome,
        "release": release,
        "ref": "v2",
        "started_at": time.time() - 12.5,
        **extra,
    }
    return run_module(deploy_metrics, args)


def samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line[:1] != "#"}


def test_a_deploy_and_a_revert_are_counted_and_the_live_release_is_labelled(tmp_path: Path) -> None:
    root, textfile = deploy_to_with_live(tmp_path, R1), tmp_path / "textfile"
    textfile.mkdir()
    write(root, textfile, "deployed", R1, stages={"fetch": 1.25, "build": 3.5, "switch": 2.0})
    result = write(root, textfile, "reverted", R2)

    assert result["written"] and result["path"] == str(textfile / "deployctl-shop.prom")
    found = samples((textfile / "deployctl-shop.prom").read_text())
    labels = 'app="shop",environment="production",action="deploy"'
    assert found[f'deployctl_runs_total{{{labels},outcome="deployed"}}'] == 1
    assert found[f'deployctl_runs_total{{{labels},outcome="reverted"}}'] == 1
    assert 12.5 <= found[f'deployctl_last_run_duration_seconds{{{labels},outcome="reverted"}}'] < 20
    assert abs(found[f'deployctl_last_run_timestamp_seconds{{{labels},outcome="reverted"}}'] - time.time()) < 10
    # The last run says it was reverted; the live release is still R1 (read from the host, quotes escaped).
    assert found[f'deployctl_last_run_info{{{labels},outcome="reverted",release="{R2}",ref="v2"}}'] == 1
    live = f'release="{R1}",commit="{"c0ffee" * 6}abcd",ref="v2 \\"quoted\\"",schema_version="20240102000000"'
    assert found[f'deployctl_release_info{{app="shop",environment="production",{live}}}'] == 1
    # The stages are the last deploy's that reported them.
    stage = 'deployctl_last_deploy_stage_duration_seconds{app="shop",environment="production",stage="build"}'
    assert found[stage] == 3.5


def test_counters_survive_between_runs_and_the_file_is_world_readable(tmp_path: Path) -> None:
    root, textfile = deploy_to_with_live(tmp_path, R1), tmp_path / "textfile"
    textfile.mkdir()
    for _ in range(3):
        write(root, textfile, "deployed", R1)
    path = textfile / "deployctl-shop.prom"
    labels = 'app="shop",environment="production",action="deploy",outcome="deployed"'
    assert samples(path.read_text())[f"deployctl_runs_total{{{labels}}}"] == 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    # The counters' state is root's alone, and no temp file is left behind.
    assert stat.S_IMODE((root / ".deployctl" / "metrics.json").stat().st_mode) == 0o600
    assert sorted(os.listdir(textfile)) == ["deployctl-shop.prom"]


def test_a_host_without_the_textfile_directory_gets_no_file_and_the_reason(tmp_path: Path) -> None:
    root = deploy_to_with_live(tmp_path, R1)
    result = write(root, tmp_path / "missing", "deployed", R1)
    assert not result["written"] and not result.get("failed")
    assert "does not exist" in result["reason"] and "deploy_metrics_textfile_dir" in result["reason"]
    assert not (tmp_path / "missing").exists()


def test_a_host_without_deployctl_state_gets_a_warning_naming_the_state_not_the_textfile_directory(
    tmp_path: Path,
) -> None:
    # The textfile directory is there; deploy_to/.deployctl is not (removed by hand): that is a
    # failed write worth a warning, not a host without node_exporter.
    root = deploy_to_with_live(tmp_path, R1)
    (tmp_path / "textfile").mkdir()
    for record in (root / ".deployctl" / "releases").iterdir():
        record.unlink()
    (root / ".deployctl" / "releases").rmdir()
    (root / ".deployctl").rmdir()
    result = write(root, tmp_path / "textfile", "deployed", R1)
    assert not result["written"] and not result.get("failed")
    assert "metrics.json" in result["reason"] and "deploy_metrics_textfile_dir" not in result["reason"]


def test_promtool_accepts_the_file(tmp_path: Path) -> None:
    root, textfile = deploy_to_with_live(tmp_path, R1), tmp_path / "textfile"
    textfile.mkdir()
    write(root, textfile, "deployed", R1, stages={"fetch": 1.0, "migrate": 2.0})
    write(root, textfile, "failed", R2)
    checked = subprocess.run(
        [str(PROMTOOL), "check", "metrics"], input=(textfile / "deployctl-shop.prom").read_text(),
        capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
