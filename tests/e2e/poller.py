"""Hit an app's health route throughout a deploy and tell what its users saw."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Answer:
    at: float
    status: int | None
    revision: str | None


@dataclass
class HealthPoller:
    url: str
    interval: float = 0.05
    max_seconds: float = 600
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        # Bounded in count and time: it only ever targets our own container.
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            status, revision = None, None
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:  # noqa: S310 - our own test host
                    status, revision = response.status, json.loads(response.read()).get("revision")
            except urllib.error.HTTPError as err:
                status = err.code
            except (OSError, ValueError):
                pass
            self.answers.append(Answer(time.monotonic(), status, revision))
            time.sleep(self.interval)

    def failures(self) -> list[Answer]:
        return [a for a in self.answers if a.status != 200]

    def revisions(self) -> set[str | None]:
        return {a.revision for a in self.answers if a.status == 200}

    def longest(self, bad: Callable[[Answer], bool]) -> float:
        """Seconds of the longest run of answers for which `bad` holds."""
        longest, started = 0.0, None
        for answer in self.answers:
            if bad(answer) and started is None:
                started = answer.at
            elif not bad(answer) and started is not None:
                longest, started = max(longest, answer.at - started), None
        if started is not None:
            longest = max(longest, self.answers[-1].at - started)
        return round(longest, 2)
