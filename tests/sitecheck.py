"""Read a built site the way a crawler or a browser would, for the site tests."""

from __future__ import annotations

import gzip
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class PageLinks(HTMLParser):
    """Collects what the tests need from one page: links, alternates, scripts, lang."""

    def __init__(self) -> None:
        super().__init__()
        self.lang = ""
        self.alternates: dict[str, str] = {}
        self.canonical = ""
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.inline_scripts = 0
        self.inline_handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        if tag == "link" and a.get("rel") == "alternate" and "hreflang" in a:
            self.alternates[a["hreflang"]] = a["href"]
        if tag == "link" and a.get("rel") == "canonical":
            self.canonical = a["href"]
        if "href" in a:
            self.hrefs.append(a["href"])
        if "src" in a:
            self.srcs.append(a["src"])
        if tag == "script" and "src" not in a and a.get("type") != "application/json":
            self.inline_scripts += 1
        self.inline_handlers += [k for k in a if k.startswith("on")]
        if "style" in a:
            self.inline_handlers.append("style")


def parse(path: Path) -> PageLinks:
    parser = PageLinks()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9))


def html_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


EXTERNAL_URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+""")


@contextmanager
def serve_static(root: Path) -> Iterator[str]:
    """Serve a built site on a free loopback port (for tests that need no API)."""
    handler = partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass
