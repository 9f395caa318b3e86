"""WeChat share cards end to end: ``serve`` refreshing the ticket from the fake WeChat,
and the pages in Debian's chromium with a WeChat User-Agent (issue 16).

WeChat's client is not available here, so the test answers the page's request for the
JS-SDK file with a stub ``wx`` that records its calls; everything else is real: the
built site, the server, its refresher thread and the fake WeChat over HTTP. The browser
visits the campaign's own https origin (``base_url``), which Playwright routes to the
local server, because only that origin is signed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Error as PlaywrightError

from localserver.secrets import ensure_secrets
from sitegen.build import build_site
from tests.fake_wechat import APPID, SECRET, FakeWeChat, fake_wechat
from tests.vote_page_kit import Server, free_port, running

ROOT = Path(__file__).resolve().parent.parent
BASE = "https://vote.cqast.cn"
NOW = "2021-12-30T10:00:00+08:00"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 12; Pixel 6) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F35) NetType/4G"
)
PLAIN_UA = (
    "Mozilla/5.0 (Linux; Android 12; Pixel 6) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Mobile Safari/537.36"
)
#: Stands in for WeChat's client: records what the page asks of the JS-SDK.
STUB_WX = """
window.wxCalls = [];
window.wx = {
  config: function (c) { window.wxCalls.push(["config", c]); },
  ready: function (f) { window.wxCalls.push(["ready"]); setTimeout(f, 0); },
  error: function () {},
  updateAppMessageShareData: function (d) { window.wxCalls.push(["appMessage", d]); },
  updateTimelineShareData: function (d) { window.wxCalls.push(["timeline", d]); },
};
"""


@contextmanager
def share_server(tmp: Path, fake: FakeWeChat) -> Iterator[Server]:
    content = tmp / "content"
    shutil.copytree(ROOT / "content", content)
    with (content / "campaign.yaml").open("a", encoding="utf-8") as fh:
        fh.write(f"\nwechat:\n  appid: {APPID}\n")
    data, dist = tmp / "data", tmp / "dist"
    secrets = ensure_secrets(data)
    (data / "wechat_secret").write_text(SECRET, "ascii")
    (data / "wechat_secret").chmod(0o600)
    build_site(dist, receipt_key=secrets.receipt_public_key_b64, content_dir=content)
    port = free_port()
    cmd = [sys.executable, "-m", "localserver", str(dist), "--port", str(port)]
    cmd += ["--data", str(data), "--now", NOW]
    env = {**os.environ, "WECHAT_API_BASE": fake.url}
    with running(cmd, port, tmp / "server.log", env=env) as url:
        yield Server(url=url, data=data, dist=dist)


def jssdk(server: Server, url: str) -> tuple[int, dict[str, Any]]:
    target = f"{server.url}/api/wechat/jssdk?url={quote(url, safe='')}"
    try:
        with urllib.request.urlopen(target, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def wait_for_ticket(server: Server) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        status, body = jssdk(server, BASE + "/zh/")
        if status == 200:
            return body
        assert status == 503, body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def expected_signature(fake: FakeWeChat, body: dict[str, Any], url: str) -> str:
    """Computed here from the fake's own ticket, independently of the server's code."""
    ticket = fake.valid_ticket()
    assert ticket
    text = f"jsapi_ticket={ticket}&noncestr={body['nonceStr']}&timestamp={body['timestamp']}"
    return hashlib.sha1(f"{text}&url={url}".encode()).hexdigest()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, FakeWeChat]]:
    with fake_wechat() as fake, share_server(tmp_path_factory.mktemp("share"), fake) as server:
        yield server, fake


def test_serve_refreshes_the_ticket_once_and_signs_only_its_pages(
    shared: tuple[Server, FakeWeChat],
) -> None:
    server, fake = shared
    body = wait_for_ticket(server)
    assert body["appId"] == APPID
    assert body["signature"] == expected_signature(fake, body, BASE + "/zh/")
    for _ in range(20):  # requests read the cache: WeChat is not asked again
        assert jssdk(server, BASE + "/en/vote/#x")[0] == 200
    assert (fake.token_calls, fake.ticket_calls) == (1, 1)
    status, refused = jssdk(server, "https://evil.example/zh/")
    assert (status, refused["error"]) == (403, "url_not_allowed")
    assert refused["message"]["zh"]
    assert refused["message"]["en"]
    state = json.loads((server.data / "wechat_ticket.json").read_text("utf-8"))
    assert state["ticket"] == fake.valid_ticket()


def _open(browser: Any, server: Server, user_agent: str) -> tuple[Any, Any, list[str]]:
    """A phone on the campaign's origin, served by the local server; logs API/SDK requests."""
    context = browser.new_context(**PHONE, user_agent=user_agent)
    asked: list[str] = []

    def forward(route: Any) -> None:
        url = route.request.url
        if "/assets/jweixin." in url:
            asked.append("sdk")
            route.fulfill(status=200, content_type="text/javascript", body=STUB_WX)
            return
        if "/api/wechat/jssdk" in url:
            asked.append(url)
        try:
            response = route.fetch(url=server.url + url.removeprefix(BASE))
            route.fulfill(response=response)
        except PlaywrightError as error:
            # The test closed its context while the page still had a request out
            # (the vote page's status poll): nobody is waiting for that answer.
            if "disposed" not in str(error) and "closed" not in str(error):
                raise

    context.route(BASE + "/**", forward)
    return context, context.new_page(), asked


