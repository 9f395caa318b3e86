"""The contract every ``VoteStore`` keeps, run against each backend in FACTORIES."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from ballotbox.core.errors import DailyLimitReached, NonceReused
from ballotbox.core.receipt import receipt_text
from ballotbox.core.store import VoteRecord, VoteStore

from tests.store_factories import FACTORIES


@pytest.fixture(params=sorted(FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VoteStore]:
    with FACTORIES[request.param](tmp_path) as made:
        yield made


_counter = iter(range(10**9))


def vote(
    voter: str = "VOTER-A", candidate: str = "e01", day: str = "2021-12-30", **kw: str
) -> VoteRecord:
    """A record as the service would build it (the store never checks signatures)."""
    n = next(_counter)
    fields = {
        "vote_id": f"id-{n}",
        "voter": voter,
        "nonce": f"nonce-{n}",
        "candidate": candidate,
        "day": day,
        "recorded_at": f"{day}T20:15:03.123+08:00",
        "ballot": f'{{"n":{n},"campaign":"demo","candidate":"{candidate}"}}',
        "signature": f"sig-{n}",
        "receipt_signature": f"rsig-{n}",
        "net": "net-hash",
        "ua": "ua-hash",
    }
    fields.update(kw)
    # The real receipt text: the DynamoDB store rebuilds it from these fields on read.
    fields.setdefault(
        "receipt",
        receipt_text(
            campaign="demo",
            vote_id=fields["vote_id"],
            candidate=fields["candidate"],
            voter=fields["voter"],
            day=fields["day"],
            recorded_at=fields["recorded_at"],
            ballot_bytes=fields["ballot"].encode(),
        ),
    )
    return VoteRecord(**fields)


def test_record_returns_the_vote_and_votes_left(store: VoteStore) -> None:
    v = vote()
    outcome = store.record(v, 5)
    assert outcome.status == "recorded"
    assert outcome.record == v
    assert outcome.votes_left_today == 4


def test_exact_replay_is_a_duplicate_with_the_original_receipt(store: VoteStore) -> None:
    original = vote()
    store.record(original, 5)
    # Same ballot again, but the server would sign a fresh receipt at a later time.
    again = replace(original, recorded_at="2021-12-30T21:00:00.000+08:00", receipt="new")
    outcome = store.record(again, 5)
    assert outcome.status == "duplicate"
    assert outcome.record == original
    assert outcome.votes_left_today == 4
    assert [v.vote_id for v in store.iter_votes()] == [original.vote_id]
    assert store.votes_used(original.voter, original.day) == {"e01": 1}


def test_same_vote_id_with_another_ballot_is_nonce_reuse(store: VoteStore) -> None:
    original = vote()
    store.record(original, 5)
    with pytest.raises(NonceReused):
        store.record(replace(original, ballot=original.ballot + " "), 5)
    assert list(store.iter_votes()) == [original]


def test_cap_allows_exactly_daily_cap(store: VoteStore) -> None:
    lefts = [store.record(vote(), 5).votes_left_today for _ in range(5)]
    assert lefts == [4, 3, 2, 1, 0]
    refused = vote()
    with pytest.raises(DailyLimitReached):
        store.record(refused, 5)
    assert refused.vote_id not in {v.vote_id for v in store.iter_votes()}
    assert store.votes_used("VOTER-A", "2021-12-30") == {"e01": 5}


def test_replay_at_the_cap_is_still_a_duplicate(store: VoteStore) -> None:
    votes = [vote() for _ in range(3)]
    for v in votes:
        store.record(v, 3)
    assert store.record(votes[0], 3).status == "duplicate"


def test_cap_is_per_day_and_per_candidate_and_per_voter(store: VoteStore) -> None:
    for _ in range(2):
        store.record(vote(), 2)
    with pytest.raises(DailyLimitReached):
        store.record(vote(), 2)
    assert store.record(vote(candidate="e02"), 2).votes_left_today == 1
    assert store.record(vote(day="2021-12-31"), 2).votes_left_today == 1
    assert store.record(vote(voter="VOTER-B"), 2).votes_left_today == 1
    assert store.votes_used("VOTER-A", "2021-12-30") == {"e01": 2, "e02": 1}
    assert store.votes_used("VOTER-A", "2021-12-31") == {"e01": 1}
    assert store.votes_used("VOTER-C", "2021-12-30") == {}


def test_iter_votes_streams_everything_recorded(store: VoteStore) -> None:
    recorded = [vote(candidate=c) for c in ("e01", "e02", "h01", "e01")]
    for v in recorded:
        store.record(v, 5)
    assert sorted(store.iter_votes(), key=lambda v: v.vote_id) == sorted(
        recorded, key=lambda v: v.vote_id
    )


#: moto is not thread-safe (its in-process mock is for sequential tests), so
#: the DynamoDB store's race-freedom rests on its transaction's conditions, which
#: tests/test_dynamodb_store.py checks with botocore's Stubber.
THREAD_SAFE = sorted(name for name in FACTORIES if name != "dynamodb")


@pytest.fixture(params=THREAD_SAFE)
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VoteStore]:
    with FACTORIES[request.param](tmp_path) as made:
        yield made


def test_concurrent_votes_never_exceed_the_cap(shared_store: VoteStore) -> None:
    store = shared_store
    outcomes: list[str] = []
    lock = threading.Lock()

    def cast() -> None:
        try:
            store.record(vote(), 5)
            result = "recorded"
        except DailyLimitReached:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=cast) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("recorded") == 5
    assert outcomes.count("refused") == 15
    assert store.votes_used("VOTER-A", "2021-12-30") == {"e01": 5}


def test_healthy(store: VoteStore) -> None:
    assert store.healthy()


# -- SQLite only: the ledger itself refuses to change -----------------------------------


def test_sqlite_ledger_refuses_update_and_delete(tmp_path: Path) -> None:
    with FACTORIES["sqlite"](tmp_path) as store:
        store.record(vote(), 5)
    db = sqlite3.connect(tmp_path / "votes.sqlite3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE ledger SET candidate = 'e02'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM ledger")
    assert db.execute("SELECT count(*) FROM ledger").fetchone() == (1,)
    db.close()


def test_sqlite_survives_reopening(tmp_path: Path) -> None:
    with FACTORIES["sqlite"](tmp_path) as store:
        first = vote()
        store.record(first, 5)
    with FACTORIES["sqlite"](tmp_path) as store:
        assert store.record(first, 5).status == "duplicate"
        assert store.votes_used(first.voter, first.day) == {"e01": 1}


def test_sqlite_locked_database_is_unavailable_and_writes_nothing(tmp_path: Path) -> None:
    from ballotbox.core.errors import Unavailable
    from ballotbox.stores.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "votes.sqlite3", busy_timeout_ms=50)
    blocker = sqlite3.connect(tmp_path / "votes.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(Unavailable) as caught:
            store.record(vote(), 5)
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert list(store.iter_votes()) == []
    store.record(vote(), 5)  # and it recovers once the lock is gone
    store.close()
