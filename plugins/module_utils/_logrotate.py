# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's logrotate rule for the app's shared/log: host setup, written by the stage call.

Unlike the service unit it does not travel with a release (every release writes to the same
shared/log), so it is simply kept as given: written when it differs, left alone otherwise.
"""

from __future__ import annotations

import os

from ansible_collections.deployctl.core.plugins.module_utils._files import read_text
from ansible_collections.deployctl.core.plugins.module_utils._layout import atomic_write

INSTALLED = "installed"
UNCHANGED = "unchanged"
NO_LOGROTATE = "skipped: the host has no logrotate (no {dir})"


def ensure_rule(path: str, content: str, check: bool) -> str:
    """Write `content` at `path` (0644, root:root) unless it is there already.

    Returns INSTALLED (also in check mode, where nothing is written), UNCHANGED, or the
    NO_LOGROTATE text when the rule's directory (/etc/logrotate.d) is missing: a host
    without logrotate gets no rule rather than a directory nothing reads. Raises OSError
    when the rule cannot be read or written.
    """
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        return NO_LOGROTATE.format(dir=directory)
    if read_text(path) == content:
        return UNCHANGED
    if not check:
        atomic_write(path, content, mode=0o644, uid=0, gid=0)
    return INSTALLED
