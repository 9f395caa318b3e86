"""``build.py serve``: one port for ``dist/`` and ``/api/*``, the SQLite store under ``--data``.

A thin adapter: HTTP/1.1 keep-alive sockets in, ``ballotbox.http.Request`` to the
same sans-I/O API as the Lambda function, static files from ``localserver.static``.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
import time
import traceback
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from ballotbox.core.ballot import MAX_BODY
from ballotbox.core.campaign import Campaign
from ballotbox.core.clock import beijing_iso
from ballotbox.core.errors import MalformedRequest
from ballotbox.core.privacy import Hasher
from ballotbox.core.signature import Signer
from ballotbox.http import Api, Request, Response, error_response, unavailable_response
from ballotbox.stores.sqlite import DEFAULT_FILENAME, SqliteStore

from localserver.clock import Clock, make_clock
from localserver.headers import security_headers
from localserver.identity import client_of, pow_setting, wechat_client
from localserver.secrets import ensure_secrets, read_wechat_secret
from localserver.static import StaticSite, sim_banner
from localserver.wechat_refresher import start_share

DRAIN_SECONDS = 10.0
DISCARD_LIMIT = 64 * 1024  # an oversized body is read (to answer cleanly) up to this much


def log(message: str) -> None:
    sys.stderr.write(message + "\n")  # stderr is line-buffered: one write per line


class _InFlight:
    """Counts requests being answered, so shutdown can wait for them."""

    def __init__(self) -> None:
        self._n = 0
        self._cond = threading.Condition()

    def __enter__(self) -> None:
        with self._cond:
            self._n += 1

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._n -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._n == 0, timeout)


class VoteServer(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not block exit
    request_queue_size = 128  # 16+ clients connecting at once must not wait for SYN retries

    def __init__(
        self, address: tuple[str, int], *, api: Api, site: StaticSite, clock: Clock
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, VoteHandler)
        self.api = api
        self.site = site
        self.clock = clock
        self.https = False  # this server only speaks plain HTTP (so: no HSTS)
        self.base_headers = security_headers(https=self.https)
        self.in_flight = _InFlight()
        self.draining = False


class VoteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "topn-vote"
    sys_version = ""

    def version_string(self) -> str:
        return self.server_version

    disable_nagle_algorithm = True
    wbufsize = 64 * 1024  # headers and body leave in one write, flushed per request
    timeout = 30  # an idle keep-alive connection is closed after this long
    server: VoteServer

    def __getattr__(self, name: str) -> Any:
        # Every method, even an invented one, gets an answer from us (a 405 or a
        # static answer) rather than http.server's 501: no input may cause a 5xx.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server answers requests it cannot parse itself, e.g. 505 for "HTTP/9.9"
        # or 501 for odd methods: those are the client's mistakes, so they become 400s.
        if code >= 500 and code != 503:
            code, message, explain = 400, "Bad Request", None
        super().send_error(code, message, explain)

    # -- logging: one line per request, no IP, no query string (it may hold a key) --

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        started = getattr(self, "_started", None)
        ms = f"{(time.perf_counter() - started) * 1000:.1f}ms" if started else "-"
        path = urlsplit(getattr(self, "path", "") or "").path
        log(f"{self.log_date_time_string()} {self.command} {path} {code} {ms}")

    def log_message(self, format: str, *args: Any) -> None:
        log(f"{self.log_date_time_string()} {format % args}")

    # -- dispatch -----------------------------------------------------------------

    def _dispatch(self) -> None:
        self._started = time.perf_counter()
        with self.server.in_flight:
            if self.server.draining:
                self.close_connection = True
            url = urlsplit(self.path)
            if url.path == "/api" or url.path.startswith("/api/"):
                self._send(self._api(url.path, url.query))
            else:
                self._static(url.path, url.query)

    def _read_body(self) -> bytes | Response:
        if self.headers.get("Transfer-Encoding", "identity").lower() != "identity":
            self.close_connection = True  # no chunked uploads: answer, then hang up
            return b""
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
            if length < 0 or not raw.strip().isdigit():
                raise ValueError(raw)
        except ValueError:
            self.close_connection = True  # the stream's framing is unknown from here on
            return error_response(MalformedRequest("bad Content-Length"), "unknown")
        if length > MAX_BODY:
            if length > DISCARD_LIMIT:
                self.close_connection = True
                return self.rfile.read(MAX_BODY + 1)
            return self.rfile.read(length)[: MAX_BODY + 1]
        return self.rfile.read(length)

    def _api(self, path: str, query: str) -> Response:
        body = self._read_body()
        if isinstance(body, Response):
            return body
        # The socket peer; X-Forwarded-For only from a local reverse proxy (see identity).
        client_ip, exempt = client_of(self.client_address[0], self.headers.get("X-Forwarded-For"))
        request = Request(
            method=self.command,
            path=path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client_ip=client_ip,
            limit_exempt=exempt,
        )
        try:
            return self.server.api.handle(request)
        except Exception:  # noqa: BLE001 - top-level boundary: log the bug, answer 503
            log("unexpected error while answering " + path + "\n" + traceback.format_exc())
            return unavailable_response()

    def _static(self, path: str, query: str) -> None:
        if self.command not in ("GET", "HEAD"):
            body = self._read_body()  # keep the connection's framing intact
            payload = b"405 Method Not Allowed\n"
            headers = {"Content-Type": "text/plain; charset=utf-8", "Allow": "GET, HEAD"}
            if isinstance(body, Response):
                self._send(body)
                return
            self._write(405, headers, payload)
            return
        clock = self.server.clock
        banner = sim_banner(beijing_iso(clock.now())) if clock.simulated else None
        answer = self.server.site.answer(
            path, query, accept_encoding=self.headers.get("Accept-Encoding"), banner=banner
        )
        self._write(answer.status, answer.headers, answer.body)

    def _send(self, response: Response) -> None:
        self._write(response.status, response.headers, response.body)

    def _write(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in {**self.server.base_headers, **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def load_campaign(dist: Path) -> Campaign:
    return Campaign.from_dict(json.loads((dist / "campaign.json").read_text("utf-8")))


def run(dist: Path, *, host: str, port: int, data_dir: Path, now: datetime | None) -> int:
    """Serve until SIGINT/SIGTERM, then finish in-flight requests, close the store, return 0."""
    campaign = load_campaign(dist)
    secrets = ensure_secrets(data_dir)
    signer = Signer(secrets.receipt_seed)
    if campaign.receipt_key and campaign.receipt_key != signer.public_key_b64:
        log(
            f"warning: {dist / 'campaign.json'} has receipt_key {campaign.receipt_key}, "
            f"but the key in {data_dir} is {signer.public_key_b64}: receipts will not verify"
        )
    clock = make_clock(now)
    # A vote that waits more than 2 s for the write lock gets a 503 and retries
    # rather than holding a phone on a spinner (the lock is only ever held by other
    # processes, e.g. a manual sqlite3 session: this server has a single writer).
    store = SqliteStore(data_dir / DEFAULT_FILENAME, busy_timeout_ms=2000)
    policy = campaign.identity
    wechat = wechat_client(policy.wechat_appid, read_wechat_secret(data_dir))
    if policy.mode == "wechat" and wechat is None:
        log(f"warning: wechat mode, but no AppSecret in {data_dir}/wechat_secret: sign-ins get 503")
    share = start_share(dist, data_dir)  # WeChat share cards, when the campaign has them
    api = Api(
        campaign=campaign,
        signer=signer,
        hasher=Hasher(secrets.hash_key),
        store=store,
        clock=clock.now,
        pow_bits=pow_setting(data_dir, policy.pow_bits),
        wechat=wechat,
        jssdk=share[0] if share else None,
    )
    server = VoteServer((host, port), api=api, site=StaticSite(dist), clock=clock)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, so it cannot run on the
        # thread that serves; a helper thread asks and the signal handler returns.
        threading.Thread(target=server.shutdown, name="shutdown").start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    bound_port = server.server_address[1]
    clock_note = f" (simulated clock from {now.isoformat()})" if now else ""
    log(f"Serving {dist} on http://{host}:{bound_port}/{clock_note}; Ctrl-C stops")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.draining = True
        server.server_close()  # stop accepting
        if not server.in_flight.wait_idle(DRAIN_SECONDS):
            log("warning: requests still running after the drain deadline")
        store.close()  # commits what is queued, then closes every connection
        if share:
            share[1].stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log("stopped cleanly")
    return 0
