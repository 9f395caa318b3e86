"""``ops.py backup`` under load: restoring the copy loses no vote acknowledged before it began."""

from __future__ import annotations

import http.client
import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.test_serve import JSON, ROOT, Server
from tests.votekit import Voter


def ids_in(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT vote_id FROM ledger")}
    finally:
        conn.close()


def test_a_hot_backup_restores_every_vote_acknowledged_before_it(tmp_path: Path) -> None:
    server = Server(tmp_path / "live").start()
    acked: list[tuple[float, str, bytes]] = []  # (when the answer arrived, vote_id, body)
    stop = threading.Event()

    def voter_loop() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        while not stop.is_set():
            body = Voter().vote_body()
            conn.request("POST", "/api/vote", body, JSON)
            reply = conn.getresponse()
            data = reply.read()
            assert reply.status == 200, data
            acked.append((time.monotonic(), server_vote_id(data), body))
        conn.close()

    clients = [threading.Thread(target=voter_loop) for _ in range(4)]
    for t in clients:
        t.start()
    try:
        while len(acked) < 200:
            time.sleep(0.02)
        began = time.monotonic()
        out = tmp_path / "backups" / "votes-1.sqlite3"
        result = subprocess.run(
            [sys.executable, "ops.py", "backup", "--data", str(server.data), "--out", str(out)],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        ended = time.monotonic()
        time.sleep(0.2)  # votes keep arriving after the copy too
    finally:
        stop.set()
        for t in clients:
            t.join()
    assert result.returncode == 0, result.stderr
    assert "backed up" in result.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    assert not out.with_name(out.name + "-wal").exists()  # one self-contained file
    before = {vote_id for when, vote_id, _ in acked if when < began}
    after = {vote_id for when, vote_id, _ in acked if when > ended}
    assert len(before) >= 200
    assert after  # the server kept recording while and after the copy was made
    copied = ids_in(out)
    assert before <= copied
    assert not after & copied  # a snapshot: nothing acknowledged after it ended
    server.stop()
    assert {vote_id for _, vote_id, _ in acked} == ids_in(server.data / "votes.sqlite3")

    # Restore: the keys (backed up once) and the ledger copy into a fresh data folder.
    restored = Server(tmp_path / "restored")
    for name in ("receipt_key", "hash_key"):
        shutil.copy2(server.data / name, restored.data / name)
    shutil.copy2(out, restored.data / "votes.sqlite3")
    restored.start()
    try:
        assert ids_in(restored.data / "votes.sqlite3") == copied
        first_body = next(body for when, _, body in acked if when < began)
        assert restored.vote(first_body).json()["status"] == "duplicate"  # its receipt kept
        assert restored.vote(Voter().vote_body()).json()["status"] == "recorded"
    finally:
        restored.stop()


def server_vote_id(data: bytes) -> str:
    return str(json.loads(data)["vote_id"])


def test_backup_of_a_missing_ledger_fails_clearly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "ops.py", "backup", "--data", str(tmp_path / "nothing"),
         "--out", str(tmp_path / "b.sqlite3")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "no vote ledger" in result.stderr
    assert not (tmp_path / "nothing").exists()
    assert not (tmp_path / "b.sqlite3").exists()