@pytest.mark.browser
@pytest.mark.parametrize(
    ("lang", "path", "desc_start"),
    [("zh", "/zh/vote/", "投票时间："), ("en", "/en/events/party-centenary/", "Vote from ")],
)
def test_inside_wechat_the_page_sets_the_share_card(
    browser: Any, shared: tuple[Server, FakeWeChat], lang: str, path: str, desc_start: str
) -> None:
    server, fake = shared
    wait_for_ticket(server)
    campaign = server.campaign()
    context, page, asked = _open(browser, server, WECHAT_UA)
    try:
        page.goto(BASE + path + "?from=timeline#top")
        page.wait_for_function("() => window.wxCalls && window.wxCalls.length >= 4")
        calls = page.evaluate("() => window.wxCalls")
        thumb = page.locator("#wx-share").get_attribute("data-config")
    finally:
        context.close()
    names = [call[0] for call in calls]
    assert names == ["config", "ready", "appMessage", "timeline"]
    config = calls[0][1]
    signed_url = BASE + path + "?from=timeline"  # without the fragment
    assert config["appId"] == APPID
    assert config["signature"] == expected_signature(fake, config, signed_url)
    assert set(config["jsApiList"]) == {"updateAppMessageShareData", "updateTimelineShareData"}
    assert config["debug"] is False
    card = calls[2][1]
    assert card["title"] == campaign["title"][lang]
    assert card["desc"].startswith(desc_start)
    assert "\n" not in card["desc"]
    assert card["link"] == BASE + path
    assert card["imgUrl"].startswith(f"{BASE}/assets/share-{lang}.")
    assert card["imgUrl"] == json.loads(thumb or "{}")["img"]
    assert calls[3][1] == {"title": card["title"], "link": card["link"], "imgUrl": card["imgUrl"]}
    assert asked[-1] == "sdk"
    assert len(asked) == 2


@pytest.mark.browser
def test_outside_wechat_nothing_is_loaded(browser: Any, shared: tuple[Server, FakeWeChat]) -> None:
    server, _ = shared
    context, page, asked = _open(browser, server, PLAIN_UA)
    try:
        page.goto(BASE + "/zh/vote/")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("() => typeof window.wx") == "undefined"
    finally:
        context.close()
    assert asked == []


@pytest.mark.browser
def test_the_real_sdk_file_defines_wx_in_chromium(
    browser: Any, shared: tuple[Server, FakeWeChat]
) -> None:
    """The bundled npm package (wrapped at build) runs as a classic script and exposes wx."""
    server, _ = shared
    sdk = next((server.dist / "assets").glob("jweixin.*.js"))
    context = browser.new_context(**PHONE, user_agent=PLAIN_UA)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server.url + "/zh/")
        page.add_script_tag(url=f"/assets/{sdk.name}")
        kinds = page.evaluate(
            "() => [typeof wx.config, typeof wx.ready, typeof wx.updateAppMessageShareData,"
            " typeof wx.updateTimelineShareData]"
        )
    finally:
        context.close()
    assert kinds == ["function"] * 4
    assert errors == []


@pytest.mark.browser
def test_inside_wechat_a_refused_signature_loads_nothing_and_breaks_nothing(
    browser: Any, shared: tuple[Server, FakeWeChat]
) -> None:
    """On another origin (here the bare loopback address) the API refuses to sign."""
    server, _ = shared
    context = browser.new_context(**PHONE, user_agent=WECHAT_UA)
    try:
        page = context.new_page()
        errors: list[str] = []
        statuses: dict[str, int] = {}
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("response", lambda r: statuses.update({r.url.removeprefix(server.url): r.status}))
        with page.expect_response(lambda r: "/api/wechat/jssdk" in r.url):
            page.goto(server.url + "/zh/poster/")
        page.wait_for_timeout(500)  # time enough for the SDK request, were it made
        assert page.evaluate("() => typeof window.wx") == "undefined"
        assert page.locator("h1").is_visible()
    finally:
        context.close()
    signed = [status for url, status in statuses.items() if url.startswith("/api/wechat/jssdk")]
    assert signed == [403]
    assert not [url for url in statuses if "jweixin" in url]
    assert errors == []


IOS_WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003129) NetType/WIFI"
)
#: What wechat mode's page script does after the OAuth redirect: drop code and state.
DROP_CODE = """
document.addEventListener("DOMContentLoaded", function () {
  history.replaceState(null, "", location.pathname);
});
"""


@pytest.mark.browser
@pytest.mark.parametrize(
    ("user_agent", "signed_query", "signatures"),
    [(WECHAT_UA, "", 2), (IOS_WECHAT_UA, "?code=0abc&state=s", 1)],
    ids=["android-current-url", "ios-entry-url"],
)
def test_a_rewritten_address_is_signed_as_each_platform_checks_it(
    browser: Any,
    shared: tuple[Server, FakeWeChat],
    user_agent: str,
    signed_query: str,
    signatures: int,
) -> None:
    server, fake = shared
    wait_for_ticket(server)
    context, page, asked = _open(browser, server, user_agent)
    try:
        page.add_init_script(DROP_CODE)
        page.goto(BASE + "/zh/vote/?code=0abc&state=s")
        page.wait_for_function("() => window.wxCalls && window.wxCalls.length >= 4")
        config = page.evaluate("() => window.wxCalls[0][1]")
        assert page.evaluate("() => location.search") == ""
    finally:
        context.close()
    assert len([a for a in asked if "/api/wechat/jssdk" in a]) == signatures
    assert config["signature"] == expected_signature(
        fake, config, BASE + "/zh/vote/" + signed_query
    )
