"""Every row of the error table (docs/http-api.md), through the sans-I/O layer and Lambda.

The ``client`` fixture runs each test twice: once calling ``Api.handle`` directly, once
turning the same request into a real-shaped payload 2.0 event for ``vote_handler``.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import vote_handler
from ballotbox.core.ballot import MAX_BODY
from ballotbox.core.clock import BEIJING
from ballotbox.core.encoding import b64u_encode
from ballotbox.core.store import VoteStore
from ballotbox.http import STATUS, Api, Request
from ballotbox.stores.sqlite import SqliteStore
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from tests import votekit
from tests.votekit import CLOSES, INSIDE, OPENS, BrokenStore, UnavailableStore, Voter

EVENTS = Path(__file__).parent / "events"
JSON = {"content-type": "application/json"}


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text("utf-8"))
    return event


def to_event(req: Request) -> dict[str, Any]:
    """The same request as API Gateway / a Function URL would deliver it."""
    event = copy.deepcopy(load_event("health"))
    event["rawPath"] = req.path
    event["rawQueryString"] = req.query
    event["requestContext"]["http"].update(method=req.method, path=req.path)
    event["requestContext"]["http"]["sourceIp"] = req.client_ip or "198.51.100.1"
    event["headers"] = {**event["headers"], **{k.lower(): v for k, v in req.headers.items()}}
    if req.body:
        event["body"] = base64.b64encode(req.body).decode()
        event["isBase64Encoded"] = True
    return event


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    json: dict[str, Any]


class FakeSSM:
    """Parameter Store with the two SecureStrings the function reads."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.calls = 0

    def get_parameters(self, Names: list[str], WithDecryption: bool) -> dict[str, Any]:
        assert WithDecryption
        self.calls += 1
        return {
            "Parameters": [{"Name": n, "Value": self.values[n]} for n in Names if n in self.values]
        }


SECRETS = {
    "/vote/receipt-key": b64u_encode(votekit.RECEIPT_SEED),
    "/vote/hash-key": b64u_encode(votekit.HASH_KEY),
}


class Client:
    def __init__(self, mode: str, store: VoteStore, campaign_file: Path) -> None:
        self.mode = mode
        self.now = INSIDE
        env = {
            "CAMPAIGN_FILE": str(campaign_file),
            "RECEIPT_KEY_PARAM": "/vote/receipt-key",
            "HASH_KEY_PARAM": "/vote/hash-key",
        }
        self.api: Api = vote_handler.build_api(
            env, ssm=FakeSSM(SECRETS), store=store, clock=lambda: self.now
        )

    def send(self, req: Request) -> Answer:
        if self.mode == "sansio":
            r = self.api.handle(req)
            return Answer(r.status, r.headers, json.loads(r.body))
        result = vote_handler.handle(to_event(req), self.api)
        return Answer(result["statusCode"], result["headers"], json.loads(result["body"]))

    def vote(self, body: bytes, headers: dict[str, str] | None = None) -> Answer:
        return self.send(
            Request(
                "POST", "/api/vote", "", JSON if headers is None else headers, body, "203.0.113.5"
            )
        )


@pytest.fixture
def campaign_file(tmp_path: Path) -> Path:
    return votekit.write_campaign(tmp_path / "dist")


@pytest.fixture(params=["sansio", "lambda"])
def make_client(
    request: pytest.FixtureRequest, tmp_path: Path, campaign_file: Path
) -> Iterator[Callable[..., Client]]:
    stores: list[VoteStore] = []

    def make(store: VoteStore | None = None) -> Client:
        made = store or SqliteStore(tmp_path / "votes.sqlite3")
        stores.append(made)
        return Client(request.param, made, campaign_file)

    yield make
    for s in stores:
        s.close()


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client()


