"""Publishing results: validate results.json and its public export, and shape the pages.

The builder trusts nothing in results.json: it must be for this campaign, name every
candidate of every list exactly once, and every file of the public export it names
must be beside it with the SHA-256 it records. Those files are then published under
``/audit/`` so that anyone can download them and run ``ops.py audit``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from ballotbox.core.campaign import Method
from ballotbox.core.formats import (
    AUDIT_DIR,
    NUMBER_FIELDS,
    SCORE_FIELDS,
    FormatError,
    Results,
)

from sitegen.content import Content
from sitegen.errors import BuildError
from sitegen.render import format_date, last_day


@dataclass(frozen=True, slots=True)
class Published:
    """A validated results.json and the files to publish beside it."""

    data: Mapping[str, Any]
    files: Mapping[str, bytes]  # path under dist/ -> bytes


def _fail(path: Path, message: str) -> BuildError:
    return BuildError(f"results.json: {message}", path)


def load_results(path: Path, content: Content) -> Published:
    """Read and check results.json (its format's own rules, then this campaign's) and
    the public export it names."""
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except (OSError, ValueError) as err:
        raise BuildError(f"cannot read results: {err}", path) from err
    try:
        results = Results.from_json(data)
    except FormatError as err:
        raise _fail(path, str(err)) from err
    campaign = content.campaign
    if results.campaign != campaign.id:
        raise _fail(path, f"is for campaign {results.campaign!r}, not {campaign.id!r}")
    if {item.kind for item in results.lists} != {spec.kind for spec in campaign.lists}:
        raise _fail(path, "its lists are not this campaign's lists")
    for spec in campaign.lists:
        ids = sorted(row.id for row in results.list_of(spec.kind).candidates)
        if ids != sorted(c.id for c in content.candidates_of(spec.kind)):
            raise _fail(path, f"list {spec.kind!r} does not name each candidate once")
    out: dict[str, bytes] = {f"{AUDIT_DIR}/results.json": raw}
    folder = path.parent / AUDIT_DIR  # where `ops.py tally` wrote the public export
    for name in results.files.values():
        try:
            blob = (folder / name).read_bytes()
        except OSError as err:
            raise BuildError(f"public export file missing: {err}", folder / name) from err
        if hashlib.sha256(blob).hexdigest() != results.sha256.get(name):
            raise BuildError("does not match the SHA-256 in results.json", folder / name)
        out[f"{AUDIT_DIR}/{name}"] = blob
    # Proof files are not hashed one by one: each is checked against the root by the
    # page and by `ops.py audit`, so a wrong one can only fail, never mislead.
    for proof in sorted((folder / results.proofs_dir).glob("*.json")):
        out[f"{AUDIT_DIR}/{results.proofs_dir}/{proof.name}"] = proof.read_bytes()
    return Published(data=data, files=out)


# ---------------------------------------------------------------------------
# Page context


def _num(value: float | None, lang: str) -> str:
    return "—" if value is None else f"{value:.2f}"


def _weight_pct(value: float | str | Fraction) -> str:
    pct = Fraction(str(value)) * 100
    return f"{float(pct):g}%"


def _fit(text: str, units: float) -> str:
    """Shorten a label to about ``units`` wide at font size 10 (CJK is full width)."""
    width, out = 0.0, list[str]()
    for ch in text:
        width += 10 if ord(ch) > 0x2E80 else 5.6
        if width > units:
            return "".join(out).rstrip() + "…"
        out.append(ch)
    return text


def chart_svg(title: str, rows: Sequence[Mapping[str, Any]], select: int, desc: str) -> str:
    """A horizontal bar chart of final scores, readable without scripts or styles.

    Plain SVG with presentation attributes (no inline CSS, so the page's CSP needs no
    exception), inline so it costs no request; a label over each bar names the
    candidate, and the table below carries the same numbers for screen readers.
    """
    # A narrow viewBox: scaled to a phone's width, its 10-unit text reads at about 15px.
    width, row_h, bar_h, scale = 240, 30, 11, 1.9
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {len(rows) * row_h}" role="img"'
        f' aria-label="{escape(title, {chr(34): "&quot;"})}" font-size="10">',
        f"<desc>{escape(desc)}</desc>",
    ]
    for i, row in enumerate(rows):
        y = i * row_h
        score = float(row["final_score"])
        fill = "#0b4a80" if row["rank"] <= select else "#6b7f96"
        label = escape(_fit(f"{row['rank']}. {row['label']}", width))
        parts.append(
            f'<text x="0" y="{y + 11}" fill="#1a1a1a">{label}</text>'
            f'<rect x="0" y="{y + 14}" width="{score * scale:.1f}" height="{bar_h}" fill="{fill}"/>'
            f'<text x="{score * scale + 3:.1f}" y="{y + 23}" fill="#1a1a1a">{score:.2f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def rules_notes(
    content: Content, strings: Mapping[str, Mapping[str, str]], method: Method, lang: str
) -> list[str]:
    """The rules page's own notes ("本站说明"): how this site applies the poster's rules.

    The poster leaves the weighting of public and expert scores to the organizer; it is
    stated here, marked as the site's note, before voting opens.
    """
    campaign = content.campaign

    def s(key: str) -> str:
        return strings[key][lang]

    selects = "/".join(str(k) for k in sorted({spec.select for spec in campaign.lists}))
    return [
        s("note_window").format(
            opens=format_date(campaign.opens, lang),
            last=format_date(last_day(campaign.closes), lang),
        ),
        s("note_day"),
        s("note_cap").format(cap=campaign.daily_cap),
        s("note_confirm"),
        s("note_receipt"),
        strings["identity_" + campaign.identity_mode.replace("+", "_")][lang],
        s("note_publish").format(k=selects),
        s("note_weights").format(
            public=_weight_pct(method.public_weight), expert=_weight_pct(method.expert_weight)
        ),
        s(f"results_norm_{method.normalisation}"),
    ]


def prepare(
    results: Path | None,
    content: Content,
    strings: Mapping[str, Mapping[str, str]],
) -> tuple[dict[str, dict[str, Any]], Mapping[str, bytes]]:
    """The results page's context per language, and the files to publish under /audit/."""
    from sitegen.plan import candidate_url  # plan imports nothing from here

    campaign = content.campaign
    method = campaign.method
    published = None if results is None else load_results(results, content)
    specs = {spec.kind: spec for spec in campaign.lists}
    pages = {
        lang: page_context(
            published,
            content,
            strings,
            method,
            lang,
            {c.id: candidate_url(lang, specs[c.kind], c) for c in content.candidates},
        )
        for lang in campaign.languages
    }
    return pages, {} if published is None else published.files


