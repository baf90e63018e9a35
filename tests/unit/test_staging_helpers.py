"""The module_utils behind release state=staged raise DeployError and InputError; the module reports them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.deployctl.core.plugins.module_utils._config_file import config_owner_and_mode
from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError, InputError
from ansible_collections.deployctl.core.plugins.module_utils._files import free_mib, read_text
from ansible_collections.deployctl.core.plugins.module_utils._mirror import MirrorError
from ansible_collections.deployctl.core.plugins.module_utils._runas import UnknownUser, user_ids
from ansible_collections.deployctl.core.plugins.module_utils._shared import shared_paths
from ansible_collections.deployctl.core.plugins.modules import release
from tests.unit.conftest import Upstream, deploy, run_module, staged_args

R1, R2 = "20240101T000000Z", "20240102T000000Z"


def test_a_bad_shared_path_raises_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        shared_paths(str(tmp_path), ["log", "../x"], [])

    assert (raised.value.msg, raised.value.input_error, raised.value.details) == (
        "shared path '../x' must be relative to the release, without '..'",
        True,
        {},
    )


def test_shared_paths_are_relative_directories_first(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "master.key").write_text("key\n")

    paths = shared_paths(str(tmp_path), ["/log/", "tmp/pids"], ["config/master.key"])

    assert paths == [("log", True), ("tmp/pids", True), ("config/master.key", False)]


def test_an_unknown_user_is_an_input_error() -> None:
    with pytest.raises(UnknownUser) as raised:
        user_ids("no-such-user-here")

    assert isinstance(raised.value, InputError)
    assert raised.value.msg.startswith("user 'no-such-user-here' does not exist on the host")


def test_config_owner_and_mode_are_checked_only_for_a_config() -> None:
    assert config_owner_and_mode(None, "no-such-user-here", "x") == (0, 0)
    assert config_owner_and_mode("a: 1\n", "root", "0640") == (0, 0o640)
    with pytest.raises(InputError, match="not an octal file mode"):
        config_owner_and_mode("a: 1\n", "root", "0999")


def test_a_mirror_error_is_a_deploy_error_with_git_stderr() -> None:
    err = MirrorError("cannot fetch x", "fatal: no such repository", input_error=False)

    assert isinstance(err, DeployError)
    assert (err.msg, err.input_error, err.details) == ("cannot fetch x", False, {"stderr": "fatal: no such repository"})


def test_read_text_of_a_missing_or_non_utf8_file(tmp_path: Path) -> None:
    (tmp_path / "latin1").write_bytes(b"caf\xe9\n")

    assert read_text(str(tmp_path / "missing")) is None
    assert read_text(str(tmp_path / "latin1")) == "caf\ufffd\n"


def test_free_mib_of_a_directory_not_created_yet(tmp_path: Path) -> None:
    assert free_mib(str(tmp_path / "srv" / "shop")) > 0


def test_a_live_config_that_is_not_utf8_differs(deploy_to: Path, upstream: Upstream) -> None:
    deploy(deploy_to, upstream, R1, config_content="x: 1\n")
    (deploy_to / "releases" / R1 / "config" / "production.yml").write_bytes(b"x: \xff\n")

    result = run_module(release, staged_args(deploy_to, upstream, R2, config_content="x: 1\n"))

    assert not result.get("failed"), result["msg"]
    assert (result["already_live"], result["release_id"]) == (False, R2)