def assert_refusal(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, answer.json
    assert answer.json["error"] == code
    assert set(answer.json) == {"error", "message"}
    assert answer.json["message"]["zh"]
    assert answer.json["message"]["en"]
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    assert answer.headers["Cache-Control"] == "no-store"


# -- success --------------------------------------------------------------------------


def test_recorded_then_duplicate(client: Client) -> None:
    body = Voter().vote_body("e02")
    first = client.vote(body)
    assert first.status == 200
    assert set(first.json) == {
        "status", "vote_id", "candidate", "day", "votes_left_today", "receipt", "receipt_signature",
    }  # fmt: skip
    assert first.json["status"] == "recorded"
    assert first.json["votes_left_today"] == 4
    client.now = INSIDE + timedelta(minutes=5)
    again = client.vote(body)
    assert again.json["status"] == "duplicate"
    assert again.json["receipt"] == first.json["receipt"]
    assert again.json["receipt_signature"] == first.json["receipt_signature"]


def test_charset_parameter_is_accepted(client: Client) -> None:
    answer = client.vote(Voter().vote_body(), {"content-type": "Application/JSON; charset=UTF-8"})
    assert answer.status == 200


def test_status_and_health(client: Client) -> None:
    voter = Voter()
    client.vote(voter.vote_body("h01"))
    answer = client.send(Request("GET", "/api/status", f"voter={voter.public}", {}, b"", None))
    assert answer.status == 200
    assert answer.json == {
        "state": "open",
        "now": "2021-12-30T20:15:03.123+08:00",
        "day": "2021-12-30",
        "votes_left": {"e01": 5, "e02": 5, "h01": 4},
    }
    health = client.send(Request("GET", "/api/health", "", {}, b"", None))
    assert (health.status, health.json) == (200, {"ok": True})


# -- the error table, row by row ----------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{}", b'{"ballot": "{}", "signature": ""}', b"[1]"],
)
def test_400_malformed_request(client: Client, body: bytes) -> None:
    assert_refusal(client.vote(body), 400, "malformed_request")


@pytest.mark.parametrize("query", ["", "voter=short", "voter=a&voter=b", "x=1"])
def test_400_bad_status_query(client: Client, query: str) -> None:
    answer = client.send(Request("GET", "/api/status", query, {}, b"", None))
    assert_refusal(answer, 400, "malformed_request")


def test_401_bad_signature(client: Client) -> None:
    text = Voter().ballot_text()
    assert_refusal(client.vote(Voter().body_for(text)), 401, "bad_signature")


def test_403_not_open_and_closed(client: Client) -> None:
    client.now = OPENS - timedelta(milliseconds=1)
    assert_refusal(client.vote(Voter().vote_body()), 403, "voting_not_open")
    client.now = CLOSES
    assert_refusal(client.vote(Voter().vote_body()), 403, "voting_closed")


@pytest.mark.parametrize("path", ["/api/nope", "/api/vote/", "/api", "/elsewhere"])
def test_404_unknown_endpoint(client: Client, path: str) -> None:
    answer = client.send(Request("GET", path, "", {}, b"", None))
    assert_refusal(answer, 404, "not_found")


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"])
def test_405_method_not_allowed(client: Client, method: str) -> None:
    answer = client.send(Request(method, "/api/vote", "", JSON, b"", None))
    assert_refusal(answer, 405, "method_not_allowed")
    assert answer.headers["Allow"] == "POST"


def test_409_nonce_reused(client: Client) -> None:
    voter = Voter()
    nonce = b"n" * 16
    assert client.vote(voter.vote_body("e01", nonce=nonce)).status == 200
    assert_refusal(client.vote(voter.vote_body("e02", nonce=nonce)), 409, "nonce_reused")


def test_413_payload_too_large(client: Client) -> None:
    body = b'{"ballot": "' + b"x" * MAX_BODY + b'", "signature": ""}'
    assert_refusal(client.vote(body), 413, "payload_too_large")


