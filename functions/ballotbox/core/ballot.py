"""Parse a vote request and its ballot, refusing anything not exactly as docs/http-api.md says.

The body is ``{"ballot": "<JSON text>", "signature": "<base64url>"}``. The ballot stays
*text*: the signature covers its exact UTF-8 bytes, and the ledger keeps that text
verbatim, so an auditor can re-verify it without any canonicalisation rules.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ballotbox.core.encoding import b64u_decode
from ballotbox.core.errors import BadIssuedAt, MalformedRequest, PayloadTooLarge

MAX_BODY = 4096
#: The ballot text's ceiling. A compact ballot with the longest ids the build accepts
#: (``sitegen.content.MAX_ID_LENGTH``) is about 320 bytes; the ceiling keeps a padded
#: ballot from pushing the ledger item past 1 KB, where every vote would cost twice
#: the write units docs/runbook.md prices (tests/test_dynamodb_store.py measures it).
MAX_BALLOT_BYTES = 448
VOTER_KEY_BYTES = 32
SIGNATURE_BYTES = 64
NONCE_MIN, NONCE_MAX = 16, 32
BALLOT_FIELDS = frozenset({"v", "campaign", "candidate", "voter", "nonce", "issued_at"})
BODY_FIELDS = frozenset({"ballot", "signature"})
#: RFC 3339 section 5.6 date-time: calendar dates only (no ISO week or ordinal dates),
#: seconds required, an explicit offset (``Z`` or ``+hh:mm``; no naive local times).
RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
#: How far ``issued_at`` may lie outside the window: a phone's clock is off by minutes
#: to hours, and a ballot signed offline is sent when the network is back.
ISSUED_AT_SLACK = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Ballot:
    campaign: str
    candidate: str
    voter: str  # base64url, as sent (canonical: decoding is strict)
    voter_key: bytes
    nonce: str
    nonce_bytes: bytes
    issued_at: str  # the client's clock; informational only


@dataclass(frozen=True, slots=True)
class VoteRequest:
    ballot_text: str
    ballot_bytes: bytes  # what the signature covers
    signature: str
    signature_bytes: bytes
    ballot: Ballot


def strict_json(text: str, what: str) -> Any:
    """``json.loads`` that refuses duplicate keys, NaN/Infinity and deep nesting alike."""
    try:
        return json.loads(
            text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant
        )
    except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." past the stack
        raise MalformedRequest(f"{what} is not JSON") from exc


def parse_issued_at(text: str) -> datetime:
    """An RFC 3339 date-time with its offset, or ``BadIssuedAt``."""
    match = RFC3339.fullmatch(text)
    if match is None:
        raise BadIssuedAt("issued_at is not RFC 3339 with an offset")
    day, clock, fraction, offset = match.groups()
    # Python's parser takes microseconds: finer digits are truncated, not rounded.
    micro = f".{(fraction or '')[:6]:0<6}"
    try:
        return datetime.fromisoformat(
            f"{day}T{clock}{micro}{'+00:00' if offset in 'Zz' else offset}"
        )
    except ValueError as exc:  # 2021-02-30, 25:00:00, +24:00
        raise BadIssuedAt("issued_at is not a real time") from exc


def check_issued_at(ballot: Ballot, opens: datetime, closes: datetime) -> None:
    """Refuse an ``issued_at`` more than a day outside ``[opens, closes)``."""
    issued = parse_issued_at(ballot.issued_at)
    if not opens - ISSUED_AT_SLACK <= issued < closes + ISSUED_AT_SLACK:
        raise BadIssuedAt("issued_at is not within a day of the voting window")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two values for one key would let a reader and the signer disagree on the ballot.
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise MalformedRequest("duplicate key in JSON object")
    return dict(pairs)


def _refuse_constant(name: str) -> Any:
    raise MalformedRequest(f"{name} is not JSON")


def _object(text: str, what: str, fields: frozenset[str]) -> dict[str, Any]:
    value = strict_json(text, what)
    if not isinstance(value, dict):
        raise MalformedRequest(f"{what} is not a JSON object")
    if value.keys() != fields:
        raise MalformedRequest(f"{what} must have exactly the fields {sorted(fields)}")
    return value


def _string(obj: dict[str, Any], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str) or not value:
        raise MalformedRequest(f"{key} must be a non-empty string")
    return value


def _bytes(obj: dict[str, Any], key: str, low: int, high: int) -> tuple[str, bytes]:
    text = _string(obj, key)
    try:
        raw = b64u_decode(text)
    except ValueError as exc:
        raise MalformedRequest(f"{key} is not base64url") from exc
    if not low <= len(raw) <= high:
        raise MalformedRequest(f"{key} must be {low}..{high} bytes")
    return text, raw


def parse_voter_key(voter: str) -> bytes:
    """A voter key given on its own (status, credential requests): 32 bytes of base64url."""
    try:
        key = b64u_decode(voter)
    except ValueError as exc:
        raise MalformedRequest("voter is not base64url") from exc
    if len(key) != VOTER_KEY_BYTES:
        raise MalformedRequest("voter must be a 32-byte key")
    return key


def parse_ballot(text: str) -> Ballot:
    obj = _object(text, "ballot", BALLOT_FIELDS)
    v = obj["v"]
    if type(v) is not int or v != 1:  # bool is an int subclass: type() excludes True
        raise MalformedRequest("v must be the integer 1")
    voter, voter_key = _bytes(obj, "voter", VOTER_KEY_BYTES, VOTER_KEY_BYTES)
    nonce, nonce_bytes = _bytes(obj, "nonce", NONCE_MIN, NONCE_MAX)
    issued_at = _string(obj, "issued_at")
    parse_issued_at(issued_at)
    return Ballot(
        campaign=_string(obj, "campaign"),
        candidate=_string(obj, "candidate"),
        voter=voter,
        voter_key=voter_key,
        nonce=nonce,
        nonce_bytes=nonce_bytes,
        issued_at=issued_at,
    )


def parse_request(body: bytes) -> VoteRequest:
    """Parse a POST /api/vote body; raise ``MalformedRequest`` for anything else.

    ``PayloadTooLarge`` for a body over 4 KiB, before any parsing.
    """
    if len(body) > MAX_BODY:  # adapters check first; the core never trusts them
        raise PayloadTooLarge
    try:
        text = body.decode("utf-8")  # json.loads would also guess UTF-16/32; we do not
    except UnicodeDecodeError as exc:
        raise MalformedRequest("body is not UTF-8") from exc
    obj = _object(text, "body", BODY_FIELDS)
    ballot_text = obj["ballot"]
    if not isinstance(ballot_text, str):
        raise MalformedRequest("ballot must be a string holding JSON text")
    try:
        ballot_bytes = ballot_text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate escaped in the body
        raise MalformedRequest("ballot is not valid Unicode") from exc
    if len(ballot_bytes) > MAX_BALLOT_BYTES:
        raise MalformedRequest(f"ballot is over {MAX_BALLOT_BYTES} bytes")
    signature, signature_bytes = _bytes(obj, "signature", SIGNATURE_BYTES, SIGNATURE_BYTES)
    return VoteRequest(
        ballot_text=ballot_text,
        ballot_bytes=ballot_bytes,
        signature=signature,
        signature_bytes=signature_bytes,
        ballot=parse_ballot(ballot_text),
    )
