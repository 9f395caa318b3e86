"""The HTTP API as a sans-I/O layer: ``Request`` in, ``Response`` out.

Both adapters (the Lambda handler and the local server) translate their own world
into a ``Request`` and write the ``Response`` back, so routing, content checks and the
mapping of refusals to statuses exist exactly once, here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from ballotbox.core.ballot import MAX_BODY, parse_request
from ballotbox.core.campaign import Campaign
from ballotbox.core.errors import (
    BadSignature,
    DailyLimitReached,
    MalformedRequest,
    MethodNotAllowed,
    NonceReused,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    UnknownCandidate,
    UnsupportedMediaType,
    VoteError,
    VotingClosed,
    VotingNotOpen,
    WrongCampaign,
)
from ballotbox.core.privacy import Hasher
from ballotbox.core.service import cast_vote, success_body, voter_status
from ballotbox.core.signature import Signer
from ballotbox.stores.base import VoteStore

#: DESIGN section 4's error table: the only place a refusal becomes a status.
STATUS: dict[type[VoteError], int] = {
    MalformedRequest: 400,
    BadSignature: 401,
    VotingNotOpen: 403,
    VotingClosed: 403,
    NotFound: 404,
    MethodNotAllowed: 405,
    NonceReused: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    UnknownCandidate: 422,
    WrongCampaign: 422,
    DailyLimitReached: 429,
    Unavailable: 503,
}

JSON_HEADERS: Mapping[str, str] = {
    "Content-Type": "application/json; charset=utf-8",
    "Cache-Control": "no-store",
}
ROUTES: Mapping[str, str] = {"/api/vote": "POST", "/api/status": "GET", "/api/health": "GET"}


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: str  # the raw query string, without "?"
    headers: Mapping[str, str]  # keys in lower case
    body: bytes
    client_ip: str | None


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    # For the adapters' logs and metrics, never sent: which route and which outcome.
    route: str = field(default="unknown", compare=False)
    code: str = field(default="ok", compare=False)


def json_response(
    status: int, payload: Mapping[str, Any], *, route: str, code: str, **extra: str
) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, {**JSON_HEADERS, **extra}, body, route=route, code=code)


def error_response(error: VoteError, route: str) -> Response:
    """A refusal: ``{"error": CODE, "message": {"zh", "en"}}`` with the table's status."""
    extra: dict[str, str] = {}
    if isinstance(error, Unavailable):
        extra["Retry-After"] = str(error.retry_after)
    if isinstance(error, MethodNotAllowed) and "/api/" + route in ROUTES:
        extra["Allow"] = ROUTES["/api/" + route]
    return json_response(
        STATUS[type(error)],
        {"error": error.code, "message": error.message()},
        route=route,
        code=error.code,
        **extra,
    )


def unavailable_response(route: str = "unknown") -> Response:
    """What a top-level boundary answers for an unexpected failure: a deliberate 503."""
    return error_response(Unavailable("internal error"), route)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media, *params = (part.strip() for part in content_type.split(";"))
    if media.lower() != "application/json":
        return False
    for param in params:
        name, _, value = param.partition("=")
        # The body is decoded as UTF-8 only; a declared other charset is refused.
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            return False
    return True


class Api:
    """The three endpoints, wired to one campaign, signer, hasher, store and clock."""

    def __init__(
        self,
        *,
        campaign: Campaign,
        signer: Signer,
        hasher: Hasher,
        store: VoteStore,
        clock: Callable[[], datetime],
    ) -> None:
        self.campaign = campaign
        self.signer = signer
        self.hasher = hasher
        self.store = store
        self.clock = clock

    def handle(self, request: Request) -> Response:
        """Answer one request. Refusals become the table's answers; bugs propagate."""
        path = request.path
        route = path.removeprefix("/api/") if path in ROUTES else "unknown"
        try:
            if path not in ROUTES:
                raise NotFound
            if request.method != ROUTES[path]:  # methods are case-sensitive (RFC 9110)
                raise MethodNotAllowed
            if route == "vote":
                return self._vote(request)
            if route == "status":
                return self._status(request)
            if not self.store.healthy():  # ready means able to record a vote
                raise Unavailable("the store is not healthy")
            return json_response(200, {"ok": True}, route=route, code="ok")
        except VoteError as error:
            return error_response(error, route)

    def _vote(self, request: Request) -> Response:
        if not _is_json(request.headers.get("content-type")):
            raise UnsupportedMediaType
        if len(request.body) > MAX_BODY:
            raise PayloadTooLarge
        vote = parse_request(request.body)
        outcome = cast_vote(
            vote,
            campaign=self.campaign,
            signer=self.signer,
            store=self.store,
            now=self.clock(),
            net=self.hasher.net(request.client_ip),
            ua=self.hasher.ua(request.headers.get("user-agent")),
        )
        return json_response(200, success_body(outcome), route="vote", code=outcome.status)

    def _status(self, request: Request) -> Response:
        try:
            query = parse_qs(request.query, keep_blank_values=True, strict_parsing=False)
        except ValueError as exc:  # e.g. too many fields
            raise MalformedRequest("bad query string") from exc
        voters = query.get("voter", [])
        if len(voters) != 1:
            raise MalformedRequest("give exactly one voter")
        report = voter_status(self.campaign, self.store, voters[0], self.clock())
        return json_response(200, report.to_json(), route="status", code="ok")
