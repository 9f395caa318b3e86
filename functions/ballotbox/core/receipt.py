"""The server-signed receipt: proof for the voter that their exact ballot was recorded."""

from __future__ import annotations

import hashlib
import json

from ballotbox.core.encoding import b64u_encode


def vote_id(voter_key: bytes, nonce: bytes) -> str:
    """First 16 bytes of SHA-256(voter key || nonce): one id per voter and nonce."""
    return b64u_encode(hashlib.sha256(voter_key + nonce).digest()[:16])


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def receipt_text(
    *,
    campaign: str,
    vote_id: str,
    candidate: str,
    voter: str,
    day: str,
    recorded_at: str,
    ballot_bytes: bytes,
) -> str:
    """The receipt JSON text the server signs (canonical, so auditors can rebuild it)."""
    return canonical_json(
        {
            "v": 1,
            "campaign": campaign,
            "vote_id": vote_id,
            "candidate": candidate,
            "voter": voter,
            "day": day,
            "recorded_at": recorded_at,
            "ballot_sha256": b64u_encode(hashlib.sha256(ballot_bytes).digest()),
        }
    )
