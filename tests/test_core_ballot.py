"""The ballot parser: strict base64url, exact fields, and no input that escapes as a crash."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Any

import pytest
from ballotbox.core.ballot import (
    MAX_BALLOT_BYTES,
    MAX_BODY,
    check_issued_at,
    parse_ballot,
    parse_issued_at,
    parse_request,
)
from ballotbox.core.encoding import b64u_decode, b64u_encode
from ballotbox.core.errors import BadIssuedAt, MalformedRequest, PayloadTooLarge
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.votekit import Voter

VOTER = Voter()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def valid_parts(candidate: str = "e01") -> dict[str, Any]:
    ballot: dict[str, Any] = json.loads(VOTER.ballot_text(candidate))
    return ballot


def body_of(ballot: dict[str, Any] | str, signature: Any = None) -> bytes:
    text = ballot if isinstance(ballot, str) else json.dumps(ballot)
    if signature is None:
        signature = json.loads(VOTER.body_for(text))["signature"]
    return json.dumps({"ballot": text, "signature": signature}).encode()


# -- base64url ---------------------------------------------------------------------------


@given(st.binary(max_size=80))
def test_b64u_round_trips(data: bytes) -> None:
    text = b64u_encode(data)
    assert "=" not in text
    assert b64u_decode(text) == data


@given(st.text(max_size=60))
def test_b64u_decode_accepts_only_canonical_text(text: str) -> None:
    try:
        data = b64u_decode(text)
    except ValueError:
        return
    assert b64u_encode(data) == text


@pytest.mark.parametrize("text", ["AA==", "AA=", "A", "AB", "AB+/", "AB C", "ÄÖ", "AAB"])
def test_b64u_decode_refuses(text: str) -> None:
    # "AB" has non-zero trailing bits ("AA" is the canonical form of b"\0").
    with pytest.raises(ValueError, match="base64url"):
        b64u_decode(text)


# -- whole requests -----------------------------------------------------------------------


def test_a_valid_request_parses_exactly() -> None:
    text = VOTER.ballot_text("h01")
    parsed = parse_request(VOTER.body_for(text))
    assert parsed.ballot_text == text
    assert parsed.ballot_bytes == text.encode()
    assert parsed.ballot.candidate == "h01"
    assert parsed.ballot.voter == VOTER.public
    assert len(parsed.signature_bytes) == 64


@settings(max_examples=150, deadline=None)
@given(
    campaign=st.text(min_size=1, max_size=40),
    candidate=st.text(min_size=1, max_size=40),
    nonce=st.binary(min_size=16, max_size=32),
    pretty=st.booleans(),
)
def test_any_accepted_ballot_round_trips(
    campaign: str, candidate: str, nonce: bytes, pretty: bool
) -> None:
    ballot = {
        "issued_at": "2021-12-30T12:00:00+08:00",
        "nonce": b64u_encode(nonce),
        "voter": VOTER.public,
        "candidate": candidate,
        "campaign": campaign,
        "v": 1,
    }
    # Any formatting is fine: the signature covers the exact text, which is kept verbatim.
    text = json.dumps(ballot, indent=2 if pretty else None, ensure_ascii=not pretty)
    try:
        parsed = parse_request(body_of(text))
    except MalformedRequest:
        # Only a lone surrogate (unencodable) or a text over the ceiling is refused.
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            return
        assert size > MAX_BALLOT_BYTES
        return
    assert parsed.ballot_text == text
    assert (parsed.ballot.campaign, parsed.ballot.candidate) == (campaign, candidate)
    assert parsed.ballot.nonce_bytes == nonce
    assert parsed.ballot.voter_key == b64u_decode(VOTER.public)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_are_parsed_or_refused_as_malformed(body: bytes) -> None:
    with contextlib.suppress(MalformedRequest):
        parse_request(body)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(["v", "campaign", "candidate", "voter", "nonce", "issued_at", "x"]),
       value=json_values, drop=st.booleans())  # fmt: skip
def test_any_mutated_ballot_is_parsed_or_refused_as_malformed(
    field: str, value: Any, drop: bool
) -> None:
    ballot = valid_parts()
    if drop:
        ballot.pop(field, None)
    else:
        ballot[field] = value
    try:
        parsed = parse_request(body_of(ballot))
    except MalformedRequest:
        return
    # Whatever got through is well-typed.
    assert isinstance(parsed.ballot.candidate, str)
    assert len(parsed.ballot.voter_key) == 32
    assert 16 <= len(parsed.ballot.nonce_bytes) <= 32


@settings(max_examples=200, deadline=None)
@given(outer=st.dictionaries(st.sampled_from(["ballot", "signature", "x"]), json_values))
def test_any_mutated_body_is_parsed_or_refused_as_malformed(outer: dict[str, Any]) -> None:
    with contextlib.suppress(MalformedRequest):
        parse_request(json.dumps(outer).encode())


def _mutations() -> list[tuple[str, bytes]]:
    good = valid_parts()
    cases: list[tuple[str, dict[str, Any] | str]] = [
        ("v is true", {**good, "v": True}),
        ("v is 1.0", {**good, "v": 1.0}),
        ("v is 2", {**good, "v": 2}),
        ("v is a string", {**good, "v": "1"}),
        ("extra field", {**good, "extra": 1}),
        ("missing nonce", {k: v for k, v in good.items() if k != "nonce"}),
        ("nonce 15 bytes", {**good, "nonce": b64u_encode(b"n" * 15)}),
        ("nonce 33 bytes", {**good, "nonce": b64u_encode(b"n" * 33)}),
        ("voter 31 bytes", {**good, "voter": b64u_encode(b"k" * 31)}),
        ("voter padded", {**good, "voter": good["voter"] + "="}),
        ("voter standard base64", {**good, "voter": b64u_encode(b"\xfb" * 32).replace("-", "+")}),
        ("campaign not a string", {**good, "campaign": 7}),
        ("empty candidate", {**good, "candidate": ""}),
        ("issued_at not a date", {**good, "issued_at": "yesterday"}),
        ("issued_at year 1", {**good, "issued_at": "0001-01-01"}),
        ("issued_at naive", {**good, "issued_at": "2021-12-30T12:00:00"}),
        ("issued_at ISO week date", {**good, "issued_at": "2021-W52-4T12:00:00+08:00"}),
        ("issued_at ordinal date", {**good, "issued_at": "2021-364T12:00:00+08:00"}),
        ("issued_at no seconds", {**good, "issued_at": "2021-12-30T12:00+08:00"}),
        ("issued_at basic format", {**good, "issued_at": "20211230T120000Z"}),
        ("issued_at 30 February", {**good, "issued_at": "2021-02-30T12:00:00Z"}),
        ("issued_at offset +24:00", {**good, "issued_at": "2021-12-30T12:00:00+24:00"}),
        ("issued_at full-width digits", {**good, "issued_at": "２０21-12-30T12:00:00Z"}),
        ("ballot is an array", "[]"),
        ("ballot not JSON", "{"),
        ("duplicate key", json.dumps(good)[:-1] + ',"v":1}'),
        ("NaN", json.dumps(good)[:-1].replace('"v": 1', '"v": NaN') + "}"),
    ]
    out = [(name, body_of(ballot)) for name, ballot in cases]
    text = VOTER.ballot_text()
    sig = json.loads(VOTER.body_for(text))["signature"]
    out += [
        ("signature 63 bytes", body_of(text, b64u_encode(b"s" * 63))),
        ("signature padded", body_of(text, sig + "==")),
        ("signature not a string", body_of(text, 5)),
        ("ballot is an object", json.dumps({"ballot": good, "signature": sig}).encode()),
        ("extra body field", json.dumps({"ballot": text, "signature": sig, "x": 1}).encode()),
        ("body not JSON", b"ballot=1"),
        ("body not UTF-8", b'{"ballot": "\xff", "signature": ""}'),
        ("body is UTF-16", json.dumps({"ballot": text, "signature": sig}).encode("utf-16")),
        ("lone surrogate", b'{"ballot": "\\ud800", "signature": "' + sig.encode() + b'"}'),
        ("deep nesting", b"[" * 2000 + b"]" * 2000),
        ("empty", b""),
    ]
    return out


def test_oversized_bodies_are_refused_before_parsing() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_request(b" " * (MAX_BODY + 1))
    assert parse_request(VOTER.vote_body()).ballot.voter == VOTER.public  # well under 4 KiB


@pytest.mark.parametrize(("name", "body"), _mutations(), ids=[n for n, _ in _mutations()])
def test_malformed_requests_are_refused(name: str, body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse_request(body)


@pytest.mark.parametrize(
    "text",
    ["2021-12-30T12:15:03.000Z", "2021-12-30t04:15:03z", "2021-12-30T20:15:03+08:00",
     "2021-12-30T12:15:03.123456789-05:30"],
)  # fmt: skip
def test_rfc3339_issued_at_is_accepted(text: str) -> None:
    parse_issued_at(text)  # raises BadIssuedAt otherwise


def test_issued_at_must_lie_within_a_day_of_the_window() -> None:
    opens = datetime.fromisoformat("2021-12-29T00:00:00+08:00")
    closes = datetime.fromisoformat("2022-01-10T00:00:00+08:00")
    for inside in ("2021-12-28T00:00:00+08:00", "2022-01-10T23:59:59.999+08:00"):
        check_issued_at(parse_ballot(VOTER.ballot_text(issued_at=inside)), opens, closes)
    for outside in (
        "2021-12-27T23:59:59+08:00",
        "2022-01-11T00:00:00+08:00",
        "2026-12-02T00:00:00Z",
    ):
        ballot = parse_ballot(VOTER.ballot_text(issued_at=outside))
        with pytest.raises(BadIssuedAt) as refused:
            check_issued_at(ballot, opens, closes)
        assert refused.value.code == "malformed_request"
        assert "issued_at" in refused.value.message()["zh"]
        assert "issued_at" in refused.value.message()["en"]


def test_a_ballot_padded_past_the_ceiling_is_malformed() -> None:
    """A padded ballot would make its ledger item cost two write units per vote."""
    compact = json.dumps(
        {
            "v": 1,
            "campaign": "c",
            "candidate": "h01",
            "voter": VOTER.public,
            "nonce": b64u_encode(bytes(16)),
            "issued_at": "2021-12-30T12:00:00+08:00",
        },
        separators=(",", ":"),
    )
    at_ceiling = "{" + " " * (MAX_BALLOT_BYTES - len(compact)) + compact[1:]
    assert parse_request(body_of(at_ceiling)).ballot_text == at_ceiling
    with pytest.raises(MalformedRequest, match="over 448 bytes"):
        parse_request(body_of(" " + at_ceiling))
