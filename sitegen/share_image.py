"""Share images: the WeChat card thumbnail, the og:image and the share poster (issue 16).

Drawn with Pillow from the campaign's title and the site's own colours (the custom
properties of ``site_src/css/site.css``), in Noto Sans CJK from Debian's
``fonts-noto-cjk`` so that every machine draws the same pixels: a system font chosen by
fontconfig would differ between laptops and CI. Pillow's basic layout engine is used
(no raqm/fribidi from the system) for the same reason.

Rendering costs tens of milliseconds per image, so images are cached on disk by a hash
of everything that goes into them (texts, sizes, colours, font file, Pillow version):
a rebuild with unchanged content reads them back.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont
from PIL import __version__ as pillow_version

from sitegen.errors import BuildError

FONT_DIR = Path("/usr/share/fonts/opentype/noto")
FONT_FILES = {
    "bold": FONT_DIR / "NotoSansCJK-Bold.ttc",
    "regular": FONT_DIR / "NotoSansCJK-Regular.ttc",
}
#: Index of "Noto Sans CJK SC" inside Debian's .ttc files (JP, KR, SC, TC, HK, ...).
FONT_INDEX = {"zh": 2, "en": 2}
#: Bumped when the drawing code changes, so cached images are redrawn.
DRAWING_VERSION = "2"
THUMB_SIZE = (300, 300)
OG_SIZE = (1200, 630)
POSTER_SIZE = (1080, 1520)


@dataclass(frozen=True, slots=True)
class Palette:
    brand: str
    brand_ink: str
    soft: str
    ink: str
    muted: str

    @classmethod
    def from_css(cls, css: str) -> Palette:
        """The site's colours, so the images match the pages."""
        found = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})\s*;", css))
        try:
            return cls(
                found["brand"], found["brand-ink"], found["soft"], found["ink"], found["muted"]
            )
        except KeyError as exc:
            raise BuildError(
                f"site.css must define the colour --{exc.args[0]} (#rrggbb) for the share images"
            ) from exc


def check_fonts(files: Mapping[str, Path] = FONT_FILES) -> None:
    """Fail early, and say how to fix it, when Debian's Noto Sans CJK is missing."""
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise BuildError(
            "the share images need Debian's Noto Sans CJK font, missing: "
            + ", ".join(missing)
            + ". Install it with `sudo apt-get install fonts-noto-cjk` "
            "(`make setup` does this when run as root)."
        )


