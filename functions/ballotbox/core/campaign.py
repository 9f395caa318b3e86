"""The rules of one campaign, read from ``dist/campaign.json``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ballotbox.core.clock import parse_instant
from ballotbox.core.identity import IdentityConfigError, IdentityPolicy


class CampaignError(ValueError):
    """campaign.json does not describe a usable campaign (a deployment error)."""


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    opens: datetime  # inclusive
    closes: datetime  # exclusive
    daily_cap: int
    candidates: tuple[str, ...]  # in campaign order
    receipt_key: str | None = None  # the public half, for auditors
    # Who counts as one voter; absent from campaign.json means "device" (DESIGN's ballot).
    identity: IdentityPolicy = field(default_factory=IdentityPolicy)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Campaign:
        try:
            cid = data["id"]
            opens = parse_instant(data["opens"])
            closes = parse_instant(data["closes"])
            cap = data["daily_cap"]
            candidates = tuple(c["id"] for c in data["candidates"])
            receipt_key = data.get("receipt_key")
            identity = IdentityPolicy.from_dict(data.get("identity"))
        except IdentityConfigError as exc:
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
        return cls(cid, opens, closes, cap, candidates, receipt_key, identity)

    def has_candidate(self, candidate: str) -> bool:
        return candidate in self.candidates
