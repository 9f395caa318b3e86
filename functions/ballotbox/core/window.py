"""The voting window ``[opens, closes)``, decided by the server's clock only."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ballotbox.core.campaign import Campaign
from ballotbox.core.errors import VotingClosed, VotingNotOpen

State = Literal["not_open", "open", "closed"]


def window_state(campaign: Campaign, now: datetime) -> State:
    if now < campaign.opens:
        return "not_open"
    if now >= campaign.closes:
        return "closed"
    return "open"


def require_open(campaign: Campaign, now: datetime) -> None:
    state = window_state(campaign, now)
    if state == "not_open":
        raise VotingNotOpen
    if state == "closed":
        raise VotingClosed
