"""The vote page's first load: bytes on the wire, request count, main-path script size.

    .venv/bin/python bench/page_weight.py

Starts ``build.py serve`` (clock inside the voting window) on a free loopback port and
loads ``/zh/vote/`` and ``/en/vote/`` in Debian's chromium on a phone viewport, once with
native Ed25519 and once with WebCrypto refusing it (the lazy fallback library). Each
request's transfer is what the server sent (gzip where the browser asked for it) plus
the response headers. Also prints gzip -9 of the built files, the figure the CDN serves.
The budget (bench/README.md) / issue 4: first load ≤ 30 KB compressed and ≤ 4 requests with native
Ed25519; main-path JS ≤ 10 KB compressed.
"""

from __future__ import annotations

import gzip
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM_ARGS, PHONE, chromium_path  # noqa: E402
from tests.vote_page_kit import NO_NATIVE_ED25519, vote_server  # noqa: E402

NOW = "2021-12-30T10:00:00+08:00"
BUDGET_KB, BUDGET_REQUESTS, BUDGET_JS_KB = 30, 4, 10


def gz(data: bytes) -> int:
    return len(gzip.compress(data, 9, mtime=0))


def first_load(browser: Any, url: str, *, native: bool) -> tuple[int, list[tuple[str, int]]]:
    """Load the page until its buttons show; return (total bytes, [(path, bytes)])."""
    context = browser.new_context(**PHONE)
    if not native:
        context.add_init_script(NO_NATIVE_ED25519)
    rows: list[tuple[str, int]] = []
    try:
        page = context.new_page()
        page.on(
            "requestfinished",
            lambda req: rows.append(
                (req.url.split("/", 3)[3], req.sizes()["responseBodySize"]
                 + req.sizes()["responseHeadersSize"])
            ),
        )  # fmt: skip
        page.goto(url)
        page.locator("button.vote").first.wait_for()
        if not native:  # the fallback is fetched while the key is made, before the buttons
            page.wait_for_load_state("networkidle")
    finally:
        context.close()
    return sum(size for _, size in rows), rows


def main() -> int:
    from playwright.sync_api import sync_playwright

    failures = 0
    with tempfile.TemporaryDirectory() as tmp, vote_server(Path(tmp), NOW) as server:
        dist = server.dist
        js = next(dist.glob("assets/vote.*.js")).read_bytes()
        css = next(dist.glob("assets/site.*.css")).read_bytes()
        lib = next(dist.glob("assets/ed25519.*.js")).read_bytes()
        print("built files, gzip -9 (what the CDN serves compressed):")
        print(f"  vote.js (main-path JS): {len(js):,} B raw, {gz(js):,} B compressed")
        print(f"  site.css: {gz(css):,} B;  ed25519.js (lazy fallback): {gz(lib):,} B")
        for lang in ("zh", "en"):
            html = (dist / lang / "vote" / "index.html").read_bytes()
            total = gz(html) + gz(css) + gz(js)
            print(f"  /{lang}/vote/ HTML {gz(html):,} B; HTML+CSS+JS {total:,} B")
        failures += gz(js) > BUDGET_JS_KB * 1024

        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
            )
            try:
                for native in (True, False):
                    label = "native Ed25519" if native else "fallback library (lazy)"
                    print(f"first load in chromium, {label}:")
                    for lang in ("zh", "en"):
                        total, rows = first_load(
                            browser, f"{server.url}/{lang}/vote/", native=native
                        )
                        listing = ", ".join(
                            f"/{path.split('?')[0]} {size:,}" for path, size in rows
                        )
                        print(f"  /{lang}/vote/: {len(rows)} requests, {total:,} B ({listing})")
                        if native:
                            failures += total > BUDGET_KB * 1024 or len(rows) > BUDGET_REQUESTS
            finally:
                browser.close()
    print("within budget" if not failures else f"OVER BUDGET ({failures} figures)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
