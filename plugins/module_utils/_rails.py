# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of a Rails app's release that catch, before the build, what its health check cannot.

A Rails app without its credentials key boots and answers a health route, but every form
fails (no secret_key_base for sessions and CSRF tokens): the key must be found before a
release goes live, not by its users.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

CREDENTIALS = "credentials.yml.enc"  # in config/, as `rails new` makes it
MASTER_KEY_FILE = "config/master.key"
# Environment variables that give Rails its key, or a secret_key_base that does without one.
KEY_VARIABLES = ("RAILS_MASTER_KEY", "SECRET_KEY_BASE")
# An Environment= line setting one of them; the role's unit quotes each assignment ("NAME=VALUE").
KEY_IN_UNIT = re.compile(r'^Environment="?(?:' + "|".join(KEY_VARIABLES) + ")=", re.M)


def missing_master_key(
    config_names: Iterable[str],
    secret_environment: Iterable[str],
    secret_files: Iterable[str],
    shared_files: Iterable[str],
    service_unit: str | None,
) -> str | None:
    """Why the release would run without its credentials key, or None when it has one.

    config_names: file names in the commit's config/ directory (from the mirror). The key
    counts as given by a variable of KEY_VARIABLES in the secret environment or in the
    service unit's Environment= lines, or by config/master.key as a secret file, a shared
    file or a file of the commit.
    """
    names = set(config_names)
    if CREDENTIALS not in names or "master.key" in names:
        return None
    if any(name in KEY_VARIABLES for name in secret_environment):
        return None
    if any(path.strip("/") == MASTER_KEY_FILE for path in [*secret_files, *shared_files]):
        return None
    if service_unit and KEY_IN_UNIT.search(service_unit):
        return None
    return (
        f"the app has config/{CREDENTIALS} but no key to read it: without it Rails boots and passes "
        "the health check, yet every form fails (no secret_key_base). Give the content of config/master.key "
        "from the vault as deploy_secret_environment RAILS_MASTER_KEY (or as deploy_secret_files "
        "config/master.key), or set deploy_require_master_key: false if the app needs no credentials"
    )
