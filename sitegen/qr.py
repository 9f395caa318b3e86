"""The poster's QR code, as an SVG small enough to scan from across a room."""

from __future__ import annotations

import io

import segno

from sitegen.errors import BuildError

#: Version 3 (29×29 modules) stays easy to scan when printed small or shot at an angle.
MAX_VERSION = 3


def qr_svg(url: str, *, title: str) -> str:
    code = segno.make(url, error="q", micro=False, boost_error=False)
    version = int(code.version)  # an int for regular (non-micro) codes
    if version > MAX_VERSION:
        raise BuildError(
            f"the QR target {url!r} needs QR version {version}; shorten base_url so "
            f"the vote URL fits version {MAX_VERSION} (32 bytes at error correction Q)"
        )
    out = io.BytesIO()
    code.save(
        out,
        kind="svg",
        border=4,
        scale=1,
        xmldecl=False,
        svgns=True,
        title=title,
        svgclass="qrcode",
        lineclass=None,
        omitsize=True,
    )
    return out.getvalue().decode("utf-8")
