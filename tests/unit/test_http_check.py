"""http_check against a real HTTP server on 127.0.0.1 (cases in cases/http_check.yml)."""

from __future__ import annotations

import collections
import socket
import ssl
import subprocess
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
        elif parts[0] == "vhost":
            # A name-based virtual host: only shop.example answers 200.
            code = 200 if self.headers.get("Host") == "shop.example" else 404
            body = f"{self.command} for {self.headers.get('Host')}"
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:
        Handler.seen["HEAD"] += 1
        self.do_GET()

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


def test_the_host_header_reaches_a_name_based_virtual_host(server: str) -> None:
    without = run_module(http_check, {"url": f"{server}/vhost", "deadline": 0.5})
    assert (without["failed"], without["status"]) == (True, 404)

    result = run_module(http_check, {"url": f"{server}/vhost", "host": "shop.example", "body_contains": "GET for"})
    assert (result.get("failed"), result["status"], result["body"]) == (None, 200, "GET for shop.example")


def test_a_head_request_is_made_and_cannot_look_for_a_body(server: str) -> None:
    before = Handler.seen["HEAD"]
    result = run_module(http_check, {"url": f"{server}/up", "method": "HEAD"})
    assert (result.get("failed"), result["status"], Handler.seen["HEAD"]) == (None, 200, before + 1)

    refused = run_module(http_check, {"url": f"{server}/up", "method": "HEAD", "body_contains": "abc"})
    assert refused["failed"] is True
    assert refused["msg"] == (
        "a HEAD request gets no body to find the deployed commit in: use GET, "
        "or set deploy_health_expect_revision: false"
    )


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same server over https with a self-signed certificate (made with openssl)."""
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_self_signed_certificate_fails_unless_validate_certs_is_false(https_server: str) -> None:
    checked = run_module(http_check, {"url": f"{https_server}/up", "deadline": 0.5})
    assert checked["failed"] is True and "CERTIFICATE_VERIFY_FAILED" in checked["error"]

    accepted = run_module(http_check, {"url": f"{https_server}/up", "validate_certs": False})
    assert (accepted.get("failed"), accepted["status"]) == (None, 200)


def test_a_port_that_answers_something_other_than_http_is_unhealthy_not_a_crash() -> None:
    # sshd on the health port (a wrong deploy_app_port): its banner is no HTTP status line. That used to
    # raise out of the module after the switch, so that nothing switched back.
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def banner() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n")
                    time.sleep(0.05)

        threading.Thread(target=banner, daemon=True).start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/up"
        result = run_module(http_check, {"url": url, "deadline": 0.5, "interval": 0.1})
    assert result["failed"] is True and result["status"] is None
    assert "not an HTTP answer: BadStatusLine 'SSH-2.0-OpenSSH_9.2p1" in result["msg"], result["msg"]
    assert "is another program on that port?" in result["msg"]
