"""The Lambda adapter's per-environment state: settings, SSM, backoff, deadline, health.

SSM is moto's; the handler runs from a cold start as in the cloud. Failures are real
(a parameter that does not exist), counted with botocore's own event hooks.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import vote_handler
from ballotbox.core.encoding import b64u_encode
from ballotbox.http import Response
from moto import mock_aws

from tests import votekit

EVENTS = Path(__file__).resolve().parent / "events"
SECRETS = {
    "/vote/receipt-key": b64u_encode(votekit.RECEIPT_SEED),
    "/vote/hash-key": b64u_encode(votekit.HASH_KEY),
}


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text("utf-8"))
    return event


@pytest.fixture
def cold_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Env vars as the stack sets them, SSM SecureStrings in moto; yields the SSM client."""
    data = votekit.campaign_dict()
    now = datetime.now(UTC)
    data["opens"] = (now - timedelta(days=1)).isoformat()
    data["closes"] = (now + timedelta(days=1)).isoformat()
    campaign = tmp_path / "campaign.json"
    campaign.write_text(json.dumps(data), "utf-8")
    for name, value in {
        "CAMPAIGN_FILE": str(campaign),
        "STORE": "sqlite",
        "SQLITE_PATH": str(tmp_path / "votes.sqlite3"),
        "RECEIPT_KEY_PARAM": "/vote/receipt-key",
        "HASH_KEY_PARAM": "/vote/hash-key",
        "AWS_DEFAULT_REGION": "ap-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        ssm = boto3.client("ssm")
        for name, value in SECRETS.items():
            ssm.put_parameter(Name=name, Value=value, Type="SecureString")
        vote_handler.reset()
        try:
            yield ssm
        finally:
            if vote_handler._api is not None:
                vote_handler._api.store.close()
            vote_handler.reset()


def count_ssm_calls() -> list[str]:
    """Every GetParameters the handler's own SSM client sends, as botocore sees it."""
    calls: list[str] = []
    client = vote_handler.ssm_client()
    client.meta.events.register(
        "before-call.ssm.GetParameters", lambda **kw: calls.append("GetParameters")
    )
    return calls


def test_settings_are_read_once_and_checked() -> None:
    settings = vote_handler.FunctionSettings.from_env(
        {"TRUSTED_PROXY_HOPS": "2", "METRICS_NAMESPACE": "Ns", "HEALTH_CACHE_SECONDS": "10"}
    )
    assert (settings.trusted_proxy_hops, settings.metrics_namespace) == (2, "Ns")
    assert settings.health_cache_s == 10.0
    assert settings.viewer_address_header == ""  # trusted only where the stack says so
    defaults = vote_handler.FunctionSettings.from_env({})
    assert (defaults.store, defaults.metrics_namespace) == ("dynamodb", vote_handler.NAMESPACE)
    for bad in ({"TRUSTED_PROXY_HOPS": "two"}, {"HEALTH_CACHE_SECONDS": "soon"}):
        with pytest.raises(vote_handler.ConfigError):
            vote_handler.FunctionSettings.from_env(bad)


def test_the_ssm_client_is_made_once_with_short_timeouts(cold_start: Any) -> None:
    client = vote_handler.ssm_client()
    assert vote_handler.ssm_client() is client
    config = client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1, 2)
    assert config.retries["mode"] == "standard"


