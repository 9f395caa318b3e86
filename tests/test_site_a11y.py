"""Accessibility of the reading pages in a real browser (axe-core on Debian's chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import PHONE, axe_violations, describe
from tests.sitecheck import serve_static

pytestmark = pytest.mark.browser

PAGES = [
    "/",
    "/zh/",
    "/en/",
    "/zh/events/party-history-study/",
    "/en/highlights/carbon-neutrality/",
    "/zh/rules/",
    "/en/rules/",
    "/zh/poster/",
    "/en/results/",
    "/404.html",
]


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    with serve_static(site) as url:
        yield url


@pytest.fixture(scope="module")
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(**PHONE)
    yield context
    context.close()


@pytest.mark.parametrize("path", PAGES)
def test_no_axe_violations(phone: Any, base_url: str, path: str) -> None:
    page = phone.new_page()
    try:
        page.goto(base_url + path)
        violations = axe_violations(page)
        assert violations == [], describe(violations)
    finally:
        page.close()


@pytest.mark.parametrize("path", ["/zh/", "/en/events/digital-economy-forum/"])
def test_readable_at_200_percent_text_zoom(phone: Any, base_url: str, path: str) -> None:
    page = phone.new_page()
    try:
        page.goto(base_url + path)
        page.add_style_tag(content="html { font-size: 200% !important; }")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 200% text"
    finally:
        page.close()


def test_touch_targets_are_at_least_44px(phone: Any, base_url: str) -> None:
    page = phone.new_page()
    try:
        page.goto(base_url + "/zh/")
        small = page.evaluate(
            """() => [...document.querySelectorAll('header a, nav a, .cta, .cards a, button')]
                .map(el => [el.textContent.trim(), el.getBoundingClientRect().height])
                .filter(([, h]) => h < 44)"""
        )
        assert small == []
    finally:
        page.close()
