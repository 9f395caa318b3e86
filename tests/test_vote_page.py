"""The vote page in a real browser (Debian's chromium, phone viewport) against ``build.py serve``.

One server for the module, inside the voting window. Each test uses its own browser
context (its own IndexedDB: its own voter) unless it needs two tabs of one voter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import PHONE, axe_violations, describe
from tests.vote_page_kit import (
    CANNOT_CHANGE,
    CONFIRM,
    LIMIT,
    NO_NATIVE_ED25519,
    RECORDED,
    SENDING,
    VERIFIED,
    Server,
    device,
    left_today,
    open_confirmation,
    titles,
    vote,
    vote_button,
    vote_server,
)

pytestmark = pytest.mark.browser

NOW = "2021-12-30T10:00:00+08:00"
#: The server's refusal for a 6th vote, as the page must show it in its language.
DAILY_LIMIT_MESSAGE = {"zh": "今天对该候选项的投票次数已用完", "en": "used all of today’s votes"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with vote_server(tmp_path_factory.mktemp("vote-open"), NOW) as running:
        yield running


@pytest.fixture(scope="module")
def ids(server: Server) -> list[str]:
    return [c["id"] for c in server.campaign()["candidates"]]


def watch_errors(page: Any) -> list[str]:
    """Script errors and CSP refusals the page causes (the CSP is enforced here)."""
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    offline = "net::ERR_INTERNET_DISCONNECTED"  # a send tried while offline, as intended

    def console(msg: Any) -> None:
        if msg.type == "error" and offline not in msg.text:
            errors.append(msg.text)

    page.on("console", console)
    return errors


#: The local server's simulated-clock banner (``localserver.static.sim_banner``) exists
#: only under ``--now`` and sits outside every landmark; it is not part of the vote page.


def axe_clean(page: Any, state: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{state}: {describe(violations)}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_full_vote_in_each_language(
    browser: Any, server: Server, ids: list[str], lang: str
) -> None:
    """Find the button by role and name, confirm, read the live region; then reload."""
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        errors = watch_errors(page)
        requests: list[str] = []
        page.on("request", lambda req: requests.append(req.url))
        page.goto(f"{server.url}/{lang}/vote/")
        cid = ids[0]
        title = titles(server, lang)[cid]
        expect(vote_button(page, title, lang)).to_contain_text("5")
        # The budget's main path: HTML, CSS, script and one status call, no fallback library.
        assert len(requests) == 4, requests
        assert any("/api/status?voter=" in url for url in requests)
        assert not any("ed25519" in url for url in requests)

        announced = vote(page, title, lang, expect_left=4)
        assert re.search(r"\b4\b", announced), announced
        expect(page.locator(f"#o-{cid}")).to_contain_text(RECORDED[lang])
        expect(page.locator("#mine")).to_contain_text(VERIFIED[lang])
        key = device(page)
        assert key["kind"] == "webcrypto", key
        assert key["extractable"] is False, "the private key must stay non-extractable"
        assert server.status(key["voter"])["votes_left"][cid] == 4

        page.reload()
        expect(vote_button(page, title, lang)).to_contain_text("4")
        assert left_today(page, title, lang) == 4
        assert device(page)["voter"] == key["voter"]
        expect(page.locator("#mine")).to_contain_text(VERIFIED[lang])
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_state_has_no_axe_violations(
    browser: Any, server: Server, ids: list[str], lang: str
) -> None:
    """Form, confirming, sending, recorded, limit reached and refused, each checked by axe."""
    context = browser.new_context(**PHONE, bypass_csp=True)  # axe is injected inline
    try:
        # A second tab of the same voter, opened first and left behind (unrefreshed).
        stale = context.new_page()
        stale.goto(f"{server.url}/{lang}/vote/")
        page = context.new_page()
        page.goto(f"{server.url}/{lang}/vote/")
        cid = ids[1]
        title = titles(server, lang)[cid]
        button = vote_button(page, title, lang)
        expect(button).to_be_visible()
        expect(vote_button(stale, title, lang)).to_be_visible()
        axe_clean(page, "form")

        dialog = open_confirmation(page, title, lang)
        expect(page.get_by_role("button", name=CONFIRM[lang])).to_be_visible()
        axe_clean(page, "confirming")
        page.keyboard.press("Escape")  # cancels: nothing sent, focus back on the button
        expect(dialog).to_be_hidden()
        expect(button).to_be_focused()
        assert left_today(page, title, lang) == 5

        context.set_offline(True)
        open_confirmation(page, title, lang)
        page.get_by_role("button", name=CONFIRM[lang]).click()
        expect(page.locator(f"#o-{cid}")).to_contain_text(SENDING[lang])
        expect(page.get_by_role("status")).to_contain_text(SENDING[lang])
        axe_clean(page, "sending")

        context.set_offline(False)
        expect(page.get_by_role("status")).to_contain_text(RECORDED[lang])
        axe_clean(page, "recorded")

        for left in (3, 2, 1, 0):
            vote(page, title, lang, expect_left=left)
        expect(button).to_be_disabled()
        expect(page.locator(f"#o-{cid}")).to_contain_text(LIMIT[lang])
        axe_clean(page, "limit reached")

        # The stale tab still offers a vote: the server refuses it, in the page's language.
        # Keyboard, as a background tab gets no animation frames for pointer checks.
        vote_button(stale, title, lang).press("Enter")
        expect(stale.get_by_role("dialog")).to_contain_text(CANNOT_CHANGE[lang])
        stale.get_by_role("button", name=CONFIRM[lang]).press("Enter")
        expect(stale.get_by_role("status")).to_contain_text(DAILY_LIMIT_MESSAGE[lang])
        expect(vote_button(stale, title, lang)).to_be_disabled()
        axe_clean(stale, "refused")
        voter = device(page)["voter"]
        assert server.status(voter)["votes_left"][cid] == 0
    finally:
        context.close()


def test_an_offline_tap_is_recorded_exactly_once(
    browser: Any, server: Server, ids: list[str], tmp_path: Path
) -> None:
    """Offline, then back online; and offline, page closed, page reopened: one vote each."""
    lang, cid = "zh", ids[2]
    title = titles(server, lang)[cid]
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        errors = watch_errors(page)
        page.goto(f"{server.url}/{lang}/vote/")
        expect(vote_button(page, title, lang)).to_contain_text("5")
        voter = device(page)["voter"]

        context.set_offline(True)
        open_confirmation(page, title, lang)
        page.get_by_role("button", name=CONFIRM[lang]).click()
        expect(page.locator(f"#o-{cid}")).to_contain_text(SENDING[lang])
        page.wait_for_timeout(2500)  # a few failed sends of the same stored ballot
        context.set_offline(False)
        expect(page.get_by_role("status")).to_contain_text(RECORDED[lang])
        expect(page.get_by_role("status")).to_contain_text("4")
        assert server.status(voter)["votes_left"][cid] == 4
        mine = [v for v in server.export(tmp_path / "one.jsonl") if v["voter"] == voter]
        assert [v["candidate"] for v in mine] == [cid]

        # The page is closed while the ballot waits; reopening it sends that ballot.
        context.set_offline(True)
        open_confirmation(page, title, lang)
        page.get_by_role("button", name=CONFIRM[lang]).click()
        expect(page.locator(f"#o-{cid}")).to_contain_text(SENDING[lang])
        page.close()
        context.set_offline(False)
        page = context.new_page()
        errors += watch_errors(page)
        page.goto(f"{server.url}/{lang}/vote/")
        expect(page.get_by_role("status")).to_contain_text(RECORDED[lang])
        expect(vote_button(page, title, lang)).to_contain_text("3")
        mine = [v for v in server.export(tmp_path / "two.jsonl") if v["voter"] == voter]
        assert len(mine) == 2, mine
        assert len({v["vote_id"] for v in mine}) == 2, mine
        assert server.status(voter)["votes_left"][cid] == 3
        assert errors == []
    finally:
        context.close()


def test_voting_works_without_native_ed25519(browser: Any, server: Server, ids: list[str]) -> None:
    """WebCrypto refusing Ed25519: the library is fetched lazily and the vote still counts."""
    lang, cid = "en", ids[3]
    title = titles(server, lang)[cid]
    context = browser.new_context(**PHONE)
    context.add_init_script(NO_NATIVE_ED25519)
    try:
        page = context.new_page()
        errors = watch_errors(page)
        requests: list[str] = []
        page.on("request", lambda req: requests.append(req.url))
        page.goto(f"{server.url}/{lang}/vote/")
        vote(page, title, lang, expect_left=4)
        assert any("/assets/ed25519." in url for url in requests), requests
        key = device(page)
        assert key["kind"] == "noble", key
        expect(page.locator("#mine")).to_contain_text(VERIFIED[lang])  # verified by the library
        page.reload()
        expect(vote_button(page, title, lang)).to_contain_text("4")
        assert device(page)["voter"] == key["voter"]
        assert server.status(key["voter"])["votes_left"][cid] == 4
        assert errors == []
    finally:
        context.close()


def test_touch_targets_and_200_percent_text(browser: Any, server: Server) -> None:
    context = browser.new_context(**PHONE, bypass_csp=True)  # the zoom is an injected style
    try:
        page = context.new_page()
        page.goto(f"{server.url}/zh/vote/")
        expect(page.locator("button.vote").first).to_be_visible()
        small = page.evaluate(
            """() => [...document.querySelectorAll('main a, main button:not([hidden])')]
                .filter(el => el.getClientRects().length)
                .map(el => [el.textContent.trim().slice(0, 30), el.getBoundingClientRect().height])
                .filter(([, h]) => h < 44)"""
        )
        assert small == []
        page.add_style_tag(content="html { font-size: 200% !important; }")
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"scrolls sideways by {overflow}px at 200% text"
        button = page.locator("button.vote").first
        button.click()
        for name in ("确认投票", "取消"):
            height = page.get_by_role("button", name=name).bounding_box()["height"]
            assert height >= 44, (name, height)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
    finally:
        context.close()
