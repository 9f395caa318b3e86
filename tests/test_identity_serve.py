"""Each identity mode end to end: ``serve`` (the real server on a built site) and chromium.

The site is built from a copy of content/ whose campaign.yaml adds an ``identity:``
block; WeChat is the fake on 127.0.0.1 (tests/fake_wechat.py), reached by the page
through its authorize redirect and by the server through ``WECHAT_API_BASE``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from localserver.secrets import ensure_secrets
from sitegen.build import build_site
from tests.fake_wechat import APPID, SECRET, FakeWeChat, fake_wechat
from tests.vote_page_kit import (
    RECORDED,
    Server,
    free_port,
    running,
    titles,
    vote,
    vote_button,
)
from tests.votekit import Voter

ROOT = Path(__file__).resolve().parent.parent
NOW = "2021-12-30T10:00:00+08:00"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 12; Pixel 6) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F35) NetType/4G"
)


@contextmanager
def identity_server(
    tmp: Path, identity: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    content = tmp / "content"
    shutil.copytree(ROOT / "content", content)
    with (content / "campaign.yaml").open("a", encoding="utf-8") as fh:
        fh.write("\nidentity:\n" + identity)
    data, dist = tmp / "data", tmp / "dist"
    secrets = ensure_secrets(data)
    build_site(dist, receipt_key=secrets.receipt_public_key_b64, content_dir=content)
    port = free_port()
    cmd = [sys.executable, "-m", "localserver", str(dist), "--port", str(port)]
    # The tests play a local reverse proxy: their X-Forwarded-For is believed.
    cmd += ["--data", str(data), "--now", NOW, "--trusted-proxy", "127.0.0.1/32"]
    with running(cmd, port, tmp / "server.log", env={**os.environ, **(env or {})}) as url:
        yield Server(url=url, data=data, dist=dist)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_60_concurrent_requests_from_one_network_pass_the_default_limit(tmp_path: Path) -> None:
    with identity_server(tmp_path, "  mode: device\n") as server:
        voter = Voter().public
        # A local reverse proxy says who the client is; all 60 share one carrier /24.
        headers = [{"X-Forwarded-For": f"203.0.113.{i}"} for i in range(60)]
        with ThreadPoolExecutor(60) as pool:
            answers = list(
                pool.map(lambda h: get(f"{server.url}/api/status?voter={voter}", h), headers)
            )
        assert [status for status, _ in answers] == [200] * 60


def test_a_tightened_limit_refuses_one_network_through_serve(tmp_path: Path) -> None:
    identity = "  mode: device\n  network_burst: 5\n  network_per_minute: 6\n"
    with identity_server(tmp_path, identity) as server:
        voter = Voter().public
        carrier = {"X-Forwarded-For": "198.51.100.20"}
        answers = [get(f"{server.url}/api/status?voter={voter}", carrier) for _ in range(6)]
        assert [s for s, _ in answers] == [200] * 5 + [429]
        assert answers[-1][1]["error"] == "network_limited"
        other = get(f"{server.url}/api/status?voter={voter}", {"X-Forwarded-For": "192.0.2.1"})
        assert other[0] == 200


@pytest.mark.browser
def test_device_pow_mode_in_the_browser(browser: Any, tmp_path: Path) -> None:
    with identity_server(tmp_path, "  mode: device+pow\n  pow_difficulty: 14\n") as server:
        context = browser.new_context(**PHONE)
        try:
            page = context.new_page()
            page.goto(server.url + "/en/vote/")
            title = next(iter(titles(server, "en").values()))
            vote(page, title, "en", expect_left=4)
            page.reload()  # the credential is kept: no second proof
            vote(page, title, "en", expect_left=3)
        finally:
            context.close()
        lines = server.export(tmp_path / "export.jsonl")
        assert [line["identity"] for line in lines] == ["device+pow", "device+pow"]
        assert "person" not in lines[0]
        # Without a credential the API refuses: the proof is not optional.
        status, data = get(f"{server.url}/api/challenge?voter={Voter().public}")
        assert status == 200
        assert data["difficulty"] == 14


@pytest.fixture
def wechat() -> Iterator[FakeWeChat]:
    with fake_wechat() as fake:
        yield fake


@pytest.mark.browser
def test_wechat_mode_in_the_browser(browser: Any, tmp_path: Path, wechat: FakeWeChat) -> None:
    identity = (
        f"  mode: wechat\n  wechat_appid: {APPID}\n"
        f"  wechat_authorize_url: {wechat.url}/connect/oauth2/authorize\n"
    )
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    secret = data / "wechat_secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    with identity_server(tmp_path, identity, {"WECHAT_API_BASE": wechat.url}) as server:
        title = next(iter(titles(server, "zh").values()))
        # Outside WeChat: the page explains how to open it there, with the QR code.
        plain = browser.new_context(**PHONE)
        try:
            page = plain.new_page()
            page.goto(server.url + "/zh/vote/")
            notice = page.locator("#wechat-only")
            notice.wait_for(state="visible")
            assert "微信" in notice.inner_text()
            assert notice.locator("img").get_attribute("src") == "/qr.svg"
            assert not vote_button(page, title, "zh").is_visible()
        finally:
            plain.close()
        # Inside WeChat: silent sign-in, then a vote; a second phone of the same person
        # sees the person's count, not a fresh allowance.
        wechat.user_for("oPersonOne")
        for _phone, left in ((1, 4), (2, 3)):
            context = browser.new_context(**PHONE, user_agent=WECHAT_UA)
            try:
                page = context.new_page()
                page.goto(server.url + "/zh/vote/")
                page.wait_for_url("**/zh/vote/")  # back from WeChat, the code removed
                text = vote(page, title, "zh", expect_left=left)
                assert RECORDED["zh"] in text
            finally:
                context.close()
        assert wechat.exchanges == 2
        lines = server.export(tmp_path / "export.jsonl")
        assert {line["identity"] for line in lines} == {"wechat"}
        assert len({line["person"] for line in lines}) == 1
        assert len({line["voter"] for line in lines}) == 2
        assert "oPersonOne" not in (tmp_path / "export.jsonl").read_text("utf-8")
