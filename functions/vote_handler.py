"""The Lambda entry point: Function URL / HTTP API payload 2.0 and REST API 1.0 events.

Payload 2.0 is what the global stack sends (a Function URL behind CloudFront); 1.0 is
what AWS China's stack sends (a REST API, the only kind a regional WAF can protect).

A thin adapter over ``ballotbox.http``. Cold starts matter (a voter is waiting), so
importing this module costs almost nothing: pynacl, the store and boto3 are imported
on the first request, and the configuration (campaign, secrets, store) is built once
per execution environment and cached.

Environment: ``CAMPAIGN_FILE`` (default ``campaign.json`` beside this file),
``STORE`` (``dynamodb``, the default, or ``sqlite`` with ``SQLITE_PATH``),
``LEDGER_TABLE``, ``CAPS_TABLE``, ``RECEIPT_KEY_PARAM`` and ``HASH_KEY_PARAM`` (SSM
SecureString names holding base64url 32-byte secrets), ``METRICS_NAMESPACE``,
``TRUSTED_PROXY_HOPS`` and ``VIEWER_ADDRESS_HEADER`` (see ``client_ip``) and
``HEALTH_CACHE_SECONDS``. All of it is read once per execution environment, into
``FunctionSettings``.

Identity modes (README "Identity modes"): ``POW_DIFFICULTY`` overrides the campaign's
proof-of-work difficulty (leading zero bits) without redeploying the site: change the
function's environment and new challenges use it. In ``wechat`` mode,
``WECHAT_SECRET_PARAM`` names the SSM SecureString holding the Official Account's AppSecret
(read in the same ``get_parameters`` call as the other secrets; the AppID is public and
comes from campaign.json) and ``WECHAT_API_BASE`` may point the code exchange elsewhere.

WeChat share cards (issue 16, when campaign.json has ``wechat_share``):
``WECHAT_TICKET_PARAM`` names the SSM SecureString where the scheduled refresher
(``wechat_refresher.py``) keeps the jsapi_ticket; this function only reads it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from datetime import datetime

    from ballotbox.core.store import RecordOutcome, VoteRecord, VoteStore
    from ballotbox.http import Api, Request, Response
    from ballotbox.jssdk import JsSdk

NAMESPACE = "TopNVote"
DEFAULT_CAMPAIGN_FILE = Path(__file__).resolve().with_name("campaign.json")

#: The viewer-address header CloudFront sets itself (global stack only; see client_ip).
CLOUDFRONT_VIEWER_ADDRESS = "cloudfront-viewer-address"
#: How long one health answer serves the probes that follow it in this environment.
DEFAULT_HEALTH_CACHE_S = 5.0
#: Backoff between attempts to load a failed configuration: first retry after 1 s,
#: doubling to at most a minute, so a broken deployment costs SSM one call per
#: environment per minute instead of one per request (Parameter Store's shared
#: GetParameters quota is tens of calls per second per account and region).
CONFIG_RETRY_FIRST_S = 1.0
CONFIG_RETRY_MAX_S = 60.0
#: Time kept back from the Lambda deadline to log and answer after the store gives up.
DEADLINE_RESERVE_S = 0.5

_api: Api | None = None
_settings: FunctionSettings | None = None
_ssm_client: Any = None
#: (monotonic time before which no new load is tried, the current backoff in seconds)
_config_failure: tuple[float, float] | None = None


class ConfigError(RuntimeError):
    """The function's environment or parameters are unusable (a deployment error)."""


