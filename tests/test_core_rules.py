"""The pure rules: Beijing days, the window, vote ids, receipts, privacy hashes, the use case."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from ballotbox.core.ballot import parse_request
from ballotbox.core.campaign import Campaign, CampaignError
from ballotbox.core.clock import BEIJING, beijing_day, beijing_iso
from ballotbox.core.encoding import b64u_decode, b64u_encode
from ballotbox.core.errors import (
    BadSignature,
    DailyLimitReached,
    UnknownCandidate,
    VotingClosed,
    VotingNotOpen,
    WrongCampaign,
)
from ballotbox.core.privacy import Hasher, network_prefix
from ballotbox.core.receipt import vote_id
from ballotbox.core.service import cast_vote, voter_status
from ballotbox.core.store import RecordOutcome
from ballotbox.core.window import window_state
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import VerifyKey

from tests import votekit
from tests.votekit import CLOSES, INSIDE, OPENS, MemoryStore, Voter

US = timedelta(microseconds=1)
aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.timezones()
)


# -- Beijing time -----------------------------------------------------------------------


def test_day_turns_at_beijing_midnight() -> None:
    last = datetime(2021, 12, 31, 15, 59, 59, 999999, tzinfo=UTC)
    assert beijing_day(last) == "2021-12-31"
    assert beijing_day(last + US) == "2022-01-01"
    assert beijing_day(datetime(2022, 1, 1, 0, 0, tzinfo=BEIJING)) == "2022-01-01"


@given(aware)
def test_day_is_utc_plus_eight_everywhere(now: datetime) -> None:
    expected = (now.astimezone(UTC).replace(tzinfo=None) + timedelta(hours=8)).date()
    assert beijing_day(now) == expected.isoformat()
    text = beijing_iso(now)
    assert text.endswith("+08:00")
    assert len(text) == len("2021-12-30T20:15:03.123+08:00")
    assert abs(datetime.fromisoformat(text) - now) < timedelta(milliseconds=1)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        beijing_day(datetime(2021, 12, 30))


# -- the window ---------------------------------------------------------------------------


def test_window_edges() -> None:
    c = votekit.campaign()
    assert window_state(c, OPENS - US) == "not_open"
    assert window_state(c, OPENS) == "open"
    assert window_state(c, CLOSES - US) == "open"
    assert window_state(c, CLOSES) == "closed"
    # The same instants written in UTC.
    assert window_state(c, datetime(2021, 12, 28, 16, tzinfo=UTC)) == "open"
    assert window_state(c, datetime(2022, 1, 9, 16, tzinfo=UTC)) == "closed"


@given(aware)
def test_window_is_half_open(now: datetime) -> None:
    state = window_state(votekit.campaign(), now)
    assert (state == "open") == (OPENS <= now < CLOSES)


@pytest.mark.parametrize(
    "change",
    [
        {"daily_cap": 0},
        {"daily_cap": True},
        {"closes": "2021-12-28T00:00:00+08:00"},
        {"opens": "2021-12-29T00:00:00"},
        {"candidates": []},
        {"id": ""},
    ],
)
def test_broken_campaigns_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(CampaignError):
        Campaign.from_dict({**votekit.campaign_dict(), **change})


# -- ids, receipts, privacy ----------------------------------------------------------------


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=16, max_size=32))
def test_vote_id_is_sha256_prefix(key: bytes, nonce: bytes) -> None:
    vid = vote_id(key, nonce)
    assert b64u_decode(vid) == hashlib.sha256(key + nonce).digest()[:16]
    assert len(vid) == 22


@pytest.mark.parametrize(
    ("ip", "prefix"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2408:8462:2510:7f3c::1", "2408:8462:2510::/48"),
        ("::ffff:203.0.113.77", "203.0.113.0/24"),
        ("not an ip", "unknown"),
        (None, "unknown"),
    ],
)
def test_network_prefix(ip: str | None, prefix: str) -> None:
    assert network_prefix(ip) == prefix


def test_privacy_hashes_are_keyed_and_prefix_wide() -> None:
    h = Hasher(b"k" * 32)
    assert h.net("203.0.113.1") == h.net("203.0.113.254") == h.net("::ffff:203.0.113.9")
    assert h.net("203.0.113.1") != h.net("203.0.114.1")
    assert h.net("203.0.113.1") != Hasher(b"j" * 32).net("203.0.113.1")
    assert "203.0.113" not in h.net("203.0.113.1")
    assert h.ua("WeChat") != h.ua("Safari")


# -- the use case ---------------------------------------------------------------------------


def cast(body: bytes, store: MemoryStore | None = None, now: datetime = INSIDE) -> RecordOutcome:
    return cast_vote(
        parse_request(body),
        campaign=votekit.campaign(),
        signer=votekit.signer(),
        store=store or MemoryStore(),
        now=now,
        net="n",
        ua="u",
    )


def test_a_vote_is_recorded_with_a_verifiable_receipt() -> None:
    voter = Voter()
    text = voter.ballot_text("e02")
    store = MemoryStore()
    outcome = cast_vote(
        parse_request(voter.body_for(text)),
        campaign=votekit.campaign(),
        signer=votekit.signer(),
        store=store,
        now=INSIDE,
        net="n",
        ua="u",
    )
    record = outcome.record
    assert outcome.status == "recorded"
    assert record.recorded_at == "2021-12-30T20:15:03.123+08:00"
    assert record.day == "2021-12-30"
    assert record.ballot == text
    receipt = json.loads(record.receipt)
    assert receipt == {
        "v": 1,
        "campaign": votekit.CAMPAIGN_ID,
        "vote_id": record.vote_id,
        "candidate": "e02",
        "voter": voter.public,
        "day": "2021-12-30",
        "recorded_at": record.recorded_at,
        "ballot_sha256": b64u_encode(hashlib.sha256(text.encode()).digest()),
    }
    key = VerifyKey(b64u_decode(votekit.campaign_dict()["receipt_key"]))
    key.verify(record.receipt.encode(), b64u_decode(record.receipt_signature))


def test_refusals_of_the_use_case() -> None:
    voter = Voter()
    stranger = Voter()
    text = voter.ballot_text()
    forged = stranger.body_for(text)  # signed by someone else
    with pytest.raises(BadSignature):
        cast(forged)
    with pytest.raises(WrongCampaign):
        cast(voter.vote_body(campaign_id="other-campaign"))
    with pytest.raises(UnknownCandidate):
        cast(voter.vote_body("nobody"))
    with pytest.raises(VotingNotOpen):
        cast(voter.vote_body(), now=OPENS - US)
    with pytest.raises(VotingClosed):
        cast(voter.vote_body(), now=CLOSES)
    store = MemoryStore()
    for _ in range(5):
        cast(voter.vote_body(), store)
    with pytest.raises(DailyLimitReached):
        cast(voter.vote_body(), store)
    # The next Beijing day the voter may vote again.
    tomorrow = datetime(2021, 12, 31, 0, 0, tzinfo=BEIJING)
    assert cast(voter.vote_body(), store, now=tomorrow).status == "recorded"


def test_status_reports_votes_left_per_candidate() -> None:
    voter = Voter()
    store = MemoryStore()
    cast(voter.vote_body("e01"), store)
    report = voter_status(votekit.campaign(), store, voter.public, INSIDE)
    assert report.to_json() == {
        "state": "open",
        "now": "2021-12-30T20:15:03.123+08:00",
        "day": "2021-12-30",
        "votes_left": {"e01": 4, "e02": 5, "h01": 5},
    }
