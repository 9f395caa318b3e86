"""The embedded store: SQLite in WAL mode with group commit.

Why group commit: with ``synchronous=FULL`` every commit waits for an fsync of the
WAL, and an fsync costs about as much as a thousand vote decisions. One writer thread
therefore drains the queue of pending votes into one ``BEGIN IMMEDIATE`` transaction
per batch; each vote is still decided on its own by conditional statements inside
that transaction (under a savepoint), and each caller is answered only after the
batch has committed, so an acknowledged vote is always on disk.

Readers (``votes_used``, ``iter_votes``) use their own connections: WAL lets them
read a consistent snapshot without ever waiting for the writer.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ballotbox.core.errors import DailyLimitReached, NonceReused, Unavailable, VoteError
from ballotbox.core.store import RecordOutcome, VoteRecord

SCHEMA_VERSION = 2
#: The ledger's file name inside a data directory (``serve --data``, ``export --data``).
DEFAULT_FILENAME = "votes.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY,          -- insertion order, for streaming exports
    vote_id TEXT NOT NULL UNIQUE,
    voter TEXT NOT NULL,
    nonce TEXT NOT NULL,
    candidate TEXT NOT NULL,
    day TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    ballot TEXT NOT NULL,
    signature TEXT NOT NULL,
    receipt TEXT NOT NULL,
    receipt_signature TEXT NOT NULL,
    net TEXT NOT NULL,
    ua TEXT NOT NULL,
    identity TEXT NOT NULL DEFAULT 'device',
    person TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'the vote ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'the vote ledger is append-only'); END;
CREATE TABLE IF NOT EXISTS caps (
    voter TEXT NOT NULL,              -- the cap subject: the voter key, or the wechat person
    day TEXT NOT NULL,
    candidate TEXT NOT NULL,
    n INTEGER NOT NULL CHECK (n >= 1),
    PRIMARY KEY (voter, day, candidate)
) WITHOUT ROWID;
"""
# Version 2 added the identity columns; a version-1 ledger gets them (with the device
# defaults its votes were cast under) before anything else runs.
_MIGRATE_V2 = (
    "ALTER TABLE ledger ADD COLUMN identity TEXT NOT NULL DEFAULT 'device'",
    "ALTER TABLE ledger ADD COLUMN person TEXT NOT NULL DEFAULT ''",
)
# Written out in full (no string building): every statement here is a constant.
_INSERT_VOTE = (
    "INSERT INTO ledger (vote_id, voter, nonce, candidate, day, recorded_at, ballot,"
    " signature, receipt, receipt_signature, net, ua, identity, person)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (vote_id) DO NOTHING"
)
_SELECT_VOTES = (
    "SELECT vote_id, voter, nonce, candidate, day, recorded_at, ballot,"
    " signature, receipt, receipt_signature, net, ua, identity, person FROM ledger"
)
_SELECT_ONE = _SELECT_VOTES + " WHERE vote_id = ?"
_SELECT_ALL = _SELECT_VOTES + " ORDER BY seq"
# The cap is the statement's own condition: the counter only moves while below it.
_BUMP_CAP = (
    "INSERT INTO caps (voter, day, candidate, n) VALUES (?, ?, ?, 1)"
    " ON CONFLICT (voter, day, candidate) DO UPDATE SET n = n + 1 WHERE n < ?"
    " RETURNING n"
)
_MAX_BATCH = 512


@dataclass(slots=True)
class _Pending:
    vote: VoteRecord
    cap: int
    future: Future[RecordOutcome] = field(default_factory=Future)


def _unavailable(exc: BaseException) -> Unavailable:
    err = Unavailable(f"sqlite: {exc}")
    err.__cause__ = exc
    return err