def page_context(
    published: Published | None,
    content: Content,
    strings: Mapping[str, Mapping[str, str]],
    method: Method,
    lang: str,
    candidate_paths: Mapping[str, str],
) -> dict[str, Any]:
    """What templates/results.html needs in one language."""
    campaign = content.campaign

    def s(key: str) -> str:
        return strings[key][lang]

    if published is None:
        notice = s("results_pending")
        if method.announce is not None:
            notice = s("results_announce").format(when=method.announce[lang])
        return {"published": False, "notice": notice, "description": notice}
    data = published.data
    titles = {c.id: c.title[lang] for c in content.candidates}
    specs = {spec.kind: spec for spec in campaign.lists}
    lists = []
    for item in data["lists"]:
        spec = specs[item["kind"]]
        rows = sorted(item["candidates"], key=lambda r: r["rank"])
        title = spec.title[lang]
        lists.append(
            {
                "kind": spec.kind,
                "title": title,
                "chart_caption": s("results_chart_caption"),
                "table_caption": s("results_table_caption").format(list=title),
                "select": item["select"],
                "chart": chart_svg(
                    s("results_chart_label").format(list=title),
                    [{**r, "label": titles[r["id"]]} for r in rows],
                    item["select"],
                    s("results_chart_join").join(
                        s("results_chart_item").format(
                            rank=r["rank"], title=titles[r["id"]], score=f"{r['final_score']:.2f}"
                        )
                        for r in rows
                    ),
                ),
                "rows": [
                    {
                        **{k: r[k] for k in ("rank", "selected", *NUMBER_FIELDS)},
                        "id": r["id"],
                        "title": titles[r["id"]],
                        "path": candidate_paths[r["id"]],
                        **{k: _num(r[k], lang) for k in SCORE_FIELDS},
                    }
                    for r in rows
                ],
            }
        )
    weights = data["method"]["weights"]
    tallied = datetime.fromisoformat(data["tallied_at"])
    ledger = data["ledger"]
    files = dict(data["files"])
    return {
        "published": True,
        "description": s("results_description").format(
            lists=" / ".join(spec.title[lang] for spec in campaign.lists)
        ),
        "lists": lists,
        "weights_text": s("results_weights").format(
            public=_weight_pct(weights["public"]), expert=_weight_pct(weights["expert"])
        ),
        "normalisation_text": s(f"results_norm_{data['method']['normalisation']}"),
        "tie_text": s("results_ties").format(
            keys=s("results_ties_join").join(
                s(f"tie_{k}") for k in data["method"]["tie_break"] if k != "order"
            )
        ),
        "tallied_text": format_date(tallied, lang),
        "counts_text": s("results_counts").format(
            counted=ledger["counted"], removed=ledger["removed"], rejected=len(ledger["rejected"])
        ),
        "root": data["merkle"]["root"],
        "leaves_text": s("results_leaves").format(n=data["merkle"]["leaves"]),
        "files": [
            {"name": "results.json", "path": f"/{AUDIT_DIR}/results.json"},
            *({"name": n, "path": f"/{AUDIT_DIR}/{n}"} for n in files.values()),
        ],
        "proof": {
            "root": data["merkle"]["root"],
            "size": data["merkle"]["leaves"],
            "prefix": data["proofs"]["prefix"],
            "base": f"/{AUDIT_DIR}/{data['proofs']['dir']}/",
            "campaign": campaign.id,
        },
    }
