"""What the build makes for sharing (issue 16): images, the share card option, MP_verify.

The images are compared with reviewed golden PNGs pixel by pixel (decoded, so a
different zlib cannot fail the test, while a moved or missing glyph does);
UPDATE_GOLDEN=1 rewrites them after review.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from sitegen import share_image
from sitegen.build import build_site
from sitegen.errors import BuildError
from tests.conftest import ROOT, TEST_RECEIPT_KEY

MINI = ROOT / "tests" / "fixtures" / "mini" / "content"
GOLDEN = ROOT / "tests" / "golden" / "share"
APPID = "wxfa4e0a1b2c3d4e5f"


def mini(tmp: Path, extra: str = "") -> Path:
    content = tmp / "content"
    shutil.copytree(MINI, content)
    if extra:
        with (content / "campaign.yaml").open("a", encoding="utf-8") as fh:
            fh.write(extra)
    return content


def build(tmp: Path, content: Path) -> Path:
    out = tmp / "dist"
    build_site(out, receipt_key=TEST_RECEIPT_KEY, content_dir=content, root=ROOT)
    return out


def one(dist: Path, pattern: str) -> Path:
    found = sorted((dist / "assets").glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


def test_share_images_are_small_pngs_of_the_right_size_and_match_the_golden_ones(
    tmp_path: Path,
) -> None:
    dist = build(tmp_path, mini(tmp_path))
    sizes = {"share": (300, 300), "og": (1200, 630), "poster": (1080, 1520)}
    limits = {"share": 32 * 1024, "og": 96 * 1024, "poster": 160 * 1024}
    for kind, size in sizes.items():
        for lang in ("zh", "en"):
            path = one(dist, f"{kind}-{lang}.*.png")
            data = path.read_bytes()
            assert data.startswith(b"\x89PNG\r\n\x1a\n")
            assert len(data) <= limits[kind], (path.name, len(data))
            image = Image.open(io.BytesIO(data)).convert("RGB")
            assert image.size == size
            golden = GOLDEN / f"{kind}-{lang}.png"
            if os.environ.get("UPDATE_GOLDEN") == "1":
                golden.parent.mkdir(parents=True, exist_ok=True)
                golden.write_bytes(data)
            expected = Image.open(golden).convert("RGB")
            assert ImageChops.difference(image, expected).getbbox() is None, (
                f"{path.name} differs from {golden}; UPDATE_GOLDEN=1 after review"
            )
    # The site's brand colour fills the card, as on the pages' header.
    thumb = Image.open(one(dist, "share-zh.*.png")).convert("RGB")
    assert thumb.getpixel((2, 2)) == (0x0B, 0x4A, 0x80)


def test_pages_name_the_images_and_the_poster_offers_the_png(tmp_path: Path) -> None:
    dist = build(tmp_path, mini(tmp_path))
    for lang in ("zh", "en"):
        og = one(dist, f"og-{lang}.*.png").name
        page = (dist / lang / "index.html").read_text("utf-8")
        assert f'<meta property="og:image" content="https://v.example.cn/assets/{og}">' in page
        poster = (dist / lang / "poster" / "index.html").read_text("utf-8")
        png = one(dist, f"poster-{lang}.*.png").name
        assert f'<a href="/assets/{png}" download>' in poster
        assert ("扫码" in poster) if lang == "zh" else ("QR scan" in poster)
        # No share card without an AppID: no script, nothing in campaign.json.
        assert 'id="wx-share"' not in page
    assert "wechat_share" not in json.loads((dist / "campaign.json").read_text("utf-8"))
    assert not list((dist / "assets").glob("jweixin.*.js"))


def test_no_share_incentives_anywhere(tmp_path: Path) -> None:
    """WeChat bans reward-for-share: no page may promise anything for sharing."""
    dist = build(tmp_path, mini(tmp_path, f"wechat:\n  appid: {APPID}\n"))
    banned = ("集赞", "助力", "转发有礼", "分享得", "share to win", "reward")
    for page in dist.rglob("*.html"):
        text = page.read_text("utf-8")
        assert not [word for word in banned if word in text], page


def test_with_an_appid_every_page_gets_the_share_script(tmp_path: Path) -> None:
    dist = build(tmp_path, mini(tmp_path, f"wechat:\n  appid: {APPID}\n"))
    campaign = json.loads((dist / "campaign.json").read_text("utf-8"))
    assert campaign["wechat_share"] == {"appid": APPID, "base_url": "https://v.example.cn"}
    sdk = one(dist, "jweixin.*.js")
    assert sdk.read_text("utf-8").startswith("(function (module) {")
    pages = [p for p in dist.rglob("index.html") if p.parent.name in ("zh", "en", "vote")]
    assert pages
    for page in pages:
        html = page.read_text("utf-8")
        start = html.index('id="wx-share" data-config=\'') + len('id="wx-share" data-config=\'')
        config = json.loads(html[start : html.index("'", start)])
        lang = page.relative_to(dist).parts[0]
        assert config["sdk"] == f"/assets/{sdk.name}"
        assert config["api"] == "/api"
        assert config["img"].startswith(f"https://v.example.cn/assets/share-{lang}.")
        assert (
            config["link"]
            == "https://v.example.cn/" + page.parent.relative_to(dist).as_posix() + "/"
        )
        assert config["title"] == campaign["title"][lang]
        # The share script comes before the page's own scripts (the iOS entry URL).
        assert html.index('id="wx-share"') < html.find("vote.") or "vote." not in html


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("wechat:\n  appid: wx123\n", "'wx' and 16 hex digits"),
        ("wechat: wxfa4e0a1b2c3d4e5f\n", "must be a mapping"),
        ("wechat:\n  appid: wxfa4e0a1b2c3d4e5f\n  secret: x\n", "unknown wechat key 'secret'"),
        (
            "wechat:\n  appid: wxfa4e0a1b2c3d4e5f\n"
            "identity:\n  mode: wechat\n  wechat_appid: wx0000000000000000\n",
            "differs from identity",
        ),
    ],
)
def test_a_bad_wechat_setting_stops_the_build(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build(tmp_path, mini(tmp_path, extra))


def test_mp_verify_file_is_copied_to_the_site_root(tmp_path: Path) -> None:
    content = mini(tmp_path)
    (content / "MP_verify_AbC123xyz.txt").write_text("AbC123xyz", "ascii")
    dist = build(tmp_path, content)
    assert (dist / "MP_verify_AbC123xyz.txt").read_text("ascii") == "AbC123xyz"
    (content / "MP_verify_bad name.txt").write_text("x", "ascii")
    with pytest.raises(BuildError, match="MP_verify_"):
        build(tmp_path, content)


def test_cached_and_freshly_drawn_images_are_identical(tmp_path: Path) -> None:
    """The cache (bench/build_time.py measures its gain) never changes a byte."""
    build_site(tmp_path / "first", receipt_key=TEST_RECEIPT_KEY, root=ROOT)
    cache = ROOT / ".cache" / "share-images"
    shutil.rmtree(cache, ignore_errors=True)
    build_site(tmp_path / "second", receipt_key=TEST_RECEIPT_KEY, root=ROOT)
    assert any(cache.iterdir())
    first = sorted(p.name for p in (tmp_path / "first" / "assets").iterdir())
    assert first == sorted(p.name for p in (tmp_path / "second" / "assets").iterdir())


def test_a_missing_font_stops_the_build_saying_how_to_install_it(tmp_path: Path) -> None:
    share_image.check_fonts()  # this machine has it (make setup installs it)
    with pytest.raises(BuildError, match=r"apt-get install fonts-noto-cjk"):
        share_image.check_fonts({"bold": tmp_path / "NotoSansCJK-Bold.ttc"})
