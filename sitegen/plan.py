"""Decide every file the site consists of, with the data each one needs.

Planning is separate from rendering so that the whole site's URL map exists before
any page is written: language alternates, the sitemap and campaign.json all come
from the same plan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

from ballotbox.core.campaign import Campaign as CampaignRules
from ballotbox.core.identity import WECHAT_AUTHORIZE_URL

from sitegen.assets import Asset
from sitegen.content import Campaign, Candidate, Content, SiteList, plain_summary
from sitegen.render import format_date, last_day
from sitegen.share import ShareKit

OG_LOCALE = {"zh": "zh_CN", "en": "en_US"}


@dataclass(frozen=True, slots=True)
class Output:
    """One file of ``dist/``: a template with its context, or ready bytes."""

    path: str  # relative to dist/, e.g. "zh/vote/index.html"
    template: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    data: bytes | None = None
    #: The public URL path, for pages that belong in the sitemap.
    url: str | None = None
    alternates: tuple[tuple[str, str], ...] = ()


def page_url(lang: str, *parts: str) -> str:
    return "/" + "/".join([lang, *parts]) + "/"


def candidate_url(lang: str, spec: SiteList, candidate: Candidate) -> str:
    return page_url(lang, spec.folder, candidate.id)


@dataclass(frozen=True, slots=True)
class SitePlan:
    outputs: list[Output]
    campaign_json: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SiteContext:
    """What every page family is planned from, and the helpers they share.

    Each family below (home, vote, rules, results, poster, candidates, the root pages,
    campaign.json, the sitemap) is one small function over this context, as Pelican's
    ``generate_*`` and MkDocs' ``get_context`` are: adding a page means adding a function.
    """

    content: Content
    strings: Mapping[str, Mapping[str, str]]
    asset_urls: Mapping[str, str]
    receipt_key: str
    qr_svg: Mapping[str, str]  # per language: each poster points to its own vote page
    favicon: str
    api: str
    #: sitegen.results.page_context per language: the results, or when they will come.
    results_page: Mapping[str, Mapping[str, Any]]
    #: sitegen.results.rules_notes per language: the site's own notes under the rules.
    rules_notes: Mapping[str, list[str]]
    #: Share images and the WeChat share card (issue 16); None in plans made without them.
    share: ShareKit | None = None

    @property
    def campaign(self) -> Campaign:
        return self.content.campaign

    @property
    def langs(self) -> tuple[str, ...]:
        return self.content.campaign.languages

    def t(self, lang: str) -> dict[str, str]:
        return {key: texts[lang] for key, texts in self.strings.items()}

    def by_lang(self, *parts: str) -> dict[str, str]:
        return {lang: page_url(lang, *parts) for lang in self.langs}

    def vote_urls(self) -> dict[str, str]:
        return {lang: self.campaign.base_url + page_url(lang, "vote") for lang in self.langs}

    def alternates(self, paths: Mapping[str, str], x_default: str) -> list[dict[str, str]]:
        alts = [
            {"hreflang": self.strings["html_lang"][lang], "path": paths[lang]}
            for lang in self.langs
        ]
        return [*alts, {"hreflang": "x-default", "path": x_default}]

    def others(self, lang: str, paths: Mapping[str, str]) -> list[dict[str, str]]:
        return [
            {
                "path": paths[other],
                "hreflang": self.strings["html_lang"][other],
                "html_lang": self.strings["html_lang"][other],
                "switch_to": self.strings["switch_to"][other],
            }
            for other in self.langs
            if other != lang
        ]

    def nav(self, lang: str, current: str) -> list[dict[str, Any]]:
        items = [
            ("home", page_url(lang)),
            ("vote", page_url(lang, "vote")),
            ("rules", page_url(lang, "rules")),
            ("results", page_url(lang, "results")),
        ]
        return [
            {"label": self.strings[f"nav_{name}"][lang], "path": path, "current": name == current}
            for name, path in items
        ]

    def window_text(self, lang: str) -> str:
        return self.strings["window_sentence"][lang].format(
            opens=format_date(self.campaign.opens, lang),
            last=format_date(last_day(self.campaign.closes), lang),
        )

    def groups(self, lang: str) -> list[dict[str, Any]]:
        out = []
        for spec in self.campaign.lists:
            members = self.content.candidates_of(spec.kind)
            out.append(
                {
                    "spec": spec,
                    "count_text": self.strings["candidates_count"][lang].format(
                        n=len(members), k=spec.select
                    ),
                    "candidates": [
                        {
                            "id": c.id,
                            "order": c.order,
                            "title": c.title[lang],
                            "path": candidate_url(lang, spec, c),
                        }
                        for c in members
                    ],
                }
            )
        return out

    def pages(
        self,
        name: str,
        template: str,
        paths: Mapping[str, str],
        extra: Mapping[str, Mapping[str, Any]],
        *,
        current: str = "",
        x_default: str | None = None,
        in_sitemap: bool = True,
    ) -> list[Output]:
        """One page in every language: the base context every template gets, plus ``extra``."""
        campaign = self.campaign
        alts = self.alternates(paths, x_default or paths[campaign.default_language])
        out = []
        for lang in self.langs:
            ctx: dict[str, Any] = {
                "lang": lang,
                "t": self.t(lang),
                "campaign": campaign,
                "path": paths[lang],
                "alternates": alts,
                "others": self.others(lang, paths),
                "nav": self.nav(lang, current),
                "assets": self.asset_urls,
                "favicon": self.favicon,
                "og_locale": OG_LOCALE.get(lang, lang),
                "window_text": self.window_text(lang),
                "cap_text": self.strings["cap_sentence"][lang].format(cap=campaign.daily_cap),
                "vote_path": page_url(lang, "vote"),
                "rules_path": page_url(lang, "rules"),
                "page_name": name,
                "identity_mode": campaign.identity_mode,
                "identity_text": self.strings[
                    "identity_" + campaign.identity_mode.replace("+", "_")
                ][lang],
            }
            if self.share is not None:  # og:image, the poster PNG, the WeChat share card
                ctx.update(self.share.page_context(lang, campaign.base_url + paths[lang]))
            ctx.update(extra[lang])
            out.append(
                Output(
                    path=paths[lang].lstrip("/") + "index.html",
                    template=template,
                    context=ctx,
                    url=paths[lang] if in_sitemap else None,
                    alternates=tuple((a["hreflang"], a["path"]) for a in alts),
                )
            )
        return out


def plan_site(
    content: Content,
    strings: Mapping[str, Mapping[str, str]],
    assets: Mapping[str, Asset],
    *,
    receipt_key: str,
    qr_svg: Mapping[str, str],
    favicon: str,
    api: str = "/api",
    results_page: Mapping[str, Mapping[str, Any]] | None = None,
    rules_notes: Mapping[str, list[str]] | None = None,
    share: ShareKit | None = None,
) -> SitePlan:
    asset_urls = {"css": assets["css/site.css"].url}
    asset_urls.update({name: asset.url for name, asset in assets.items()})
    site = SiteContext(
        content=content,
        strings=strings,
        asset_urls=asset_urls,
        receipt_key=receipt_key,
        qr_svg=qr_svg,
        favicon=favicon,
        api=api,
        results_page=results_page or {},
        rules_notes=rules_notes or {},
        share=share,
    )
    # The order is the sitemap's order.
    outputs = [
        *home_pages(site),
        *vote_pages(site),
        *rules_pages(site),
        *results_pages(site),
        *poster_pages(site),
        *candidate_pages(site),
        *root_pages(site),
    ]
    data = campaign_json(site)
    outputs += data_files(site, data, assets)
    outputs.append(Output(path="sitemap.xml", data=_sitemap(outputs, content.campaign.base_url)))
    return SitePlan(outputs=outputs, campaign_json=data)


# ---------------------------------------------------------------------------
# Page families


def home_pages(site: SiteContext) -> list[Output]:
    campaign, intro = site.campaign, site.content.pages["intro"]
    return site.pages(
        "home",
        "home.html",
        site.by_lang(),
        {
            lang: {
                "page_title": campaign.title[lang],
                "description": _first_sentence(intro.body_html[lang]),
                "intro": intro,
                "groups": site.groups(lang),
            }
            for lang in site.langs
        },
        current="home",
        x_default="/",
    )


def vote_config(site: SiteContext, lang: str) -> dict[str, Any]:
    """What the vote page's script needs, rendered into the page: no extra request."""
    campaign = site.campaign
    return {
        "campaign": campaign.id,
        "api": site.api,
        "receipt_key": site.receipt_key,
        "daily_cap": campaign.daily_cap,
        "opens": campaign.opens.isoformat(),
        "closes": campaign.closes.isoformat(),
        "lang": lang,
        # The Ed25519 fallback, imported lazily only where WebCrypto lacks Ed25519.
        "ed25519": site.asset_urls["js/ed25519.js"],
        "strings": {
            key.removeprefix("vjs_"): texts[lang]
            for key, texts in site.strings.items()
            if key.startswith("vjs_")
        },
        **({"identity": identity_config(site)} if campaign.identity else {}),
    }


