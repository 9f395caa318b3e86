"""The campaign's shape, defined once: what ``dist/campaign.json`` carries and every part reads.

The builder (``sitegen``) reads ``content/campaign.yaml`` with line numbers for its
error messages, validates it with the rules below and writes ``campaign.json``; the
vote function, ``build.py serve`` and the ops tools (``verify``, ``tally``, ``audit``)
read that file back through ``Campaign.from_dict``. The format is in
docs/file-formats.md. Pure: no file is opened here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any, Literal

from ballotbox.core.clock import parse_instant
from ballotbox.core.identity import IdentityConfigError, IdentityPolicy


class CampaignError(ValueError):
    """campaign.json does not describe a usable campaign (a deployment error)."""


@dataclass(frozen=True, slots=True)
class ListSpec:
    """One list of candidates: its ``kind`` (each candidate's) and how many it selects."""

    kind: str
    select: int

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "select": self.select}


# ---------------------------------------------------------------------------
# The results method (``results:`` in campaign.yaml; opstools/scoring.py does the sums)


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


# ---------------------------------------------------------------------------
# The campaign


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    opens: datetime  # inclusive
    closes: datetime  # exclusive
    daily_cap: int
    candidates: tuple[str, ...]  # in campaign order
    receipt_key: str | None = None  # the public half, for auditors
    # Who counts as one voter; absent from campaign.json means "device" (the plain ballot).
    identity: IdentityPolicy = field(default_factory=IdentityPolicy)
    #: The lists and the results method, for the ops tools (absent from a campaign.json
    #: written before they were added: the vote function needs neither).
    lists: tuple[ListSpec, ...] = ()
    method: Method | None = None
    #: Each candidate's list kind, aligned with ``candidates``.
    kinds: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Campaign:
        try:
            cid = data["id"]
            opens = parse_instant(data["opens"])
            closes = parse_instant(data["closes"])
            cap = data["daily_cap"]
            candidates = tuple(c["id"] for c in data["candidates"])
            kinds = tuple(c.get("kind", "") for c in data["candidates"])
            receipt_key = data.get("receipt_key")
            identity = IdentityPolicy.from_dict(data.get("identity"))
            lists = tuple(parse_list(item) for item in data.get("lists", ()))
            method = method_from_json(data["results"]) if "results" in data else None
        except IdentityConfigError as exc:
            raise CampaignError(f"campaign.json: {exc}") from exc
        except MethodError as exc:
            raise CampaignError(f"campaign.json: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise CampaignError(f"campaign.json is incomplete: {exc}") from exc
        if not isinstance(cid, str) or not cid:
            raise CampaignError("campaign id must be a non-empty string")
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise CampaignError("daily_cap must be a positive integer")
        if not opens < closes:
            raise CampaignError("opens must come before closes")
        if not candidates or not all(isinstance(c, str) and c for c in candidates):
            raise CampaignError("candidates need non-empty string ids")
        if len(set(candidates)) != len(candidates):
            raise CampaignError("candidate ids must be unique")
        if not all(isinstance(k, str) for k in kinds):
            raise CampaignError("a candidate's kind must be a string")
        if len({spec.kind for spec in lists}) != len(lists):
            raise CampaignError("two lists share a kind")
        return cls(cid, opens, closes, cap, candidates, receipt_key, identity, lists, method, kinds)

    def has_candidate(self, candidate: str) -> bool:
        return candidate in self.candidates

    def members(self, kind: str) -> list[str]:
        """The candidates of one list, in campaign order."""
        return [c for c, k in zip(self.candidates, self.kinds, strict=True) if k == kind]


def parse_list(item: Any) -> ListSpec:
    """One entry of campaign.json's ``lists``."""
    if not isinstance(item, Mapping):
        raise CampaignError("each entry of lists must be an object")
    kind, select = item.get("kind"), item.get("select")
    if not isinstance(kind, str) or not kind:
        raise CampaignError("a list needs a non-empty kind")
    if isinstance(select, bool) or not isinstance(select, int) or select < 1:
        raise CampaignError(f"list {kind!r}: select must be a whole number ≥ 1")
    return ListSpec(kind, select)