class SqliteStore:
    """``VoteStore`` on one SQLite file; safe to share between any number of threads."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 5000) -> None:
        self._path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # orders "closed?" checks against the stop sentinel
        self._closed = False
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        try:
            with closing(self._connect()) as conn:  # (a bare `with conn` would not close it)
                _create_or_migrate(conn)
        except sqlite3.Error as exc:
            raise _unavailable(exc) from exc
        self._writer = threading.Thread(target=self._write_loop, name="sqlite-writer", daemon=True)
        self._writer.start()

    # -- connections -------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, nothing implicit.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk (WAL fsynced) before any voter is told "recorded".
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        finally:
            self._readers.put(conn)

    # -- writing -----------------------------------------------------------------------

    def record(self, vote: VoteRecord, cap: int) -> RecordOutcome:
        pending = _Pending(vote, cap)
        with self._lock:
            if self._closed:
                raise Unavailable("the store is closed")
            self._queue.put(pending)
        return pending.future.result()

    def _write_loop(self) -> None:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            self._fail_forever(exc)
            return
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                stop = False
                while len(batch) < _MAX_BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        break
                    batch.append(item)
                self._commit(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

    def _fail_forever(self, exc: BaseException) -> None:
        while (item := self._queue.get()) is not None:
            item.future.set_exception(_unavailable(exc))

    def _commit(self, conn: sqlite3.Connection, batch: list[_Pending]) -> None:
        decided: list[tuple[_Pending, RecordOutcome | VoteError]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in batch:
                try:
                    decided.append((item, self._decide(conn, item.vote, item.cap)))
                except VoteError as refusal:
                    decided.append((item, refusal))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:  # locked, I/O, disk full: nothing of the batch stays
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for item in batch:
                item.future.set_exception(_unavailable(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug must reach the callers, not kill the writer
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for item in batch:
                item.future.set_exception(exc)
            return
        for item, result in decided:
            if isinstance(result, VoteError):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

    @staticmethod
    def _decide(conn: sqlite3.Connection, vote: VoteRecord, cap: int) -> RecordOutcome:
        """Replay, nonce reuse and the cap for one vote, inside the batch's transaction."""
        conn.execute("SAVEPOINT vote")
        try:
            inserted = conn.execute(_INSERT_VOTE, _row(vote)).rowcount
            if inserted == 0:
                original = _to_record(conn.execute(_SELECT_ONE, (vote.vote_id,)).fetchone())
                if original.ballot != vote.ballot:
                    raise NonceReused
                used = conn.execute(
                    "SELECT n FROM caps WHERE voter = ? AND day = ? AND candidate = ?",
                    (original.cap_subject, original.day, original.candidate),
                ).fetchone()
                left = max(0, cap - (used[0] if used else 0))
                return RecordOutcome("duplicate", original, left)
            subject = vote.cap_subject  # the person in wechat mode, else the key
            row = conn.execute(_BUMP_CAP, (subject, vote.day, vote.candidate, cap)).fetchone()
            if row is None:
                # The cap refused: undo this vote's ledger row (a rollback, not a DELETE).
                conn.execute("ROLLBACK TO vote")
                raise DailyLimitReached
            return RecordOutcome("recorded", vote, cap - int(row[0]))
        finally:
            conn.execute("RELEASE vote")

    # -- reading -----------------------------------------------------------------------

    def votes_used(self, voter: str, day: str) -> Mapping[str, int]:
        try:
            with self._reader() as conn:
                rows = conn.execute(
                    "SELECT candidate, n FROM caps WHERE voter = ? AND day = ?", (voter, day)
                ).fetchall()
        except sqlite3.Error as exc:  # locked, I/O, corrupt: the store is down
            raise _unavailable(exc) from exc
        return {candidate: int(n) for candidate, n in rows}

    def iter_votes(self) -> Iterator[VoteRecord]:
        """Stream the ledger in insertion order from one consistent snapshot."""
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise _unavailable(exc) from exc
        try:
            conn.execute("BEGIN")  # one snapshot, even while votes keep arriving
            cursor = conn.execute(_SELECT_ALL)
            while rows := cursor.fetchmany(1000):
                for row in rows:
                    yield _to_record(row)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:  # locked, I/O, corrupt: the store is down
            raise _unavailable(exc) from exc
        finally:
            conn.close()

    def healthy(self) -> bool:
        if self._closed or not self._writer.is_alive():
            return False
        try:
            with self._reader() as conn:
                conn.execute("SELECT 1 FROM caps LIMIT 1").fetchall()
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        """Commit what is queued, stop the writer and close every connection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._writer.join()
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                break


def _row(vote: VoteRecord) -> tuple[str, ...]:
    return (
        vote.vote_id,
        vote.voter,
        vote.nonce,
        vote.candidate,
        vote.day,
        vote.recorded_at,
        vote.ballot,
        vote.signature,
        vote.receipt,
        vote.receipt_signature,
        vote.net,
        vote.ua,
        vote.identity,
        vote.person,
    )


def _create_or_migrate(conn: sqlite3.Connection) -> None:
    """Create the schema, or bring a version-1 ledger to version 2 (ADD COLUMN only)."""
    conn.executescript(SCHEMA)  # IF NOT EXISTS: leaves an old ledger's columns as they are
    conn.execute("BEGIN IMMEDIATE")  # two servers starting at once: the second sees it done
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(ledger)")}
        if "identity" not in columns:
            for statement in _MIGRATE_V2:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        raise


def _to_record(row: tuple[str, ...]) -> VoteRecord:
    return VoteRecord(*row)