@pytest.mark.parametrize(
    "ctype",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_415_unsupported_media_type(client: Client, ctype: str | None) -> None:
    headers = {} if ctype is None else {"content-type": ctype}
    assert_refusal(client.vote(Voter().vote_body(), headers), 415, "unsupported_media_type")


def test_422_unknown_candidate_and_wrong_campaign(client: Client) -> None:
    voter = Voter()
    assert_refusal(client.vote(voter.vote_body("z99")), 422, "unknown_candidate")
    body = voter.vote_body(campaign_id="another-vote")
    assert_refusal(client.vote(body), 422, "wrong_campaign")


def test_429_daily_limit_reached(client: Client) -> None:
    voter = Voter()
    for left in (4, 3, 2, 1, 0):
        assert client.vote(voter.vote_body("e01")).json["votes_left_today"] == left
    assert_refusal(client.vote(voter.vote_body("e01")), 429, "daily_limit_reached")
    client.now = datetime(2021, 12, 31, 0, 0, tzinfo=BEIJING)  # Beijing midnight
    assert client.vote(voter.vote_body("e01")).json["votes_left_today"] == 4


def test_503_unavailable_store(make_client: Callable[..., Client]) -> None:
    client = make_client(UnavailableStore())
    answer = client.vote(Voter().vote_body())
    assert_refusal(answer, 503, "unavailable")
    assert answer.headers["Retry-After"] == "3"
    status = client.send(Request("GET", "/api/status", f"voter={Voter().public}", {}, b"", None))
    assert_refusal(status, 503, "unavailable")
    assert_refusal(
        client.send(Request("GET", "/api/health", "", {}, b"", None)), 503, "unavailable"
    )


def test_503_for_a_bug_without_a_stack_trace(
    make_client: Callable[..., Client], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(BrokenStore())
    if client.mode == "sansio":
        with pytest.raises(RuntimeError):  # the sans-I/O layer lets bugs through...
            client.vote(Voter().vote_body())
        return
    answer = client.vote(Voter().vote_body())  # ...the adapter's boundary answers 503
    assert_refusal(answer, 503, "unavailable")
    assert "Traceback" not in json.dumps(answer.json)
    assert "Traceback" in capsys.readouterr().out  # but it is logged


def test_every_refusal_code_has_a_status() -> None:
    from ballotbox.core import errors

    refusals = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type)
        and issubclass(obj, errors.VoteError)
        and obj is not errors.VoteError
    }
    assert refusals == set(STATUS)


# -- the Lambda adapter itself ---------------------------------------------------------------


def test_client_ip_from_cloudfront_or_source() -> None:
    event = load_event("cloudfront_vote")
    edge = vote_handler.CLOUDFRONT_VIEWER_ADDRESS  # what the global stack names
    assert vote_handler.client_ip(event, 0, edge) == "2408:8462:2510:7f3c:1d2e:3f4a:5b6c:7d8e"
    event["headers"]["cloudfront-viewer-address"] = "203.0.113.9:443"
    assert vote_handler.client_ip(event, 0, edge) == "203.0.113.9"
    event["headers"]["cloudfront-viewer-address"] = "2001:db8::7:51234"
    assert vote_handler.client_ip(event, 0, edge) == "2001:db8::7"
    # Where the stack does not say its edge sets the header, it is the client's claim.
    assert vote_handler.client_ip(event) == "130.176.179.75"
    del event["headers"]["cloudfront-viewer-address"]
    assert vote_handler.client_ip(event, 0, edge) == "130.176.179.75"


def test_rest_api_v1_events_as_in_aws_china(campaign_file: Path) -> None:
    """China's stack fronts the function with a REST API, which sends payload 1.0."""
    event = load_event("rest_v1_status")
    request = vote_handler.to_request(event, trusted_hops=2)
    assert (request.method, request.path) == ("GET", "/api/status")
    assert request.query == "voter=6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw"
    # CloudFront appended the viewer, API Gateway the edge: entries left of them are
    # whatever the client claimed, so they are never trusted.
    assert request.client_ip == "203.0.113.9"
    assert vote_handler.client_ip(event) == "54.222.1.10"
    api = Client("lambda", votekit.MemoryStore(), campaign_file).api
    result = vote_handler.handle(event, api)
    assert result["statusCode"] == 200, result["body"]
    assert set(json.loads(result["body"])) == {"state", "now", "day", "votes_left"}


def test_broken_events_are_malformed_not_errors(tmp_path: Path, campaign_file: Path) -> None:
    api = Client("lambda", votekit.MemoryStore(), campaign_file).api
    events: list[dict[str, Any]] = [
        {},
        {"requestContext": {}},
        {**load_event("vote_base64"), "body": "@@@"},
    ]
    for event in events:
        result = vote_handler.handle(event, api)
        assert result["statusCode"] == 400


