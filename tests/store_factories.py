"""Every store backend, for the shared contract suite (``tests/test_store_contract.py``).

Each entry maps a name to a factory: given a fresh temporary directory, a context
manager that yields a new, empty store and cleans up after it (closing it, stopping
any emulator it needed). Add a backend here and it must pass the whole contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from ballotbox.core.store import VoteStore
from ballotbox.stores.dynamodb import DynamoStore
from ballotbox.stores.sqlite import SqliteStore

from tests.votekit import MemoryStore

StoreFactory = Callable[[Path], AbstractContextManager[VoteStore]]


@contextmanager
def sqlite_store(tmp: Path) -> Iterator[VoteStore]:
    store = SqliteStore(tmp / "votes.sqlite3")
    try:
        yield store
    finally:
        store.close()


@contextmanager
def memory_store(tmp: Path) -> Iterator[VoteStore]:
    """The in-memory fake that unit tests and benchmarks use: it must keep the contract too."""
    yield MemoryStore()


@contextmanager
def dynamodb_store(tmp: Path) -> Iterator[VoteStore]:
    """DynamoStore on moto, in-process and sequential (its server mode is not concurrency-safe)."""
    from tests.dynamodb_tables import mocked_tables

    with mocked_tables() as (client, ledger, caps):
        store = DynamoStore(ledger, caps, client=client)
        try:
            yield store
        finally:
            store.close()


FACTORIES: dict[str, StoreFactory] = {
    "sqlite": sqlite_store,
    "memory": memory_store,
    "dynamodb": dynamodb_store,
}