class FunctionSettings(NamedTuple):
    """The function's environment, read once per execution environment (cold start).

    Only syntax is checked here; a setting a mode does not use may stay empty, and
    ``require`` names the missing one when it is needed. A NamedTuple, not a dataclass:
    ``dataclasses`` imports ``inspect``, which would double this module's import time.
    """

    campaign_file: Path
    store: str
    ledger_table: str
    caps_table: str
    sqlite_path: str
    receipt_key_param: str
    hash_key_param: str
    wechat_secret_param: str
    wechat_api_base: str
    pow_difficulty: str
    metrics_namespace: str
    trusted_proxy_hops: int
    viewer_address_header: str
    health_cache_s: float
    #: WeChat share cards (issue 16): the SSM SecureString the refresher keeps the ticket in.
    wechat_ticket_param: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> FunctionSettings:
        def get(name: str, default: str = "") -> str:
            return environ.get(name, "").strip() or default

        hops = get("TRUSTED_PROXY_HOPS", "0")
        if not hops.isdigit():
            raise ConfigError(f"TRUSTED_PROXY_HOPS must be a whole number, not {hops!r}")
        health = get("HEALTH_CACHE_SECONDS", str(DEFAULT_HEALTH_CACHE_S))
        try:
            health_s = float(health)
        except ValueError as exc:
            raise ConfigError(f"HEALTH_CACHE_SECONDS must be a number, not {health!r}") from exc
        if not 0 <= health_s <= 300:
            raise ConfigError("HEALTH_CACHE_SECONDS must be between 0 and 300")
        return cls(
            campaign_file=Path(get("CAMPAIGN_FILE") or DEFAULT_CAMPAIGN_FILE),
            store=get("STORE", "dynamodb").lower(),
            ledger_table=get("LEDGER_TABLE"),
            caps_table=get("CAPS_TABLE"),
            sqlite_path=get("SQLITE_PATH", "/tmp/votes.sqlite3"),  # noqa: S108
            receipt_key_param=get("RECEIPT_KEY_PARAM"),
            hash_key_param=get("HASH_KEY_PARAM"),
            wechat_secret_param=get("WECHAT_SECRET_PARAM"),
            wechat_api_base=get("WECHAT_API_BASE"),
            pow_difficulty=get("POW_DIFFICULTY"),
            metrics_namespace=get("METRICS_NAMESPACE", NAMESPACE),
            trusted_proxy_hops=int(hops),
            viewer_address_header=get("VIEWER_ADDRESS_HEADER").lower(),
            health_cache_s=health_s,
            wechat_ticket_param=get("WECHAT_TICKET_PARAM"),
        )

    @staticmethod
    def require(value: str, name: str) -> str:
        if not value:
            raise ConfigError(f"environment variable {name} is not set")
        return value


# -- configuration (cold start) ------------------------------------------------------


def _make_store(settings: FunctionSettings) -> VoteStore:
    kind = settings.store
    require = FunctionSettings.require
    if kind == "dynamodb":
        from ballotbox.stores.dynamodb import DynamoStore

        return DynamoStore(
            require(settings.ledger_table, "LEDGER_TABLE"),
            require(settings.caps_table, "CAPS_TABLE"),
        )
    if kind == "sqlite":
        from ballotbox.stores.sqlite import SqliteStore

        return SqliteStore(settings.sqlite_path)
    raise ConfigError(f"STORE must be dynamodb or sqlite, not {kind!r}")


def ssm_client() -> Any:
    """One SSM client per execution environment, quick to give up.

    A cold start waits on this call while a voter waits on the cold start: 1 s to
    connect, 2 s to read, and botocore's standard retry mode (3 attempts with
    jittered backoff, which also retries Parameter Store's throttling).
    """
    global _ssm_client
    if _ssm_client is None:
        import boto3
        from botocore.config import Config

        config = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard"})
        _ssm_client = boto3.client("ssm", config=config)
    return _ssm_client


