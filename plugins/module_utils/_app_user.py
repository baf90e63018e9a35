# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app user, created by release state=staged (app_user_create) when the host lacks it.

It is what `ansible.builtin.user` with `system: true`, `shell: /usr/sbin/nologin` and
`create_home: true` did in a task of its own: a system user with a home, who cannot log
in, whose primary group has its name. Done in the staging call, it costs no round trip
when the user exists, which is every deploy but the first.
"""

from __future__ import annotations

import grp
import pwd
import re

from ansible_collections.deployctl.core.plugins.module_utils._commands import call_tool
from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError, InputError

# What useradd accepts at the most (shadow's is_valid_user_name): letters, digits, "_", "."
# and "-", not "-" first, not only digits, at most 32 characters. A stricter useradd
# (Debian's NAME_REGEX) may still refuse such a name: then its own error is reported.
USER_NAME = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}")
NOLOGIN = "/usr/sbin/nologin"
USERADD_TIMEOUT = 60
# The stage a failure to create the user is reported at (the deploy role's report).
STAGE = "setup"


def ensure_app_user(name: str, check: bool) -> bool | str:
    """Create `name` as a system user when the host has no such user; say whether it did.

    Returns False when the user exists, True when it was created, "would" in check mode
    when it would be. Its group is a new group of the same name, or the existing group of
    that name. Raises InputError (with `stage` setup) for a name that cannot be a user
    name, before anything is run; DeployError (with `stage` setup, useradd's `rc` and
    `stderr`) when useradd fails.
    """
    if not USER_NAME.fullmatch(name) or name.isdigit() or name in (".", ".."):
        raise InputError(
            f"invalid app user name {name!r}: a user name has only letters, digits, '_', '.' and '-', "
            "does not start with '-', is not only digits and has at most 32 characters; nothing was changed",
            stage=STAGE,
        )
    try:
        pwd.getpwnam(name)
    except KeyError:
        pass
    else:
        return False
    if check:
        return "would"
    try:
        grp.getgrnam(name)
    except KeyError:
        group = ["--user-group"]
    else:
        group = ["--gid", name]
    argv = ["useradd", "--system", "--create-home", "--shell", NOLOGIN, *group, name]
    try:
        call_tool(argv, USERADD_TIMEOUT, f"create the app user {name!r}")
    except DeployError as err:
        raise DeployError(err.msg, input_error=False, **err.details, stage=STAGE) from err
    return True
