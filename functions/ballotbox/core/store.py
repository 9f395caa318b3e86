"""The store interface every backend implements, and the records it keeps.

Part of the core: ``service`` depends on this protocol, and the stores in
``ballotbox/stores/`` implement it (they depend on the core, never the reverse).

The store owns the atomic rules: replay, nonce reuse and the daily cap are decided
inside one conditional write (a DynamoDB transaction, a SQLite transaction), never
by reading first and writing after.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class VoteRecord:
    """One recorded vote, exactly as the ledger keeps it and ``ops.py export`` writes it."""

    vote_id: str  # base64url of the first 16 bytes of SHA-256(voter key || nonce)
    voter: str  # base64url Ed25519 public key
    nonce: str  # base64url
    candidate: str
    day: str  # YYYY-MM-DD, Beijing
    recorded_at: str  # server time, ISO 8601 with milliseconds and +08:00
    ballot: str  # the exact ballot text that was signed
    signature: str  # base64url
    receipt: str  # the receipt JSON text the server signed
    receipt_signature: str  # base64url
    net: str  # keyed hash of the client's network prefix (IPv4 /24, IPv6 /48)
    ua: str  # keyed hash of the User-Agent
    # Identity modes (README "Identity modes"); the defaults are device mode.
    identity: str = "device"  # device | device+pow | wechat
    person: str = ""  # wechat: "wx:" + keyed hash of the OpenID; never the raw OpenID

    @property
    def cap_subject(self) -> str:
        """Whose daily cap this vote counts against: the person if known, else the key."""
        return self.person or self.voter


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    status: Literal["recorded", "duplicate"]
    record: VoteRecord  # for a duplicate: the original, with its original receipt
    votes_left_today: int


class VoteStore(Protocol):
    """What the vote service needs from storage.

    ``record`` raises ``NonceReused`` (same voter and nonce, different ballot),
    ``DailyLimitReached`` (the vote's ``cap_subject`` already has ``cap`` votes for the
    candidate that day) or ``Unavailable`` (throttled or down, nothing written).
    """

    def record(self, vote: VoteRecord, cap: int) -> RecordOutcome: ...

    def votes_used(self, voter: str, day: str) -> Mapping[str, int]:
        """Votes recorded per candidate for this cap subject (key or person) on this day."""
        ...

    def iter_votes(self) -> Iterator[VoteRecord]:
        """Every recorded vote, streamed (constant memory), oldest first where cheap."""
        ...

    def healthy(self) -> bool: ...

    def close(self) -> None: ...