def _read_secrets(
    settings: FunctionSettings, ssm: Any, *, wechat: bool = False
) -> tuple[bytes, bytes, str | None]:
    """Every secret in one SSM round trip: (receipt seed, hashing key, WeChat AppSecret)."""
    from ballotbox.core.encoding import b64u_decode

    require = FunctionSettings.require
    names = [
        require(settings.receipt_key_param, "RECEIPT_KEY_PARAM"),
        require(settings.hash_key_param, "HASH_KEY_PARAM"),
    ]
    if wechat:
        names.append(require(settings.wechat_secret_param, "WECHAT_SECRET_PARAM"))
    if ssm is None:
        ssm = ssm_client()
    answer = ssm.get_parameters(Names=names, WithDecryption=True)
    # A name may carry a version selector ("/stack/receipt-key:3"); answers are by name.
    found = {p["Name"]: p["Value"] for p in answer.get("Parameters", [])}
    values = {n: found[_without_selector(n)] for n in names if _without_selector(n) in found}
    missing = [n for n in names if n not in values]
    if missing:
        raise ConfigError(f"SSM parameters not found: {missing}")
    try:
        seed, key = (b64u_decode(values[n].strip()) for n in names[:2])
    except ValueError as exc:
        raise ConfigError("SSM secrets must be base64url") from exc
    if len(seed) != 32 or len(key) != 32:
        raise ConfigError("SSM secrets must be 32 bytes each")
    app_secret = values[names[2]].strip() if wechat else None
    if wechat and not app_secret:
        raise ConfigError("the WeChat AppSecret parameter is empty")
    return seed, key, app_secret


def _without_selector(name: str) -> str:
    base, _, selector = name.rpartition(":")
    return base if base and selector.isdigit() else name


def pow_bits_from_env(environ: Mapping[str, str], default: int) -> Callable[[], int]:
    """The difficulty: ``POW_DIFFICULTY`` if set (1..32), else the campaign's."""
    return _pow_bits(environ.get("POW_DIFFICULTY", "").strip(), default)


def _pow_bits(raw: str, default: int) -> Callable[[], int]:
    from ballotbox.core.identity import MAX_POW_BITS

    if not raw:
        return lambda: default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_POW_BITS:
        raise ConfigError(f"POW_DIFFICULTY must be a whole number 1..{MAX_POW_BITS}")
    bits = int(raw)
    return lambda: bits


