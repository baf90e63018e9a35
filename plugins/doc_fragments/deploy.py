# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option documentation shared by the deployctl modules."""

from __future__ import annotations


class ModuleDocFragment:
    # deployctl.core.deploy: every module that works under the application's directory.
    DOCUMENTATION = r"""
options:
  deploy_to:
    description: Root directory of the application on the host.
    type: path
    required: true
"""

    # deployctl.core.deploy.journal: the modules that write to the deploy journal.
    JOURNAL = r"""
options:
  host_label:
    description: Name of the host recorded in the journal.
    type: str
    default: ""
"""
