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
from typing import Any, Literal

Normalisation = Literal["max", "share"]
TieKey = Literal["expert_score", "public_score", "valid_votes"]
NORMALISATIONS: tuple[Normalisation, ...] = ("max", "share")
TIE_KEYS: tuple[TieKey, ...] = ("expert_score", "public_score", "valid_votes")
SETTINGS_KEYS = ("weights", "normalisation", "tie_break", "announce")

DEFAULT_WEIGHTS = (Fraction(1, 2), Fraction(1, 2))
DEFAULT_NORMALISATION: Normalisation = "max"
DEFAULT_TIE_BREAK: tuple[TieKey, ...] = ("expert_score", "valid_votes")


class MethodError(ValueError):
    """The ``results:`` settings are not a usable method; names the key to fix."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"results.{key}: {message}")
        self.key = key


@dataclass(frozen=True, slots=True)
class Method:
    public_weight: Fraction
    expert_weight: Fraction
    normalisation: Normalisation
    tie_break: tuple[TieKey, ...]
    announce: Mapping[str, str] | None = None  # when results will be published, per language

    def to_json(self) -> dict[str, Any]:
        """The method as results.json records it (without the announcement)."""
        return {
            "weights": {
                "public": _number(self.public_weight),
                "expert": _number(self.expert_weight),
            },
            "normalisation": self.normalisation,
            "tie_break": [*self.tie_break, "order"],
        }


def _number(value: Fraction) -> float | str:
    """A weight for JSON: a plain number when one is exact, else the fraction as text."""
    as_float = float(value)
    return as_float if Fraction(str(as_float)) == value else str(value)


def _weight(value: object, key: str) -> Fraction:
    # Through str(): the YAML 0.1 is the float 0.1000000000000000055…, the organiser meant 1/10.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MethodError(key, "must be a number between 0 and 1")
    try:
        weight = Fraction(str(value))
    except (ValueError, ZeroDivisionError) as exc:
        raise MethodError(key, "must be a number between 0 and 1") from exc
    if not 0 <= weight <= 1:
        raise MethodError(key, "must be a number between 0 and 1")
    return weight


def parse_method(settings: Mapping[str, Any], languages: Sequence[str]) -> Method:
    """Validate the ``results:`` mapping; missing keys take the documented defaults."""
    for key in settings:
        if key not in SETTINGS_KEYS:
            raise MethodError(str(key), f"unknown key (allowed: {', '.join(SETTINGS_KEYS)})")
    public, expert = DEFAULT_WEIGHTS
    if "weights" in settings:
        weights = settings["weights"]
        if not isinstance(weights, Mapping) or set(weights) != {"public", "expert"}:
            raise MethodError("weights", "must be {public: X, expert: Y}")
        public = _weight(weights["public"], "weights.public")
        expert = _weight(weights["expert"], "weights.expert")
        if public + expert != 1:
            raise MethodError("weights", "public and expert must add up to 1")
    normalisation = settings.get("normalisation", DEFAULT_NORMALISATION)
    if normalisation not in NORMALISATIONS:
        raise MethodError("normalisation", f"must be one of {', '.join(NORMALISATIONS)}")
    tie_break = settings.get("tie_break", list(DEFAULT_TIE_BREAK))
    if (
        not isinstance(tie_break, list)
        or not all(k in TIE_KEYS for k in tie_break)
        or len(set(tie_break)) != len(tie_break)
    ):
        raise MethodError(
            "tie_break", f"must list distinct keys from {', '.join(TIE_KEYS)} (order is last)"
        )
    announce = settings.get("announce")
    if announce is not None:
        if not isinstance(announce, Mapping) or set(announce) != set(languages):
            raise MethodError("announce", f"must give a text for each of {', '.join(languages)}")
        if not all(isinstance(v, str) and v.strip() for v in announce.values()):
            raise MethodError("announce", "texts must not be empty")
        announce = {str(k): str(v).strip() for k, v in announce.items()}
    return Method(public, expert, normalisation, tuple(tie_break), announce)


def method_from_json(data: Mapping[str, Any]) -> Method:
    """Read the method back from results.json (for the audit)."""
    return parse_method(
        {
            "weights": data["weights"],
            "normalisation": data["normalisation"],
            "tie_break": [k for k in data["tie_break"] if k != "order"],
        },
        (),
    )


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
