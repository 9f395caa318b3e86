"""The HTTP/1.1 connection guard around uvicorn's httptools protocol.

uvicorn parses with llhttp (via httptools), which already refuses the framing tricks
behind request smuggling: a second ``Content-Length``, ``Content-Length`` together
with ``Transfer-Encoding``, a malformed length. What it leaves to the deployment is
added here, per connection, in the event loop (no thread is ever held by a client):

- a **deadline for the whole request**: from its first byte (or the connection's
  opening) until its body is complete. A client that trickles a byte every 29 s is cut
  off when the deadline passes, whatever its pace; idle keep-alive connections are
  closed by uvicorn's keep-alive timeout.
- **bounded connections**: beyond ``max_connections`` a new connection is answered 503
  and closed at once, so file descriptors never run out.
- **bounded heads**: request target ≤ 8 KiB (414), header block ≤ 16 KiB and ≤ 100
  fields (431); llhttp has no limit of its own.
- every refusal carries the same security headers as every other answer (uvicorn
  puts the configured default headers on its responses; ours reuse that list) and a
  short bilingual text, and leaves one log line without the client's address.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from localserver.logs import log

MAX_TARGET = 8 * 1024
MAX_HEAD = 16 * 1024
MAX_FIELDS = 100
LINGER_SECONDS = 1.0

REASONS = {
    400: ("Bad Request", "请求无法解析。", "The request cannot be parsed."),
    408: ("Request Timeout", "请求发送得太慢，连接已关闭。", "The request arrived too slowly."),
    414: ("URI Too Long", "请求地址太长。", "The request target is too long."),
    431: (
        "Request Header Fields Too Large",
        "请求头太大。",
        "The request header fields are too large.",
    ),
    503: ("Service Unavailable", "服务器繁忙，请稍后重试。", "The server is busy; retry shortly."),
}


class _Refuse(Exception):  # a signal out of a parser callback
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request deadline, head limits and a connection cap."""

    #: Set per server by ``guarded_protocol``.
    request_timeout: float = 20.0
    max_connections: int = 4096

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._fields = 0

    # -- deadline -------------------------------------------------------------------

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            # An answer is being written: a 408 cannot interleave with it, so just hang up.
            log(f"request body not complete after {self.request_timeout:g}s: closing")
            self.transport.close()
            return
        # Closing wakes a handler waiting for the body (it sees a disconnect).
        log(f"request not complete after {self.request_timeout:g}s: closing the connection")
        self._refuse(408)

    # -- connection life ------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            log(f"connection refused: {self.max_connections} connections already open")
            self._refuse(503, retry_after=True)
            return
        self._arm()  # a connection that never sends anything is a slow request too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self._arm()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No protocol upgrades here: the request is answered as plain HTTP/1.1
            # and the connection then closes (llhttp stops parsing after an upgrade).
            if self.cycle is not None:
                self.cycle.keep_alive = False
        except httptools.HttpParserError as exc:
            cause = exc.__context__ if isinstance(exc.__context__, _Refuse) else None
            status = cause.status if cause is not None else 400
            log(f"refused a request ({status}): {exc if cause is None else REASONS[status][0]}")
            self._refuse(status)

    def send_400_response(self, msg: str) -> None:
        self._refuse(400)

    # -- parser callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._arm()
        self._head_bytes = 0
        self._fields = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_TARGET:
            raise _Refuse(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        self._fields += 1
        if self._head_bytes > MAX_HEAD or self._fields > MAX_FIELDS:
            raise _Refuse(431)
        super().on_header(name, value)

    def on_message_complete(self) -> None:
        self._disarm()  # the request is in: the rest is our own work
        super().on_message_complete()

    # -- refusals -----------------------------------------------------------------------

    def _refuse(self, status: int, *, retry_after: bool = False) -> None:
        """Answer ``status`` with the security headers, then close the connection."""
        self._disarm()
        reason, zh, en = REASONS[status]
        body = f"{status} {reason}\n{zh}\n{en}\n".encode()
        lines = [f"HTTP/1.1 {status} {reason}\r\n".encode("ascii")]
        lines += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        if retry_after:
            lines.append(b"retry-after: 5\r\n")
        lines += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"cache-control: no-store\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(b"".join(lines))
        transport.pause_reading()
        if transport.can_write_eof():
            # Half-close, then close a moment later: closing at once with the client's
            # next bytes unread would send a TCP reset, which can destroy the answer in
            # the client's buffer before it reads it.
            transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()


def guarded_protocol(request_timeout: float, max_connections: int) -> type[GuardedProtocol]:
    """A protocol class with this server's limits (uvicorn instantiates it per connection)."""

    class Protocol(GuardedProtocol):
        pass

    Protocol.request_timeout = request_timeout
    Protocol.max_connections = max_connections
    return Protocol
