"""WeChat share cards (issue 16): the JS-SDK signature, the URL check and the refresher.

The refresher runs against the fake WeChat over real HTTP on 127.0.0.1 with a simulated
clock, so a whole day of runs takes a second and the fake counts every call.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from ballotbox.core.privacy import Hasher
from ballotbox.http import Api, Request
from ballotbox.jssdk import (
    MIN_TOKEN_INTERVAL,
    REFRESH_MARGIN,
    JsSdk,
    ShareConfig,
    TicketState,
    refresh,
    signature,
)
from ballotbox.stores.sqlite import SqliteStore
from ballotbox.wechat_ticket import WeChatTickets

from localserver.wechat_refresher import TicketRefresher
from tests import votekit
from tests.fake_wechat import APPID, SECRET, FakeWeChat, fake_wechat
from tests.votekit import INSIDE

BASE = "https://vote.cqast.cn"
DAY = 86400.0


def test_signature_matches_wechats_documented_example() -> None:
    # The worked example of WeChat's JS-SDK documentation (附录1-JS-SDK使用权限签名算法).
    ticket = (
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    )
    got = signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value")
    assert got == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


class FixedTicket:
    def __init__(self, ticket: str | None) -> None:
        self.value = ticket

    def ticket(self, now: float) -> str | None:
        return self.value


def make_api(tmp_path: Path, ticket: str | None = "TICKET-1") -> Api:
    jssdk = JsSdk(
        ShareConfig("wx0123456789abcdef", BASE),
        FixedTicket(ticket),
        nonce=lambda: "NONCE123",
        clock=lambda: 1_700_000_000.5,
    )
    return Api(
        campaign=votekit.campaign(),
        signer=votekit.signer(),
        hasher=Hasher(b"k" * 32),
        store=SqliteStore(tmp_path / "votes.sqlite3"),
        clock=lambda: INSIDE,
        jssdk=jssdk,
    )


def ask(api: Api, query: str, method: str = "GET") -> tuple[int, dict[str, Any]]:
    request = Request(method, "/api/wechat/jssdk", query, {}, b"", "198.51.100.7")
    answer = api.handle(request)
    assert answer.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = json.loads(answer.body)
    return answer.status, body


def test_endpoint_signs_a_page_of_the_site_without_its_fragment(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    url = f"{BASE}/zh/vote/?from=singlemessage&isappinstalled=0"
    status, body = ask(api, "url=" + _quote(url + "#c-party-centenary"))
    assert status == 200
    assert body == {
        "appId": "wx0123456789abcdef",
        "timestamp": 1_700_000_000,
        "nonceStr": "NONCE123",
        "signature": hashlib.sha1(
            f"jsapi_ticket=TICKET-1&noncestr=NONCE123&timestamp=1700000000&url={url}".encode()
        ).hexdigest(),
    }


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/zh/vote/",
        "https://vote.cqast.cn.evil.example/zh/",
        "https://vote.cqast.cn@evil.example/zh/",
        "http://vote.cqast.cn/zh/",
        "https://vote.cqast.cn:8443/zh/",
        "javascript:alert(1)//https://vote.cqast.cn/",
    ],
)
def test_endpoint_refuses_other_sites(tmp_path: Path, url: str) -> None:
    status, body = ask(make_api(tmp_path), "url=" + _quote(url))
    assert status == 403
    assert body["error"] == "url_not_allowed"
    assert body["message"]["zh"]
    assert body["message"]["en"]


@pytest.mark.parametrize(
    "query", ["", "url=", "url=a&url=b", "url=" + "x" * 2000, "url=https%3A%2F%2Fv%20x"]
)
def test_endpoint_refuses_malformed_queries(tmp_path: Path, query: str) -> None:
    status, body = ask(make_api(tmp_path), query)
    assert (status, body["error"]) == (400, "malformed_request")
    assert body["message"]["zh"]
    assert body["message"]["en"]


def test_endpoint_without_a_ticket_is_a_deliberate_503(tmp_path: Path) -> None:
    status, body = ask(make_api(tmp_path, ticket=None), "url=" + _quote(BASE + "/zh/"))
    assert (status, body["error"]) == (503, "unavailable")
    assert "WeChat" in body["message"]["en"]
    status, body = ask(make_api(tmp_path), "url=" + _quote(BASE + "/"), method="POST")
    assert (status, body["error"]) == (405, "method_not_allowed")


def test_endpoint_exists_only_with_a_wechat_appid(tmp_path: Path) -> None:
    api = Api(
        campaign=votekit.campaign(),
        signer=votekit.signer(),
        hasher=Hasher(b"k" * 32),
        store=SqliteStore(tmp_path / "votes.sqlite3"),
        clock=lambda: INSIDE,
    )
    status, body = ask(api, "url=" + _quote(BASE + "/zh/"))
    assert (status, body["error"]) == (404, "not_found")


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


# -- the refresher -------------------------------------------------------------------------


def run_day(
    fake: FakeWeChat, *, start: TicketState | None = None, hours: float = 24
) -> TicketState:
    """Run the refresher as its scheduler would for ``hours`` of simulated time."""
    client = WeChatTickets(APPID, SECRET, base_url=fake.url)
    state, now = start or TicketState(), 0.0
    while now < hours * 3600:
        state, delay = refresh(state, client, now)
        assert delay > 0
        now += delay
    return state


def test_a_quiet_day_costs_a_dozen_token_calls_and_the_ticket_never_lapses() -> None:
    with fake_wechat() as fake:
        client = WeChatTickets(APPID, SECRET, base_url=fake.url)
        state, now, lapsed = TicketState(), 0.0, 0.0
        while now < DAY:
            state, delay = refresh(state, client, now)
            # Sample the cache as request handlers would, every minute until the next run.
            probe = now + 1
            while probe < now + delay:
                lapsed += 60 if state.usable_ticket(probe) is None else 0
                probe += 60
            now += delay
        assert lapsed == 0
        assert state.usable_ticket(now) == fake.valid_ticket()
        expected = DAY / (7200 - REFRESH_MARGIN)
        assert fake.token_calls <= expected + 1
        assert fake.ticket_calls <= expected + 1
        assert fake.forced_calls == 0


def test_a_token_replaced_elsewhere_all_day_stays_under_wechats_daily_limits() -> None:
    with fake_wechat() as fake:
        fake.ticket_errors = [40001] * 100_000  # every ticket call: "invalid credential"
        state = run_day(fake)
        assert state.usable_ticket(DAY) is None
        assert fake.token_calls <= DAY / MIN_TOKEN_INTERVAL + 1  # 1,440 < cgi-bin/token's 2,000
        assert fake.token_calls <= 2000
        assert fake.forced_calls <= 12  # stable_token force_refresh: 20 a day
        assert state.last_error.startswith("WeChat errcode 40001")


def test_a_token_replaced_elsewhere_is_replaced_at_the_next_refresh_without_forcing() -> None:
    with fake_wechat() as fake:
        state = run_day(fake, hours=1)
        fake.invalidate_tokens()
        fake.ticket_errors = []
        # Due again: the next ticket call fails with 40001, then a forced token works.
        state = TicketState.from_json(state.to_json())
        client = WeChatTickets(APPID, SECRET, base_url=fake.url)
        now = state.ticket_expires - REFRESH_MARGIN
        state, _ = refresh(state, client, now)
        assert fake.valid_ticket() is not None
        assert state.usable_ticket(now) == fake.valid_ticket()
        assert fake.forced_calls == 0  # normal mode handed out a fresh token at once


def test_ip_not_whitelisted_backs_off_and_keeps_the_valid_ticket() -> None:
    with fake_wechat() as fake:
        client = WeChatTickets(APPID, SECRET, base_url=fake.url)
        state, _ = refresh(TicketState(), client, 0.0)
        good = state.ticket
        fake.whitelisted = False
        calls_before = fake.token_calls + fake.ticket_calls
        now = state.ticket_expires - REFRESH_MARGIN
        delays = []
        for _ in range(5):
            state, delay = refresh(state, client, now)
            delays.append(delay)
            now += delay
        assert state.ticket == good  # voters keep their cards until it really expires
        assert delays == sorted(delays)
        assert delays[0] >= 300
        assert delays[-1] > delays[0]
        assert fake.token_calls + fake.ticket_calls - calls_before == 5
        assert "40164" in state.last_error


def test_daily_quota_waits_an_hour() -> None:
    with fake_wechat() as fake:
        fake.token_errors = [45009]
        client = WeChatTickets(APPID, SECRET, base_url=fake.url)
        state, delay = refresh(TicketState(), client, 0.0)
        assert delay == 3600
        assert refresh(state, client, 1800.0)[1] == 1800  # nothing is asked meanwhile
        assert fake.token_calls == 1
        state, _ = refresh(state, client, 3600.0)
        assert state.usable_ticket(3600.0) == fake.valid_ticket()


def test_system_busy_and_garbage_back_off_briefly() -> None:
    with fake_wechat() as fake:
        fake.token_errors = [-1, -1]
        client = WeChatTickets(APPID, SECRET, base_url=fake.url)
        state, first = refresh(TicketState(), client, 0.0)
        state, second = refresh(state, client, first)
        assert 0 < first < second <= 60
        # The token floor still holds: the third try waits for MIN_TOKEN_INTERVAL.
        state, third = refresh(state, client, first + second)
        assert state.usable_ticket(first + second + third) == fake.valid_ticket()
    unreachable = WeChatTickets(APPID, SECRET, base_url="http://127.0.0.1:9")
    state, delay = refresh(TicketState(), unreachable, 0.0)
    assert 0 < delay <= 60
    assert state.last_error.startswith("WeChat errcode None")


def test_serve_refresher_persists_its_state_and_does_not_refetch_after_a_restart(
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "wechat_ticket.json"
    with fake_wechat() as fake:
        client = WeChatTickets(APPID, SECRET, base_url=fake.url)
        first = TicketRefresher(client, state_file, clock=lambda: 1000.0)
        assert first.ticket(1000.0) is None
        first.run_once()
        assert first.ticket(1000.0) == fake.valid_ticket()
        assert state_file.stat().st_mode & 0o777 == 0o600  # it holds the access_token
        again = TicketRefresher(client, state_file, clock=lambda: 2000.0)
        assert again.ticket(2000.0) == fake.valid_ticket()
        again.run_once()
        assert (fake.token_calls, fake.ticket_calls) == (1, 1)


def test_a_corrupt_state_file_is_an_empty_cache() -> None:
    assert TicketState.from_json("{not json") == TicketState()
    assert TicketState.from_json('{"ticket": 5}') == TicketState()
    assert TicketState.from_json("[]") == TicketState()
    kept = TicketState(ticket="T", ticket_expires=7200.0, failures=2)
    assert TicketState.from_json(kept.to_json()) == kept
