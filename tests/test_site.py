"""The built site: structure, links, language alternates, budgets, golden output."""

from __future__ import annotations

import json
import os
import re
import shutil
from html import unescape
from pathlib import Path
from urllib.parse import urlparse

import pytest

from sitegen.assets import VENDOR
from sitegen.build import build_site
from sitegen.content import load_content
from tests.conftest import ROOT, TEST_RECEIPT_KEY
from tests.sitecheck import EXTERNAL_URL, gz, html_pages, parse

MINI = ROOT / "tests" / "fixtures" / "mini" / "content"
GOLDEN = ROOT / "tests" / "golden" / "mini"
BASE = "https://vote.cqast.cn"
#: Namespace identifiers are not requests.
NAMESPACES = {"http://www.w3.org", "http://www.sitemaps.org"}
#: A link (not a request) that sites served from mainland China must carry with the
#: ICP number, when the campaign sets one.
ALLOWED_LINKS = {"https://beian.miit.gov.cn"}


def test_every_candidate_has_a_page_in_both_languages(site: Path) -> None:
    campaign = json.loads((site / "campaign.json").read_text(encoding="utf-8"))
    kinds = [c["kind"] for c in campaign["candidates"]]
    assert kinds.count("event") == 12
    assert kinds.count("highlight") == 12
    for cand in campaign["candidates"]:
        for lang in ("zh", "en"):
            page = site / urlparse(cand["url"][lang]).path.lstrip("/") / "index.html"
            html = unescape(page.read_text(encoding="utf-8"))
            assert f"<h1>{cand['title'][lang]}</h1>" in html


def test_campaign_json_follows_the_contract(site: Path) -> None:
    data = json.loads((site / "campaign.json").read_text(encoding="utf-8"))
    # The contract's fields, plus the documented additions for the ops tools
    # (docs/file-formats.md): the lists with what they select, and the results method.
    assert set(data) == {
        "id", "title", "opens", "closes", "daily_cap", "api", "receipt_key", "vote_url",
        "candidates", "lists", "results",
    }  # fmt: skip
    assert data["lists"] == [{"kind": "event", "select": 10}, {"kind": "highlight", "select": 10}]
    assert data["results"]["tie_break"][-1] == "order"
    assert data["opens"] == "2021-12-29T00:00:00+08:00"
    assert data["closes"] == "2022-01-10T00:00:00+08:00"
    assert data["daily_cap"] == 5
    assert data["receipt_key"] == TEST_RECEIPT_KEY
    assert set(data["title"]) == set(data["vote_url"]) == {"zh", "en"}
    ids = [c["id"] for c in data["candidates"]]
    assert len(ids) == len(set(ids)) == 24
    for cand in data["candidates"]:
        assert set(cand) == {"id", "kind", "title", "url"}
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", cand["id"])
        assert cand["kind"] in {"event", "highlight"}


def test_every_campaign_json_url_resolves_to_a_file(site: Path) -> None:
    data = json.loads((site / "campaign.json").read_text(encoding="utf-8"))
    urls = [*data["vote_url"].values()]
    urls += [u for c in data["candidates"] for u in c["url"].values()]
    for url in urls:
        assert url.startswith(BASE + "/")
        target = site / urlparse(url).path.lstrip("/")
        assert (target / "index.html").is_file(), url


def test_hreflang_alternates_are_reciprocal(site: Path) -> None:
    pages = {}
    for path in html_pages(site):
        if path.name == "404.html":
            continue
        rel = "/" + path.relative_to(site).as_posix().removesuffix("index.html")
        pages[BASE + rel] = parse(path)
    for url, page in pages.items():
        assert page.canonical == url
        assert "x-default" in page.alternates, url
        if url != BASE + "/":  # the language chooser has no language of its own
            assert page.alternates[page.lang] == url, url
        for hreflang, target in page.alternates.items():
            assert target in pages, f"{url} points to missing {target}"
            if hreflang != "x-default" and url != BASE + "/":
                back = pages[target].alternates
                assert url in back.values(), f"{target} does not point back to {url}"


def test_each_page_offers_the_same_page_in_the_other_language(site: Path) -> None:
    for lang, other in (("zh", "en"), ("en", "zh")):
        for path in (site / lang).rglob("index.html"):
            page = parse(path)
            twin = "/" + path.relative_to(site).as_posix().removesuffix("index.html")
            twin = twin.replace(f"/{lang}/", f"/{other}/", 1)
            assert twin in page.hrefs, f"{path} lacks a switch to {twin}"
            assert page.lang == {"zh": "zh-CN", "en": "en"}[lang]


