"""The real local server in a subprocess, over real HTTP on 127.0.0.1.

Every error row, concurrency (the cap and replays), kill -9 durability, clean
shutdown, Beijing midnight with a simulated clock, static files and a bounded fuzz.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import random
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localserver.headers import SECURITY_HEADERS
from localserver.secrets import ensure_secrets
from tests import votekit
from tests.votekit import Voter

ROOT = Path(__file__).resolve().parent.parent
INSIDE = "2021-12-30T10:00:00+08:00"
JSON = {"Content-Type": "application/json"}
PAGE = (
    '<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>投票</title>'
    '<link rel="stylesheet" href="/assets/site.0123abcd.css"></head>'
    '<body class="page"><main><h1>评选</h1>' + "<p>候选项说明。</p>" * 40 + "</main></body></html>"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Headers(dict[str, str]):
    """Response headers looked up case-insensitively (uvicorn writes names in lower case)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__((k.lower(), v) for k, v in pairs)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


@dataclass
class Reply:
    status: int
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Server:
    def __init__(self, root: Path) -> None:
        self.dist = root / "dist"
        self.data = root / "data"
        self.log = root / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        secrets = ensure_secrets(self.data)
        votekit.write_campaign(self.dist, secrets.receipt_public_key_b64)
        (self.dist / "zh").mkdir()
        (self.dist / "assets").mkdir()
        (self.dist / "zh" / "index.html").write_text(PAGE, "utf-8")
        (self.dist / "404.html").write_text(PAGE.replace("评选", "找不到页面"), "utf-8")
        (self.dist / "assets" / "site.0123abcd.css").write_text("body{margin:0}\n" * 40)
        (self.dist / "assets" / "qr.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
        (root / "secret.txt").write_text("outside dist")

    def start(
        self, now: str | None = INSIDE, options: tuple[str, ...] = (), nofile: int | None = None
    ) -> Server:
        """Run the server; ``nofile`` starts it with that open-file soft limit."""
        self.port = free_port()
        cmd = [sys.executable, "-m", "localserver", str(self.dist), "--port", str(self.port)]
        cmd += ["--data", str(self.data)] + (["--now", now] if now else []) + list(options)
        if nofile is not None:
            # prlimit(1) sets the soft limit of the process it starts; the hard one stays.
            cmd = [
                "prlimit",
                f"--nofile={nofile}:{resource.getrlimit(resource.RLIMIT_NOFILE)[1]}",
                *cmd,
            ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stderr=log, stdout=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if self.request("GET", "/api/health").status == 200:
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("server did not become ready")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(20)
        self.proc = None
        return code

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        conn: http.client.HTTPConnection | None = None,
    ) -> Reply:
        own = conn is None
        conn = conn or self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Reply(resp.status, Headers(resp.getheaders()), resp.read())
        finally:
            if own:
                conn.close()

    def vote(self, body: bytes, conn: http.client.HTTPConnection | None = None) -> Reply:
        return self.request("POST", "/api/vote", body, JSON, conn)

    def ledger(self) -> list[tuple[str, str, str, str]]:
        db = sqlite3.connect(self.data / "votes.sqlite3")
        try:
            return db.execute("SELECT vote_id, voter, day, candidate FROM ledger").fetchall()
        finally:
            db.close()

    def caps(self) -> dict[tuple[str, str, str], int]:
        db = sqlite3.connect(self.data / "votes.sqlite3")
        try:
            rows = db.execute("SELECT voter, day, candidate, n FROM caps").fetchall()
        finally:
            db.close()
        return {(v, d, c): n for v, d, c, n in rows}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    srv.start()
    yield srv
    if srv.proc is not None:
        srv.stop(signal.SIGKILL)


def refusal(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    body = reply.json()
    assert body["error"] == code
    assert body["message"]["zh"]
    assert body["message"]["en"]


# -- the error table over real HTTP --------------------------------------------------------


def test_every_row_of_the_error_table(server: Server, tmp_path: Path) -> None:
    voter = Voter()
    first = voter.vote_body("e01", nonce=b"a" * 16)
    ok = server.vote(first)
    assert ok.status == 200
    assert ok.json()["status"] == "recorded"
    assert server.vote(first).json()["status"] == "duplicate"
    refusal(server.vote(b"{not json"), 400, "malformed_request")
    refusal(server.request("GET", "/api/status?voter=nope"), 400, "malformed_request")
    refusal(server.vote(Voter().body_for(voter.ballot_text())), 401, "bad_signature")
    reply = server.request("GET", "/api/vote")
    refusal(reply, 405, "method_not_allowed")
    assert reply.headers["Allow"] == "POST"
    refusal(server.request("GET", "/api/unknown"), 404, "not_found")
    refusal(server.vote(voter.vote_body("e02", nonce=b"a" * 16)), 409, "nonce_reused")
    refusal(server.vote(b"x" * 5000), 413, "payload_too_large")
    big = server.request("POST", "/api/vote", b"x" * 200_000, JSON)  # not even read in full
    refusal(big, 413, "payload_too_large")
    text_plain = {"Content-Type": "text/plain"}
    refusal(server.request("POST", "/api/vote", voter.vote_body(), text_plain), 415,
            "unsupported_media_type")  # fmt: skip
    refusal(server.vote(voter.vote_body("z99")), 422, "unknown_candidate")
    refusal(server.vote(voter.vote_body(campaign_id="other")), 422, "wrong_campaign")
    for _ in range(4):
        assert server.vote(voter.vote_body("h01")).status == 200
    assert server.vote(voter.vote_body("h01")).json()["votes_left_today"] == 0
    refusal(server.vote(voter.vote_body("h01")), 429, "daily_limit_reached")
    # 503: another process holds the database's write lock longer than the server waits.
    blocker = sqlite3.connect(server.data / "votes.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        reply = server.vote(voter.vote_body("e02"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    refusal(reply, 503, "unavailable")
    assert int(reply.headers["Retry-After"]) > 0
    assert server.vote(voter.vote_body("e02")).status == 200  # and it recovers


def test_window_rows_403(tmp_path: Path) -> None:
    srv = Server(tmp_path)
    try:
        srv.start(now="2021-12-28T23:59:50+08:00")
        refusal(srv.vote(Voter().vote_body()), 403, "voting_not_open")
        assert srv.stop() == 0
        srv.start(now="2022-01-10T00:00:00+08:00")
        refusal(srv.vote(Voter().vote_body()), 403, "voting_closed")
        status = srv.request("GET", f"/api/status?voter={Voter().public}").json()
        assert status["state"] == "closed"
    finally:
        if srv.proc is not None:
            srv.stop(signal.SIGKILL)


# -- concurrency ------------------------------------------------------------------------------


def simultaneously(server: Server, bodies: list[bytes]) -> list[Reply]:
    conns = [server.connection() for _ in bodies]
    for c in conns:
        c.connect()
    barrier = threading.Barrier(len(bodies))
    replies: list[Reply | None] = [None] * len(bodies)

    def send(i: int) -> None:
        barrier.wait()
        replies[i] = server.vote(bodies[i], conns[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    assert all(r is not None for r in replies)
    return [r for r in replies if r is not None]


def test_40_simultaneous_votes_record_exactly_5(server: Server) -> None:
    voter = Voter()
    replies = simultaneously(server, [voter.vote_body("e02") for _ in range(40)])
    statuses = sorted(r.status for r in replies)
    assert statuses == [200] * 5 + [429] * 35
    assert sorted(r.json()["votes_left_today"] for r in replies if r.status == 200) == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert len(server.ledger()) == 5
    assert server.caps() == {(voter.public, "2021-12-30", "e02"): 5}


def test_20_simultaneous_replays_record_once(server: Server) -> None:
    body = Voter().vote_body("h01")
    replies = simultaneously(server, [body] * 20)
    assert all(r.status == 200 for r in replies)
    kinds = sorted(r.json()["status"] for r in replies)
    assert kinds == ["duplicate"] * 19 + ["recorded"]
    assert len({r.json()["receipt"] for r in replies}) == 1
    assert len(server.ledger()) == 1


# -- durability and shutdown -------------------------------------------------------------------


def test_kill_9_loses_no_acknowledged_vote(server: Server) -> None:
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        conn = server.connection()
        try:
            while not stop.is_set():
                reply = server.vote(Voter().vote_body(random.choice(votekit.CANDIDATES)), conn)
                if reply.status == 200:
                    with lock:
                        acked.append(reply.json()["vote_id"])
        except (OSError, http.client.HTTPException):
            return  # the server died under us: expected
        finally:
            conn.close()

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(acked) < 300 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 300
    server.start()  # restart on the same data directory
    ledger = server.ledger()
    assert set(acked) <= {row[0] for row in ledger}
    counts: dict[tuple[str, str, str], int] = {}
    for _, voter, day, candidate in ledger:
        counts[(voter, day, candidate)] = counts.get((voter, day, candidate), 0) + 1
    assert server.caps() == counts
    assert server.vote(Voter().vote_body()).status == 200


def test_sigterm_finishes_and_exits_0(server: Server) -> None:
    voter = Voter()
    assert server.vote(voter.vote_body()).status == 200
    conn = server.connection()
    assert server.vote(voter.vote_body(), conn).status == 200  # an idle keep-alive connection
    assert server.stop(signal.SIGTERM) == 0
    conn.close()
    assert "stopped cleanly" in server.log.read_text()
    assert len(server.ledger()) == 2
    with pytest.raises(ConnectionRefusedError):
        server.request("GET", "/api/health")


def test_sigint_exits_0(server: Server) -> None:
    assert server.stop(signal.SIGINT) == 0


# -- the simulated clock -----------------------------------------------------------------------


def test_day_turns_at_beijing_midnight(tmp_path: Path) -> None:
    srv = Server(tmp_path)
    srv.start(now="2021-12-30T23:59:57.500+08:00")
    try:
        voter = Voter()
        replies = [srv.vote(voter.vote_body("e01")) for _ in range(6)]
        before = [r for r in replies if r.status == 200 and r.json()["day"] == "2021-12-30"]
        # The simulated clock runs in real time: these six calls take far less than a second.
        assert len(before) == 5
        assert replies[5].status == 429
        deadline = time.monotonic() + 8
        status = srv.request("GET", f"/api/status?voter={voter.public}").json()
        while status["day"] == "2021-12-30" and time.monotonic() < deadline:
            time.sleep(0.1)
            status = srv.request("GET", f"/api/status?voter={voter.public}").json()
        assert status["day"] == "2021-12-31"
        assert status["now"].startswith("2021-12-31T00:00:0")
        assert status["votes_left"]["e01"] == 5
        after = srv.vote(voter.vote_body("e01")).json()
        assert (after["day"], after["votes_left_today"]) == ("2021-12-31", 4)
        page = srv.request("GET", "/zh/")
        assert b'<body class="page"><aside class="sim-banner" aria-label=' in page.body
        assert b"2021-12-31T00:00:0" in page.body
    finally:
        srv.stop(signal.SIGKILL)


# -- static files --------------------------------------------------------------------------------


def test_static_files(server: Server) -> None:
    page = server.request("GET", "/zh/")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-cache"
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    assert "Strict-Transport-Security" not in page.headers  # plain http://127.0.0.1
    assert b"sim-banner" in page.body  # --now was given
    assert b"style=" not in page.body
    assert b"<script" not in page.body

    moved = server.request("GET", "/zh?x=1")
    assert (moved.status, moved.headers["Location"]) == (301, "/zh/?x=1")
    slashes = server.request("GET", "//zh")  # never a protocol-relative "//zh/"
    assert (slashes.status, slashes.headers["Location"]) == (301, "/zh/")

    zipped = server.request("GET", "/zh/", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.body).startswith(b"<!doctype html>")
    assert len(zipped.body) < len(page.body)

    css = server.request("GET", "/assets/site.0123abcd.css")
    assert css.headers["Content-Type"] == "text/css; charset=utf-8"
    assert "immutable" in css.headers["Cache-Control"]
    svg = server.request("GET", "/assets/qr.svg")
    assert svg.headers["Content-Type"] == "image/svg+xml"
    campaign = server.request("GET", "/campaign.json")
    assert campaign.headers["Cache-Control"] == "no-cache"
    assert campaign.json()["id"] == votekit.CAMPAIGN_ID

    missing = server.request("GET", "/zh/nothing-here/")
    assert missing.status == 404
    assert "找不到页面".encode() in missing.body
    for sneaky in ("/../secret.txt", "/%2e%2e/secret.txt", "/zh/..%2f..%2fsecret.txt", "/%00"):
        reply = server.request("GET", sneaky)
        assert reply.status == 404, sneaky
        assert b"outside dist" not in reply.body
    assert server.request("HEAD", "/zh/").body == b""
    assert server.request("POST", "/zh/", b"x").status == 405
    log = server.log.read_text()
    assert "GET /zh/ 200" in log
    assert "voter=" not in log


# -- fuzz ------------------------------------------------------------------------------------


def test_fuzzed_requests_never_get_a_5xx(server: Server) -> None:
    rng = random.Random(20211229)
    voter = Voter()
    good = voter.vote_body()
    methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "FOO", "TRACE"]
    status = "/api/status?voter="
    paths = ["/api/vote", "/api/status", "/api/health", "/api/", "/api/x", "/", "/zh/", "/%ff",
             status + voter.public, status + "%ff%fe", "/..", "//api/vote"]  # fmt: skip
    ctypes = ["application/json", "application/json; charset=utf-8", "text/plain", "", "a/b; c",
              "application/json; charset=latin-1", "APPLICATION/JSON"]  # fmt: skip

    def body() -> bytes:
        kind = rng.randrange(5)
        if kind == 0:
            return rng.randbytes(rng.randrange(0, 300))
        if kind == 1:
            raw = bytearray(good)
            for _ in range(rng.randrange(1, 6)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            return bytes(raw)
        if kind == 2:
            return json.dumps({"ballot": rng.choice([1, None, "{}", [], "x" * 10]),
                               "signature": rng.choice(["", "AA", 5])}).encode()  # fmt: skip
        if kind == 3:
            return good
        return b"{" * rng.randrange(1, 5000)

    conn = server.connection()
    for _ in range(300):
        headers = {"Content-Type": rng.choice(ctypes), "User-Agent": rng.choice(["", "x" * 300])}
        if rng.random() < 0.2:
            headers["Accept-Encoding"] = rng.choice(["gzip", "*;q=0", "br"])
        method = rng.choice(methods)
        try:
            reply = server.request(method, rng.choice(paths), body(), headers, conn)
        except (OSError, http.client.HTTPException):
            conn.close()  # the server may hang up after a response it cannot frame
            conn = server.connection()
            continue
        assert reply.status < 500, (method, reply.status, reply.body[:200])
    conn.close()
    assert server.request("GET", "/api/health").status == 200
    assert "Traceback" not in server.log.read_text()


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /api/vote HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /api/vote HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"BREW /api/vote HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X-Long: y\r\n" * 200 + b"\r\n",
    ],
)
def test_raw_protocol_abuse_never_gets_a_5xx(server: Server, raw: bytes) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(raw)
        head = s.recv(200)
    if head.startswith(b"HTTP/1."):
        assert not head.split(b" ")[1].startswith(b"5"), head
    else:  # before the version is known, http.server answers HTTP/0.9-style: a bare body
        assert b"Error code: 400" in head, head


def test_secrets_are_private_files(server: Server) -> None:
    for name in ("receipt_key", "hash_key"):
        assert (server.data / name).stat().st_mode & 0o777 == 0o600
    assert os.stat(server.data).st_mode & 0o077 == 0
