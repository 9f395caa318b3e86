"""The cloud side of WeChat share cards (issue 16): the scheduled refresher function and
the vote function reading its ticket. SSM is moto (it only stands in for AWS); WeChat is
the fake over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import vote_handler
import wechat_refresher
from ballotbox.core.encoding import b64u_encode
from moto import mock_aws

from tests import votekit
from tests.fake_wechat import APPID, SECRET, FakeWeChat, fake_wechat

REGION = "ap-southeast-1"
BASE = "https://vote.cqast.cn"


@pytest.fixture
def ssm() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("ssm", region_name=REGION)
        client.put_parameter(Name="/s/wechat-secret", Value=SECRET, Type="SecureString")
        client.put_parameter(Name="/s/receipt", Value=b64u_encode(b"r" * 32), Type="SecureString")
        client.put_parameter(Name="/s/hash", Value=b64u_encode(b"h" * 32), Type="SecureString")
        yield client


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    with fake_wechat() as server:
        yield server


def campaign_file(tmp_path: Path) -> Path:
    data = votekit.campaign_dict()
    data["wechat_share"] = {"appid": APPID, "base_url": BASE}
    path = tmp_path / "campaign.json"
    path.write_text(json.dumps(data), "utf-8")
    return path


def environ(tmp_path: Path, fake: FakeWeChat) -> dict[str, str]:
    return {
        "CAMPAIGN_FILE": str(campaign_file(tmp_path)),
        "WECHAT_SECRET_PARAM": "/s/wechat-secret",
        "WECHAT_STATE_PARAM": "/s/wechat/ticket-state",
        "WECHAT_TICKET_PARAM": "/s/wechat/jsapi-ticket",
        "WECHAT_API_BASE": fake.url,
        "RECEIPT_KEY_PARAM": "/s/receipt",
        "HASH_KEY_PARAM": "/s/hash",
        "STORE": "sqlite",
        "SQLITE_PATH": str(tmp_path / "votes.sqlite3"),
    }


def test_scheduled_runs_fetch_once_and_share_only_the_ticket(
    tmp_path: Path, ssm: Any, fake: FakeWeChat
) -> None:
    env = environ(tmp_path, fake)
    now = [1_000_000.0]
    first = wechat_refresher.run(env, ssm, clock=lambda: now[0])
    assert first["done"] == "refreshed"
    for _ in range(20):  # 100 minutes of 5-minute runs: nothing is due
        now[0] += 300
        assert wechat_refresher.run(env, ssm, clock=lambda: now[0])["done"] == "nothing due"
    assert (fake.token_calls, fake.ticket_calls) == (1, 1)
    shared = json.loads(
        ssm.get_parameter(Name="/s/wechat/jsapi-ticket", WithDecryption=True)["Parameter"]["Value"]
    )
    assert shared == {"ticket": fake.valid_ticket(), "expires": 1_000_000.0 + 7200}
    described = ssm.describe_parameters()["Parameters"]
    assert {p["Name"]: p["Type"] for p in described}["/s/wechat/ticket-state"] == "SecureString"
    # Close to expiry, a run refreshes again.
    now[0] = 1_000_000.0 + 7200 - 600
    assert wechat_refresher.run(env, ssm, clock=lambda: now[0])["done"] == "refreshed"
    assert fake.token_calls == 2


def test_a_run_reports_wechat_refusals_and_keeps_trying_later(
    tmp_path: Path, ssm: Any, fake: FakeWeChat
) -> None:
    fake.whitelisted = False
    report = wechat_refresher.run(environ(tmp_path, fake), ssm, clock=lambda: 5000.0)
    assert report["level"] == "error"
    assert "40164" in report["error"]
    assert report["next_due_in_s"] >= 300
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name="/s/wechat/jsapi-ticket")


def test_the_vote_function_signs_with_the_shared_ticket(
    tmp_path: Path, ssm: Any, fake: FakeWeChat
) -> None:
    env = environ(tmp_path, fake)
    api = vote_handler.build_api(env, ssm=ssm)
    url = BASE + "/en/vote/"
    event: dict[str, Any] = {
        "version": "2.0",
        "rawPath": "/api/wechat/jssdk",
        "rawQueryString": "url=" + url,
        "headers": {},
        "requestContext": {"http": {"method": "GET", "path": "/api/wechat/jssdk"}},
    }
    # Before the refresher's first run: a deliberate, bilingual 503.
    before = vote_handler.handle(event, api)
    assert before["statusCode"] == 503
    assert json.loads(before["body"])["message"]["zh"]
    wechat_refresher.run(env, ssm)
    api = vote_handler.build_api(env, ssm=ssm)  # a new environment reads the ticket at once
    answer = vote_handler.handle(event, api)
    assert answer["statusCode"] == 200
    body = json.loads(answer["body"])
    text = (
        f"jsapi_ticket={fake.valid_ticket()}&noncestr={body['nonceStr']}"
        f"&timestamp={body['timestamp']}&url={url}"
    )
    assert body["signature"] == hashlib.sha1(text.encode()).hexdigest()
    assert fake.token_calls == 1  # the vote function never asks WeChat


def test_without_the_share_option_the_function_has_no_jssdk_route(
    tmp_path: Path, ssm: Any, fake: FakeWeChat
) -> None:
    env = environ(tmp_path, fake)
    path = Path(env["CAMPAIGN_FILE"])
    data = json.loads(path.read_text("utf-8"))
    del data["wechat_share"]
    path.write_text(json.dumps(data), "utf-8")
    api = vote_handler.build_api(env, ssm=ssm)
    assert "/api/wechat/jssdk" not in api.routes
    report = wechat_refresher.run(env, ssm)
    assert report["done"].startswith("nothing")
    assert fake.token_calls == 0