def identity_config(site: SiteContext) -> dict[str, Any]:
    """The identity mode for the page: only what it needs, and the lazy PoW worker."""
    identity = dict(site.campaign.identity or {})
    out: dict[str, Any] = {"mode": identity["mode"]}
    if identity["mode"] == "device+pow":
        out["worker"] = site.asset_urls["js/pow.js"]
    if identity["mode"] == "wechat":
        out["appid"] = identity["wechat_appid"]
        out["authorize"] = identity.get("wechat_authorize_url", WECHAT_AUTHORIZE_URL)
    return out


def vote_pages(site: SiteContext) -> list[Output]:
    campaign, strings = site.campaign, site.strings
    return site.pages(
        "vote",
        "vote.html",
        site.by_lang("vote"),
        {
            lang: {
                "page_title": f"{strings['vote_title'][lang]} · {campaign.short_title[lang]}",
                "description": strings["cap_sentence"][lang].format(cap=campaign.daily_cap),
                "groups": site.groups(lang),
                "api": site.api,
                "vote_config": vote_config(site, lang),
            }
            for lang in site.langs
        },
        current="vote",
    )


def rules_pages(site: SiteContext) -> list[Output]:
    campaign, rules = site.campaign, site.content.pages["rules"]
    return site.pages(
        "rules",
        "rules.html",
        site.by_lang("rules"),
        {
            lang: {
                "page_title": f"{rules.title[lang]} · {campaign.short_title[lang]}",
                "description": site.window_text(lang),
                "rules": rules,
                # sitegen.results.rules_notes: the site's own notes under the poster's rules.
                "notes": site.rules_notes.get(lang, []),
            }
            for lang in site.langs
        },
        current="rules",
    )


