"""How public votes and expert scores combine into a ranking: the method and the arithmetic.

The method is set in ``content/campaign.yaml`` under ``results:`` (every key optional)::

    results:
      weights: {public: 0.5, expert: 0.5}   # must add up to 1
      normalisation: max                     # max | share
      tie_break: [expert_score, valid_votes] # then candidate order, always
      announce: {zh: 2022年1月下旬, en: late January 2022}

* ``public_score`` puts valid votes on the experts' 0–100 scale: ``max`` gives the
  list's most-voted candidate 100 and the others their votes in proportion; ``share``
  gives each candidate its percentage of the list's valid votes.
* ``expert_score`` is the mean of the panel's 0–100 scores.
* ``final_score = public weight × public_score + expert weight × expert_score``.
* Rank within each list: final score high to low; equal final scores are ordered by each
  ``tie_break`` key in turn (high to low), and last by the candidate's campaign order
  (low number first), so every rank is decided and reproducible.

All arithmetic is exact (``Fraction``): a tie is a true tie, never a floating-point
accident, and anyone redoing the sums with exact decimals gets the same ranking.
Published numbers are rounded to four decimals only when written out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from ballotbox.core.campaign import Method, MethodError, method_from_json, parse_method

# The method's shape and its validation are part of the campaign's definition, shared
# with the builder: they live in the core (one definition, read from campaign.json).
__all__ = [
    "Count",
    "Method",
    "MethodError",
    "decimal4",
    "method_from_json",
    "parse_method",
    "rank_list",
]


@dataclass(frozen=True, slots=True)
class Count:
    raw: int  # votes that verify and obey the rules
    removed: int  # of those, removed by the organiser's recorded decisions

    @property
    def valid(self) -> int:
        return self.raw - self.removed


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    order: int  # position in the campaign's list, from 1
    raw_votes: int
    removed_votes: int
    valid_votes: int
    public_score: Fraction
    expert_score: Fraction
    final_score: Fraction
    rank: int


def rank_list(
    candidates: Sequence[str],
    counts: Mapping[str, Count],
    expert_scores: Mapping[str, Fraction],
    method: Method,
) -> list[Row]:
    """Score and rank one list; ``candidates`` in campaign order. Rows come back by rank."""
    valid = {c: counts[c].valid if c in counts else 0 for c in candidates}
    scale = max(valid.values(), default=0) if method.normalisation == "max" else sum(valid.values())
    rows: list[Row] = []
    for order, cid in enumerate(candidates, start=1):
        count = counts.get(cid, Count(0, 0))
        public = Fraction(100 * valid[cid], scale) if scale else Fraction(0)
        expert = expert_scores[cid]
        final = method.public_weight * public + method.expert_weight * expert
        rows.append(
            Row(cid, order, count.raw, count.removed, count.valid, public, expert, final, 0)
        )

    def key(row: Row) -> tuple[Fraction | int, ...]:
        ties = tuple(-Fraction(getattr(row, name)) for name in method.tie_break)
        return (-row.final_score, *ties, row.order)

    ranked = sorted(rows, key=key)
    return [replace(r, rank=rank) for rank, r in enumerate(ranked, start=1)]


def decimal4(value: Fraction) -> float:
    """A score as published: four decimals, half-even (exact input, one rounding)."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return float(exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN))