def test_a_failed_load_backs_off_instead_of_calling_ssm_per_request(
    cold_start: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HASH_KEY_PARAM", "/vote/not-yet-created")
    calls = count_ssm_calls()
    for _ in range(5):
        result = vote_handler.handler(load_event("health"), None)
        assert result["statusCode"] == 503
    assert calls == ["GetParameters"]  # one attempt; the other four waited out the backoff
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    config_errors = [x for x in lines if x.get("ConfigErrors") == 1]
    assert len(config_errors) == 1
    assert "SSM parameters not found" in config_errors[0]["error"]
    directive = config_errors[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Metrics"] == [{"Name": "ConfigErrors", "Unit": "Count"}]

    # The organiser creates the parameter: the next attempt after the backoff succeeds,
    # and the one after a second failure would wait twice as long.
    cold_start.put_parameter(
        Name="/vote/not-yet-created", Value=SECRETS["/vote/hash-key"], Type="SecureString"
    )
    failure = vote_handler._config_failure
    assert failure is not None
    retry_at, backoff = failure
    assert backoff == vote_handler.CONFIG_RETRY_FIRST_S
    assert vote_handler._configured(monotonic=lambda: retry_at - 0.01) is None
    assert calls == ["GetParameters"]
    assert vote_handler._configured(monotonic=lambda: retry_at + 0.01) is not None
    assert calls == ["GetParameters", "GetParameters"]
    assert vote_handler.handler(load_event("health"), None)["statusCode"] == 200


class FixedClock:
    """A monotonic clock stopped at one instant."""

    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def test_backoff_doubles_up_to_a_minute(cold_start: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASH_KEY_PARAM", "/vote/never")
    clock = 1000.0
    backoffs = []
    for _ in range(9):
        assert vote_handler._configured(monotonic=FixedClock(clock)) is None
        failure = vote_handler._config_failure
        assert failure is not None
        backoffs.append(failure[1])
        clock = failure[0] + 0.001
    assert backoffs == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_a_forged_viewer_address_is_ignored_unless_the_stack_trusts_it() -> None:
    event = load_event("cloudfront_vote")
    event["headers"]["cloudfront-viewer-address"] = "198.51.100.7:443"
    plain = vote_handler.FunctionSettings.from_env({})
    trusting = vote_handler.FunctionSettings.from_env(
        {"VIEWER_ADDRESS_HEADER": "CloudFront-Viewer-Address"}
    )
    source = event["requestContext"]["http"]["sourceIp"]
    assert vote_handler.to_request(event, 0, plain.viewer_address_header).client_ip == source
    assert (
        vote_handler.to_request(event, 0, trusting.viewer_address_header).client_ip
        == "198.51.100.7"
    )


class DeadlineStore(votekit.MemoryStore):
    """The in-memory fake, noting the deadlines it is handed and its health checks."""

    def __init__(self) -> None:
        super().__init__()
        self.deadlines: list[float | None] = []
        self.health_checks = 0

    def set_deadline(self, deadline: float | None) -> None:
        self.deadlines.append(deadline)

    def healthy(self) -> bool:
        self.health_checks += 1
        return True


class LambdaContext:
    """What the Lambda runtime hands the handler, reduced to the one method we use."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_one_deadline_per_request_comes_from_the_lambda_context(cold_start: Any) -> None:
    store = DeadlineStore()
    vote_handler._api = vote_handler.build_api(
        vote_handler.FunctionSettings.from_env(os.environ), ssm=cold_start, store=store
    )
    deadline = vote_handler.request_deadline(LambdaContext(6000), monotonic=lambda: 100.0)
    assert deadline == 100.0 + 6.0 - vote_handler.DEADLINE_RESERVE_S
    assert vote_handler.request_deadline(object()) is None
    vote_handler.handler(load_event("status"), LambdaContext(4000))
    assert len(store.deadlines) == 1
    only = store.deadlines[0]
    assert only is not None
    assert 0 < only - time.monotonic() <= 4.0 - vote_handler.DEADLINE_RESERVE_S


def test_health_is_answered_from_a_brief_cache(cold_start: Any) -> None:
    store = DeadlineStore()
    clock = [0.0]
    timed = vote_handler.TimedStore(store, health_cache_s=5.0, monotonic=lambda: clock[0])
    assert timed.healthy()
    assert timed.healthy()
    assert store.health_checks == 1
    clock[0] = 5.1
    assert timed.healthy()
    assert store.health_checks == 2


def test_a_capped_evening_does_not_count_toward_the_refusal_alarm() -> None:
    def line(status: int, code: str) -> dict[str, Any]:
        response = Response(status, {}, b"{}", route="vote", code=code)
        doc: dict[str, Any] = json.loads(vote_handler.decision_line(response, 1.0, None, "Ns"))
        return doc

    capped = line(429, "daily_limit_reached")
    assert capped["Refusals"] == 1
    assert "Rejections" not in capped
    assert "Rejections" not in line(429, "network_limited")
    forged = line(401, "bad_signature")
    assert forged["Rejections"] == 1
    names = [m["Metrics"][0]["Name"] for m in forged["_aws"]["CloudWatchMetrics"]]
    assert names == ["Refusals", "Rejections"]
    assert {m["Namespace"] for m in forged["_aws"]["CloudWatchMetrics"]} == {"Ns"}


def test_a_pinned_receipt_key_version_is_read_not_the_latest(
    cold_start: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deploy pins the version the pages can verify; a rotation waits for them."""
    from ballotbox.core.signature import Signer

    rotated = b64u_encode(bytes(range(32)))
    cold_start.put_parameter(
        Name="/vote/receipt-key", Value=rotated, Type="SecureString", Overwrite=True
    )
    monkeypatch.setenv("RECEIPT_KEY_PARAM", "/vote/receipt-key:1")
    api = vote_handler._configured()
    assert api is not None
    assert api.signer.public_key_b64 == Signer(votekit.RECEIPT_SEED).public_key_b64
    vote_handler.reset()
    monkeypatch.setenv("RECEIPT_KEY_PARAM", "/vote/receipt-key:2")
    api = vote_handler._configured()
    assert api is not None
    assert api.signer.public_key_b64 == Signer(bytes(range(32))).public_key_b64
