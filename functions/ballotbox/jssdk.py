"""WeChat JS-SDK share cards: the signature and the jsapi_ticket's life (issue 16).

Sans-I/O: the WeChat client (``ballotbox.wechat_ticket``) and the clock are handed in,
so the Lambda function, the scheduled refresher and ``serve`` share this logic and the
tests drive it with a simulated clock.

The signature is WeChat's documented one: SHA-1 of
``jsapi_ticket=T&noncestr=N&timestamp=S&url=U`` with U the page URL without ``#…``.
The ticket needs an access_token, and WeChat rations both (``cgi-bin/token``: 2,000 a
day; ``stable_token`` with ``force_refresh``: 20 a day), so exactly one refresher
fetches them, keeps them in a central cache and refreshes before they expire; request
handlers only read that cache.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Protocol
from urllib.parse import parse_qs, urlsplit

from ballotbox.core.errors import MalformedRequest, ShareUnavailable, UrlNotAllowed

#: campaign.json's key for the share option (absent when the campaign does not use it).
CAMPAIGN_KEY: Final = "wechat_share"
MAX_URL: Final = 1024
#: Refresh this long before the ticket expires: a refresher run every 5 minutes
#: (the cloud schedule) gets three chances before voters would see a stale ticket.
REFRESH_MARGIN: Final = 15 * 60
#: Never two token fetches closer than this: at most 1,440 a day, under cgi-bin/token's
#: 2,000, whatever WeChat answers.
MIN_TOKEN_INTERVAL: Final = 60.0
#: ``stable_token`` with ``force_refresh`` is allowed 20 times a day; we use at most 12.
MIN_FORCED_INTERVAL: Final = 2 * 3600.0
#: errcodes that mean "this access_token is no good": fetch a new one.
TOKEN_INVALID: Final = frozenset({40001, 40014, 42001})
IP_NOT_WHITELISTED: Final = 40164
QUOTA_EXCEEDED: Final = 45009
MAX_BACKOFF: Final = 30 * 60.0


class WeChatApiError(Exception):
    """WeChat answered with a non-zero errcode, or not at all (errcode None)."""

    def __init__(self, errcode: int | None, errmsg: str = "") -> None:
        super().__init__(f"WeChat errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(frozen=True, slots=True)
class Grant:
    """A token or ticket with its lifetime in seconds, as WeChat answers it."""

    value: str
    expires_in: int


class TicketClient(Protocol):
    """What the refresher needs from WeChat (``ballotbox.wechat_ticket.WeChatTickets``)."""

    def access_token(self, *, force_refresh: bool) -> Grant: ...

    def jsapi_ticket(self, access_token: str) -> Grant: ...


@dataclass(frozen=True, slots=True)
class TicketState:
    """The central cache: what the refresher knows, persisted between its runs."""

    access_token: str = ""
    token_expires: float = 0.0
    ticket: str = ""
    ticket_expires: float = 0.0
    last_token_fetch: float = -1e12
    last_forced: float = -1e12
    force_next: bool = False
    retry_at: float = 0.0
    failures: int = 0
    last_error: str = ""

    def usable_ticket(self, now: float) -> str | None:
        return self.ticket if self.ticket and now < self.ticket_expires else None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TicketState:
        """A stored state; an unreadable one is an empty cache (the refresher starts over)."""
        empty = cls()
        try:
            raw = json.loads(text)
        except ValueError:
            return empty
        if not isinstance(raw, dict):
            return empty
        fields: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            default = getattr(empty, name)
            value = raw.get(name, default)
            if (
                isinstance(default, float)
                and isinstance(value, int)
                and not isinstance(value, bool)
            ):
                value = float(value)
            if type(value) is not type(default):
                return empty
            fields[name] = value
        return cls(**fields)


def _backoff(failures: int, base: float) -> float:
    return float(min(MAX_BACKOFF, base * 2 ** min(failures, 10)))


def refresh(state: TicketState, client: TicketClient, now: float) -> tuple[TicketState, float]:
    """One refresher run: the new state and how many seconds until the next run is due.

    Fetches nothing while the ticket has more than ``REFRESH_MARGIN`` left or a backoff
    is running. A still-valid ticket is kept through any failure, so voters keep their
    share cards while WeChat or the configuration is sorted out.
    """
    if now < state.retry_at:
        return state, state.retry_at - now
    if state.usable_ticket(now) and state.ticket_expires - now > REFRESH_MARGIN:
        return state, state.ticket_expires - REFRESH_MARGIN - now
    try:
        if not state.access_token or state.token_expires - now <= REFRESH_MARGIN:
            wait = state.last_token_fetch + MIN_TOKEN_INTERVAL - now
            if wait > 0:
                return state, wait
            forced = state.force_next and now - state.last_forced >= MIN_FORCED_INTERVAL
            state = replace(state, last_token_fetch=now, force_next=False)
            if forced:
                state = replace(state, last_forced=now)
            token = client.access_token(force_refresh=forced)
            state = replace(state, access_token=token.value, token_expires=now + token.expires_in)
        ticket = client.jsapi_ticket(state.access_token)
    except WeChatApiError as exc:
        return _failed(state, exc, now)
    state = replace(
        state,
        ticket=ticket.value,
        ticket_expires=now + ticket.expires_in,
        retry_at=0.0,
        failures=0,
        last_error="",
    )
    return state, max(MIN_TOKEN_INTERVAL, state.ticket_expires - REFRESH_MARGIN - now)


def _failed(state: TicketState, exc: WeChatApiError, now: float) -> tuple[TicketState, float]:
    """Back off by kind of failure; the next run decides again."""
    code = exc.errcode
    failures = state.failures + 1
    if code in TOKEN_INVALID:
        # Someone (another server, a cgi-bin/token call elsewhere) replaced our token:
        # drop it and ask for a fresh one, forcing if the daily ration allows.
        state = replace(state, access_token="", token_expires=0.0, force_next=True)
        delay = max(MIN_TOKEN_INTERVAL, _backoff(failures - 1, MIN_TOKEN_INTERVAL))
    elif code == QUOTA_EXCEEDED:
        delay = 3600.0  # the daily quota: retrying sooner only burns the next day's
    elif code == IP_NOT_WHITELISTED:
        delay = _backoff(failures - 1, 300.0)  # a human must fix the whitelist
    else:  # -1 "system busy", unreachable, a malformed answer
        delay = _backoff(failures - 1, 5.0)
    state = replace(state, retry_at=now + delay, failures=failures, last_error=str(exc))
    return state, delay


# -- the endpoint ----------------------------------------------------------------------


class TicketSource(Protocol):
    """Where request handlers read the ticket: never WeChat itself."""

    def ticket(self, now: float) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ShareConfig:
    appid: str
    base_url: str  # https://host[:port], no trailing slash

    @classmethod
    def from_campaign(cls, data: Mapping[str, Any]) -> ShareConfig | None:
        """The share option from campaign.json, or None when the campaign does not use it."""
        raw = data.get(CAMPAIGN_KEY)
        if raw is None:
            return None
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("appid"), str)
            or not isinstance(raw.get("base_url"), str)
            or not raw["appid"]
            or not raw["base_url"].startswith("https://")
        ):
            raise ValueError(f"campaign.json: {CAMPAIGN_KEY} needs an appid and an https base_url")
        return cls(raw["appid"], raw["base_url"].rstrip("/"))


def signature(ticket: str, noncestr: str, timestamp: int, url: str) -> str:
    """WeChat's JS-SDK signature (keys in ASCII order, raw values, SHA-1 hex)."""
    text = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


