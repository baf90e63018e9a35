# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible's linear strategy, deciding a skipped task on the controller instead of in a worker."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: linear
short_description: Ansible's linear strategy, with skipped tasks decided without a worker process
description:
  - Runs the play as M(ansible.builtin.linear) does (every host finishes a task before any host starts
    the next), with one difference. Before a task is handed to a worker process for a host, its C(when)
    conditions are evaluated here, with the same variables; when one is false, the task's result for
    that host (skipped, with the condition that was false) is given to Ansible's result queue as a
    worker would give it, and no worker is started. Registered variables, callbacks and events
    (ansible-runner, AWX), C(run_once) and failure handling see the same result.
  - A deploy skips most of its tasks (the features a run does not use, the stages a no-op does not
    need); each skipped task cost about 40 ms on the controller per host (forking a worker and sending
    its result back), more than a second per one-host deploy.
  - Any other task is a worker's, as in M(ansible.builtin.linear). So is a skipped one whose conditions
    cannot be decided here (an error, a warning, a variable only a worker sets), a loop (its conditions
    are per item), or when Ansible's internals this relies on differ from what it expects (then the
    strategy is M(ansible.builtin.linear) itself).
  - Set in deployctl's ansible.cfg (C(strategy = deployctl.core.linear)); C(ANSIBLE_STRATEGY=linear) or a
    play's C(strategy) keyword selects Ansible's own.
version_added: 0.2.0
author: deployctl contributors
"""

import typing as t

from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule
from ansible.utils.display import Display

try:  # ansible-core 2.19's internals (pyproject.toml pins ansible-core <2.20); without them: plain linear
    from ansible._internal._display_utils import DeferredWarningContext
    from ansible._internal._templating._engine import TemplateEngine
    from ansible.executor.task_result import _RawTaskResult

    INTERNALS = True
except ImportError:  # pragma: no cover - another ansible-core
    INTERNALS = False

display = Display()


class StrategyModule(LinearStrategyModule):
    """The linear strategy, skipping a task whose condition is false without starting a worker."""

    def _queue_task(self, host: t.Any, task: t.Any, task_vars: dict[str, t.Any], play_context: t.Any) -> None:
        result = self._skipped_here(task, task_vars)
        if result is None:
            super()._queue_task(host, task, task_vars, play_context)
            return
        # What StrategyBase._queue_task and the worker do with a task's result, without the worker.
        self._queued_task_cache[(host.name, task._uuid)] = {
            "host": host,
            "task": task,
            "task_vars": task_vars,
            "play_context": play_context,
        }
        self._tqm.send_callback("v2_runner_on_start", host, task)
        squashed = task.copy()
        squashed.squash()
        self._final_q.send_task_result(
            _RawTaskResult(host=host, task=task, return_data=result, task_fields=squashed.dump_attrs())
        )
        self._pending_results += 1

    def _skipped_here(self, task: t.Any, task_vars: dict[str, t.Any]) -> dict[str, t.Any] | None:
        """The worker's result for a task whose condition is false here, else None (a worker decides).

        None also when the conditions raise, warn, or loop, or the internals used are missing.
        """
        if not INTERNALS or not task.when or task.loop_with or task.loop is not None:
            return None
        context: dict[str, t.Any] = {}
        try:
            with DeferredWarningContext(variables=task_vars) as warnings:
                false = not task._resolve_conditional(task.when, task_vars, result_context=context)
            if warnings.get_warnings() or warnings.get_deprecation_warnings():
                return None
        except Exception as error:  # any error is the worker's to report, in Ansible's words
            display.debug(f"deployctl.core.linear: leaving {task.get_name()!r} to a worker: {error}")
            return None
        if not false:
            return None
        result = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False", **context}
        task.update_result_no_log(TemplateEngine(loader=self._loader, variables=task_vars), result)
        return result
