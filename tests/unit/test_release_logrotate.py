"""release state=staged: the logrotate rule for shared/log is host setup written by the stage call."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ansible_collections.deployctl.core.plugins.modules import release
from tests.unit.conftest import Upstream, run_module, staged_args

R1, R2 = "20240101T000000Z", "20240102T000000Z"
RULE = "/srv/shop/shared/log/*.log {\n    daily\n    copytruncate\n}\n"


def test_the_rule_is_written_once_root_owned_and_world_readable(
    deploy_to: Path, upstream: Upstream, tmp_path: Path
) -> None:
    rules = tmp_path / "logrotate.d"
    rules.mkdir()
    args = {"logrotate_rule": RULE, "logrotate_path": str(rules / "shop")}

    first = run_module(release, staged_args(deploy_to, upstream, R1, **args))

    rule = rules / "shop"
    assert first["logrotate"] == "installed"
    assert rule.read_text() == RULE
    st = os.stat(rule)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o644, 0, 0)
    assert [p.name for p in rules.iterdir()] == ["shop"], "no temporary file left for logrotate to read"
    second = run_module(release, staged_args(deploy_to, upstream, R2, **args))
    assert second["logrotate"] == "unchanged"


def test_an_edited_rule_is_put_back_and_check_mode_only_says_so(
    deploy_to: Path, upstream: Upstream, tmp_path: Path
) -> None:
    rule = tmp_path / "shop"
    rule.write_text("edited by hand\n")
    args = {"logrotate_rule": RULE, "logrotate_path": str(rule)}

    checked = run_module(release, staged_args(deploy_to, upstream, R1, **args), check_mode=True)
    assert (checked["logrotate"], rule.read_text()) == ("installed", "edited by hand\n")

    run_module(release, staged_args(deploy_to, upstream, R1, **args))
    assert rule.read_text() == RULE


def test_a_host_without_logrotate_gets_no_rule_and_is_told_why(
    deploy_to: Path, upstream: Upstream, tmp_path: Path
) -> None:
    missing = tmp_path / "no-logrotate" / "logrotate.d"
    result = run_module(
        release, staged_args(deploy_to, upstream, R1, logrotate_rule=RULE, logrotate_path=str(missing / "shop"))
    )

    assert result["logrotate"] == f"skipped: the host has no logrotate (no {missing})"
    assert not missing.exists()
    assert result.get("failed") is not True
