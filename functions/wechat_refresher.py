"""The scheduled WeChat ticket refresher (issue 16): the cloud's one refresher.

EventBridge runs it every 5 minutes with a reserved concurrency of 1, so there is never
a second refresher. It runs in a VPC whose NAT gateway has an Elastic IP: WeChat only
answers callers on the Official Account's IP whitelist, and that address is the one to
put there (the stack's ``ShareEgressIp`` output).

Each run reads its state (access_token included) from one SSM SecureString, refreshes
the token and ticket only when they are due (``ballotbox.jssdk.refresh``), and writes
the ticket alone to a second SecureString that the vote function reads: the vote
function never sees the access_token.

Environment: ``WECHAT_SECRET_PARAM`` (the AppSecret), ``WECHAT_STATE_PARAM``,
``WECHAT_TICKET_PARAM``, ``CAMPAIGN_FILE`` (for the AppID) and optionally
``WECHAT_API_BASE``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

DEFAULT_CAMPAIGN_FILE = Path(__file__).resolve().with_name("campaign.json")
#: Inside one run, follow short backoffs (WeChat's "system busy") up to this long.
MAX_WAIT_IN_RUN = 20.0


def _read(ssm: Any, name: str) -> str | None:
    try:
        answer = ssm.get_parameter(Name=name, WithDecryption=True)
    except ssm.exceptions.ParameterNotFound:
        return None
    value: str = answer["Parameter"]["Value"]
    return value


def run(
    environ: Mapping[str, str],
    ssm: Any,
    *,
    client: Any = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """One scheduled run; returns what it did (also logged as one JSON line)."""
    from ballotbox.jssdk import ShareConfig, TicketState, refresh

    state_param = environ["WECHAT_STATE_PARAM"]
    ticket_param = environ["WECHAT_TICKET_PARAM"]
    if client is None:
        from ballotbox.wechat import DEFAULT_API_BASE
        from ballotbox.wechat_ticket import WeChatTickets

        campaign_file = Path(environ.get("CAMPAIGN_FILE") or DEFAULT_CAMPAIGN_FILE)
        config = ShareConfig.from_campaign(json.loads(campaign_file.read_text("utf-8")))
        if config is None:
            return {"level": "warning", "done": "nothing: the campaign has no wechat appid"}
        secret = _read(ssm, environ["WECHAT_SECRET_PARAM"])
        if not secret:
            return {"level": "error", "done": "nothing: the AppSecret parameter is missing"}
        base = environ.get("WECHAT_API_BASE", "").strip() or DEFAULT_API_BASE
        client = WeChatTickets(config.appid, secret.strip(), base_url=base)
    stored = _read(ssm, state_param)
    before = TicketState.from_json(stored) if stored else TicketState()
    state, delay = refresh(before, client, clock())
    while delay <= MAX_WAIT_IN_RUN and state.usable_ticket(clock()) is None:
        sleep(delay)
        state, delay = refresh(state, client, clock())
    if state != before:
        ssm.put_parameter(
            Name=state_param, Value=state.to_json(), Type="SecureString", Overwrite=True
        )
    fetched = (state.ticket, state.ticket_expires) != (before.ticket, before.ticket_expires)
    if fetched and state.ticket:
        shared = json.dumps({"ticket": state.ticket, "expires": state.ticket_expires})
        ssm.put_parameter(Name=ticket_param, Value=shared, Type="SecureString", Overwrite=True)
    return {
        "level": "error" if state.last_error else "info",
        "done": "refreshed" if fetched else "nothing due",
        "ticket_valid_for_s": round(max(0.0, state.ticket_expires - clock())),
        "next_due_in_s": round(delay),
        "error": state.last_error,
    }


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    import boto3

    report = run(os.environ, boto3.client("ssm"))
    sys.stdout.write(json.dumps(report) + "\n")
    return report
