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

from sitegen.assets import Asset
from sitegen.content import Candidate, Content, ListSpec, plain_summary
from sitegen.render import format_date, last_day

OG_LOCALE = {"zh": "zh_CN", "en": "en_US"}
#: WeChat's OAuth page (the silent `snsapi_base` sign-in of wechat mode).
WECHAT_AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"


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


def candidate_url(lang: str, spec: ListSpec, candidate: Candidate) -> str:
    return page_url(lang, spec.folder, candidate.id)


@dataclass(frozen=True, slots=True)
class SitePlan:
    outputs: list[Output]
    campaign_json: dict[str, Any]


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
) -> SitePlan:
    campaign = content.campaign
    langs = campaign.languages
    specs = {spec.kind: spec for spec in campaign.lists}
    asset_urls = {"css": assets["css/site.css"].url}
    asset_urls.update({name: asset.url for name, asset in assets.items()})

    def t(lang: str) -> dict[str, str]:
        return {key: texts[lang] for key, texts in strings.items()}

    def alternates(paths: Mapping[str, str], x_default: str) -> list[dict[str, str]]:
        alts = [{"hreflang": strings["html_lang"][lang], "path": paths[lang]} for lang in langs]
        return [*alts, {"hreflang": "x-default", "path": x_default}]

    def others(lang: str, paths: Mapping[str, str]) -> list[dict[str, str]]:
        return [
            {
                "path": paths[other],
                "hreflang": strings["html_lang"][other],
                "html_lang": strings["html_lang"][other],
                "switch_to": strings["switch_to"][other],
            }
            for other in langs
            if other != lang
        ]

    def nav(lang: str, current: str) -> list[dict[str, Any]]:
        items = [
            ("home", page_url(lang)),
            ("vote", page_url(lang, "vote")),
            ("rules", page_url(lang, "rules")),
            ("results", page_url(lang, "results")),
        ]
        return [
            {"label": strings[f"nav_{name}"][lang], "path": path, "current": name == current}
            for name, path in items
        ]

    def window_text(lang: str) -> str:
        return strings["window_sentence"][lang].format(
            opens=format_date(campaign.opens, lang),
            last=format_date(last_day(campaign.closes), lang),
        )

    def groups(lang: str) -> list[dict[str, Any]]:
        out = []
        for spec in campaign.lists:
            members = content.candidates_of(spec.kind)
            out.append(
                {
                    "spec": spec,
                    "count_text": strings["candidates_count"][lang].format(
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

    def vote_config(lang: str) -> dict[str, Any]:
        """What the vote page's script needs, rendered into the page: no extra request."""
        return {
            "campaign": campaign.id,
            "api": api,
            "receipt_key": receipt_key,
            "daily_cap": campaign.daily_cap,
            "opens": campaign.opens.isoformat(),
            "closes": campaign.closes.isoformat(),
            "lang": lang,
            # The Ed25519 fallback, imported lazily only where WebCrypto lacks Ed25519.
            "ed25519": asset_urls["js/ed25519.js"],
            "strings": {
                key.removeprefix("vjs_"): texts[lang]
                for key, texts in strings.items()
                if key.startswith("vjs_")
            },
            **({"identity": identity_config()} if campaign.identity else {}),
        }

    def identity_config() -> dict[str, Any]:
        """The identity mode for the page: only what it needs, and the lazy PoW worker."""
        identity = dict(campaign.identity or {})
        out: dict[str, Any] = {"mode": identity["mode"]}
        if identity["mode"] == "device+pow":
            out["worker"] = asset_urls["js/pow.js"]
        if identity["mode"] == "wechat":
            out["appid"] = identity["wechat_appid"]
            out["authorize"] = identity.get("wechat_authorize_url", WECHAT_AUTHORIZE)
        return out

    outputs: list[Output] = []

    def add_page(
        name: str,
        template: str,
        paths: Mapping[str, str],
        extra: Mapping[str, Mapping[str, Any]],
        *,
        current: str = "",
        x_default: str | None = None,
        in_sitemap: bool = True,
    ) -> None:
        alts = alternates(paths, x_default or paths[campaign.default_language])
        for lang in langs:
            ctx: dict[str, Any] = {
                "lang": lang,
                "t": t(lang),
                "campaign": campaign,
                "path": paths[lang],
                "alternates": alts,
                "others": others(lang, paths),
                "nav": nav(lang, current),
                "assets": asset_urls,
                "favicon": favicon,
                "og_locale": OG_LOCALE.get(lang, lang),
                "window_text": window_text(lang),
                "cap_text": strings["cap_sentence"][lang].format(cap=campaign.daily_cap),
                "vote_path": page_url(lang, "vote"),
                "rules_path": page_url(lang, "rules"),
                "page_name": name,
                "identity_mode": campaign.identity_mode,
                "identity_text": strings["identity_" + campaign.identity_mode.replace("+", "_")][
                    lang
                ],
            }
            ctx.update(extra[lang])
            outputs.append(
                Output(
                    path=paths[lang].lstrip("/") + "index.html",
                    template=template,
                    context=ctx,
                    url=paths[lang] if in_sitemap else None,
                    alternates=tuple((a["hreflang"], a["path"]) for a in alts),
                )
            )

    def by_lang(*parts: str) -> dict[str, str]:
        return {lang: page_url(lang, *parts) for lang in langs}

    intro, rules = content.pages["intro"], content.pages["rules"]
    add_page(
        "home",
        "home.html",
        by_lang(),
        {
            lang: {
                "page_title": campaign.title[lang],
                "description": _first_sentence(intro.body_html[lang]),
                "intro": intro,
                "groups": groups(lang),
            }
            for lang in langs
        },
        current="home",
        x_default="/",
    )
    add_page(
        "vote",
        "vote.html",
        by_lang("vote"),
        {
            lang: {
                "page_title": f"{strings['vote_title'][lang]} · {campaign.short_title[lang]}",
                "description": strings["cap_sentence"][lang].format(cap=campaign.daily_cap),
                "groups": groups(lang),
                "api": api,
                "vote_config": vote_config(lang),
            }
            for lang in langs
        },
        current="vote",
    )
    add_page(
        "rules",
        "rules.html",
        by_lang("rules"),
        {
            lang: {
                "page_title": f"{rules.title[lang]} · {campaign.short_title[lang]}",
                "description": window_text(lang),
                "rules": rules,
                # sitegen.results.rules_notes: the site's own notes under the poster's rules.
                "notes": (rules_notes or {}).get(lang, []),
            }
            for lang in langs
        },
        current="rules",
    )
    add_page(
        "results",
        "results.html",
        by_lang("results"),
        {
            lang: {
                "page_title": f"{strings['results_title'][lang]} · {campaign.short_title[lang]}",
                "description": strings["results_pending"][lang],
                "published": False,
                "notice": strings["results_pending"][lang],
                # sitegen.results.page_context: the results, or when they will come.
                **(results_page or {}).get(lang, {}),
            }
            for lang in langs
        },
        current="results",
    )
    vote_urls = {lang: campaign.base_url + page_url(lang, "vote") for lang in langs}
    add_page(
        "poster",
        "poster.html",
        by_lang("poster"),
        {
            lang: {
                "page_title": f"{strings['poster_title'][lang]} · {campaign.short_title[lang]}",
                "description": window_text(lang),
                "qr_svg": qr_svg[lang],
                "qr_target": vote_urls[lang],
            }
            for lang in langs
        },
    )
    for spec in campaign.lists:
        members = content.candidates_of(spec.kind)
        for index, cand in enumerate(members):
            prev_c = members[index - 1] if index > 0 else None
            next_c = members[index + 1] if index + 1 < len(members) else None

            def link(
                c: Candidate | None, lang: str, spec: ListSpec = spec
            ) -> dict[str, str] | None:
                return (
                    None
                    if c is None
                    else {"title": c.title[lang], "path": candidate_url(lang, spec, c)}
                )

            add_page(
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

    root_alts = alternates({lang: page_url(lang) for lang in langs}, "/")
    shared = {"campaign": campaign, "strings": strings, "assets": asset_urls, "favicon": favicon}
    outputs.append(
        Output(
            path="index.html",
            template="root.html",
            context={**shared, "alternates": root_alts},
            url="/",
            alternates=tuple((a["hreflang"], a["path"]) for a in root_alts),
        )
    )
    outputs.append(Output(path="404.html", template="404.html", context=shared))

    campaign_json: dict[str, Any] = {
        "id": campaign.id,
        "title": dict(campaign.title),
        "opens": campaign.opens.isoformat(),
        "closes": campaign.closes.isoformat(),
        "daily_cap": campaign.daily_cap,
        "api": api,
        "receipt_key": receipt_key,
        "vote_url": vote_urls,
        # Only when content/campaign.yaml sets it: device mode keeps DESIGN's exact shape.
        **({"identity": dict(campaign.identity)} if campaign.identity else {}),
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
            for c in content.candidates
        ],
    }
    outputs.append(Output(path="campaign.json", data=_json_bytes(campaign_json)))
    outputs.append(Output(path="qr.svg", data=qr_svg[campaign.default_language].encode("utf-8")))
    outputs.append(
        Output(
            path="robots.txt",
            data=(
                "User-agent: *\nAllow: /\nDisallow: /api/\n"
                f"Sitemap: {campaign.base_url}/sitemap.xml\n"
            ).encode(),
        )
    )
    for asset in assets.values():
        outputs.append(Output(path=asset.url.lstrip("/"), data=asset.data))
    outputs.append(Output(path="sitemap.xml", data=_sitemap(outputs, campaign.base_url)))
    return SitePlan(outputs=outputs, campaign_json=campaign_json)


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
