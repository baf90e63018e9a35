"""The unit file's Environment= lines: systemd must read back exactly the value given."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.deployctl.core.plugins.filter.systemd_environment import systemd_environment


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("RAILS_ENV", "production", '"RAILS_ENV=production"'),
        ("PORT", 3000, '"PORT=3000"'),
        # A URL-encoded password: systemd would read %4 as an unknown specifier and reject the line.
        ("DATABASE_URL", "postgres://app:p%40ss@db/app", '"DATABASE_URL=postgres://app:p%%40ss@db/app"'),
        ("GREETING", 'say "hi" \\ bye', '"GREETING=say \\"hi\\" \\\\ bye"'),
        ("SPACED", "a b  c", '"SPACED=a b  c"'),
        ("EMPTY", "", '"EMPTY="'),
    ],
)
def test_values_are_quoted_and_escaped_for_systemd(name: str, value: object, line: str) -> None:
    assert systemd_environment(name, value) == line


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("BAD-NAME", "x", "'BAD-NAME' is not a valid environment variable name"),
        ("1ST", "x", "'1ST' is not a valid environment variable name"),
        ("KEY", "two\nlines", "the value of KEY has a line break"),
    ],
)
def test_what_a_unit_line_cannot_hold_is_refused_by_name(name: str, value: str, problem: str) -> None:
    with pytest.raises(AnsibleFilterError, match=problem):
        systemd_environment(name, value)
