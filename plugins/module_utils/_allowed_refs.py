# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which refs an environment accepts (deploy_allowed_refs): e.g. only main and release tags to production.

A pipeline deploys `$CI_COMMIT_SHA`, not a branch name, so a commit is allowed when the
ref given matches a pattern or when the commit is on a branch or tag that does (from the
host's mirror, kept as fresh as the fetch left it).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence


def is_allowed(version: str, holders: Iterable[str], patterns: Sequence[str]) -> bool:
    """Whether `version` (the ref asked for) or one of `holders` (refs holding its commit) matches a glob."""
    return any(fnmatch.fnmatchcase(name, pattern) for name in [version, *holders] for pattern in patterns)


def refusal(version: str, commit: str, holders: Sequence[str], patterns: Sequence[str]) -> str:
    """The message for a ref that is not allowed: what was asked, what holds it, what is allowed, the way out."""
    shown = ", ".join(holders[:5]) + (" ..." if len(holders) > 5 else "")
    where = f"its commit is only on {shown}" if holders else "no branch or tag holds its commit"
    return (
        f"ref {version!r} (commit {commit[:12]}) may not be deployed to this environment: deploy_allowed_refs is "
        f"{list(patterns)} and {where}. Deploy a commit of an allowed branch or tag; to deploy this one anyway, "
        "pass -e '{\"deploy_allowed_refs\": []}'"
    )
