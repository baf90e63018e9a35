"""Hit an app's health route throughout a deploy and tell what its users saw."""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass
class Answer:
    at: float
    status: int | None
    revision: str | None
    # Why no answer came: refused, reset, timeout or the error's own words ('' when one came).
    error: str = ""
    latency: float = 0.0

    @property
    def failed(self) -> bool:
        """What a user counts as a failed request: no answer, or a 5xx."""
        return self.status is None or self.status >= 500


def _kind(err: BaseException) -> str:
    """refused, reset, timeout, or the error's words: what a user's request met instead of an answer."""
    reason = getattr(err, "reason", err)
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timeout"
    if isinstance(reason, ConnectionRefusedError):
        return "refused"
    if isinstance(reason, (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
        return "reset"
    if isinstance(reason, OSError) and reason.errno in (errno.ECONNREFUSED, errno.ECONNRESET):
        return "refused" if reason.errno == errno.ECONNREFUSED else "reset"
    return str(reason) or type(reason).__name__


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
        # Bounded in count and time: it only ever targets our own container. A new connection
        # per request (urllib keeps none), as a user arriving meets the port.
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            status, revision, error = None, None, ""
            sent = time.monotonic()
            try:
                # As long as a browser waits: a request queued in the socket during a restart on a
                # loaded machine may take the new release's whole boot (seconds) to be answered.
                with urllib.request.urlopen(self.url, timeout=30) as response:  # noqa: S310 - our own test host
                    status, revision = response.status, json.loads(response.read()).get("revision")
            except urllib.error.HTTPError as err:
                status = err.code
            except (OSError, ValueError, http.client.HTTPException) as err:
                error = _kind(err)
            done = time.monotonic()
            self.answers.append(Answer(done, status, revision, error, round(done - sent, 3)))
            time.sleep(max(0.0, self.interval - (done - sent)))

    def failures(self) -> list[Answer]:
        return [a for a in self.answers if a.status != 200]

    def failed(self) -> dict[str, int]:
        """Failed requests (no answer or a 5xx) by kind: refused, reset, timeout, 5xx..."""
        counts: dict[str, int] = {}
        for answer in self.answers:
            if answer.failed:
                kind = answer.error or f"{(answer.status or 0) // 100}xx"
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    def worst_latency(self) -> float:
        return max((a.latency for a in self.answers), default=0.0)

    def revisions(self) -> set[str | None]:
        return {a.revision for a in self.answers if a.status == 200}

    def served(self) -> list[str | None]:
        """The revisions served, in order, each run of the same one once: [v1, v2] for one switch."""
        sequence: list[str | None] = []
        for answer in self.answers:
            if answer.status == 200 and (not sequence or sequence[-1] != answer.revision):
                sequence.append(answer.revision)
        return sequence

    def summary(self) -> str:
        return (
            f"{len(self.answers)} requests in {self.answers[-1].at - self.answers[0].at:.1f}s, "
            f"failed {self.failed() or 0}, worst latency {self.worst_latency():.2f}s"
            if self.answers
            else "no requests"
        )

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


@contextlib.contextmanager
def polling(urls: dict[str, str], interval: float = 0.05) -> Iterator[dict[str, HealthPoller]]:
    """One HealthPoller per name (a host), all running while the block runs (~20 requests/s each)."""
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(HealthPoller(url, interval)) for name, url in urls.items()}
