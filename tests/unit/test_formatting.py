"""Table-driven checks of release id validation and of the release_line filter (cases/*.yml)."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.deployctl.core.plugins.filter.release_line import FilterModule, release_line
from ansible_collections.deployctl.core.plugins.module_utils._layout import validate_release_id
from tests.unit.conftest import load_cases


@pytest.mark.parametrize("case", load_cases("release_id"))
def test_validate_release_id(case: dict[str, Any]) -> None:
    assert validate_release_id(case["release_id"]) == (None if case.get("valid") else case["message"])


@pytest.mark.parametrize("case", load_cases("release_line"))
def test_release_line(case: dict[str, Any]) -> None:
    assert release_line(case["release"], case.get("rollback_target", "")) == case["line"]


def test_release_line_is_the_collections_filter() -> None:
    assert FilterModule().filters() == {"release_line": release_line}
