# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failures that module_utils raise and a module reports as its task's failure.

module_utils never fail the task themselves: they raise, and the module turns the
error into `fail_json` at one place, adding what only it knows (for release
state=staged, whether the call created a release).
"""

from __future__ import annotations


class DeployError(Exception):
    """A failure to report as the task's failure, with its message and extra result keys.

    msg: the task's message, final (the module adds no prefix).
    input_error: true when the user can fix it by changing the input and nothing on the
    host was changed yet (the deploy role's exit code 5).
    details: extra keys of the failed result, for example stderr or submodules.
    """

    def __init__(self, msg: str, input_error: bool = False, **details: object) -> None:
        super().__init__(msg)
        self.msg = msg
        self.input_error = input_error
        self.details = details


class InputError(DeployError):
    """Bad input the user can fix; raised before anything on the host was changed."""

    def __init__(self, msg: str, **details: object) -> None:
        super().__init__(msg, input_error=True, **details)
