"""The hottest DynamoDB item at 10,000 votes/s: a deterministic simulation.

The budget (bench/README.md, "Budgets"): no single item takes more than 100 writes/s
at 10,000 votes/s. A vote writes exactly two items in one transaction (``DynamoStore.record``):
its own ledger item (key = vote id, unique per voter and nonce) and its
voter-day-candidate cap counter. There is no global counter. So the hot items can only
be a ledger item hit by replays, or a counter hit by one voter voting fast; this
simulation builds a realistic mix, counts every write *attempt* (a refused conditional
write still costs a write on that item) per item per second, and reports the maximum.

Mix (per simulated second, about 10,000 attempts in all):
- people: sessions arrive at random; each picks a few candidates by popularity (Zipf
  over 24 candidates) and casts 1 to 5 votes for each, at human pace (a confirmation
  step between taps: 1.5 to 6 s apart); a page retries about 2 % of its votes (offline
  queue, timeouts) 1 to 15 s later with the same ballot: same ledger item, refused;
- scripts: 40 ballot-stuffing clients, each hammering one voter key and one candidate
  at the WAF's per-address limit (3,000 requests / 5 min = 10/s) with fresh nonces.

Run: ``python bench/dynamo_hot_items.py`` (about 10 s on 2 cores). Seed fixed: the
numbers are reproducible.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from dataclasses import dataclass

CANDIDATES = 24
DAILY_CAP = 5
WAF_LIMIT_PER_S = 3000 / 300  # infra/waf.yaml ApiRateLimit per 5 minutes
GOAL = 100


@dataclass(frozen=True)
class Result:
    attempts: int
    seconds: int
    ledger_max: int
    caps_max: int
    ledger_items: int
    caps_items: int

    @property
    def hottest(self) -> int:
        return max(self.ledger_max, self.caps_max)


def simulate(rate: int = 10_000, seconds: int = 30, bots: int = 40, seed: int = 2021) -> Result:
    rng = random.Random(seed)
    popularity = [1 / (rank + 1) ** 1.1 for rank in range(CANDIDATES)]
    ledger: Counter[tuple[str, int]] = Counter()
    caps: Counter[tuple[str, int]] = Counter()
    attempts = 0
    next_vote = 0

    def write(vote_id: str, counter: str, at: float) -> None:
        nonlocal attempts
        second = int(at)
        if 0 <= second < seconds:
            ledger[(vote_id, second)] += 1
            caps[(counter, second)] += 1
            attempts += 1

    # Scripts: one voter key and candidate each, at the WAF limit, fresh nonce per try.
    for bot in range(bots):
        start = rng.uniform(0, 1)
        for n in range(int(seconds * WAF_LIMIT_PER_S)):
            write(f"bot{bot}-{n}", f"bot{bot}#c0", start + n / WAF_LIMIT_PER_S)

    # People: arrive until the total reaches rate * seconds.
    voter = 0
    target = rate * seconds
    while attempts < target:
        voter += 1
        at = rng.uniform(-10, seconds)  # sessions already under way when we start
        picks = rng.choices(range(CANDIDATES), weights=popularity, k=rng.randint(1, 6))
        for candidate in dict.fromkeys(picks):
            for _ in range(rng.choice([1, 1, 1, 2, 3, 5])):
                at += rng.uniform(1.5, 6.0)
                next_vote += 1
                vote_id = f"v{next_vote}"
                counter = f"p{voter}#c{candidate}"
                write(vote_id, counter, at)
                if rng.random() < 0.02:  # the page resends the same ballot later
                    write(vote_id, counter, at + rng.uniform(1, 15))
    return Result(
        attempts=attempts,
        seconds=seconds,
        ledger_max=max(ledger.values()),
        caps_max=max(caps.values()),
        ledger_items=len({key for key, _ in ledger}),
        caps_items=len({key for key, _ in caps}),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=10_000, help="votes per second")
    parser.add_argument("--seconds", type=int, default=30, help="simulated seconds")
    parser.add_argument("--seed", type=int, default=2021)
    args = parser.parse_args()
    result = simulate(args.rate, args.seconds, seed=args.seed)
    print(f"write attempts: {result.attempts:,} in {result.seconds} s "
          f"({result.attempts / result.seconds:,.0f}/s)")  # fmt: skip
    print(f"ledger items: {result.ledger_items:,}; hottest: {result.ledger_max} writes/s")
    print(f"cap counters: {result.caps_items:,}; hottest: {result.caps_max} writes/s")
    verdict = "within" if result.hottest <= GOAL else "OVER"
    print(f"hottest item: {result.hottest} writes/s ({verdict} the goal of {GOAL})")
    return 0 if result.hottest <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
