"""The function's own CPU per vote (warm, store stubbed) against one pynacl verify.

Drives the whole sans-I/O path a Lambda invocation runs for ``POST /api/vote`` —
content checks, parsing, the voter's signature, rules, the receipt signature, the
privacy hashes and the JSON answer — with the in-memory fake store, and divides by
the cost of a single Ed25519 verify. Goal: at most 10x.

    .venv/bin/python bench/vote_cpu.py [--votes 3000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "functions")]

from ballotbox.http import Api, Request  # noqa: E402
from nacl.signing import SigningKey  # noqa: E402

from tests import votekit  # noqa: E402
from tests.votekit import INSIDE, MemoryStore, Voter  # noqa: E402

HEADERS = {"content-type": "application/json", "user-agent": "Mozilla/5.0 MicroMessenger/8.0"}


def per_verify(rounds: int) -> float:
    key = SigningKey.generate()
    message = b'{"v":1,"campaign":"x","candidate":"y"}' * 4
    signed = key.sign(message)
    verify = key.verify_key.verify
    for _ in range(200):  # warm
        verify(signed)
    start = time.process_time()
    for _ in range(rounds):
        verify(signed)
    return (time.process_time() - start) / rounds


def per_vote(bodies: list[bytes]) -> float:
    api = Api(
        campaign=votekit.campaign(),
        signer=votekit.signer(),
        hasher=votekit.hasher(),
        store=MemoryStore(),
        clock=lambda: INSIDE,
    )
    # Voters on many networks, as in the field: the per-network limiter is measured too,
    # and the frozen clock (which never refills a bucket) does not trip it.
    requests = [
        Request("POST", "/api/vote", "", HEADERS, b, f"10.{i // 256 % 256}.{i % 256}.7")
        for i, b in enumerate(bodies)
    ]
    for req in requests[:200]:  # warm: first calls import and allocate
        assert api.handle(req).status == 200
    start = time.process_time()
    for req in requests[200:]:
        assert api.handle(req).code == "recorded"
    return (time.process_time() - start) / (len(requests) - 200)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--votes", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ratios, votes, verifies = [], [], []
    for _ in range(args.repeats):
        bodies = [Voter().vote_body(votekit.CANDIDATES[i % 3]) for i in range(args.votes + 200)]
        v = per_vote(bodies)
        one = per_verify(args.votes)
        votes.append(v)
        verifies.append(one)
        ratios.append(v / one)
    vote_us = statistics.median(votes) * 1e6
    verify_us = statistics.median(verifies) * 1e6
    ratio = statistics.median(ratios)
    print(f"CPU per vote (median of {args.repeats}): {vote_us:.1f} us")
    print(f"one pynacl verify: {verify_us:.1f} us")
    print(f"ratio: {ratio:.2f}x (goal <= 10x) -> {'PASS' if ratio <= 10 else 'FAIL'}")
    return 0 if ratio <= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
