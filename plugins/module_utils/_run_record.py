# Copyright: deployctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run record of a sliced deploy: DEPLOY_TO/.deployctl/runs/RUN_ID.json on the coordinator host.

Several ansible-playbook processes (AWX job slices) deploy disjoint hosts of one run at the same
time. Each has its own controller state, so what they must agree on lives here, where all of them
can reach it: the release ID and the commit (the first slice to arrive sets them, the others adopt
them), the outcome of the slice that holds the migrate host (the others wait for it before their
switch), and every host's outcome (a slice that has not switched stops when another failed).

Every change is made under an flock of RUN_ID.lock beside the record, and written atomically.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ansible_collections.deployctl.core.plugins.module_utils._errors import DeployError, InputError
from ansible_collections.deployctl.core.plugins.module_utils._layout import Layout, atomic_write

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# The outcomes (docs/results.md) after which a host did not end on the new release.
FAILED_OUTCOMES = ("reverted", "aborted", "failed", "locked", "invalid")
# What the record keeps of a host's outcome.
REPORTED_KEYS = ("outcome", "stage", "message", "release", "commit", "current")


class RunRecord:
    """One run's record on the coordinator. `where` names it in messages (host:path)."""

    def __init__(self, layout: Layout, run_id: str, coordinator: str = "") -> None:
        if not RUN_ID_PATTERN.fullmatch(run_id):
            raise InputError(
                f"run id {run_id!r} is not valid: use letters, digits, '.', '_' or '-' "
                "(deploy_run_id, else awx_workflow_job_id)"
            )
        self.layout = layout
        self.run_id = run_id
        self.path = layout.run_record(run_id)
        self.coordinator = coordinator
        self.where = f"{coordinator}:{self.path}" if coordinator else self.path

    def read(self) -> dict:
        """The record as it is now ({} before the first slice joined)."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return {}

    @contextmanager
    def changing(self) -> Iterator[dict]:
        """The record under the run's flock; what the caller changes in it is written back atomically."""
        for path, mode in ((self.layout.root, 0o755), (self.layout.meta, 0o700), (self.layout.runs, 0o700)):
            if not os.path.isdir(path):
                os.makedirs(path, mode=mode, exist_ok=True)
        fd = os.open(self.path[: -len(".json")] + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            record = self.read()
            before = json.dumps(record, sort_keys=True)
            yield record
            if json.dumps(record, sort_keys=True) != before:
                atomic_write(self.path, json.dumps(record, indent=2, sort_keys=True) + "\n")
        finally:
            os.close(fd)  # releases the flock

    def join(self, slice_id: str, hosts: list[str], release_id: str, check: bool, ref: str = "") -> tuple[dict, bool]:
        """Create the record with `release_id` and `ref`, or adopt the one there. Returns (record, created).

        Raises DeployError when the record there was made for another ref: the run ID was used before, and
        adopting its record would deploy that run's commit under this run's ref."""
        record = self.read()
        if check:
            self._check_ref(record, ref)
            return record or {"run_id": self.run_id, "release_id": release_id, "commit": "", "ref": ref}, not record
        with self.changing() as record:
            self._check_ref(record, ref)
            created = not record
            if created:
                record.update(
                    run_id=self.run_id, release_id=release_id, ref=ref, commit="", created_at=_now(), hosts={}
                )
            record.setdefault("slices", {})[slice_id] = {"hosts": hosts, "joined_at": _now()}
        return record, created

    def _check_ref(self, record: dict, ref: str) -> None:
        if record and ref and record.get("ref", ref) != ref:
            commit = f" (commit {record['commit'][:12]})" if record.get("commit") else ""
            raise DeployError(
                f"sliced run {self.run_id}: its run record was made for ref {record['ref']}{commit} on "
                f"{record.get('created_at', '?')}, and this slice deploys {ref}: the run ID was used before. Give "
                f"each run its own deploy_run_id (AWX's workflow job ID is). Run record: {self.where}",
                input_error=True,
            )

    def gate(
        self,
        slice_id: str,
        commit: str,
        migrating: bool,
        timeout: int,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> dict:
        """Before this slice's switch: record its commit (the first one sets it, a different one is refused),
        then, unless this slice migrates, wait up to `timeout` seconds for the migrating slice's outcome.
        Raises DeployError when another slice's host failed, the commits differ, or the wait timed out."""
        with self.changing() as record:
            self._check_joined(record)
            if commit and not record.get("commit"):
                record["commit"] = commit
            elif commit and record["commit"] != commit:
                raise DeployError(
                    f"sliced run {self.run_id}: this slice resolved deploy_ref to {commit}, an earlier slice to "
                    f"{record['commit']} (the ref moved between the slices' fetches), so no host of this slice "
                    f"switched. Deploy a tag or a commit to a sliced run. Run record: {self.where}",
                    stage="switch",
                )
        deadline = clock() + timeout
        while True:
            self._stop_on_failures(record, slice_id)
            if migrating or record.get("migration"):
                return record
            if clock() >= deadline:
                raise DeployError(
                    f"sliced run {self.run_id}: waited {timeout} s before the switch for the slice that holds the "
                    "migrate host to finish its deploy, and it has not, so no host of this slice switched "
                    f"(deploy_run_wait_timeout). {self._migrating_slice(record)} Run record: {self.where}",
                    stage="switch",
                )
            sleep(interval)
            record = self.read()

    def report(self, slice_id: str, outcomes: dict[str, dict], migration: dict | None) -> dict:
        """Record this slice's hosts' outcomes and, from the slice that migrates, how the migrations went."""
        with self.changing() as record:
            self._check_joined(record)
            for host, outcome in outcomes.items():
                kept = {key: outcome[key] for key in REPORTED_KEYS if outcome.get(key) not in (None, "")}
                record["hosts"][host] = {"slice": slice_id, **kept}
            if migration is not None:
                record["migration"] = {"slice": slice_id, "at": _now(), **migration}
        return record

    def _migrating_slice(self, record: dict) -> str:
        """Which joined slice holds the migrate host (the coordinator), or that none does: a slice not started, or
        a name no slice's inventory has (a typo in deploy_migrate_host or deploy_run_coordinator.name)."""
        slices = record.get("slices", {})
        holder = [slice_id for slice_id, joined in slices.items() if self.coordinator in joined.get("hosts", [])]
        if holder:
            return f"Slice {holder[0]} holds {self.coordinator}, the migrate host: its job says why it did not report."
        joined = "; ".join(f"slice {key}: {', '.join(value.get('hosts', [])) or '?'}" for key, value in slices.items())
        return (
            f"No slice that joined holds {self.coordinator or 'the migrate host'} ({joined}): either the slice that "
            "holds it never started, or no inventory has a host of that name (deploy_migrate_host, "
            "deploy_run_coordinator.name)."
        )

    def _check_joined(self, record: dict) -> None:
        if not record:
            raise DeployError(f"sliced run {self.run_id}: no run record at {self.where} (no slice joined the run)")

    def _stop_on_failures(self, record: dict, slice_id: str) -> None:
        failed = {
            host: outcome
            for host, outcome in record.get("hosts", {}).items()
            if outcome.get("slice") != slice_id and outcome.get("outcome") in FAILED_OUTCOMES
        }
        if failed:
            what = "; ".join(
                f"{host} (slice {o['slice']}) {o['outcome']} at stage {o.get('stage') or 'unknown'}"
                + (f": {o['message']}" if o.get("message") else "")
                for host, o in sorted(failed.items())
            )
            raise DeployError(
                f"sliced run {self.run_id}: another slice failed before this slice switched, so no host of this "
                f"slice switched: {what}. Run record: {self.where}",
                stage="switch",
            )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
