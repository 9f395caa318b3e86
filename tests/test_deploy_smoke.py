"""The deploy's closing smoke test against a real HTTP server on loopback.

The server plays the public URL in each state a first deployment meets: working, AWS
China's API Gateway before the ICP whitelist (403 in plain text), CloudFront refusing
the origin, the function without its configuration (503 JSON), a missing asset, a
distribution still settling, and nothing listening at all.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from deploy import smoke
from deploy.errors import DeployError

Route = tuple[int, str, bytes]
HEALTHY: dict[str, Route] = {
    "/api/health": (200, "application/json", b'{"ok":true}'),
    "/api/status": (200, "application/json", b'{"state":"open","now":"","day":"","votes_left":{}}'),
    "/zh/vote/": (200, "text/html; charset=utf-8", b"<!doctype html><title>vote</title>"),
    "/assets/app.3f2a9c1d.js": (200, "text/javascript", b"console.log(1)"),
}


class Site:
    """What the fake public URL answers, editable while it runs."""

    def __init__(self) -> None:
        self.routes: dict[str, Route | Callable[[], Route]] = dict(HEALTHY)
        self.seen: list[str] = []


@pytest.fixture
def site() -> Iterator[tuple[Site, str]]:
    state = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            state.seen.append(self.path)
            route = state.routes.get(path, (404, "text/html", b"<h1>404</h1>"))
            status, content_type, body = route() if callable(route) else route
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads ``state.seen`` instead."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run(url: str, *, china: bool = False, attempts: int = 3) -> list[str]:
    lines: list[str] = []
    smoke.check(
        url,
        page="/zh/vote/",
        asset="/assets/app.3f2a9c1d.js",
        china=china,
        region="cn-northwest-1" if china else "ap-southeast-1",
        say=lines.append,
        attempts=attempts,
        pause_s=0,
        timeout=5,
        sleep=lambda seconds: None,
    )
    return lines


def test_a_working_site_passes_all_four_checks(site: tuple[Site, str]) -> None:
    state, url = site
    lines = run(url)
    assert [line.split()[1] for line in lines] == [
        "/api/health",
        "/api/status",
        "/zh/vote/",
        "/assets/app.3f2a9c1d.js",
    ]
    assert f"/api/status?voter={smoke.PROBE_VOTER}" in state.seen


def test_identity_modes_refusing_a_status_without_credential_still_pass(
    site: tuple[Site, str],
) -> None:
    state, url = site
    refusal = {"error": "credential_missing", "message": {"zh": "…", "en": "…"}}
    state.routes["/api/status"] = (401, "application/json", json.dumps(refusal).encode())
    assert len(run(url)) == 4


def test_china_without_the_api_gateway_icp_whitelist(site: tuple[Site, str]) -> None:
    state, url = site
    state.routes["/api/health"] = (403, "text/plain", b"Forbidden")
    with pytest.raises(smoke.SmokeTestFailed) as failed:
        run(url, china=True)
    message = str(failed.value)
    assert "ICP" in message
    assert "whitelist" in message
    assert "cn-northwest-1" in message
    assert isinstance(failed.value, DeployError)  # deploy prints it and exits 1
    assert state.seen == ["/api/health"]  # a 403 is not retried: waiting will not fix it


def test_global_edge_refusing_the_origin(site: tuple[Site, str]) -> None:
    state, url = site
    state.routes["/api/health"] = (403, "text/html", b"<h1>403 ERROR</h1> cloudfront")
    with pytest.raises(smoke.SmokeTestFailed, match="origin access control"):
        run(url)


def test_a_function_without_its_configuration(site: tuple[Site, str]) -> None:
    state, url = site
    body = b'{"error":"unavailable","message":{"zh":"","en":""}}'
    state.routes["/api/health"] = (503, "application/json", body)
    with pytest.raises(smoke.SmokeTestFailed, match="ConfigErrorAlarm") as failed:
        run(url, attempts=2)
    assert "SSM" in str(failed.value)
    assert state.seen == ["/api/health", "/api/health"]  # 503 may be settling: retried


def test_a_missing_asset(site: tuple[Site, str]) -> None:
    state, url = site
    del state.routes["/assets/app.3f2a9c1d.js"]
    with pytest.raises(smoke.SmokeTestFailed, match="--force-upload"):
        run(url)


def test_a_page_served_as_something_else_fails(site: tuple[Site, str]) -> None:
    state, url = site
    state.routes["/zh/vote/"] = (200, "application/octet-stream", b"<html>")
    with pytest.raises(smoke.SmokeTestFailed, match="/zh/vote/"):
        run(url)


def test_a_distribution_still_settling_is_waited_for(site: tuple[Site, str]) -> None:
    state, url = site
    answers = iter([(502, "text/html", b"Bad gateway"), HEALTHY["/api/health"]])
    state.routes["/api/health"] = lambda: next(answers)
    assert len(run(url)) == 4
    assert state.seen[:2] == ["/api/health", "/api/health"]


def test_nothing_listening_names_the_dns_record() -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(smoke.SmokeTestFailed, match="CNAME"):
        run(f"http://127.0.0.1:{port}/", attempts=1)
