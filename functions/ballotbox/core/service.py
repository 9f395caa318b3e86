"""The vote use case: decide a request under the campaign's rules and record it.

Pure apart from the store it is handed: the clock arrives as ``now``, secrets as a
signer and the already-hashed network and User-Agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ballotbox.core.ballot import VoteRequest, parse_voter_key
from ballotbox.core.campaign import Campaign
from ballotbox.core.clock import beijing_day, beijing_iso
from ballotbox.core.errors import UnknownCandidate, WrongCampaign
from ballotbox.core.receipt import receipt_text, vote_id
from ballotbox.core.signature import Signer, verify
from ballotbox.core.store import RecordOutcome, VoteRecord, VoteStore
from ballotbox.core.window import State, require_open, window_state


@dataclass(frozen=True, slots=True)
class StatusReport:
    state: State
    now: str
    day: str
    votes_left: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "now": self.now,
            "day": self.day,
            "votes_left": self.votes_left,
        }


def success_body(outcome: RecordOutcome) -> dict[str, Any]:
    """The 200 answer: exactly the fields of docs/http-api.md."""
    record = outcome.record
    return {
        "status": outcome.status,
        "vote_id": record.vote_id,
        "candidate": record.candidate,
        "day": record.day,
        "votes_left_today": outcome.votes_left_today,
        "receipt": record.receipt,
        "receipt_signature": record.receipt_signature,
    }


def cast_vote(
    request: VoteRequest,
    *,
    campaign: Campaign,
    signer: Signer,
    store: VoteStore,
    now: datetime,
    net: str,
    ua: str,
    identity: str = "device",
    person: str = "",
) -> RecordOutcome:
    """Check signature, campaign, candidate and window, then let the store decide the rest.

    Replay, nonce reuse and the daily cap are the store's: only its atomic write can
    decide them without a race. ``identity`` and ``person`` come from a checked credential
    (see ``ballotbox.core.identity``); with a person the cap counts per person.
    """
    ballot = request.ballot
    # The signature first: an unauthenticated request learns nothing about the rules.
    verify(ballot.voter_key, request.ballot_bytes, request.signature_bytes)
    if ballot.campaign != campaign.id:
        raise WrongCampaign
    if not campaign.has_candidate(ballot.candidate):
        raise UnknownCandidate
    require_open(campaign, now)
    day = beijing_day(now)
    recorded_at = beijing_iso(now)
    vid = vote_id(ballot.voter_key, ballot.nonce_bytes)
    receipt = receipt_text(
        campaign=campaign.id,
        vote_id=vid,
        candidate=ballot.candidate,
        voter=ballot.voter,
        day=day,
        recorded_at=recorded_at,
        ballot_bytes=request.ballot_bytes,
    )
    record = VoteRecord(
        vote_id=vid,
        voter=ballot.voter,
        nonce=ballot.nonce,
        candidate=ballot.candidate,
        day=day,
        recorded_at=recorded_at,
        ballot=request.ballot_text,
        signature=request.signature,
        receipt=receipt,
        receipt_signature=signer.sign(receipt.encode("utf-8")),
        net=net,
        ua=ua,
        identity=identity,
        person=person,
    )
    return store.record(record, campaign.daily_cap)


def voter_status(
    campaign: Campaign, store: VoteStore, voter: str, now: datetime, person: str = ""
) -> StatusReport:
    """What ``GET /api/status`` reports: the window and today's votes left per candidate.

    With a ``person`` (wechat mode) the counts are the person's, whatever key asks.
    """
    parse_voter_key(voter)
    day = beijing_day(now)
    used = store.votes_used(person or voter, day)
    return StatusReport(
        state=window_state(campaign, now),
        now=beijing_iso(now),
        day=day,
        votes_left={c: max(0, campaign.daily_cap - used.get(c, 0)) for c in campaign.candidates},
    )