def build_api(
    environ: Mapping[str, str] | FunctionSettings,
    *,
    ssm: Any = None,
    store: VoteStore | None = None,
    clock: Callable[[], datetime] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> Api:
    """Everything a cold start sets up; ``ssm``, ``store`` and ``clock`` can be handed in."""
    from ballotbox.core.campaign import Campaign
    from ballotbox.core.privacy import Hasher
    from ballotbox.core.signature import Signer
    from ballotbox.http import Api

    settings = (
        environ if isinstance(environ, FunctionSettings) else FunctionSettings.from_env(environ)
    )
    campaign_data = json.loads(settings.campaign_file.read_text("utf-8"))
    campaign = Campaign.from_dict(campaign_data)
    policy = campaign.identity
    seed, hash_key, app_secret = _read_secrets(settings, ssm, wechat=policy.mode == "wechat")
    wechat = None
    if app_secret is not None and policy.wechat_appid:
        from ballotbox.wechat import DEFAULT_API_BASE, WeChatOAuth

        base = settings.wechat_api_base or DEFAULT_API_BASE
        wechat = WeChatOAuth(policy.wechat_appid, app_secret, base_url=base)
    inner = store if store is not None else _make_store(settings)
    return Api(
        campaign=campaign,
        signer=Signer(seed),
        hasher=Hasher(hash_key),
        store=TimedStore(inner, health_cache_s=settings.health_cache_s, monotonic=monotonic),
        clock=clock or _utc_now,
        pow_bits=_pow_bits(settings.pow_difficulty, policy.pow_bits),
        wechat=wechat,
        jssdk=_share(settings, campaign_data, ssm),
    )


def _share(settings: FunctionSettings, campaign_data: Mapping[str, Any], ssm: Any) -> JsSdk | None:
    """The JS-SDK endpoint reading the refresher's ticket from SSM, or None when off."""
    from ballotbox.jssdk import CachedTicket, JsSdk, ShareConfig

    config = ShareConfig.from_campaign(campaign_data)
    if config is None:
        return None
    name = settings.wechat_ticket_param

    def read() -> str | None:
        if not name:
            return None  # no refresher deployed: the endpoint answers 503
        from ballotbox.core.errors import ShareUnavailable
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = (ssm or ssm_client()).get_parameter(Name=name, WithDecryption=True)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
                return None
            raise ShareUnavailable("the ticket parameter cannot be read") from exc
        except BotoCoreError as exc:
            raise ShareUnavailable("SSM did not answer") from exc
        value: str = answer["Parameter"]["Value"]
        return value

    return JsSdk(config, CachedTicket(read))


def _utc_now() -> datetime:
    from datetime import UTC, datetime

    return datetime.now(UTC)


class TimedStore:
    """Measures the store's share of each request, for the StoreLatency metric.

    It also keeps one health answer for ``health_cache_s`` (probes from every edge
    location would otherwise each cost a DynamoDB read), and hands the request's
    deadline to a store that can honour it. A Lambda environment answers one request
    at a time, so one accumulator suffices.
    """

    def __init__(
        self,
        inner: VoteStore,
        *,
        health_cache_s: float = DEFAULT_HEALTH_CACHE_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.elapsed_ms: float | None = None
        self.health_cache_s = health_cache_s
        self._monotonic = monotonic
        self._health: tuple[float, bool] | None = None  # (answered at, answer)

    def begin(self, deadline: float | None) -> None:
        """A new request: reset the timer; ``deadline`` is a ``time.monotonic`` instant."""
        self.elapsed_ms = None
        set_deadline = getattr(self.inner, "set_deadline", None)
        if set_deadline is not None:
            set_deadline(deadline)

    def _add(self, started: float) -> None:
        spent = (time.perf_counter() - started) * 1000
        self.elapsed_ms = (self.elapsed_ms or 0.0) + spent

    def record(self, vote: VoteRecord, cap: int) -> RecordOutcome:
        started = time.perf_counter()
        try:
            return self.inner.record(vote, cap)
        finally:
            self._add(started)

    def votes_used(self, voter: str, day: str) -> Mapping[str, int]:
        started = time.perf_counter()
        try:
            return self.inner.votes_used(voter, day)
        finally:
            self._add(started)

    def iter_votes(self) -> Iterator[VoteRecord]:
        return self.inner.iter_votes()

    def healthy(self) -> bool:
        now = self._monotonic()
        if self._health is not None and now - self._health[0] < self.health_cache_s:
            return self._health[1]
        answer = self.inner.healthy()
        self._health = (now, answer)
        return answer

    def close(self) -> None:
        self.inner.close()


# -- events ----------------------------------------------------------------------------


def client_ip(
    event: Mapping[str, Any], trusted_hops: int = 0, viewer_header: str = ""
) -> str | None:
    """The viewer's address, from the most trustworthy source the route offers.

    1. ``viewer_header`` (``VIEWER_ADDRESS_HEADER``), set only by a stack whose edge
       writes that header itself: the global stack names CloudFront's
       ``CloudFront-Viewer-Address`` (``ip:port``), which its origin request policy
       makes CloudFront set, so a client cannot forge it. Elsewhere (AWS China's REST
       API, ``serve``) a header of that name is the client's own words and is ignored;
    2. with ``trusted_hops`` proxies in front (``TRUSTED_PROXY_HOPS``, e.g. 2 for
       CloudFront then API Gateway in AWS China), the ``X-Forwarded-For`` entry the
       outermost trusted proxy appended: entries left of it are the client's own words;
    3. the direct peer.
    """
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    raw_viewer = headers.get(viewer_header.lower()) if viewer_header else None
    if isinstance(raw_viewer, str) and raw_viewer.strip():
        viewer = raw_viewer.strip()
        if viewer.startswith("["):  # [2001:db8::1]:443
            return viewer[1 : viewer.find("]")] or None
        # 203.0.113.9:443 or, unbracketed, 2001:db8::1:443: the port is after the last colon.
        return viewer.rsplit(":", 1)[0] if ":" in viewer else viewer
    forwarded = headers.get("x-forwarded-for")
    if trusted_hops > 0 and isinstance(forwarded, str):
        hops = [part.strip() for part in forwarded.split(",") if part.strip()]
        if len(hops) >= trusted_hops:
            return hops[-trusted_hops]
    context = event.get("requestContext") or {}
    ip = (context.get("http") or {}).get("sourceIp") or (context.get("identity") or {}).get(
        "sourceIp"
    )
    return ip if isinstance(ip, str) else None


def _query_of_v1(event: Mapping[str, Any]) -> str:
    from urllib.parse import urlencode

    multi = event.get("multiValueQueryStringParameters") or {}
    if multi:
        return urlencode([(k, v) for k, values in multi.items() for v in values or []])
    return urlencode(event.get("queryStringParameters") or {})


def to_request(event: Mapping[str, Any], trusted_hops: int = 0, viewer_header: str = "") -> Request:
    """Translate a payload 2.0 or 1.0 event; ``ValueError`` if it is neither."""
    from ballotbox.http import Request

    try:
        if event.get("version") == "1.0" or "httpMethod" in event:
            method = str(event["httpMethod"])
            path = str(event.get("path") or "/")
            query = _query_of_v1(event)
        else:
            http = event["requestContext"]["http"]
            method = str(http["method"])
            path = str(event.get("rawPath") or http.get("path") or "/")
            query = str(event.get("rawQueryString") or "")
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        raw = event.get("body") or ""
        if event.get("isBase64Encoded"):
            body = base64.b64decode(raw, validate=True)
        else:
            body = raw.encode("utf-8", "surrogatepass")
    except (KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise ValueError("not an API Gateway or Function URL event") from exc
    return Request(
        method=method,
        path=path,
        query=query,
        headers=headers,
        body=body,
        client_ip=client_ip(event, trusted_hops, viewer_header),
    )


def to_result(response: Response) -> dict[str, Any]:
    return {
        "statusCode": response.status,
        "headers": dict(response.headers),
        "body": response.body.decode("utf-8"),
        "isBase64Encoded": False,
    }


# -- logs and metrics ------------------------------------------------------------------


#: Refusals a normal evening produces in numbers: voters who used today's votes, and
#: the network limiter's answer to a crowd on one network. They are counted by code
#: but left out of ``Rejections``, the series the refusal alarm watches.
ROUTINE_REFUSALS = frozenset({"daily_limit_reached", "network_limited"})


def decision_line(
    response: Response,
    latency_ms: float,
    store_ms: float | None,
    namespace: str = NAMESPACE,
) -> str:
    """One structured log line per decision, doubling as CloudWatch EMF metrics.

    It holds no voter key, IP address or User-Agent: only route, status and code.
    """
    doc: dict[str, Any] = {
        "level": "info" if response.status < 500 else "error",
        "route": response.route,
        "status": response.status,
        "code": response.code,
        "latency_ms": round(latency_ms, 2),
    }
    directives: list[dict[str, Any]] = []
    if response.code == "recorded":
        doc["VotesRecorded"] = 1
        directives.append(_directive([[]], "VotesRecorded", "Count", namespace))
    if response.status >= 400:
        doc["Code"] = response.code
        doc["Refusals"] = 1
        # By code, and in total (the empty dimension set) for dashboards.
        directives.append(_directive([["Code"], []], "Refusals", "Count", namespace))
        if response.code not in ROUTINE_REFUSALS and response.status < 500:
            # What the refusal-spike alarm watches: a capped crowd is not a spike.
            doc["Rejections"] = 1
            directives.append(_directive([[]], "Rejections", "Count", namespace))
    if store_ms is not None:
        doc["StoreLatency"] = round(store_ms, 2)
        directives.append(_directive([[]], "StoreLatency", "Milliseconds", namespace))
    if directives:
        doc["_aws"] = {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": directives}
    return json.dumps(doc, separators=(",", ":"))


def config_error_line(error: str, namespace: str = NAMESPACE) -> str:
    """The ``ConfigErrors`` metric (alarmed in the stacks) with what went wrong."""
    doc: dict[str, Any] = {
        "level": "error",
        "error": error,
        "ConfigErrors": 1,
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [_directive([[]], "ConfigErrors", "Count", namespace)],
        },
    }
    return json.dumps(doc, separators=(",", ":"))


def _directive(
    dimensions: list[list[str]], name: str, unit: str, namespace: str = NAMESPACE
) -> dict[str, Any]:
    return {
        "Namespace": namespace,
        "Dimensions": dimensions,
        "Metrics": [{"Name": name, "Unit": unit}],
    }


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# -- entry points ----------------------------------------------------------------------


def request_deadline(
    context: object, monotonic: Callable[[], float] = time.monotonic
) -> float | None:
    """The ``time.monotonic`` instant by which the store must have given up.

    The Lambda context knows the invocation's remaining time; one deadline for the
    whole request (less ``DEADLINE_RESERVE_S`` to log and answer) replaces separate
    per-call budgets that could together outlast the function's timeout.
    """
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    seconds = float(remaining()) / 1000
    return monotonic() + max(0.0, seconds - DEADLINE_RESERVE_S)


def handle(
    event: Mapping[str, Any],
    api: Api,
    *,
    settings: FunctionSettings | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Answer one event with a ready ``Api``. Never raises, never leaks a traceback."""
    from ballotbox.core.errors import MalformedRequest
    from ballotbox.http import error_response, unavailable_response

    hops = settings.trusted_proxy_hops if settings else 0
    viewer_header = settings.viewer_address_header if settings else ""
    namespace = settings.metrics_namespace if settings else NAMESPACE
    started = time.perf_counter()
    timed = api.store if isinstance(api.store, TimedStore) else None
    if timed is not None:
        timed.begin(deadline)
    try:
        try:
            request = to_request(event, hops, viewer_header)
        except ValueError:
            response = error_response(MalformedRequest("not an HTTP event"), "unknown")
        else:
            response = api.handle(request)
    except Exception:  # noqa: BLE001 - top-level boundary: a bug is logged, the voter gets 503
        _emit(json.dumps({"level": "error", "error": traceback.format_exc()}))
        response = unavailable_response()
    latency = (time.perf_counter() - started) * 1000
    _emit(decision_line(response, latency, timed.elapsed_ms if timed else None, namespace))
    return to_result(response)


def _configured(monotonic: Callable[[], float] = time.monotonic) -> Api | None:
    """The cached ``Api``, built on first use; None while a failed load backs off.

    A failed load (missing parameter, SSM down, bad campaign file) is remembered: the
    next attempt waits ``CONFIG_RETRY_FIRST_S``, doubling up to ``CONFIG_RETRY_MAX_S``,
    and every request in between answers 503 at once without touching SSM.
    """
    global _api, _settings, _config_failure
    if _api is not None:
        return _api
    now = monotonic()
    if _config_failure is not None and now < _config_failure[0]:
        return None
    namespace = NAMESPACE
    try:
        if _settings is None:
            _settings = FunctionSettings.from_env(os.environ)
        namespace = _settings.metrics_namespace
        _api = build_api(_settings)
    except Exception:  # noqa: BLE001 - a broken deployment must still answer 503, not crash
        backoff = CONFIG_RETRY_FIRST_S
        if _config_failure is not None:
            backoff = min(CONFIG_RETRY_MAX_S, _config_failure[1] * 2)
        _config_failure = (now + backoff, backoff)
        _emit(config_error_line(traceback.format_exc(), namespace))
        return None
    _config_failure = None
    return _api


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """The Lambda handler: configuration is read on the first event and cached."""
    api = _configured()
    if api is None:
        from ballotbox.http import unavailable_response

        response = unavailable_response()
        namespace = _settings.metrics_namespace if _settings else NAMESPACE
        _emit(decision_line(response, 0.0, None, namespace))
        return to_result(response)
    return handle(event, api, settings=_settings, deadline=request_deadline(context))


def reset() -> None:
    """Forget the cached configuration (what a new execution environment would do)."""
    global _api, _settings, _ssm_client, _config_failure
    _api = None
    _settings = None
    _ssm_client = None
    _config_failure = None
