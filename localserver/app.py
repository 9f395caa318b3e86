"""The ASGI adapter: uvicorn's requests in, the sans-I/O ``Api`` and ``StaticSite`` out.

Both are blocking code (the SQLite group commit waits for its batch), so each request
runs in a thread pool; the event loop only moves bytes. Every answer gets the security
headers from uvicorn's default headers (configured in ``server``), so they are on
errors as well as pages. One access line per request: method, escaped path (no query
string: it may hold a key), status, milliseconds; never the client's address.
"""

from __future__ import annotations

import asyncio
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ballotbox.core.ballot import MAX_BODY
from ballotbox.core.clock import beijing_iso
from ballotbox.http import Api, Request, Response, unavailable_response

from localserver.clock import Clock
from localserver.logs import log
from localserver.proxy import TrustedProxies
from localserver.static import StaticSite, sim_banner

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Gone(Exception):  # control flow: the client hung up mid-body
    pass


class VoteApp:
    def __init__(
        self,
        *,
        api: Api,
        site: StaticSite,
        clock: Clock,
        proxies: TrustedProxies,
        pool: ThreadPoolExecutor,
    ) -> None:
        self.api = api
        self.site = site
        self.clock = clock
        self.proxies = proxies
        self.pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off; websockets are not served
        started = time.perf_counter()
        method: str = scope["method"]
        # The raw target, as the client sent it: routing and the static resolver
        # decode it themselves (one decoding, so "%2e%2e" cannot slip past a check).
        path = scope["raw_path"].decode("latin-1")
        query = scope["query_string"].decode("latin-1")
        headers: dict[str, str] = {}
        forwarded: list[str] = []
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            if name == "x-forwarded-for":
                forwarded.append(value)
            # Repeated fields join with ", " (RFC 9110 5.3).
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        is_api = path == "/api" or path.startswith("/api/")
        body = b""
        if is_api or method not in ("GET", "HEAD"):
            try:
                body = await _read_body(receive)
            except _Gone:
                log(f"{method} {path} client gone before its body arrived")
                return
        peer = scope["client"][0] if scope.get("client") else ""
        loop = asyncio.get_running_loop()
        if is_api:
            request = Request(
                method=method,
                path=path,
                query=query,
                headers=headers,
                body=body,
                client_ip=self.proxies.client(peer, forwarded),
            )
            response = await loop.run_in_executor(self.pool, self._api, request)
        else:
            response = await loop.run_in_executor(
                self.pool, self._static, method, path, query, headers, body
            )
        extra = {"Content-Length": str(len(response.body))}
        if len(body) > MAX_BODY:
            extra["Connection"] = "close"  # the rest of an oversized body is not read
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in {**response.headers, **extra}.items()
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})
        ms = (time.perf_counter() - started) * 1000
        log(f"{method} {path} {response.status} {ms:.1f}ms")

    def _api(self, request: Request) -> Response:
        try:
            return self.api.handle(request)
        except Exception as exc:  # noqa: BLE001 - top-level boundary: a deliberate 503
            # The error's kind and where it happened, never its values (no traceback).
            where = traceback.extract_tb(sys.exc_info()[2])[-1]
            log(
                f"unexpected {type(exc).__name__} answering {request.path} "
                f"at {where.filename}:{where.lineno}"
            )
            return unavailable_response()

    def _static(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response:
        if method not in ("GET", "HEAD"):
            text = "405 Method Not Allowed\n不支持此请求方法。\n".encode()
            allow = {"Content-Type": "text/plain; charset=utf-8", "Allow": "GET, HEAD"}
            return Response(405, allow, text)
        clock = self.clock
        banner = sim_banner(beijing_iso(clock.now())) if clock.simulated else None
        answer = self.site.answer(
            path,
            query,
            accept_encoding=headers.get("accept-encoding"),
            banner=banner,
        )
        return Response(answer.status, answer.headers, answer.body)


async def _read_body(receive: Receive) -> bytes:
    """The request body, read up to one byte past ``MAX_BODY`` (enough to refuse it)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY or not message.get("more_body", False):
            return b"".join(chunks)