def results_pages(site: SiteContext) -> list[Output]:
    campaign, strings = site.campaign, site.strings
    return site.pages(
        "results",
        "results.html",
        site.by_lang("results"),
        {
            lang: {
                "page_title": f"{strings['results_title'][lang]} · {campaign.short_title[lang]}",
                "description": strings["results_pending"][lang],
                "published": False,
                "notice": strings["results_pending"][lang],
                # sitegen.results.page_context: the results, or when they will come.
                **site.results_page.get(lang, {}),
            }
            for lang in site.langs
        },
        current="results",
    )


def poster_pages(site: SiteContext) -> list[Output]:
    campaign, strings = site.campaign, site.strings
    vote_urls = site.vote_urls()
    return site.pages(
        "poster",
        "poster.html",
        site.by_lang("poster"),
        {
            lang: {
                "page_title": f"{strings['poster_title'][lang]} · {campaign.short_title[lang]}",
                "description": site.window_text(lang),
                "qr_svg": site.qr_svg[lang],
                "qr_target": vote_urls[lang],
            }
            for lang in site.langs
        },
    )


def candidate_pages(site: SiteContext) -> list[Output]:
    campaign, strings, langs = site.campaign, site.strings, site.langs
    out: list[Output] = []
    for spec in campaign.lists:
        members = site.content.candidates_of(spec.kind)
        for index, cand in enumerate(members):
            prev_c = members[index - 1] if index > 0 else None
            next_c = members[index + 1] if index + 1 < len(members) else None

            def link(
                c: Candidate | None, lang: str, spec: SiteList = spec
            ) -> dict[str, str] | None:
                return (
                    None
                    if c is None
                    else {"title": c.title[lang], "path": candidate_url(lang, spec, c)}
                )

            out += site.pages(
                f"candidate:{cand.id}",
                "candidate.html",
                {lang: candidate_url(lang, spec, cand) for lang in langs},
                {
                    lang: {
                        "page_title": f"{cand.title[lang]} · {campaign.short_title[lang]}",
                        "description": cand.summary[lang],
                        "candidate": cand,
                        "spec": spec,
                        "kicker": strings["candidate_kicker"][lang].format(
                            label=(spec.candidate_label or strings["candidate_label"])[lang],
                            n=cand.order,
                        ),
                        "prev": link(prev_c, lang),
                        "next": link(next_c, lang),
                    }
                    for lang in langs
                },
            )
    return out


