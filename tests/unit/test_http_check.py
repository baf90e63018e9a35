"""http_check against a real HTTP server on 127.0.0.1 (cases in cases/http_check.yml)."""

from __future__ import annotations

import collections
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.deployctl.core.plugins.modules import http_check
from tests.unit.conftest import load_cases, run_module


class Handler(BaseHTTPRequestHandler):
    """/up: 200 with a revision; /status/N: status N; /flaky/KEY?fails=N: 503 N times, then 200; /slow."""

    seen: ClassVar[collections.Counter[str]] = collections.Counter()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        code, body = 200, "ok revision abc123"
        if parts[0] == "status":
            code, body = int(parts[1]), f"status {parts[1]}"
        elif parts[0] == "flaky":
            Handler.seen[parts[1]] += 1
            if Handler.seen[parts[1]] <= int(parse_qs(url.query)["fails"][0]):
                code, body = 503, "starting"
        elif parts[0] == "slow":
            time.sleep(1)
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("case", load_cases("http_check"))
def test_http_check(case: dict[str, Any], server: str, closed: str) -> None:
    url = case["url"].format(server=server, closed=closed)
    args = {"url": url, **case.get("args", {})}
    started = time.monotonic()

    result = run_module(http_check, args, check_mode=case.get("check_mode", False))

    took = time.monotonic() - started
    assert {key: result.get(key) for key in case["expect"]} == case["expect"]
    if "msg" in case:
        assert result["msg"] == case["msg"].format(url=url, **result)
    if "attempts" in result:
        assert result["attempts"] >= case.get("min_attempts", 1)
        # No attempt starts after the deadline; the last one may take up to its timeout.
        assert result["elapsed"] <= args.get("deadline", 60) + args.get("timeout", 5)
        assert took < args.get("deadline", 60) + args.get("timeout", 5) + 1
        assert result["changed"] is False
