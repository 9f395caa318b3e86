"""What the build adds for sharing (issue 16): images, the WeChat share card, MP_verify.

- Always: a square card thumbnail and a 1200×630 ``og:image`` per language, and the
  share poster PNG the poster page offers for download.
- With a WeChat AppID (``wechat.appid`` or ``identity.wechat_appid``): every page gets a
  small deferred script that, inside WeChat only, asks ``/api/wechat/jssdk`` for a
  signature, then loads the JS-SDK from our own origin and sets the share card.
  campaign.json gets ``wechat_share`` so the API knows the AppID and which origin to sign.
- ``content/MP_verify_*.txt`` (WeChat's domain check file) is copied to the site root.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sitegen import share_image
from sitegen.assets import Asset, fingerprint
from sitegen.content import Content
from sitegen.errors import BuildError

SDK_SOURCE = "node_modules/weixin-js-sdk/index.js"
MP_VERIFY = re.compile(r"MP_verify_[A-Za-z0-9]{1,64}\.txt")
CACHE_DIR = ".cache/share-images"


@dataclass(frozen=True, slots=True)
class ShareKit:
    #: The files to write: images, the wrapped SDK, MP_verify files (path -> bytes).
    files: dict[str, bytes]
    og_image: Mapping[str, str]  # lang -> absolute URL
    thumbnail: Mapping[str, str]  # lang -> absolute URL
    poster_png: Mapping[str, str]  # lang -> URL path
    #: The share script's settings per language (None: no WeChat share card).
    wechat: Mapping[str, Mapping[str, Any]] | None = None
    campaign_json: Mapping[str, Any] = field(default_factory=dict)

    def page_context(self, lang: str, canonical: str) -> dict[str, Any]:
        """What base.html needs for one page: og:image, and the share script if on."""
        ctx: dict[str, Any] = {"og_image": self.og_image[lang], "poster_png": self.poster_png[lang]}
        if self.wechat is not None:
            settings = self.wechat[lang]
            ctx["wechat_share"] = {
                "script": settings["script"],
                "config": {**settings["config"], "link": canonical},
            }
        return ctx


def wrap_sdk(source: bytes) -> bytes:
    """The npm package as a classic script that defines ``window.wx``.

    weixin-js-sdk is published as CommonJS (``module.exports = …``), which a browser
    cannot run as is: a function supplies ``module`` and publishes the result.
    """
    return (
        b"(function (module) {\n"
        + source
        + b"\n;window.wx = window.jWeixin = module.exports;\n})({ exports: {} });\n"
    )


def _sdk_asset(root: Path) -> Asset:
    path = root / SDK_SOURCE
    if not path.is_file():
        raise BuildError(
            f"{SDK_SOURCE} is missing: run `npm ci` (or `make setup`) to install the "
            "JavaScript dependencies from package-lock.json",
            path,
        )
    return fingerprint("js/jweixin.js", wrap_sdk(path.read_bytes()))


def mp_verify_files(content_dir: Path) -> dict[str, bytes]:
    """WeChat's domain verification files, checked, for the site root."""
    out: dict[str, bytes] = {}
    for path in sorted(content_dir.glob("MP_verify_*")):
        if not MP_VERIFY.fullmatch(path.name):
            raise BuildError("WeChat's file must be named MP_verify_<letters/digits>.txt", path)
        data = path.read_bytes()
        if not 0 < len(data) <= 256 or not data.isascii():
            raise BuildError("an MP_verify file holds a short ASCII code from WeChat", path)
        out[path.name] = data
    return out


def prepare(
    content: Content,
    strings: Mapping[str, Mapping[str, str]],
    assets: Mapping[str, Asset],
    *,
    root: Path,
    content_dir: Path,
    window_text: Callable[[str], str],
    api: str = "/api",
) -> ShareKit:
    campaign = content.campaign
    share_image.check_fonts()
    css = assets["css/site.css"].data.decode("utf-8")
    palette = share_image.Palette.from_css(css)
    colours = (palette.brand, palette.brand_ink, palette.soft, palette.ink, palette.muted)
    cache = share_image.ImageCache(root / CACHE_DIR)
    files: dict[str, bytes] = {}
    og: dict[str, str] = {}
    thumb: dict[str, str] = {}
    posters: dict[str, str] = {}

    def add(name: str, data: bytes) -> str:
        asset = fingerprint(name, data)
        files[asset.url.lstrip("/")] = data
        return asset.url

    for lang in campaign.languages:
        title, organiser = campaign.title[lang], campaign.organiser[lang]
        # Each language's poster points at its own vote page, as the poster page's QR.
        vote_url = f"{campaign.base_url}/{lang}/vote/"
        texts = {
            "title": title,
            "window": window_text(lang),
            "cap": strings["cap_sentence"][lang].format(cap=campaign.daily_cap),
            "scan": strings["poster_scan"][lang],
            "organiser": organiser,
        }
        thumb[lang] = campaign.base_url + add(
            f"share-{lang}.png",
            cache.get(
                "thumb",
                (title, lang, *colours),
                partial(share_image.thumbnail, title, lang, palette),
            ),
        )
        og[lang] = campaign.base_url + add(
            f"og-{lang}.png",
            cache.get(
                "og",
                (title, organiser, lang, *colours),
                partial(share_image.og_image, title, organiser, lang, palette),
            ),
        )
        posters[lang] = add(
            f"poster-{lang}.png",
            cache.get(
                "poster",
                (*(f"{k}={v}" for k, v in sorted(texts.items())), vote_url, lang, *colours),
                partial(share_image.poster, texts, vote_url, lang, palette),
            ),
        )
    files.update(mp_verify_files(content_dir))
    if not campaign.wechat_appid:
        return ShareKit(files, og, thumb, posters)
    sdk = _sdk_asset(root)
    files[sdk.url.lstrip("/")] = sdk.data
    wechat = {
        lang: {
            "script": assets["js/share.js"].url,
            "config": {
                "api": api,
                "sdk": sdk.url,
                "title": campaign.title[lang],
                "desc": strings["share_summary"][lang].format(window=window_text(lang)),
                "img": thumb[lang],
            },
        }
        for lang in campaign.languages
    }
    extra = {"wechat_share": {"appid": campaign.wechat_appid, "base_url": campaign.base_url}}
    return ShareKit(files, og, thumb, posters, wechat, extra)
