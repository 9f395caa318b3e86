"""Fixtures shared across the suite: a built site and a real browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from sitegen.build import build_site
from tests.browser import CHROMIUM_ARGS, chromium_path

ROOT = Path(__file__).resolve().parent.parent
#: A fixed public key for site builds that need no working API.
TEST_RECEIPT_KEY = "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"

# Hypothesis' per-example deadline is a timing check, and the suite runs on shared, noisy
# machines (CI included): properties are judged on their results, never on their speed.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real campaign, built once for the whole session."""
    out = tmp_path_factory.mktemp("site") / "dist"
    build_site(out, receipt_key=TEST_RECEIPT_KEY)
    return out


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()
