"""A voter's requests through the emulated edge, as the vote page makes them (no browser)."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ballotbox.core.identity import solve

from tests.votekit import Voter

UA = "Mozilla/5.0 (Linux; Android 12) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == "content-type"), "")


def call(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> Reply:
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"User-Agent": UA, **(headers or {})})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return Reply(answer.status, dict(answer.headers), answer.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


def post_json(url: str, body: bytes, headers: dict[str, str] | None = None) -> Reply:
    """A POST as the page sends it: JSON, with the body's SHA-256 for origin access control."""
    digest = hashlib.sha256(body).hexdigest()
    sent = {"Content-Type": "application/json", "x-amz-content-sha256": digest, **(headers or {})}
    return call(url, "POST", body, sent)


def pow_credential(base: str, voter: Voter) -> Reply:
    """device+pow: a challenge, its solution, and the credential it buys."""
    challenge = call(f"{base}/api/challenge?voter={voter.public}")
    if challenge.status != 200:
        return challenge
    doc = challenge.json()
    proof = f"{doc['challenge']}:{solve(doc['challenge'], doc['difficulty'])}"
    body = json.dumps({"voter": voter.public}).encode()
    return post_json(f"{base}/api/credential", body, {"X-Proof-Of-Work": proof})


def vote(base: str, voter: Voter, campaign: str, candidate: str, credential: str = "") -> Reply:
    # The function keeps real time and checks issued_at against its window: now, as a phone sends.
    issued_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = voter.vote_body(candidate, campaign_id=campaign, issued_at=issued_at)
    headers = {"X-Vote-Credential": credential} if credential else {}
    return post_json(f"{base}/api/vote", body, headers)


def status(base: str, voter: Voter, credential: str = "") -> Reply:
    headers = {"X-Vote-Credential": credential} if credential else {}
    return call(f"{base}/api/status?voter={voter.public}", headers=headers)
