# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The application's configuration file of a release: checked, written, compared.

Its content carries secrets: nothing here logs or returns it.
"""

from __future__ import annotations

import os

from ansible_collections.deployctl.core.plugins.module_utils._errors import InputError
from ansible_collections.deployctl.core.plugins.module_utils._files import read_text
from ansible_collections.deployctl.core.plugins.module_utils._layout import atomic_write
from ansible_collections.deployctl.core.plugins.module_utils._runas import user_ids


def config_owner_and_mode(content: str | None, owner: str, mode: str) -> tuple[int, int]:
    """The owner's uid and the mode (an int) of the config file, checked before staging starts.

    content: the file's content; None when no file is written, and then the owner and
    the mode do not matter: (0, 0). mode: octal text such as "0640". Raises
    UnknownUser (an InputError) for an owner the host does not know, InputError for a
    mode that is not octal from 0 to 07777.
    """
    if content is None:
        return 0, 0
    owner_uid = user_ids(owner)[0]
    try:
        value = int(mode, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o7777:
        raise InputError(f"deploy_config_mode {mode!r} is not an octal file mode such as 0640")
    return owner_uid, value


def write_config(release_dir: str, config_path: str, content: str | None, uid: int, gid: int, mode: int) -> None:
    """Write the config file at `config_path` (relative) in `release_dir`, atomically.

    Nothing is written when `content` is None. Missing parent directories are created
    (mode from the umask, owned by the caller). Raises OSError.
    """
    if content is None:
        return
    path = os.path.join(release_dir, config_path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, content, mode=mode, uid=uid, gid=gid)


def config_matches(release_dir: str, config_path: str, wanted: str | None) -> bool:
    """Whether the config file of the release in `release_dir` is `wanted`.

    wanted None means no config file: it matches a release without one. Raises OSError
    when the file cannot be read.
    """
    return read_text(os.path.join(release_dir, config_path)) == wanted
