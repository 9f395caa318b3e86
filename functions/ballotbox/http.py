"""The HTTP API as a sans-I/O layer: ``Request`` in, ``Response`` out.

Both adapters (the Lambda handler and the local server) translate their own world
into a ``Request`` and write the ``Response`` back, so routing, content checks and the
mapping of refusals to statuses exist exactly once, here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ballotbox.core.ballot import (
    MAX_BODY,
    check_issued_at,
    parse_request,
    parse_voter_key,
    strict_json,
)
from ballotbox.core.campaign import Campaign
from ballotbox.core.clock import BEIJING, beijing_iso
from ballotbox.core.errors import (
    BadIssuedAt,
    BadSignature,
    CredentialExpired,
    CredentialInvalid,
    CredentialMissing,
    DailyLimitReached,
    MalformedRequest,
    MethodNotAllowed,
    NetworkLimited,
    NonceReused,
    NotFound,
    PayloadTooLarge,
    ProofExpired,
    ProofInvalid,
    ProofRequired,
    ShareUnavailable,
    Unavailable,
    UnknownCandidate,
    UnsupportedMediaType,
    UrlNotAllowed,
    VoteError,
    VotingClosed,
    VotingNotOpen,
    WeChatCodeInvalid,
    WrongCampaign,
)
from ballotbox.core.identity import (
    Identity,
    TokenBox,
    bearer,
    check_credential,
    check_proof,
    issue_challenge,
    issue_credential,
)
from ballotbox.core.privacy import Hasher
from ballotbox.core.ratelimit import NetworkLimiter
from ballotbox.core.service import cast_vote, success_body, voter_status
from ballotbox.core.signature import Signer
from ballotbox.core.store import VoteStore

if TYPE_CHECKING:  # the client (and urllib) is imported only where wechat mode runs
    from ballotbox.jssdk import JsSdk
    from ballotbox.wechat import OpenIdExchange

#: The error table of docs/http-api.md: the only place a refusal becomes a status.
STATUS: dict[type[VoteError], int] = {
    MalformedRequest: 400,
    BadIssuedAt: 400,
    BadSignature: 401,
    CredentialMissing: 401,
    CredentialInvalid: 401,
    CredentialExpired: 401,
    ProofInvalid: 401,
    ProofExpired: 401,
    WeChatCodeInvalid: 401,
    VotingNotOpen: 403,
    VotingClosed: 403,
    ProofRequired: 403,
    NotFound: 404,
    UrlNotAllowed: 403,
    MethodNotAllowed: 405,
    NonceReused: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    UnknownCandidate: 422,
    WrongCampaign: 422,
    DailyLimitReached: 429,
    NetworkLimited: 429,
    Unavailable: 503,
    ShareUnavailable: 503,
}


def status_of(error: VoteError) -> int:
    """The table's status for a refusal, found along its class hierarchy.

    Walking the MRO means a new subclass (say a finer ``MalformedRequest``) answers
    its parent's status rather than falling through to a 503; a refusal class with
    no ancestor in the table is a programming error that tests/test_boundaries.py
    catches for every class in the package.
    """
    for cls in type(error).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    raise LookupError(f"{type(error).__name__} has no status in the error table")


#: 401s that a credential would cure: they name the scheme (RFC 9110 WWW-Authenticate).
_BEARER_401 = (CredentialMissing, CredentialInvalid, CredentialExpired)

JSON_HEADERS: Mapping[str, str] = {
    "Content-Type": "application/json; charset=utf-8",
    "Cache-Control": "no-store",
}
ROUTES: Mapping[str, str] = {"/api/vote": "POST", "/api/status": "GET", "/api/health": "GET"}
#: Routes that exist only in the identity modes that use them (device mode: the three
#: of docs/http-api.md).
MODE_ROUTES: Mapping[str, Mapping[str, str]] = {
    "device": {},
    "device+pow": {"/api/challenge": "GET", "/api/credential": "POST"},
    "wechat": {"/api/credential": "POST"},
}
#: Only when the campaign sets a WeChat AppID for share cards (issue 16).
JSSDK_ROUTE = "/api/wechat/jssdk"
CREDENTIAL_FIELDS = {"device+pow": frozenset({"voter"}), "wechat": frozenset({"voter", "code"})}


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
    if isinstance(error, Unavailable | NetworkLimited):
        extra["Retry-After"] = str(error.retry_after)
    if isinstance(error, _BEARER_401):
        extra["WWW-Authenticate"] = 'Bearer realm="vote"'
    allow = {**ROUTES, **MODE_ROUTES["device+pow"], JSSDK_ROUTE: "GET"}.get("/api/" + route)
    if isinstance(error, MethodNotAllowed) and allow:
        extra["Allow"] = allow
    return json_response(
        status_of(error),
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
    """The endpoints, wired to one campaign, signer, hasher, store and clock.

    The identity mode (``campaign.identity``) adds its routes; ``pow_bits`` gives the
    proof-of-work difficulty at run time (so it can change without a redeploy), and
    ``wechat`` exchanges OAuth codes in wechat mode.
    """

    def __init__(
        self,
        *,
        campaign: Campaign,
        signer: Signer,
        hasher: Hasher,
        store: VoteStore,
        clock: Callable[[], datetime],
        pow_bits: Callable[[], int] | None = None,
        wechat: OpenIdExchange | None = None,
        limiter: NetworkLimiter | None = None,
        jssdk: JsSdk | None = None,
    ) -> None:
        self.campaign = campaign
        self.signer = signer
        self.hasher = hasher
        self.store = store
        self.clock = clock
        policy = campaign.identity
        self.policy = policy
        self.routes = {**ROUTES, **MODE_ROUTES[policy.mode]}
        self.pow_bits = pow_bits or (lambda: policy.pow_bits)
        self.wechat = wechat
        self.tokens = TokenBox(hasher.subkey(b"tokens/v1"))
        self.limiter = limiter or NetworkLimiter(policy.network_burst, policy.network_per_minute)
        self.jssdk = jssdk
        if jssdk is not None:
            self.routes[JSSDK_ROUTE] = "GET"

    def handle(self, request: Request) -> Response:
        """Answer one request. Refusals become the table's answers; bugs propagate."""
        path = request.path
        route = path.removeprefix("/api/") if path in self.routes else "unknown"
        try:
            if path not in self.routes:
                raise NotFound
            if request.method != self.routes[path]:  # methods are case-sensitive (RFC 9110)
                raise MethodNotAllowed
            if route != "health":  # health answers load balancers and probes, unlimited
                self._limit(request)
            if route == "vote":
                return self._vote(request)
            if route == "status":
                return self._status(request)
            if route == "challenge":
                return self._challenge(request)
            if route == "credential":
                return self._credential(request)
            if self.jssdk is not None and path == JSSDK_ROUTE:
                body = self.jssdk.sign(request.query)
                return json_response(200, body, route=route, code="ok")
            if not self.store.healthy():  # ready means able to record a vote
                raise Unavailable("the store is not healthy")
            return json_response(200, {"ok": True}, route=route, code="ok")
        except VoteError as error:
            return error_response(error, route)

    def _limit(self, request: Request) -> None:
        """One token from the request's network bucket, or ``NetworkLimited``.

        No request is exempt: an adapter that cannot tell the client's address still limits
        the peer it sees (docs/self-hosting.md on --trusted-proxy).
        """
        network = self.hasher.net(request.client_ip)
        wait = self.limiter.take(network, self.clock().timestamp())
        if wait > 0:
            raise NetworkLimited(retry_after=NetworkLimiter.retry_after(wait))

    def _identity(self, request: Request, voter: str) -> Identity | None:
        """The checked credential of a request, in the modes that need one."""
        mode = self.policy.mode
        if mode == "device":
            return None
        token = presented_credential(request.headers)
        if token is None:
            raise ProofRequired if mode == "device+pow" else CredentialMissing
        return check_credential(
            self.tokens,
            token,
            campaign=self.campaign.id,
            mode=mode,
            voter=voter,
            now=self.clock().timestamp(),
        )

    def _vote(self, request: Request) -> Response:
        if not _is_json(request.headers.get("content-type")):
            raise UnsupportedMediaType
        if len(request.body) > MAX_BODY:
            raise PayloadTooLarge
        vote = parse_request(request.body)
        check_issued_at(vote.ballot, self.campaign.opens, self.campaign.closes)
        identity = self._identity(request, vote.ballot.voter)
        outcome = cast_vote(
            vote,
            campaign=self.campaign,
            signer=self.signer,
            store=self.store,
            now=self.clock(),
            net=self.hasher.net(request.client_ip),
            ua=self.hasher.ua(request.headers.get("user-agent")),
            identity=identity.mode if identity else "device",
            person=identity.person if identity else "",
        )
        return json_response(200, success_body(outcome), route="vote", code=outcome.status)

    def _status(self, request: Request) -> Response:
        voter = _one_voter(request.query)
        person = ""
        if self.policy.mode == "wechat":
            # The counts are the person's: a second key must not show a fresh allowance.
            identity = self._identity(request, voter)
            person = identity.person if identity else ""
        report = voter_status(self.campaign, self.store, voter, self.clock(), person)
        return json_response(200, report.to_json(), route="status", code="ok")

    def _challenge(self, request: Request) -> Response:
        """``GET /api/challenge?voter=K``: a sealed, expiring puzzle bound to the key."""
        voter = _one_voter(request.query)
        parse_voter_key(voter)
        bits = self.pow_bits()
        challenge = issue_challenge(
            self.tokens,
            campaign=self.campaign.id,
            voter=voter,
            bits=bits,
            now=self.clock().timestamp(),
        )
        body = {
            "challenge": challenge.token,
            "difficulty": challenge.bits,
            "expires": _iso(challenge.expires),
        }
        return json_response(200, body, route="challenge", code="ok")

    def _credential(self, request: Request) -> Response:
        """``POST /api/credential``: a proof of work (header) or a WeChat code, for a key."""
        if not _is_json(request.headers.get("content-type")):
            raise UnsupportedMediaType
        if len(request.body) > MAX_BODY:
            raise PayloadTooLarge
        mode = self.policy.mode
        fields = _json_object(request.body, CREDENTIAL_FIELDS[mode])
        voter = fields["voter"]
        parse_voter_key(voter)
        now = self.clock().timestamp()
        if mode == "device+pow":
            proof = request.headers.get("x-proof-of-work")
            if not proof:
                raise ProofRequired
            check_proof(self.tokens, proof, campaign=self.campaign.id, voter=voter, now=now)
            person = ""
            # One proof buys one key one Beijing day (at most the daily cap per
            # candidate), never the campaign: the credential ends at the next Beijing
            # midnight or when voting closes, whichever is first.
            lifetime = max(1, int(min(_next_midnight(now), self.campaign.closes.timestamp()) - now))
        else:
            code = fields["code"]
            if not 0 < len(code) <= 128 or not code.isascii() or not code.isprintable():
                raise MalformedRequest("code must be WeChat's OAuth code")
            if self.wechat is None:
                raise Unavailable("wechat mode without a configured AppID secret")
            person = self.hasher.person(self.wechat.openid(code))
            lifetime = self.policy.credential_minutes * 60
        credential = issue_credential(
            self.tokens,
            campaign=self.campaign.id,
            mode=mode,
            voter=voter,
            person=person,
            now=now,
            lifetime_s=lifetime,
        )
        body = {"credential": credential.token, "expires": _iso(credential.expires), "mode": mode}
        return json_response(200, body, route="credential", code="ok")


