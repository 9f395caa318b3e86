"""The vote page and the server's clock: outside the window, and the Beijing day turning.

``--now`` sets the server's clock; the page must follow the server's time, not the
phone's (this machine's clock is years past the window).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import PHONE, axe_violations, describe
from tests.vote_page_kit import (
    LIMIT,
    Server,
    device,
    titles,
    vote,
    vote_button,
    vote_server,
)

pytestmark = pytest.mark.browser

MOMENTS = {
    "before": "2021-12-28T21:00:00+08:00",
    "after": "2022-01-10T00:00:00+08:00",  # closes is exclusive: closed from this instant
}
STATE_TEXT = {
    ("before", "zh"): "投票尚未开始",
    ("before", "en"): "Voting has not opened yet",
    ("after", "zh"): "投票已经结束",
    ("after", "en"): "Voting has closed",
}
#: Only the page itself: the simulated-clock banner of the local server is not part of it.


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    with (
        vote_server(tmp_path_factory.mktemp("before"), MOMENTS["before"]) as before,
        vote_server(tmp_path_factory.mktemp("after"), MOMENTS["after"]) as after,
    ):
        yield {"before": before, "after": after}


@pytest.fixture(scope="module")
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(**PHONE, bypass_csp=True)  # axe is injected inline
    yield context
    context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("moment", ["before", "after"])
def test_outside_the_window_the_page_says_so_and_offers_no_button(
    phone: Any, outside: dict[str, Server], moment: str, lang: str
) -> None:
    server = outside[moment]
    page = phone.new_page()
    try:
        page.goto(f"{server.url}/{lang}/vote/")
        expect(page.locator("#vote-state")).to_contain_text(STATE_TEXT[moment, lang])
        assert page.get_by_role("button").count() == 0
        # The list still reads: every candidate's page is one link away.
        assert page.locator("ol.ballot a").count() == len(server.campaign()["candidates"])
        violations = axe_violations(page)
        assert violations == [], describe(violations)
    finally:
        page.close()


def test_the_day_turns_at_beijing_midnight(browser: Any, tmp_path: Any) -> None:
    """Five votes just before 00:00 Beijing time; at midnight the page offers five more."""
    lang = "en"
    with vote_server(tmp_path, "2021-12-30T23:59:40+08:00") as server:
        cid = server.campaign()["candidates"][0]["id"]
        title = titles(server, lang)[cid]
        context = browser.new_context(**PHONE)
        try:
            page = context.new_page()
            page.goto(f"{server.url}/{lang}/vote/")
            for left in (4, 3, 2, 1, 0):
                vote(page, title, lang, expect_left=left)
            button = vote_button(page, title, lang)
            expect(button).to_be_disabled()
            expect(page.locator(f"#o-{cid}")).to_contain_text(LIMIT[lang])
            voter = device(page)["voter"]
            # Nothing is reloaded: the page asks the server again when the day turns.
            expect(button).to_be_enabled(timeout=40_000)
            expect(button).to_contain_text("5")
            status = server.status(voter)
            assert status["day"] == "2021-12-31"
            assert status["votes_left"][cid] == 5
            vote(page, title, lang, expect_left=4)
        finally:
            context.close()
