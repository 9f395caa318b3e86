"""Test helpers for the results tools: real signed ledgers and the files around them.

Every export line is made exactly as the vote function makes it: a voter's Ed25519
signature over the ballot text, the vote id from the voter key and nonce, and the
server-signed canonical receipt (``ballotbox.core.receipt``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ballotbox.core.clock import beijing_day, beijing_iso
from ballotbox.core.receipt import receipt_text, vote_id

from tests.votekit import CAMPAIGN_ID, INSIDE, Voter, campaign_dict, signer


def export_line(
    voter: Voter,
    candidate: str,
    at: datetime = INSIDE,
    *,
    nonce: bytes | None = None,
    campaign_id: str = CAMPAIGN_ID,
) -> dict[str, Any]:
    """One export line as ``ops.py export`` writes it, signed by the voter and the server."""
    nonce = nonce if nonce is not None else secrets.token_bytes(16)
    ballot = voter.ballot_text(candidate, nonce=nonce, campaign_id=campaign_id)
    body = json.loads(voter.body_for(ballot))
    vid = vote_id(voter.key.verify_key.encode(), nonce)
    receipt = receipt_text(
        campaign=campaign_id,
        vote_id=vid,
        candidate=candidate,
        voter=voter.public,
        day=beijing_day(at),
        recorded_at=beijing_iso(at),
        ballot_bytes=ballot.encode("utf-8"),
    )
    return {
        "vote_id": vid,
        "voter": voter.public,
        "candidate": candidate,
        "day": beijing_day(at),
        "recorded_at": beijing_iso(at),
        "ballot": ballot,
        "signature": body["signature"],
        "net": "bmV0LWhhc2gtMDAwMQ",
        "ua": "dWEtaGFzaC0wMDAx",
        "nonce": json.loads(ballot)["nonce"],
        "receipt": receipt,
        "receipt_signature": signer().sign(receipt.encode("utf-8")),
    }


def ledger(plan: dict[str, int], voters: int = 3) -> list[dict[str, Any]]:
    """``plan[candidate]`` votes each, spread over voters and days within the cap."""
    people = [Voter() for _ in range(voters)]
    lines = []
    for candidate, n in plan.items():
        for i in range(n):
            at = INSIDE + timedelta(days=i // (5 * voters), seconds=i)
            lines.append(export_line(people[i % voters], candidate, at))
    return lines


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    return path


def write_inputs(tmp: Path) -> dict[str, Path]:
    """campaign.json for the votekit campaign (lists and results method included), in ``tmp``."""
    campaign = tmp / "campaign.json"
    campaign.write_text(json.dumps(campaign_dict(), ensure_ascii=False), "utf-8")
    return {"campaign": campaign}


def experts_csv(scores: dict[str, list[int]]) -> str:
    """One expert column per position: ``scores[candidate][k]`` is expert k's score."""
    rows = ["candidate,expert,score"]
    for candidate, values in scores.items():
        rows += [f"{candidate},expert{k + 1},{v}" for k, v in enumerate(values)]
    return "\n".join(rows) + "\n"


def fixed_voter(i: int) -> Voter:
    """A voter whose key, and so every signature, is the same on every run (goldens)."""
    from nacl.signing import SigningKey

    return Voter(key=SigningKey(hashlib.sha256(b"voter %d" % i).digest()))


def fixed_ledger(campaign_id: str, plan: dict[str, int], voters: int = 4) -> list[dict[str, Any]]:
    """Like ``ledger`` but reproducible byte for byte: fixed keys, nonces and times."""
    people = [fixed_voter(i) for i in range(voters)]
    lines = []
    serial = 0
    for candidate, n in plan.items():
        for i in range(n):
            serial += 1
            at = INSIDE + timedelta(days=i // (5 * voters), seconds=serial)
            nonce = hashlib.sha256(b"nonce %d" % serial).digest()[:16]
            lines.append(
                export_line(people[i % voters], candidate, at, nonce=nonce, campaign_id=campaign_id)
            )
    return lines