def presented_credential(headers: Mapping[str, str]) -> str | None:
    """The credential a request carries: ``X-Vote-Credential``, else ``Authorization: Bearer``.

    docs/http-api.md puts it in its own header because CloudFront's origin access control
    overwrites ``Authorization`` with its SigV4 signature (and CloudFront forwards no
    ``Authorization`` on a GET). ``serve`` keeps accepting the Bearer form; a SigV4
    ``Authorization`` (``AWS4-HMAC-SHA256 ...``) is the edge's, never the voter's.
    """
    token = headers.get("x-vote-credential", "").strip()
    if token:
        return token
    authorization = headers.get("authorization", "")
    if authorization.strip().upper().startswith("AWS4-"):
        return None
    return bearer(authorization)


def _one_voter(query_string: str) -> str:
    try:
        query = parse_qs(query_string, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:  # e.g. too many fields
        raise MalformedRequest("bad query string") from exc
    voters = query.get("voter", [])
    if len(voters) != 1:
        raise MalformedRequest("give exactly one voter")
    return voters[0]


def _json_object(body: bytes, fields: frozenset[str]) -> dict[str, str]:
    """A JSON object with exactly ``fields``, each a string (duplicate keys refused)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest("the body is not UTF-8") from exc
    value = strict_json(text, "the body")
    if not isinstance(value, dict) or set(value) != fields:
        raise MalformedRequest(f"the body must be an object with exactly {sorted(fields)}")
    if not all(isinstance(value[name], str) for name in fields):
        raise MalformedRequest("every field must be a string")
    return value


def _next_midnight(epoch: float) -> float:
    """The next 00:00 Beijing time after ``epoch``, as epoch seconds."""
    day = datetime.fromtimestamp(epoch, BEIJING).date()
    return datetime(day.year, day.month, day.day, tzinfo=BEIJING).timestamp() + 86400


def _iso(epoch: int) -> str:
    return beijing_iso(datetime.fromtimestamp(epoch, UTC))
