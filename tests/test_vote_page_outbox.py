"""The outbox against what sits between the page and the API (issue 12).

An edge's own refusal (origin access control, a WAF, API Gateway: HTML or plain 403s),
a 5xx or a dropped connection says nothing about the vote: the ballot must stay and go
out later, exactly once. Only the API's own JSON refusal settles it. The answers in
front of the API are played by Playwright's network interception: the browser sees
exactly the bytes such a layer sends; tests/cloud/ does the same through the emulated
edge, from the templates.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import PHONE
from tests.vote_page_kit import (
    CONFIRM,
    RECORDED,
    SENDING,
    Server,
    device,
    open_confirmation,
    titles,
    vote_button,
    vote_server,
)

pytestmark = pytest.mark.browser

NOW = "2021-12-30T10:00:00+08:00"
EDGE_403_HTML = (
    "<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1>"
    "<p>The request could not be satisfied.</p></body></html>"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with vote_server(tmp_path_factory.mktemp("outbox"), NOW) as running:
        yield running


def mine(server: Server, voter: str, out: Path) -> list[dict[str, Any]]:
    return [v for v in server.export(out) if v["voter"] == voter]


def test_an_edge_403_keeps_the_ballot_and_it_is_sent_later_once(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    """A dropped connection, then an HTML 403, then the API: one vote, no 'online' event."""
    lang = "en"
    cid, title = next(iter(titles(server, lang).items()))
    context = browser.new_context(**PHONE)
    seen: list[str] = []

    def edge(route: Any) -> None:
        # The network never goes "offline" here, so no 'online' event can help the page.
        seen.append(route.request.post_data or "")
        if len(seen) == 1:
            route.abort("connectionreset")
        elif len(seen) == 2:
            route.fulfill(status=403, content_type="text/html", body=EDGE_403_HTML)
        else:
            route.continue_()

    try:
        page = context.new_page()
        page.goto(f"{server.url}/{lang}/vote/")
        expect(vote_button(page, title, lang)).to_contain_text("5")
        voter = device(page)["voter"]
        page.route("**/api/vote", edge)
        open_confirmation(page, title, lang)
        page.get_by_role("button", name=CONFIRM[lang]).click()
        expect(page.locator(f"#o-{cid}")).to_contain_text(SENDING[lang])
        expect(page.get_by_role("status")).to_contain_text(RECORDED[lang], timeout=20_000)
        expect(vote_button(page, title, lang)).to_contain_text("4")
        assert len(seen) == 3
        assert len(set(seen)) == 1  # every resend carried the same signed bytes
        assert [v["candidate"] for v in mine(server, voter, tmp_path / "a.jsonl")] == [cid]
        page.wait_for_timeout(1500)  # nothing left to send: no second vote appears
        assert len(seen) == 3
        assert server.status(voter)["votes_left"][cid] == 4
    finally:
        context.close()


def test_the_api_json_refusal_settles_the_ballot(browser: Any, server: Server) -> None:
    """The same 403 status as JSON from the API (voting_closed) is a verdict: not resent."""
    lang = "zh"
    title = list(titles(server, lang).values())[1]
    context = browser.new_context(**PHONE)
    calls: list[int] = []
    body = '{"error":"voting_closed","message":{"zh":"投票已结束","en":"Voting has closed"}}'

    def closed(route: Any) -> None:
        calls.append(1)
        route.fulfill(status=403, content_type="application/json; charset=utf-8", body=body)

    try:
        page = context.new_page()
        page.goto(f"{server.url}/{lang}/vote/")
        expect(vote_button(page, title, lang)).to_contain_text("5")
        page.route("**/api/vote", closed)
        open_confirmation(page, title, lang)
        page.get_by_role("button", name=CONFIRM[lang]).click()
        expect(page.get_by_role("status")).to_contain_text("投票已结束")
        page.wait_for_timeout(2500)  # past the first backoff: a kept ballot would resend
        assert len(calls) == 1
        outbox = page.evaluate(
            """() => new Promise((ok, no) => {
                const r = indexedDB.open('vote-' + JSON.parse(
                    document.getElementById('vote-config').textContent).campaign);
                r.onerror = () => no(r.error);
                r.onsuccess = () => {
                    const g = r.result.transaction('outbox').objectStore('outbox').count();
                    g.onsuccess = () => ok(g.result);
                    g.onerror = () => no(g.error);
                };
            })"""
        )
        assert outbox == 0
    finally:
        context.close()


def test_a_page_back_from_the_bfcache_refreshes_its_status(browser: Any, server: Server) -> None:
    """WeChat restores pages without reloading them: pageshow(persisted) asks the server."""
    lang = "en"
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/{lang}/vote/")
        title = next(iter(titles(server, lang).values()))
        expect(vote_button(page, title, lang)).to_contain_text("5")
        with page.expect_request("**/api/status?voter=*", timeout=5000):
            page.evaluate(
                "() => window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))"
            )
        # A fresh load's pageshow (persisted false) is not a second start.
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url) if "/api/status" in r.url else None)
        page.evaluate(
            "() => window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: false}))"
        )
        page.wait_for_timeout(500)
        assert requests == []
    finally:
        context.close()


def test_the_next_tap_resends_without_waiting_for_the_backoff(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    """The page's timers are frozen: only the voter's next tap can send the kept ballot."""
    lang = "en"
    cid, title = list(titles(server, lang).items())[2]
    context = browser.new_context(**PHONE)
    failing = [True]
    sends: list[int] = []

    def edge(route: Any) -> None:
        sends.append(1)
        if failing[0]:
            route.abort("connectionreset")
        else:
            route.continue_()

    try:
        page = context.new_page()
        page.clock.install()
        page.goto(f"{server.url}/{lang}/vote/")
        expect(vote_button(page, title, lang)).to_contain_text("5")
        voter = device(page)["voter"]
        page.route("**/api/vote", edge)
        page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 1)  # no timer fires from here
        open_confirmation(page, title, lang)
        page.get_by_role("button", name=CONFIRM[lang]).click()
        expect(page.locator(f"#o-{cid}")).to_contain_text(SENDING[lang])
        page.wait_for_timeout(3000)
        assert len(sends) == 1  # the retry waits on a (frozen) backoff timer
        failing[0] = False
        page.clock.set_system_time(page.evaluate("Date.now()") / 1000 + 5)  # no timer fires
        page.locator("h1").click()  # the voter's next tap
        expect(page.locator(f"#o-{cid}")).to_contain_text(RECORDED[lang])
        assert len(sends) == 2
        assert [v["candidate"] for v in mine(server, voter, tmp_path / "t.jsonl")] == [cid]
    finally:
        context.close()
