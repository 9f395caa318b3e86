"""What an attack on ``serve`` found (issue 13), each replayed over real sockets.

Every test here failed on the ``http.server`` version: idle connections exhausting
it, a second Content-Length smuggling a request, addresses and tracebacks in the log,
a loopback peer choosing who is limited, error pages without the security headers,
a trickling client holding a thread for ever, and a world-readable ledger.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import sqlite3
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ballotbox.core.privacy import Hasher

from localserver.headers import SECURITY_HEADERS
from localserver.secrets import ensure_secrets
from tests.test_serve import JSON, Server
from tests.votekit import Voter


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path).start(options=("--request-timeout", "2"))
    yield srv
    if srv.proc is not None:
        srv.stop()


def raw(server: Server, data: bytes, timeout: float = 5) -> bytes:
    """Send ``data`` on a fresh connection; everything the server answers before closing."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def head_of(answer: bytes) -> tuple[int, dict[str, str]]:
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in head[1:])
    return int(head[0].split(" ")[1]), {k.lower(): v for k, v in fields.items()}


def assert_secure(headers: dict[str, str]) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers[name.lower()] == value, name


def test_1000_idle_connections_do_not_stop_health_or_a_vote(tmp_path: Path) -> None:
    raise_fd_limit()
    # Started with a soft open-file limit below what 1,000 connections need (the common
    # default is 1,024): the server must raise its own to the hard limit to hold them.
    server = Server(tmp_path).start(nofile=1000)
    idle = []
    try:
        for i in range(1000):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            if i % 2:
                s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")  # a head never finished
            idle.append(s)
        started = time.monotonic()
        assert server.request("GET", "/api/health").status == 200
        health_took = time.monotonic() - started
        started = time.monotonic()
        reply = server.vote(Voter().vote_body())
        vote_took = time.monotonic() - started
        assert reply.status == 200, reply.body
        assert health_took < 1.0, health_took
        assert vote_took < 1.0, vote_took
    finally:
        for s in idle:
            s.close()
        server.stop()


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 5\r\nContent-Length: 5\r\n",
        b"Content-Length: 5\r\nContent-Length: 44\r\n",
        b"Content-Length: 5, 44\r\n",
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ],
)
def test_ambiguous_framing_is_refused_not_smuggled(server: Server, framing: bytes) -> None:
    smuggled = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"0\r\n\r\n" + smuggled
    request = b"POST /api/vote HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    answer = raw(server, request + framing + b"\r\n" + body)
    status, headers = head_of(answer)
    assert status == 400
    assert_secure(headers)
    assert answer.count(b"HTTP/1.1 ") == 1  # nothing after the refusal: no second request
    assert server.ledger() == []


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 17000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Many: y\r\n" * 101 + b"\r\n", 431),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),  # a TLS hello on plain HTTP
    ],
)
def test_the_servers_own_refusals_carry_the_security_headers(
    server: Server, request_bytes: bytes, status: int
) -> None:
    answer = raw(server, request_bytes)
    got, headers = head_of(answer)
    assert got == status
    assert_secure(headers)
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert "请求" in answer.decode()