@pytest.fixture
def lambda_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, campaign_file: Path
) -> Iterator[Path]:
    """A cold start as in the cloud: env vars, SSM SecureStrings (moto), the real clock."""
    data = votekit.campaign_dict()
    now = datetime.now(UTC)
    # Open since the campaign's real opening (the recorded events' signed ballots carry
    # issued_at 2021-12-30, which must lie within a day of the window) until tomorrow.
    data["closes"] = (now + timedelta(days=1)).isoformat()
    campaign_file.write_text(json.dumps(data), "utf-8")
    db = tmp_path / "lambda.sqlite3"
    for name, value in {
        "CAMPAIGN_FILE": str(campaign_file),
        "STORE": "sqlite",
        "SQLITE_PATH": str(db),
        "RECEIPT_KEY_PARAM": "/vote/receipt-key",
        "HASH_KEY_PARAM": "/vote/hash-key",
        "VIEWER_ADDRESS_HEADER": "CloudFront-Viewer-Address",  # as infra/stack.yaml sets
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
            yield db
        finally:
            if vote_handler._api is not None:
                vote_handler._api.store.close()
            vote_handler.reset()


def test_real_shaped_events_through_the_handler(
    lambda_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = {
        "vote": (200, "recorded"),
        "vote_base64": (200, "recorded"),
        "cloudfront_vote": (200, "recorded"),
        "status": (200, "ok"),
        "health": (200, "ok"),
        "wrong_method": (405, "method_not_allowed"),
    }
    for name, (status, code) in expected.items():
        result = vote_handler.handler(load_event(name), None)
        assert result["statusCode"] == status, (name, result["body"])
        assert result["isBase64Encoded"] is False
        body = json.loads(result["body"])
        assert body.get("status", body.get("error", "ok")) in (code, "ok")
    status = json.loads(vote_handler.handler(load_event("status"), None)["body"])
    assert status["votes_left"] == {"e01": 4, "e02": 4, "h01": 4}
    # The CloudFront viewer's IPv6 /48, not the edge's address, was hashed into the ledger.
    votes = {v.candidate: v for v in SqliteStore(lambda_env).iter_votes()}
    hasher = votekit.hasher()
    assert votes["h01"].net == hasher.net("2408:8462:2510::1")
    assert votes["e01"].net == hasher.net("203.0.113.9")
    # One structured line per decision, with metrics and without personal data.
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == len(expected) + 1
    raw = json.dumps(lines)
    for secret in (load_event("status")["rawQueryString"][6:], "203.0.113.9", "MicroMessenger"):
        assert secret not in raw
    recorded = [x for x in lines if x["code"] == "recorded"]
    assert all(x["VotesRecorded"] == 1 and "StoreLatency" in x for x in recorded)
    refusal = next(x for x in lines if x["status"] == 405)
    assert refusal["Code"] == "method_not_allowed"
    assert refusal["Refusals"] == 1
    metrics = refusal["_aws"]["CloudWatchMetrics"][0]
    # By code, and the total (empty dimension set) that the refusal-spike alarm watches.
    assert metrics["Dimensions"] == [["Code"], []]
    assert {"route", "status", "code", "latency_ms"} <= set(recorded[0])


def test_handler_reads_ssm_once_per_cold_start(lambda_env: Path) -> None:
    vote_handler.handler(load_event("health"), None)
    first = vote_handler._api
    vote_handler.handler(load_event("health"), None)
    assert vote_handler._api is first


def test_misconfigured_function_answers_503(
    lambda_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HASH_KEY_PARAM", "/vote/missing")
    result = vote_handler.handler(load_event("health"), None)
    assert result["statusCode"] == 503
    assert json.loads(result["body"])["error"] == "unavailable"


# -- fuzz of the sans-I/O layer -------------------------------------------------------------

FUZZ_API = Api(
    campaign=votekit.campaign(),
    signer=votekit.signer(),
    hasher=votekit.hasher(),
    store=votekit.MemoryStore(),
    clock=lambda: INSIDE,
)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["POST", "GET", "PUT", "OPTIONS", "post", "X"]),
    path=st.sampled_from(["/api/vote", "/api/status", "/api/health", "/api/x", "/"]),
    query=st.text(max_size=60),
    ctype=st.sampled_from(["application/json", "text/plain", "", "application/json;charset=x"]),
    body=st.binary(max_size=5000) | st.just(Voter().vote_body()),
)
def test_no_request_gets_anything_but_json_and_no_5xx(
    method: str, path: str, query: str, ctype: str, body: bytes
) -> None:
    response = FUZZ_API.handle(Request(method, path, query, {"content-type": ctype}, body, "::1"))
    assert response.status < 500
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    payload = json.loads(response.body)
    if response.status >= 400:
        assert set(payload) == {"error", "message"}
    if response.status == 400:
        assert payload["error"] == "malformed_request"