def test_no_third_party_requests_and_no_inline_script(site: Path) -> None:
    vendored = {Path(name).name.split(".")[0] for name in VENDOR}
    for path in sorted(site.rglob("*")):
        if path.suffix not in {".html", ".css", ".js", ".svg"}:
            continue
        text = path.read_text(encoding="utf-8")
        if path.parent.name == "assets" and path.name.split(".")[0] in vendored:
            # npm code cites papers in comments; what matters is that it makes no request.
            assert not re.search(r"\b(fetch|XMLHttpRequest|WebSocket|importScripts)\b", text)
            continue
        for match in EXTERNAL_URL.finditer(text):
            url = match.group(0)
            if url.startswith(BASE) or any(url.startswith(ns) for ns in NAMESPACES | ALLOWED_LINKS):
                continue
            pytest.fail(f"{path.relative_to(site)} refers to another host: {url}")
        if path.suffix == ".html":
            page = parse(path)
            assert page.inline_scripts == 0, path
            assert page.inline_handlers == [], path
            for src in page.srcs:
                assert src.startswith("/"), (path, src)


def test_every_local_link_resolves(site: Path) -> None:
    for path in html_pages(site):
        for href in parse(path).hrefs:
            if href.startswith(("data:", "#", BASE)) or "://" in href:
                continue
            target = site / href.split("#")[0].lstrip("/")
            ok = target.is_file() or (target / "index.html").is_file()
            assert ok, f"{path.relative_to(site)} links to missing {href}"


def test_page_budgets_on_the_built_files(site: Path) -> None:
    """The page budget (bench/README.md): HTML ≤ 14 KB compressed, first load ≤ 30 KB."""
    for path in html_pages(site):
        page = parse(path)
        html = path.read_bytes()
        assert gz(html) <= 14 * 1024, path
        subresources = [
            h for h in page.hrefs if h.startswith("/assets/") and h.endswith(".css")
        ] + [s for s in page.srcs if s.startswith("/")]
        total = gz(html) + sum(gz((site / s.lstrip("/")).read_bytes()) for s in subresources)
        assert total <= 30 * 1024, path
        # HTML + its subresources, leaving room for the vote page's one API call.
        assert 1 + len(subresources) <= 3, (path, subresources)


def test_qr_code_points_at_the_vote_page(site: Path) -> None:
    svg = (site / "qr.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg")
    assert "<title>" in svg
    poster = (site / "zh" / "poster" / "index.html").read_text(encoding="utf-8")
    assert "https://vote.cqast.cn/zh/vote/" in poster
    assert "<svg" in poster


def test_favicon_robots_and_sitemap(site: Path) -> None:
    assert (site / "favicon.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"
    assert "Sitemap: https://vote.cqast.cn/sitemap.xml" in (site / "robots.txt").read_text()
    sitemap = (site / "sitemap.xml").read_text(encoding="utf-8")
    assert sitemap.count("<url>") == len(list(site.rglob("index.html")))


def test_the_poster_text_is_complete() -> None:
    """Each candidate carries its full text in both languages, nothing left empty."""
    content = load_content(ROOT / "content")
    for cand in content.candidates:
        zh, en = cand.body_html["zh"], cand.body_html["en"]
        assert len(zh) > 150, cand.id
        assert len(en) > len(zh), cand.id
        # Every figure in the Chinese text is carried into the English one
        # (counts of 万, ten thousands, become millions or thousands in English).
        zh_numbers = set(re.findall(r"\d+(?![\d万])", re.sub(r"<[^>]+>", "", zh)))
        en_text = re.sub(r"<[^>]+>", "", en).replace(",", "")
        missing = {n for n in zh_numbers if n not in en_text and len(n) > 1}
        assert not missing, (cand.id, missing)


def test_icp_number_shows_in_every_footer_when_set(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(MINI, content)
    with (content / "campaign.yaml").open("a", encoding="utf-8") as settings:
        settings.write("icp: 渝ICP备00000000号-1\n")
    build_site(tmp_path / "dist", receipt_key=TEST_RECEIPT_KEY, content_dir=content)
    for lang in ("zh", "en"):
        html = (tmp_path / "dist" / lang / "index.html").read_text(encoding="utf-8")
        assert '<a href="https://beian.miit.gov.cn/" rel="noopener">渝ICP备00000000号-1</a>' in html


def test_golden_output(tmp_path: Path) -> None:
    """The mini campaign renders exactly as reviewed (UPDATE_GOLDEN=1 refreshes it)."""
    out = tmp_path / "dist"
    build_site(out, receipt_key=TEST_RECEIPT_KEY, content_dir=MINI)
    # Assets are named by the hash of their content, and the pages name them: the
    # golden copy keeps their names (in the pages), not a second copy of their bytes.
    built = {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.suffix != ".ico" and p.parent.name != "assets"
    }
    vendored = sorted(Path(name).name.split(".")[0] for name in VENDOR)
    assert vendored == ["ed25519"]
    assert [len(list((out / "assets").glob(f"{stem}.*.js"))) for stem in vendored] == [1]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel, data in built.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_bytes(data)
    expected = {
        p.relative_to(GOLDEN).as_posix(): p.read_bytes() for p in sorted(GOLDEN.rglob("*"))
        if p.is_file()
    }  # fmt: skip
    assert sorted(built) == sorted(expected), "files differ; UPDATE_GOLDEN=1 after review"
    for rel, data in built.items():
        assert data == expected[rel], f"{rel} differs from the golden copy"