@cache
def _font(weight: str, size: int, lang: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(
        str(FONT_FILES[weight]),
        size,
        index=FONT_INDEX.get(lang, 2),
        layout_engine=ImageFont.Layout.BASIC,
    )


_TOKEN = re.compile(r"[A-Za-z0-9'’.,:;!?()\-–/&]+[“”\"]?\s*|[“\"]?[A-Za-z0-9]+\s*|\s+|.")


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Lines no wider than ``width``: Latin breaks between words, CJK between characters."""
    lines: list[str] = []
    line = ""
    for token in _TOKEN.findall(text):
        candidate = line + token
        if line and font.getlength(candidate.rstrip()) > width:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line = candidate
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _fit(
    text: str, weight: str, lang: str, width: int, sizes: tuple[int, ...], max_lines: int
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest size at which ``text`` fits in ``max_lines`` lines (else the smallest)."""
    for size in sizes:
        font = _font(weight, size, lang)
        lines = wrap(text, font, width)
        if len(lines) <= max_lines:
            return font, lines
    font = _font(weight, sizes[-1], lang)
    lines = wrap(text, font, width)[:max_lines]
    lines[-1] = lines[-1].rstrip("…") + "…"
    return font, lines


def _draw_lines(
    draw: ImageDraw.ImageDraw,
    lines: list[str],
    font: ImageFont.FreeTypeFont,
    x: int,
    y: int,
    fill: str,
    spacing: float = 1.3,
) -> int:
    """Draw ``lines`` from ``y``; return the y below them."""
    step = round(font.size * spacing)
    for line in lines:
        draw.text((x, y), line, font=font, fill=fill)
        y += step
    return y


def _latin_quotes(text: str, lang: str) -> str:
    """Straight quotes in Latin text: the CJK font's curly quotes are full-width."""
    if lang == "zh":
        return text
    return text.translate(str.maketrans("“”‘’", "\"\"''"))


def _check_mark(draw: ImageDraw.ImageDraw, x: int, y: int, size: int, palette: Palette) -> None:
    """The site's icon (a check mark on the brand square), drawn at ``size`` pixels."""
    draw.rounded_rectangle((x, y, x + size, y + size), radius=size // 5, fill=palette.brand_ink)
    u = size / 32
    points = [(x + 8 * u, y + 17 * u), (x + 13 * u, y + 22 * u), (x + 24 * u, y + 10 * u)]
    draw.line(points, fill=palette.brand, width=max(2, round(4 * u)), joint="curve")


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # A palette image: these are flat colours and text, so 64 colours keep the
    # antialiasing and make the file a fraction of the RGB size. Octree quantising and
    # zlib level 6 are several times faster than median cut and level 9 (build budget).
    image.quantize(colors=64, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
        out, format="PNG", compress_level=6
    )
    return out.getvalue()


def thumbnail(title: str, lang: str, palette: Palette) -> bytes:
    """The square card thumbnail WeChat shows beside the title (300×300)."""
    w = THUMB_SIZE[0]
    image = Image.new("RGB", THUMB_SIZE, palette.brand)
    draw = ImageDraw.Draw(image)
    _check_mark(draw, 24, 24, 56, palette)
    font, lines = _fit(_latin_quotes(title, lang), "bold", lang, w - 48, (34, 30, 26, 22), 5)
    _draw_lines(draw, lines, font, 24, 100, palette.brand_ink, 1.25)
    return _png(image)


def og_image(title: str, organiser: str, lang: str, palette: Palette) -> bytes:
    """The 1200×630 link preview image (Open Graph) for other apps and sites."""
    w, h = OG_SIZE
    image = Image.new("RGB", OG_SIZE, palette.brand)
    draw = ImageDraw.Draw(image)
    _check_mark(draw, 72, 64, 88, palette)
    font, lines = _fit(_latin_quotes(title, lang), "bold", lang, w - 144, (60, 52, 44), 4)
    _draw_lines(draw, lines, font, 72, 184, palette.brand_ink, 1.3)
    small = _font("regular", 32, lang)
    draw.text((72, h - 56 - 32), organiser, font=small, fill=palette.brand_ink)
    return _png(image)


def poster(texts: Mapping[str, str], qr_url: str, lang: str, palette: Palette) -> bytes:
    """The share poster voters save and post: title, window, the rule, and the QR code.

    ``texts`` holds ``title``, ``window``, ``cap``, ``scan`` and ``organiser``.
    """
    w, h = POSTER_SIZE
    image = Image.new("RGB", POSTER_SIZE, palette.soft)
    draw = ImageDraw.Draw(image)
    font, lines = _fit(_latin_quotes(texts["title"], lang), "bold", lang, w - 160, (64, 56, 48), 4)
    band = 220 + len(lines) * round(font.size * 1.3) + 40
    draw.rectangle((0, 0, w, band), fill=palette.brand)
    _check_mark(draw, 80, 80, 96, palette)
    _draw_lines(draw, lines, font, 80, 220, palette.brand_ink, 1.3)
    body = _font("regular", 36, lang)
    y = _draw_lines(draw, wrap(texts["window"], body, w - 160), body, 80, band + 56, palette.ink)
    y = _draw_lines(draw, wrap(texts["cap"], body, w - 160), body, 80, y + 16, palette.muted)
    code = segno.make(qr_url, error="q", micro=False, boost_error=False)
    out = io.BytesIO()
    code.save(out, kind="png", scale=14, border=3, dark="#000000", light="#ffffff")
    qr = Image.open(io.BytesIO(out.getvalue())).convert("RGB")
    left = (w - qr.width) // 2
    top = max(y + 40, h - 200 - qr.height)
    image.paste(qr, (left, top))
    scan = _font("bold", 40, lang)
    label = texts["scan"]
    y = top + qr.height + 20
    draw.text(((w - scan.getlength(label)) / 2, y), label, font=scan, fill=palette.ink)
    small = _font("regular", 30, lang)
    for line in (qr_url, texts["organiser"]):
        y += 56
        draw.text(((w - small.getlength(line)) / 2, y), line, font=small, fill=palette.muted)
    return _png(image)


class ImageCache:
    """PNG files under ``directory``, named by the hash of what was drawn."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def get(self, kind: str, parts: tuple[str, ...], draw: Callable[[], bytes]) -> bytes:
        key = hashlib.sha256(
            "\x00".join((DRAWING_VERSION, pillow_version, kind, *parts, *_font_ids())).encode()
        ).hexdigest()[:32]
        path = self.directory / f"{kind}-{key}.png" if self.directory else None
        if path is not None and path.is_file():
            return path.read_bytes()
        data = draw()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # parallel builds
            tmp.write_bytes(data)
            tmp.replace(path)
        return data


@cache
def _font_ids() -> tuple[str, ...]:
    """The font files' identity (size and mtime): a new font release redraws the images."""
    return tuple(
        f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in FONT_FILES.values()
    )