def root_pages(site: SiteContext) -> list[Output]:
    """``/`` (the language chooser) and the 404 page: outside any one language."""
    root_alts = site.alternates(site.by_lang(), "/")
    shared = {
        "campaign": site.campaign,
        "strings": site.strings,
        "assets": site.asset_urls,
        "favicon": site.favicon,
    }
    return [
        Output(
            path="index.html",
            template="root.html",
            context={**shared, "alternates": root_alts},
            url="/",
            alternates=tuple((a["hreflang"], a["path"]) for a in root_alts),
        ),
        Output(path="404.html", template="404.html", context=shared),
    ]


# ---------------------------------------------------------------------------
# Data files


def campaign_json(site: SiteContext) -> dict[str, Any]:
    """``dist/campaign.json`` (docs/file-formats.md), checked with the core's own reader."""
    campaign, langs = site.campaign, site.langs
    specs = {spec.kind: spec for spec in campaign.lists}
    data: dict[str, Any] = {
        "id": campaign.id,
        "title": dict(campaign.title),
        "opens": campaign.opens.isoformat(),
        "closes": campaign.closes.isoformat(),
        "daily_cap": campaign.daily_cap,
        "api": site.api,
        "receipt_key": site.receipt_key,
        "vote_url": site.vote_urls(),
        # Only when content/campaign.yaml sets it: device mode keeps the contract's exact shape.
        **({"identity": dict(campaign.identity)} if campaign.identity else {}),
        **(site.share.campaign_json if site.share is not None else {}),
        # For the ops tools (tally, audit): the lists and the results method, so that
        # campaign.json alone defines the campaign (docs/file-formats.md).
        "lists": [spec.to_json() for spec in campaign.lists],
        "results": campaign.method.to_json(),
        "candidates": [
            {
                "id": c.id,
                "kind": c.kind,
                "title": dict(c.title),
                "url": {
                    lang: campaign.base_url + candidate_url(lang, specs[c.kind], c)
                    for lang in langs
                },
            }
            for c in site.content.candidates
        ],
    }
    # What the builder writes, the function and the ops tools must read: check it here.
    CampaignRules.from_dict(data)
    return data


def data_files(
    site: SiteContext, campaign_data: Mapping[str, Any], assets: Mapping[str, Asset]
) -> list[Output]:
    """campaign.json, the QR code, robots.txt and the fingerprinted assets."""
    base = site.campaign.base_url
    return [
        Output(path="campaign.json", data=_json_bytes(campaign_data)),
        Output(path="qr.svg", data=site.qr_svg[site.campaign.default_language].encode("utf-8")),
        Output(
            path="robots.txt",
            data=(
                f"User-agent: *\nAllow: /\nDisallow: /api/\nSitemap: {base}/sitemap.xml\n"
            ).encode(),
        ),
        *(Output(path=asset.url.lstrip("/"), data=asset.data) for asset in assets.values()),
    ]


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _first_sentence(html: str) -> str:
    return plain_summary(html, 120)


def _sitemap(outputs: list[Output], base: str) -> bytes:
    rows = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:xhtml="http://www.w3.org/1999/xhtml">',
    ]
    for out in outputs:
        if out.url is None:
            continue
        rows.append(f"<url><loc>{base}{out.url}</loc>")
        for hreflang, path in out.alternates:
            rows.append(
                f'<xhtml:link rel="alternate" hreflang={quoteattr(hreflang)} '
                f"href={quoteattr(base + path)}/>"
            )
        rows.append("</url>")
    rows.append("</urlset>\n")
    return "\n".join(rows).encode("utf-8")
