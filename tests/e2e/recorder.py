"""A local HTTP server that records every request: stands in for Grafana, Sentry and a webhook
receiver (none of them runs here). It answers Sentry's API with the JSON sentry-cli expects,
everything else with `{}`, or 500 to every request while `failing` is set (its answer then
echoes the request's credential, to show that the caller masks it).

    with Recorder() as rec:
        ... point the receivers at rec.url ...
        rec.calls  # [Call(method, path, headers, body), ...]
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


def release(version: str) -> dict[str, Any]:
    """A Sentry release as its API returns one (the fields sentry-cli reads)."""
    return {
        "version": version,
        "shortVersion": version[:12],
        "url": None,
        "dateCreated": "2026-01-01T00:00:00Z",
        "dateReleased": None,
        "lastEvent": None,
        "newGroups": 0,
        "projects": [{"slug": "sample", "name": "sample"}],
        "lastCommit": None,
        "lastDeploy": None,
        "authors": [],
        "commitCount": 0,
        "ref": None,
        "data": {},
    }


# Sentry's API (/api/0/...): what sentry-cli sends, and the answer it parses.
RELEASES = re.compile(r"^/api/0/(?:organizations|projects)/[^/]+/(?:[^/]+/)?releases/(?:(?P<version>[^/]+)/)?$")
DEPLOYS = re.compile(r"^/api/0/organizations/[^/]+/releases/(?P<version>[^/]+)/deploys/$")
REPOS = re.compile(r"^/api/0/organizations/[^/]+/repos/$")


def sentry_answer(method: str, path: str, body: Any) -> Any:
    if REPOS.match(path):
        return [
            {
                "id": "1",
                "name": "acme/sample",
                "url": None,
                "provider": {"id": "github", "name": "GitHub"},
                "status": "active",
                "dateCreated": "2026-01-01T00:00:00Z",
            }
        ]
    match = DEPLOYS.match(path)
    if match:
        return {
            "id": "1",
            "environment": (body or {}).get("environment", ""),
            "name": (body or {}).get("name"),
            "url": None,
            "dateStarted": None,
            "dateFinished": "2026-01-01T00:00:00Z",
        }
    match = RELEASES.match(path)
    if match:
        version = match.group("version") or (body or {}).get("version", "")
        return release(version)
    return {}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failing = False
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.calls.append(Call(self.command, self.path, dict(self.headers.items()), body))
                if recorder.failing:
                    # Echoes the credential, as a careless receiver might: the caller must mask it.
                    said = self.headers.get("Authorization") or self.headers.get("X-Deploy-Secret") or ""
                    status, answer = 500, {"detail": f"recorder: told to fail ({said})"}
                else:
                    try:
                        parsed = json.loads(body) if body else None
                    except ValueError:
                        parsed = None
                    status, answer = 200, sentry_answer(self.command, self.path.split("?")[0], parsed)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def take(self) -> list[Call]:
        """The calls so far, forgetting them."""
        calls, self.calls = self.calls, []
        return calls
