"""Embedded-server throughput: 16 keep-alive clients, distinct voters, recorded votes/s.

Starts ``python -m localserver`` on a fixture dist (or ``--dist``) with a fresh data
dir and the clock inside the window, pre-signs every ballot (so the clients spend
their CPU on sending, not on Ed25519), opens ``--idle`` idle connections (kept open
for the whole run: any the server closes is reopened), then counts 200 "recorded"
answers per second and checks afterwards that the ledger holds every acknowledged
vote and nothing else. The clients play a reverse proxy (``--trusted-proxy
127.0.0.1/32``) for voters spread over many networks, as on a real server, so the
per-network limit sees real traffic rather than one loopback address. The rate is
also reported as a ratio to one core's Ed25519 verify rate, measured in the same run
(the machine is shared: ratios compare, absolute figures drift).

    .venv/bin/python bench/serve_throughput.py [--votes 20000] [--clients 16] [--idle 1000]
        [--server-root DIR]   # another checkout's server, e.g. `git archive main` unpacked
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "functions")]

from ballotbox.core.encoding import b64u_encode  # noqa: E402
from nacl.signing import SigningKey  # noqa: E402

from localserver.secrets import ensure_secrets  # noqa: E402
from tests.votekit import CAMPAIGN_ID, CANDIDATES, write_campaign  # noqa: E402

NOW = "2021-12-30T10:00:00+08:00"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request_bytes(port: int, body: bytes, client_ip: str) -> bytes:
    head = (
        f"POST /api/vote HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nUser-Agent: bench\r\n"
        f"X-Forwarded-For: {client_ip}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def verify_rate(seconds: float = 1.0) -> float:
    """One core's Ed25519 verifications per CPU second (pynacl), measured now.

    CPU time, not wall time: on a shared machine other processes steal the core, and
    a per-CPU-second rate is what the server's own CPU per vote compares with.
    """
    key = SigningKey.generate()
    signed = key.sign(b'{"v":1,"campaign":"bench","candidate":"e01"}')
    verify = key.verify_key.verify
    n = 0
    start = time.process_time()
    while (elapsed := time.process_time() - start) < seconds:
        for _ in range(200):
            verify(signed)
        n += 200
    return n / elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class IdleConnections:
    """``count`` open connections that never send a byte; reopened when the server closes them."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.socks = [self._open() for _ in range(count)]
        self.reopened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, daemon=True)
        self._thread.start()

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        sock.setblocking(False)
        return sock

    def _keep(self) -> None:
        while not self._stop.wait(0.5):
            for i, sock in enumerate(self.socks):
                try:
                    sock.recv(4096, socket.MSG_PEEK)  # a 408, or the end: either way, gone
                    closed = True
                except BlockingIOError:
                    closed = False
                except OSError:
                    closed = True
                if closed:  # the server answered (408) or hung up: open another
                    sock.close()
                    with contextlib.suppress(OSError):
                        self.socks[i] = self._open()
                        self.reopened += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.socks:
            sock.close()


def make_bodies(n: int, campaign_id: str, candidates: list[str]) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        key = SigningKey.generate()
        ballot = json.dumps(
            {
                "v": 1,
                "campaign": campaign_id,
                "candidate": candidates[i % len(candidates)],
                "voter": b64u_encode(bytes(key.verify_key)),
                "nonce": b64u_encode(os.urandom(16)),
                "issued_at": "2021-12-30T02:00:00Z",
            },
            separators=(",", ":"),
        )
        sig = b64u_encode(key.sign(ballot.encode()).signature)
        out.append((ballot, json.dumps({"ballot": ballot, "signature": sig}).encode()))
    return out


def read_response(sock: socket.socket, buf: bytearray) -> tuple[int, bytes]:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed")
        rest += chunk
    buf[:] = rest[length:]
    return status, rest[:length]


def client(port: int, requests: list[bytes], results: list[tuple[int, bytes]]) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    for req in requests:
        sock.sendall(req)
        results.append(read_response(sock, buf))
    sock.close()


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("server exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(100).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server not ready")


