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
SecureString names holding base64url 32-byte secrets), ``METRICS_NAMESPACE`` and
``TRUSTED_PROXY_HOPS`` (see ``client_ip``).

Identity modes (README "Identity modes"): ``POW_DIFFICULTY`` overrides the campaign's
proof-of-work difficulty (leading zero bits) without redeploying the site: change the
function's environment and new challenges use it. In ``wechat`` mode,
``WECHAT_SECRET_PARAM`` names the SSM SecureString holding the Official Account's AppSecret
(read in the same ``get_parameters`` call as the other secrets; the AppID is public and
comes from campaign.json) and ``WECHAT_API_BASE`` may point the code exchange elsewhere.
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from ballotbox.core.store import RecordOutcome, VoteRecord, VoteStore
    from ballotbox.http import Api, Request, Response

NAMESPACE = "TopNVote"
DEFAULT_CAMPAIGN_FILE = Path(__file__).resolve().with_name("campaign.json")

_api: Api | None = None


class ConfigError(RuntimeError):
    """The function's environment or parameters are unusable (a deployment error)."""


# -- configuration (cold start) ------------------------------------------------------


def _env(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is not set")
    return value


def _make_store(environ: Mapping[str, str]) -> VoteStore:
    kind = environ.get("STORE", "dynamodb").strip().lower()
    if kind == "dynamodb":
        from ballotbox.stores.dynamodb import DynamoStore

        return DynamoStore(_env(environ, "LEDGER_TABLE"), _env(environ, "CAPS_TABLE"))
    if kind == "sqlite":
        from ballotbox.stores.sqlite import SqliteStore

        return SqliteStore(environ.get("SQLITE_PATH", "/tmp/votes.sqlite3"))  # noqa: S108
    raise ConfigError(f"STORE must be dynamodb or sqlite, not {kind!r}")


def _read_secrets(
    environ: Mapping[str, str], ssm: Any, *, wechat: bool = False
) -> tuple[bytes, bytes, str | None]:
    """Every secret in one SSM round trip: (receipt seed, hashing key, WeChat AppSecret)."""
    from ballotbox.core.encoding import b64u_decode

    names = [_env(environ, "RECEIPT_KEY_PARAM"), _env(environ, "HASH_KEY_PARAM")]
    if wechat:
        names.append(_env(environ, "WECHAT_SECRET_PARAM"))
    if ssm is None:
        import boto3

        ssm = boto3.client("ssm")
    answer = ssm.get_parameters(Names=names, WithDecryption=True)
    values = {p["Name"]: p["Value"] for p in answer.get("Parameters", [])}
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


def pow_bits_from_env(environ: Mapping[str, str], default: int) -> Callable[[], int]:
    """The difficulty: ``POW_DIFFICULTY`` if set (1..32), else the campaign's."""
    from ballotbox.core.identity import MAX_POW_BITS

    raw = environ.get("POW_DIFFICULTY", "").strip()
    if not raw:
        return lambda: default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_POW_BITS:
        raise ConfigError(f"POW_DIFFICULTY must be a whole number 1..{MAX_POW_BITS}")
    bits = int(raw)
    return lambda: bits


def build_api(
    environ: Mapping[str, str],
    *,
    ssm: Any = None,
    store: VoteStore | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Api:
    """Everything a cold start sets up; ``ssm``, ``store`` and ``clock`` can be handed in."""
    from ballotbox.core.campaign import Campaign
    from ballotbox.core.privacy import Hasher
    from ballotbox.core.signature import Signer
    from ballotbox.http import Api

    campaign_file = Path(environ.get("CAMPAIGN_FILE") or DEFAULT_CAMPAIGN_FILE)
    campaign = Campaign.from_dict(json.loads(campaign_file.read_text("utf-8")))
    policy = campaign.identity
    seed, hash_key, app_secret = _read_secrets(environ, ssm, wechat=policy.mode == "wechat")
    wechat = None
    if app_secret is not None and policy.wechat_appid:
        from ballotbox.wechat import DEFAULT_API_BASE, WeChatOAuth

        base = environ.get("WECHAT_API_BASE", "").strip() or DEFAULT_API_BASE
        wechat = WeChatOAuth(policy.wechat_appid, app_secret, base_url=base)
    return Api(
        campaign=campaign,
        signer=Signer(seed),
        hasher=Hasher(hash_key),
        store=TimedStore(store if store is not None else _make_store(environ)),
        clock=clock or _utc_now,
        pow_bits=pow_bits_from_env(environ, policy.pow_bits),
        wechat=wechat,
    )


def _utc_now() -> datetime:
    from datetime import UTC, datetime

    return datetime.now(UTC)


class TimedStore:
    """Measures the store's share of each request, for the StoreLatency metric.

    A Lambda environment answers one request at a time, so one accumulator suffices.
    """

    def __init__(self, inner: VoteStore) -> None:
        self.inner = inner
        self.elapsed_ms: float | None = None

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
        return self.inner.healthy()

    def close(self) -> None:
        self.inner.close()


# -- events ----------------------------------------------------------------------------


def client_ip(event: Mapping[str, Any], trusted_hops: int = 0) -> str | None:
    """The viewer's address, from the most trustworthy source the route offers.

    1. CloudFront's ``CloudFront-Viewer-Address`` (``ip:port``), which CloudFront sets
       itself, so a client cannot forge it;
    2. with ``trusted_hops`` proxies in front (``TRUSTED_PROXY_HOPS``, e.g. 2 for
       CloudFront then API Gateway in AWS China), the ``X-Forwarded-For`` entry the
       outermost trusted proxy appended: entries left of it are the client's own words;
    3. the direct peer.
    """
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    raw_viewer = headers.get("cloudfront-viewer-address")
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


def to_request(event: Mapping[str, Any], trusted_hops: int = 0) -> Request:
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
        client_ip=client_ip(event, trusted_hops),
    )


def to_result(response: Response) -> dict[str, Any]:
    return {
        "statusCode": response.status,
        "headers": dict(response.headers),
        "body": response.body.decode("utf-8"),
        "isBase64Encoded": False,
    }


# -- logs and metrics ------------------------------------------------------------------


def decision_line(response: Response, latency_ms: float, store_ms: float | None) -> str:
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
        directives.append(_directive([[]], "VotesRecorded", "Count"))
    if response.status >= 400:
        doc["Code"] = response.code
        doc["Refusals"] = 1
        # By code, and in total (the empty dimension set) for the refusal-spike alarm.
        directives.append(_directive([["Code"], []], "Refusals", "Count"))
    if store_ms is not None:
        doc["StoreLatency"] = round(store_ms, 2)
        directives.append(_directive([[]], "StoreLatency", "Milliseconds"))
    if directives:
        doc["_aws"] = {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": directives}
    return json.dumps(doc, separators=(",", ":"))


def _directive(dimensions: list[list[str]], name: str, unit: str) -> dict[str, Any]:
    return {
        "Namespace": os.environ.get("METRICS_NAMESPACE") or NAMESPACE,
        "Dimensions": dimensions,
        "Metrics": [{"Name": name, "Unit": unit}],
    }


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# -- entry points ----------------------------------------------------------------------


def _trusted_hops(environ: Mapping[str, str]) -> int:
    raw = environ.get("TRUSTED_PROXY_HOPS", "").strip()
    return int(raw) if raw.isdigit() else 0


def handle(event: Mapping[str, Any], api: Api) -> dict[str, Any]:
    """Answer one event with a ready ``Api``. Never raises, never leaks a traceback."""
    from ballotbox.core.errors import MalformedRequest
    from ballotbox.http import error_response, unavailable_response

    started = time.perf_counter()
    timed = api.store if isinstance(api.store, TimedStore) else None
    if timed is not None:
        timed.elapsed_ms = None
    try:
        try:
            request = to_request(event, _trusted_hops(os.environ))
        except ValueError:
            response = error_response(MalformedRequest("not an HTTP event"), "unknown")
        else:
            response = api.handle(request)
    except Exception:  # noqa: BLE001 - top-level boundary: a bug is logged, the voter gets 503
        _emit(json.dumps({"level": "error", "error": traceback.format_exc()}))
        response = unavailable_response()
    latency = (time.perf_counter() - started) * 1000
    _emit(decision_line(response, latency, timed.elapsed_ms if timed else None))
    return to_result(response)


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """The Lambda handler: configuration is read on the first event and cached."""
    global _api
    if _api is None:
        try:
            _api = build_api(os.environ)
        except Exception:  # noqa: BLE001 - a broken deployment must still answer 503, not crash
            _emit(json.dumps({"level": "error", "error": traceback.format_exc()}))
            from ballotbox.http import unavailable_response

            response = unavailable_response()
            _emit(decision_line(response, 0.0, None))
            return to_result(response)
    return handle(event, _api)


def reset() -> None:
    """Forget the cached configuration (what a new execution environment would do)."""
    global _api
    _api = None
