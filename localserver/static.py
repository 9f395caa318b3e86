"""Static files of ``dist/``: safe path resolution, content types, caching and gzip.

Pure request-to-answer logic (no sockets) so the server stays a thin adapter.
"""

from __future__ import annotations

import gzip
import html
import mimetypes
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".webmanifest": "application/manifest+json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".xml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
COMPRESSIBLE = ("text/", "application/json", "application/xml", "application/manifest+json")
# Content-hashed names (app.3f9c2d1a.js) never change: cache them for a year.
FINGERPRINTED = re.compile(r"\.[0-9a-f]{8,}\.[A-Za-z0-9]+$")
BODY_TAG = re.compile(rb"<body\b[^>]*>", re.IGNORECASE)
MIN_GZIP = 256


@dataclass(frozen=True, slots=True)
class StaticAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in TYPES:
        return TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def cache_control(path: Path) -> str:
    if FINGERPRINTED.search(path.name):
        return "public, max-age=31536000, immutable"
    if path.suffix.lower() in (".html", ".json"):
        return "no-cache"  # revalidate: HTML and campaign.json change on every build
    return "public, max-age=300"


def accepts_gzip(accept_encoding: str | None) -> bool:
    for part in (accept_encoding or "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip().removeprefix("q=").strip()
            return not (params and q in ("0", "0.0", "0.00", "0.000"))
    return False


def sim_banner(now_text: str) -> bytes:
    """A visible note (no inline script or style: the CSP forbids both)."""
    t = html.escape(now_text)
    return (
        # An <aside> is a landmark, so axe's "all content in landmarks" rule holds.
        f'<aside class="sim-banner" aria-label="模拟时钟 / Simulated clock">'
        f"<p>模拟时钟：服务器时间为{t}（并非真实时间）。"
        f' <span lang="en">Simulated clock: the server time is {t} (not the real time).</span>'
        "</p></aside>"
    ).encode()


class StaticSite:
    def __init__(self, dist: Path) -> None:
        self.root = dist.resolve()
        self._gzip_cache: dict[tuple[Path, int, int], bytes] = {}
        self._lock = threading.Lock()

    def resolve(self, url_path: str) -> Path | None:
        """Map a URL path to a file or directory inside ``dist/``, or ``None``."""
        decoded = unquote(url_path, errors="strict") if "%" in url_path else url_path
        if "\x00" in decoded or "\\" in decoded:
            return None
        parts = [p for p in decoded.split("/") if p not in ("", ".")]
        if ".." in parts:
            return None
        candidate = self.root.joinpath(*parts).resolve() if parts else self.root
        # resolve() follows symlinks: the result must still lie inside dist/.
        if candidate != self.root and not candidate.is_relative_to(self.root):
            return None
        return candidate

    def answer(
        self, url_path: str, query: str, *, accept_encoding: str | None, banner: bytes | None
    ) -> StaticAnswer:
        try:
            target = self.resolve(url_path)
        except UnicodeDecodeError:
            target = None
        if target is not None and target.is_dir():
            if not url_path.endswith("/"):
                # Rebuilt from the resolved path: "//host" must never become a
                # protocol-relative Location (an open redirect).
                rel = target.relative_to(self.root).as_posix()
                folder = "/" if rel == "." else f"/{quote(rel)}/"
                location = folder + (f"?{query}" if query else "")
                return StaticAnswer(301, {"Location": location, "Cache-Control": "no-cache"}, b"")
            target = target / "index.html"
        status = 200
        if target is None or not target.is_file():
            status, target = 404, self.root / "404.html"
            if not target.is_file():
                body = "404 Not Found / 找不到页面\n".encode()
                return StaticAnswer(
                    404, {"Content-Type": TYPES[".txt"], "Cache-Control": "no-cache"}, body
                )
        ctype = content_type(target)
        headers = {
            "Content-Type": ctype,
            "Cache-Control": "no-cache" if status == 404 else cache_control(target),
        }
        body = target.read_bytes()
        if banner is not None and ctype.startswith("text/html"):
            body = BODY_TAG.sub(lambda m: m.group(0) + banner, body, count=1)
            return self._maybe_gzip(None, body, headers, status, accept_encoding)
        return self._maybe_gzip(target, body, headers, status, accept_encoding)

    def _maybe_gzip(
        self,
        target: Path | None,
        body: bytes,
        headers: dict[str, str],
        status: int,
        accept_encoding: str | None,
    ) -> StaticAnswer:
        if not headers["Content-Type"].startswith(COMPRESSIBLE) or len(body) < MIN_GZIP:
            return StaticAnswer(status, headers, body)
        headers["Vary"] = "Accept-Encoding"
        if not accepts_gzip(accept_encoding):
            return StaticAnswer(status, headers, body)
        headers["Content-Encoding"] = "gzip"
        if target is None:  # personalised (banner): nothing to cache
            return StaticAnswer(status, headers, gzip.compress(body, 6, mtime=0))
        stat = target.stat()
        key = (target, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._gzip_cache.get(key)
        if cached is None:
            cached = gzip.compress(body, 9, mtime=0)
            with self._lock:
                self._gzip_cache[key] = cached
        return StaticAnswer(status, headers, cached)
