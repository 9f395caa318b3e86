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


#: The tally time the published results fixtures carry, so their pages are stable.
TALLIED_AT = "2022-01-20T10:00:00.000+08:00"


def build_published(tmp: Path, tallied_at: str = TALLIED_AT) -> dict[str, Any]:
    """The real campaign tallied from a fixed ledger, then built with its results.

    One removal (a ``remove`` flag) so the pages show every kind of number.
    """
    import ops
    from sitegen.build import build_site

    dist = tmp / "dist"
    build_site(dist, receipt_key=signer().public_key_b64)
    campaign = json.loads((dist / "campaign.json").read_text("utf-8"))
    ids = [c["id"] for c in campaign["candidates"]]
    lines = fixed_ledger(campaign["id"], {c: (i * 7) % 23 + 1 for i, c in enumerate(ids)})
    ledger = write_jsonl(tmp / "ledger.jsonl", lines)
    experts = tmp / "experts.csv"
    experts.write_text(
        experts_csv({c: [(i * 13) % 101, (i * 29) % 101, 60] for i, c in enumerate(ids)}),
        "utf-8",
    )
    flags = tmp / "flags.json"
    removal = {"vote_id": lines[0]["vote_id"], "level": "remove", "reasons": ["burst", "batch"]}
    flags.write_text(json.dumps({"votes": [removal], "voters": [], "windows": []}), "utf-8")
    out = tmp / "public" / "results.json"
    argv = ["tally", str(ledger), "--experts", str(experts), "--flags", str(flags)]
    argv += ["--campaign", str(dist / "campaign.json"), "--out", str(out)]
    assert ops.main(argv) == 0
    results = json.loads(out.read_text("utf-8"))
    results["tallied_at"] = tallied_at  # results.json is not among its own hashes
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1), "utf-8")
    build_site(dist, receipt_key=signer().public_key_b64, results=out)
    return {"dist": dist, "lines": lines, "results": results, "out": out, "tmp": tmp}
