# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The secret environment of a release: a file that systemd's EnvironmentFile= reads when the
app starts, and that release_command reads for the commands run in the release (build,
migrations, health command), so secrets never travel in a unit file, an argv or a log.

The file is RELEASE/.deployctl-environment, mode 0600, owned by root: systemd reads it as
root before it starts the app as the app user. Its content carries secrets: nothing here
logs or returns it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from ansible_collections.deployctl.core.plugins.module_utils._errors import InputError

FILE_NAME = ".deployctl-environment"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# In a double-quoted value systemd removes the backslash before these characters (and only these).
_ESCAPED = re.compile(r'([\\"$`])')


def render(values: Mapping[str, object]) -> str:
    """The file's text: one NAME="value" line per variable, sorted by name, escaped so that
    systemd (and parse()) read each value back unchanged, newlines and `%` included (an
    environment file has no specifiers). Raises InputError for a name that is not a
    variable name.
    """
    bad = [name for name in values if not _NAME.match(str(name))]
    if bad:
        raise InputError(
            f"deploy_secret_environment: {', '.join(map(repr, bad))} cannot be the name of an environment variable "
            "(letters, digits and _, not starting with a digit)"
        )
    return "".join(f'{name}="{_escape(str(values[name]))}"\n' for name in sorted(values))


def _escape(value: str) -> str:
    return _ESCAPED.sub(lambda match: "\\" + match.group(1), value)


def parse(text: str) -> dict[str, str]:
    """The variables of a file written by render(). Raises ValueError for any other text."""
    values: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        equals = text.index("=", pos)
        if text[equals + 1] != '"':
            raise ValueError(f"not a file written by deployctl: no quote after {text[pos:equals]}=")
        value, end = [], equals + 2
        while text[end] != '"':
            if text[end] == "\\":
                end += 1
            value.append(text[end])
            end += 1
        values[text[pos:equals]] = "".join(value)
        pos = end + 2  # the closing quote and the newline
    return values


def read(release_dir: str) -> dict[str, str]:
    """The secret environment of the release in `release_dir`; {} when it has none. Raises OSError, ValueError."""
    try:
        with open(os.path.join(release_dir, FILE_NAME), encoding="utf-8") as handle:
            return parse(handle.read())
    except FileNotFoundError:
        return {}