def test_a_slow_client_is_cut_off_at_the_request_deadline(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        started = time.monotonic()
        answer = b""
        for byte in b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 40:
            try:
                s.sendall(bytes([byte]))
                time.sleep(0.2)  # well inside any per-read timeout: only a deadline stops it
            except OSError:
                break
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                answer += s.recv(4096)
            s.setblocking(True)
            if answer:
                break
        elapsed = time.monotonic() - started
    status, headers = head_of(answer)
    assert status == 408
    assert_secure(headers)
    assert 1.5 < elapsed < 4  # --request-timeout 2: from the first byte, whatever the pace
    # A silent connection (not a single byte) meets the same deadline.
    started = time.monotonic()
    assert head_of(raw(server, b""))[0] == 408
    assert time.monotonic() - started < 4


def test_a_connection_reset_leaves_no_address_or_traceback_in_the_log(server: Server) -> None:
    big = Voter().vote_body()
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        s.sendall(b"POST /api/vote HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        s.sendall(b"Content-Length: %d\r\n\r\n" % (len(big) + 100) + big[:50])
        # SO_LINGER 0: close() sends a TCP reset instead of a FIN.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        s.sendall(b"GET /zh/ HTTP/1.1\r\nHost: x\r\n\r\n")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    assert server.request("GET", "/api/health").status == 200
    server.stop()
    log = server.log.read_text()
    assert "127.0.0.1" not in log.replace(f"http://127.0.0.1:{server.port}/", "")
    assert "Traceback" not in log
    assert "Errno" not in log


def test_request_paths_never_put_control_characters_in_the_log(server: Server) -> None:
    # Raw control bytes in the target: llhttp refuses them (400) before any path is logged.
    refused = raw(server, b"GET /zh/\x1b[2J\x85evil HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head_of(refused)[0] == 400
    # Escaped ones are logged as sent, never decoded: no forged second line.
    forged = (
        b"GET /zh/%1b[2J%0d%0a2021-12-30%20forged HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert head_of(raw(server, forged))[0] == 404
    server.stop()
    text = server.log.read_bytes()
    assert not any((b < 0x20 and b != 0x0A) or b >= 0x7F for b in text), text
    assert b"/zh/%1b[2J%0d%0a2021-12-30%20forged 404" in text


def net_of_recorded(server: Server) -> str:
    db = sqlite3.connect(server.data / "votes.sqlite3")
    try:
        return str(db.execute("SELECT net FROM ledger").fetchone()[0])
    finally:
        db.close()


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(server: Server) -> None:
    spoofed = {**JSON, "X-Forwarded-For": "198.51.100.7"}
    assert server.request("POST", "/api/vote", Voter().vote_body(), spoofed).status == 200
    hasher = Hasher(ensure_secrets(server.data).hash_key)
    assert net_of_recorded(server) == hasher.net("127.0.0.1")


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("203.0.113.9, 198.51.100.7", "198.51.100.7"),  # the left entry is the client's word
        ("198.51.100.7, 10.0.0.2", "198.51.100.7"),  # past a trusted hop (10/8)
        ("::ffff:198.51.100.7", "198.51.100.7"),  # mapped IPv4, unwrapped
        (None, "127.0.0.1"),  # no header: the proxy itself, limited like anyone
    ],
)
def test_x_forwarded_for_from_a_trusted_proxy_is_read_from_the_right(
    tmp_path: Path, forwarded: str | None, client: str
) -> None:
    server = Server(tmp_path).start(
        options=("--trusted-proxy", "127.0.0.1/32", "--trusted-proxy", "10.0.0.0/8")
    )
    try:
        headers = {**JSON, **({"X-Forwarded-For": forwarded} if forwarded else {})}
        assert server.request("POST", "/api/vote", Voter().vote_body(), headers).status == 200
    finally:
        server.stop()
    hasher = Hasher(ensure_secrets(server.data).hash_key)
    assert net_of_recorded(server) == hasher.net(client)


def test_an_ipv4_peer_of_a_dual_stack_socket_is_unwrapped(tmp_path: Path) -> None:
    """``--host ::`` sees an IPv4 proxy as ``::ffff:127.0.0.1``: still the trusted proxy."""
    server = Server(tmp_path).start(options=("--host", "::", "--trusted-proxy", "127.0.0.1/32"))
    try:
        headers = {**JSON, "X-Forwarded-For": "198.51.100.7"}
        assert server.request("POST", "/api/vote", Voter().vote_body(), headers).status == 200
    finally:
        server.stop()
    hasher = Hasher(ensure_secrets(server.data).hash_key)
    assert net_of_recorded(server) == hasher.net("198.51.100.7")


def test_an_existing_open_data_folder_is_made_private(tmp_path: Path) -> None:
    server = Server(tmp_path)
    os.chmod(server.data, 0o755)
    for name in ("receipt_key", "hash_key"):
        os.chmod(server.data / name, 0o644)
    old = os.umask(0o022)
    try:
        server.start()
    finally:
        os.umask(old)
    try:
        assert server.vote(Voter().vote_body()).status == 200
        assert os.stat(server.data).st_mode & 0o777 == 0o700
        names = [
            "receipt_key",
            "hash_key",
            "votes.sqlite3",
            "votes.sqlite3-wal",
            "votes.sqlite3-shm",
        ]
        for name in names:
            assert (server.data / name).stat().st_mode & 0o777 == 0o600, name
    finally:
        server.stop()


def test_a_slow_body_meets_the_same_deadline(server: Server) -> None:
    body = Voter().vote_body()
    head = (
        b"POST /api/vote HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        started = time.monotonic()
        s.sendall(head + body[:10])  # the head at once, then the body trickles
        answer = b""
        for byte in body[10:40]:
            time.sleep(0.2)
            try:
                s.sendall(bytes([byte]))
            except OSError:
                break
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                answer += s.recv(4096)
            s.setblocking(True)
            if answer:
                break
        elapsed = time.monotonic() - started
    assert head_of(answer)[0] == 408
    assert 1.5 < elapsed < 4
    assert server.ledger() == []


def test_connections_beyond_the_limit_get_503_with_the_security_headers(tmp_path: Path) -> None:
    server = Server(tmp_path).start(options=("--max-connections", "8"))
    held = []
    try:
        # The readiness probe's connection is gone; hold the limit's worth open.
        for _ in range(8):
            held.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        time.sleep(0.2)
        status, headers = head_of(raw(server, b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"))
        assert status == 503
        assert_secure(headers)
        assert int(headers["retry-after"]) > 0
        for s in held:
            s.close()
        time.sleep(0.2)
        assert server.request("GET", "/api/health").status == 200  # room again
    finally:
        for s in held:
            s.close()
        server.stop()
