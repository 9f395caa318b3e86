"""Shared test helpers for the vote path: a small campaign, voters and signed ballots."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ballotbox.core.campaign import Campaign
from ballotbox.core.clock import BEIJING
from ballotbox.core.encoding import b64u_encode
from ballotbox.core.errors import DailyLimitReached, NonceReused, Unavailable
from ballotbox.core.privacy import Hasher
from ballotbox.core.signature import Signer
from ballotbox.core.store import RecordOutcome, VoteRecord
from nacl.signing import SigningKey

CAMPAIGN_ID = "test-2021-top10"
CANDIDATES = ("e01", "e02", "h01")
OPENS = datetime(2021, 12, 29, tzinfo=BEIJING)
CLOSES = datetime(2022, 1, 10, tzinfo=BEIJING)
INSIDE = datetime(2021, 12, 30, 20, 15, 3, 123000, tzinfo=BEIJING)
RECEIPT_SEED = bytes(range(32))
HASH_KEY = bytes(range(100, 132))


def campaign_dict(receipt_key: str | None = None, cap: int = 5) -> dict[str, Any]:
    """A campaign.json in the shape the site builder writes."""
    return {
        "id": CAMPAIGN_ID,
        "title": {"zh": "测试评选", "en": "Test vote"},
        "opens": OPENS.isoformat(),
        "closes": CLOSES.isoformat(),
        "daily_cap": cap,
        "api": "/api/",
        "receipt_key": receipt_key or Signer(RECEIPT_SEED).public_key_b64,
        "vote_url": {"zh": "/zh/vote/", "en": "/en/vote/"},
        "lists": [{"kind": "event", "select": 1}, {"kind": "highlight", "select": 1}],
        "results": {
            "weights": {"public": 0.5, "expert": 0.5},
            "normalisation": "max",
            "tie_break": ["expert_score", "valid_votes", "order"],
        },
        "candidates": [
            {
                "id": c,
                "kind": "event" if c.startswith("e") else "highlight",
                "title": {"zh": f"候选{c}", "en": f"Candidate {c}"},
                "url": {"zh": f"/zh/{c}/", "en": f"/en/{c}/"},
            }
            for c in CANDIDATES
        ],
    }


def campaign(cap: int = 5) -> Campaign:
    return Campaign.from_dict(campaign_dict(cap=cap))


def signer() -> Signer:
    return Signer(RECEIPT_SEED)


def hasher() -> Hasher:
    return Hasher(HASH_KEY)


@dataclass
class Voter:
    key: SigningKey = field(default_factory=SigningKey.generate)

    @property
    def public(self) -> str:
        return b64u_encode(bytes(self.key.verify_key))

    def ballot_text(
        self,
        candidate: str = "e01",
        *,
        nonce: bytes | None = None,
        campaign_id: str = CAMPAIGN_ID,
        issued_at: str = "2021-12-30T12:15:03.000Z",
    ) -> str:
        return json.dumps(
            {
                "v": 1,
                "campaign": campaign_id,
                "candidate": candidate,
                "voter": self.public,
                "nonce": b64u_encode(nonce if nonce is not None else secrets.token_bytes(16)),
                "issued_at": issued_at,
            },
            separators=(",", ":"),
        )

    def body_for(self, ballot_text: str) -> bytes:
        signature = b64u_encode(self.key.sign(ballot_text.encode("utf-8")).signature)
        return json.dumps({"ballot": ballot_text, "signature": signature}).encode("utf-8")

    def vote_body(self, candidate: str = "e01", **kwargs: Any) -> bytes:
        return self.body_for(self.ballot_text(candidate, **kwargs))


def write_campaign(dist: Path, receipt_key: str | None = None) -> Path:
    dist.mkdir(parents=True, exist_ok=True)
    path = dist / "campaign.json"
    path.write_text(json.dumps(campaign_dict(receipt_key), ensure_ascii=False), "utf-8")
    return path


class MemoryStore:
    """An in-memory ``VoteStore`` fake: the same rules under one lock.

    It runs the shared contract suite too (tests/store_factories.py), so tests and
    benchmarks that use it stand on an honest fake.
    """

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._ledger: dict[str, VoteRecord] = {}
        self._caps: dict[tuple[str, str, str], int] = {}

    def record(self, vote: VoteRecord, cap: int) -> RecordOutcome:
        with self._lock:
            original = self._ledger.get(vote.vote_id)
            if original is not None:
                if original.ballot != vote.ballot:
                    raise NonceReused
                key = (original.cap_subject, original.day, original.candidate)
                return RecordOutcome("duplicate", original, cap - self._caps.get(key, 0))
            key = (vote.cap_subject, vote.day, vote.candidate)
            used = self._caps.get(key, 0)
            if used >= cap:
                raise DailyLimitReached
            self._caps[key] = used + 1
            self._ledger[vote.vote_id] = vote
            return RecordOutcome("recorded", vote, cap - used - 1)

    def votes_used(self, voter: str, day: str) -> Mapping[str, int]:
        with self._lock:
            return {c: n for (v, d, c), n in self._caps.items() if v == voter and d == day}

    def iter_votes(self) -> Iterator[VoteRecord]:
        with self._lock:
            votes = list(self._ledger.values())
        yield from votes

    def healthy(self) -> bool:
        return True

    def close(self) -> None:
        pass


class UnavailableStore(MemoryStore):
    """A store that is down: every call fails the way a throttled backend does."""

    def record(self, vote: VoteRecord, cap: int) -> RecordOutcome:
        raise Unavailable("the fake store is down", retry_after=3)

    def votes_used(self, voter: str, day: str) -> Mapping[str, int]:
        raise Unavailable("the fake store is down", retry_after=3)

    def healthy(self) -> bool:
        return False


class BrokenStore(MemoryStore):
    """A store with a bug: it raises something that is not a store failure."""

    def record(self, vote: VoteRecord, cap: int) -> RecordOutcome:
        raise RuntimeError("a programming error inside the store")
