"""Static assets: copied from ``site_src/`` under content-hashed names.

Hashed names let the CDN cache them for a year (``immutable``) while HTML stays
short-lived, so a redeploy is picked up at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sitegen.errors import BuildError

#: Files bundled from npm packages (installed from package-lock.json), by logical name.
VENDOR: dict[str, str] = {
    # The vote page's Ed25519 fallback, imported lazily where WebCrypto lacks Ed25519.
    "js/ed25519.js": "node_modules/@noble/ed25519/index.js",
}

FAVICON_SVG = (
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'>"
    "<rect width='32' height='32' rx='6' fill='#0b4a80'/>"
    "<path d='M8 17l5 5 11-12' fill='none' stroke='#fff' stroke-width='4' "
    "stroke-linecap='round' stroke-linejoin='round'/></svg>"
)


@dataclass(frozen=True, slots=True)
class Asset:
    name: str  # logical name, e.g. "css/site.css"
    url: str  # e.g. "/assets/site.1a2b3c4d.css"
    data: bytes


def fingerprint(name: str, data: bytes) -> Asset:
    digest = hashlib.sha256(data).hexdigest()[:10]
    stem, dot, ext = Path(name).name.partition(".")
    return Asset(name=name, url=f"/assets/{stem}.{digest}{dot}{ext}", data=data)


def collect(site_src: Path, root: Path) -> dict[str, Asset]:
    """Every file under ``site_src`` plus the vendored npm files, fingerprinted."""
    found: dict[str, Asset] = {}
    for path in sorted(p for p in site_src.rglob("*") if p.is_file()):
        name = path.relative_to(site_src).as_posix()
        found[name] = fingerprint(name, path.read_bytes())
    for name, source in VENDOR.items():
        path = root / source
        if not path.is_file():
            raise BuildError(
                f"{source} is missing: run `npm ci` (or `make setup`) to install the "
                "JavaScript dependencies from package-lock.json",
                path,
            )
        found[name] = fingerprint(name, path.read_bytes())
    if "css/site.css" not in found:
        raise BuildError("the stylesheet is missing", site_src / "css" / "site.css")
    return found


def favicon_data_uri() -> str:
    """The icon inline, so it costs no request on any page.

    Spaces are percent-encoded too: a URL may not contain them, and the HTML validator
    rejects the whole ``href`` otherwise.
    """
    return "data:image/svg+xml," + quote(FAVICON_SVG, safe="/:='")


def favicon_ico() -> bytes:
    """A 32×32 ICO (PNG inside) for clients that ask for /favicon.ico regardless."""
    import struct
    import zlib

    size = 32
    brand, white = b"\x0b\x4a\x80\xff", b"\xff\xff\xff\xff"
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")  # PNG filter type: none
        for x in range(size):
            # A check mark, matching the SVG icon.
            on_check = (9 <= x <= 14 and abs((y - 17) - (x - 9)) <= 2) or (
                14 <= x <= 24 and abs((y - 22) + (x - 14)) <= 2
            )
            row += white if on_check else brand
        rows.append(bytes(row))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(png), 6 + 16)
    return header + entry + png