_NONCE_ALPHABET: Final = string.ascii_letters + string.digits


def new_nonce() -> str:
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(16))


def page_url(query_string: str, base_url: str) -> str:
    """The one ``url`` parameter, without its fragment, if it is a page of ``base_url``."""
    try:
        query = parse_qs(query_string, keep_blank_values=True, max_num_fields=8)
    except ValueError as exc:
        raise MalformedRequest("bad query string") from exc
    urls = query.get("url", [])
    if len(urls) != 1:
        raise MalformedRequest("give exactly one url")
    url = urls[0].split("#", 1)[0]
    if not url or len(url) > MAX_URL or not url.isprintable() or any(c.isspace() for c in url):
        raise MalformedRequest("url must be a printable URL of at most 1024 characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise MalformedRequest("url is not a URL") from exc
    # Compare the parsed origin, not a string prefix: https://site.cn.evil.example/ and
    # https://site.cn@evil.example/ start with the base URL too.
    origin = f"{parts.scheme}://{parts.netloc}"
    if origin != base_url or not (parts.path == "" or parts.path.startswith("/")):
        raise UrlNotAllowed(f"{origin} is not {base_url}")
    return url


class JsSdk:
    """``GET /api/wechat/jssdk?url=U``: the signed config for one page."""

    def __init__(
        self,
        config: ShareConfig,
        source: TicketSource,
        *,
        nonce: Callable[[], str] = new_nonce,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.source = source
        self.nonce = nonce
        # Real time, never serve's simulated campaign clock: the ticket's expiry and
        # WeChat's check of the timestamp are in real time.
        self.clock = clock

    def sign(self, query_string: str) -> dict[str, Any]:
        url = page_url(query_string, self.config.base_url)
        now = self.clock()
        ticket = self.source.ticket(now)
        if not ticket:
            raise ShareUnavailable("no valid jsapi_ticket in the cache", retry_after=60)
        nonce, timestamp = self.nonce(), int(now)
        return {
            "appId": self.config.appid,
            "timestamp": timestamp,
            "nonceStr": nonce,
            "signature": signature(ticket, nonce, timestamp, url),
        }


class CachedTicket:
    """The vote function's view of the central cache: one read, reused for a while.

    ``read`` returns the stored JSON ``{"ticket", "expires"}`` (or None); it runs at
    most once per ``every`` seconds and when the cached ticket has expired, so a busy
    function costs SSM a handful of reads an hour.
    """

    def __init__(self, read: Callable[[], str | None], every: float = 300.0) -> None:
        self._read = read
        self._every = every
        self._ticket: str | None = None
        self._expires = 0.0
        self._read_at = -1e12

    def ticket(self, now: float) -> str | None:
        # Re-read every ``every`` seconds; with no valid ticket, every 30 s at most.
        if now - self._read_at >= (self._every if now < self._expires else 30.0):
            self._read_at = now
            self._ticket, self._expires = None, 0.0
            raw = self._read()
            try:
                value = json.loads(raw) if raw else None
            except ValueError:
                value = None
            if isinstance(value, dict) and isinstance(value.get("ticket"), str):
                expires = value.get("expires")
                if isinstance(expires, int | float):
                    self._ticket, self._expires = value["ticket"], float(expires)
        return self._ticket if now < self._expires else None
