"""``ops.py verify``: re-check an export line by line, trusting nothing the server said.

Every voter signature, the ballot against its line, the vote id's derivation, the day
and the window from the server time, the daily cap, replays, and the server's receipt
signature against ``campaign.json``'s public ``receipt_key``. Lines are streamed; the
memory that remains is what replay and cap detection need (one entry per vote id and
per voter-day-candidate). Exit 0 only when every line passes; otherwise one line per
offending vote, ``vote_id: reason; reason`` (or ``line N: reason`` when a line has no
usable vote id).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ballotbox.core.ballot import parse_ballot
from ballotbox.core.campaign import Campaign, CampaignError
from ballotbox.core.clock import beijing_day, beijing_iso, parse_instant
from ballotbox.core.encoding import b64u_decode
from ballotbox.core.errors import BadSignature, MalformedRequest
from ballotbox.core.formats import FormatError, check_export_line
from ballotbox.core.receipt import receipt_text, vote_id
from ballotbox.core.signature import verify


@dataclass
class Auditor:
    campaign: Campaign
    receipt_key: bytes
    seen_ids: dict[str, int] = field(default_factory=dict)  # vote_id -> first line
    seen_nonces: set[tuple[str, str]] = field(default_factory=set)
    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def check(self, line_no: int, text: str) -> tuple[str, list[str]]:
        """(who, reasons) for one export line; no reasons means the vote is sound."""
        try:
            obj = json.loads(text)
        except ValueError:
            return f"line {line_no}", ["not JSON"]
        if not isinstance(obj, dict):
            return f"line {line_no}", ["not a JSON object"]
        vid = obj.get("vote_id")
        who = vid if isinstance(vid, str) and vid else f"line {line_no}"
        try:
            line = check_export_line(obj)
        except FormatError as exc:
            return who, [f"{exc} (line {line_no})"]
        return who, self._check_vote(line_no, line)

    def _check_vote(self, line_no: int, line: dict[str, Any]) -> list[str]:
        reasons: list[str] = []
        vid = line["vote_id"]
        replayed = vid in self.seen_ids
        if replayed:
            reasons.append(f"replay: vote_id already on line {self.seen_ids[vid]}")
        else:
            self.seen_ids[vid] = line_no
        try:
            ballot_bytes = line["ballot"].encode("utf-8")
            ballot = parse_ballot(line["ballot"])
        except (MalformedRequest, UnicodeEncodeError):
            return [*reasons, f"ballot is malformed (line {line_no})"]
        try:
            verify(ballot.voter_key, ballot_bytes, b64u_decode(line["signature"]))
        except (BadSignature, ValueError):
            reasons.append("voter signature does not verify")
        if ballot.voter != line["voter"]:
            reasons.append("ballot voter differs from the line's")
        if ballot.candidate != line["candidate"]:
            reasons.append("ballot candidate differs from the line's")
        if ballot.campaign != self.campaign.id:
            reasons.append(f"ballot is for campaign {ballot.campaign!r}")
        if not self.campaign.has_candidate(ballot.candidate):
            reasons.append(f"unknown candidate {ballot.candidate!r}")
        if vote_id(ballot.voter_key, ballot.nonce_bytes) != vid:
            reasons.append("vote_id is not SHA-256(voter || nonce)")
        nonce_key = (ballot.voter, ballot.nonce)
        if nonce_key in self.seen_nonces and not replayed:
            reasons.append("replay: voter and nonce already used")
        self.seen_nonces.add(nonce_key)
        reasons += self._check_time(line)
        # The cap's subject: the person in wechat mode (a second key is the same voter).
        subject = line.get("person") or line["voter"]
        key = (subject, line["day"], line["candidate"])
        # A replayed line is already reported; it must not also count as a second vote.
        n = self.counts[key] = self.counts.get(key, 0) + (0 if replayed else 1)
        if n > self.campaign.daily_cap and not replayed:
            reasons.append(
                f"over the daily cap: vote {n} of {self.campaign.daily_cap} for"
                f" {line['candidate']} on {line['day']}"
            )
        reasons += self._check_receipt(line, ballot_bytes)
        return reasons

    def _check_time(self, line: dict[str, Any]) -> list[str]:
        try:
            at = parse_instant(line["recorded_at"])
        except ValueError:
            return ["recorded_at is not an ISO 8601 instant with an offset"]
        reasons = []
        if beijing_iso(at) != line["recorded_at"]:
            reasons.append("recorded_at is not Beijing time with milliseconds")
        if beijing_day(at) != line["day"]:
            reasons.append(f"day {line['day']} does not match recorded_at")
        if not self.campaign.opens <= at < self.campaign.closes:
            reasons.append("recorded outside the voting window")
        return reasons

    def _check_receipt(self, line: dict[str, Any], ballot_bytes: bytes) -> list[str]:
        expected = receipt_text(
            campaign=self.campaign.id,
            vote_id=line["vote_id"],
            candidate=line["candidate"],
            voter=line["voter"],
            day=line["day"],
            recorded_at=line["recorded_at"],
            ballot_bytes=ballot_bytes,
        )
        reasons = []
        if line["receipt"] != expected:
            reasons.append("receipt does not match the vote")
        try:
            verify(
                self.receipt_key,
                line["receipt"].encode("utf-8"),
                b64u_decode(line["receipt_signature"]),
            )
        except (BadSignature, ValueError, UnicodeEncodeError):
            reasons.append("receipt signature does not verify with campaign.json's receipt_key")
        return reasons


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    # errors="replace": a corrupt byte makes one bad line, never a crash.
    with path.open(encoding="utf-8", errors="replace", newline="\n") as fh:
        for number, text in enumerate(fh, start=1):
            if text.strip():
                yield number, text


def _progress(lines: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    if not sys.stderr.isatty():
        return lines
    from tqdm import tqdm

    it: Iterator[tuple[int, str]] = tqdm(lines, unit=" votes", desc="verify", file=sys.stderr)
    return it


def load_auditor(campaign_path: Path) -> Auditor:
    data = json.loads(campaign_path.read_text("utf-8"))
    campaign = Campaign.from_dict(data)
    try:
        key = b64u_decode(str(data.get("receipt_key", "")))
    except ValueError as exc:
        raise CampaignError("receipt_key is not base64url") from exc
    if len(key) != 32:
        raise CampaignError("campaign.json needs the 32-byte receipt_key")
    return Auditor(campaign, key)


def run(args: argparse.Namespace) -> int:
    try:
        auditor = load_auditor(args.campaign)
    except (OSError, ValueError) as exc:  # CampaignError is a ValueError
        print(f"verify: cannot use {args.campaign}: {exc}", file=sys.stderr)
        return 1
    checked = offending = 0
    try:
        for number, text in _progress(_lines(args.file)):
            who, reasons = auditor.check(number, text)
            checked += 1
            if reasons:
                offending += 1
                print(f"{who}: {'; '.join(reasons)}", flush=False)
    except OSError as exc:
        print(f"verify: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    print(f"verified {checked} votes: {offending} offending", file=sys.stderr)
    return 1 if offending else 0


def register(sub: Any) -> None:
    parser = sub.add_parser("verify", help="re-check every vote of an export", description=__doc__)
    parser.add_argument("file", type=Path, help="an export from `ops.py export`")
    parser.add_argument(
        "--campaign", type=Path, default=Path("dist/campaign.json"), help="default %(default)s"
    )
    parser.set_defaults(run=run)