def health_answers(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return s.recv(100).startswith(b"HTTP/1.1 200")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--votes", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--dist", type=Path, default=None, help="a built dist/ (default: fixture)")
    parser.add_argument("--idle", type=int, default=1000, help="idle connections held open")
    parser.add_argument("--server-root", type=Path, default=ROOT, help="checkout to serve from")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the idle sockets
    verifies = verify_rate()
    print(f"one core verifies {verifies:,.0f} Ed25519 signatures/s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        secrets = ensure_secrets(data)
        if args.dist is None:
            dist = Path(tmp) / "dist"
            write_campaign(dist, secrets.receipt_public_key_b64)
        else:
            dist = args.dist
        campaign = json.loads((dist / "campaign.json").read_text("utf-8"))
        candidates = [c["id"] for c in campaign["candidates"]] or list(CANDIDATES)
        t0 = time.perf_counter()
        bodies = make_bodies(args.votes, campaign.get("id", CAMPAIGN_ID), candidates)
        print(f"signed {len(bodies)} ballots in {time.perf_counter() - t0:.1f}s", flush=True)
        port = free_port()
        cmd = [sys.executable, "-m", "localserver", str(dist), "--port", str(port)]
        cmd += ["--data", str(data), "--now", NOW]
        helptext = subprocess.run(
            [*cmd[:3], "--help"], cwd=args.server_root, capture_output=True, text=True
        ).stdout
        if "--trusted-proxy" in helptext:
            cmd += ["--trusted-proxy", "127.0.0.1/32"]
        # else: the http.server version, which exempted loopback peers from network limits
        proc = subprocess.Popen(cmd, cwd=args.server_root, stderr=subprocess.DEVNULL)
        idle: IdleConnections | None = None
        try:
            wait_ready(port, proc)
            idle = IdleConnections(port, args.idle)
            # Each client stands for voters on many networks (~250 votes per /24).
            per_client = [
                [
                    request_bytes(port, b, f"10.{i}.{n // 250}.{n % 250 + 1}")
                    for n, (_, b) in enumerate(bodies[i :: args.clients])
                ]
                for i in range(args.clients)
            ]
            results: list[list[tuple[int, bytes]]] = [[] for _ in range(args.clients)]
            threads = [
                threading.Thread(target=client, args=(port, per_client[i], results[i]))
                for i in range(args.clients)
            ]
            cpu_before = cpu_seconds(proc.pid)
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - start
            server_cpu = cpu_seconds(proc.pid) - cpu_before
            health_ok = health_answers(port)
        finally:
            if idle is not None:
                idle.close()
            proc.terminate()
            code = proc.wait(30)
        acked = set()
        statuses: dict[int, int] = {}
        for res in results:
            for status, body in res:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200 and json.loads(body)["status"] == "recorded":
                    acked.add(json.loads(body)["vote_id"])
        db = sqlite3.connect(data / "votes.sqlite3")
        ledger = {row[0] for row in db.execute("SELECT vote_id FROM ledger")}
        caps = db.execute("SELECT COALESCE(SUM(n), 0) FROM caps").fetchone()[0]
        db.close()
        rate = len(acked) / elapsed
        print(f"clients={args.clients} votes={args.votes} idle={args.idle} statuses={statuses}")
        print(f"recorded {len(acked)} in {elapsed:.2f}s = {rate:,.0f} recorded votes/s")
        print(f"= {rate / verifies:.3f} x one core's Ed25519 verify rate")
        per_vote = server_cpu / max(1, len(acked))
        print(
            f"server CPU per recorded vote: {per_vote * 1e6:,.0f} us = "
            f"{per_vote * verifies:.1f} Ed25519 verifies (both in CPU time)"
        )
        if idle is not None:
            print(f"idle connections reopened during the run: {idle.reopened}")
        print(f"health answered with {args.idle} idle connections open: {health_ok}")
        lost = acked - ledger
        extra = ledger - acked
        print(f"ledger={len(ledger)} caps_sum={caps} lost={len(lost)} unacknowledged={len(extra)}")
        print(f"server exit code after SIGTERM: {code}")
        ok = not lost and not extra and caps == len(ledger) and code == 0 and health_ok
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
