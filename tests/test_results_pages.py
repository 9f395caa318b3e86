"""The results pages in both languages: goldens, accessibility, budget, the receipt checker.

The pages are built from a real tally of a reproducible signed ledger for the real
campaign, and served over a real loopback HTTP server, as a reader gets them.

Golden files hold the page's ``<main>`` and its scripts (the shared header and footer
belong to other tests); asset fingerprints are normalised. ``UPDATE_GOLDEN=1`` rewrites
them after a deliberate change: review the diff before committing.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ops
from sitegen.build import build_site
from sitegen.errors import BuildError
from tests import resultskit as rk
from tests.browser import PHONE, axe_violations, describe
from tests.sitecheck import serve_static
from tests.votekit import signer

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden" / "results"
LANGS = ("zh", "en")
TALLIED_AT = rk.TALLIED_AT


def _main_of(html: str) -> str:
    main = html[html.index("<main") : html.index("</main>") + len("</main>")]
    scripts = re.findall(r"<script[^>]*></script>", html)
    text = "\n".join([main, *scripts]) + "\n"
    return re.sub(r"\.[0-9a-f]{10}\.(css|js)", r".HASH.\1", text)


def check_golden(name: str, html: str) -> None:
    path = GOLDEN / name
    actual = _main_of(html)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, "utf-8")
    assert path.is_file(), f"no golden file {path}: run with UPDATE_GOLDEN=1"
    assert actual == path.read_text("utf-8"), f"{name} differs from its golden file"


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The real campaign tallied from a fixed ledger, then built with its results."""
    return rk.build_published(tmp_path_factory.mktemp("results"), TALLIED_AT)


@pytest.fixture(scope="module")
def server(published: dict[str, Any]) -> Iterator[str]:
    with serve_static(published["dist"]) as url:
        yield url


def page_html(published: dict[str, Any], lang: str) -> str:
    path: Path = published["dist"] / lang / "results" / "index.html"
    return path.read_text("utf-8")


@pytest.mark.parametrize("lang", LANGS)
def test_published_page_matches_golden(published: dict[str, Any], lang: str) -> None:
    check_golden(f"published.{lang}.html", page_html(published, lang))


@pytest.mark.parametrize("lang", LANGS)
def test_pending_page_matches_golden(tmp_path: Path, lang: str) -> None:
    build_site(tmp_path / "dist", receipt_key=signer().public_key_b64)
    html = (tmp_path / "dist" / lang / "results" / "index.html").read_text("utf-8")
    check_golden(f"pending.{lang}.html", html)
    assert "<script" not in _main_of(html)  # nothing to check before publication


def test_page_shows_every_number_of_results_json(published: dict[str, Any]) -> None:
    results = published["results"]
    for lang in LANGS:
        html = page_html(published, lang)
        assert results["merkle"]["root"] in html
        for lst in results["lists"]:
            for row in lst["candidates"]:
                cells = "".join(
                    f"<td>{value}</td>"
                    for value in (
                        row["raw_votes"],
                        row["removed_votes"],
                        row["valid_votes"],
                        *(f"{row[k]:.2f}" for k in ("public_score", "expert_score", "final_score")),
                    )
                )
                assert cells in html, (lang, row["id"])
        assert html.count('<svg class="chart"') == len(results["lists"])


def test_page_stays_within_budget(published: dict[str, Any]) -> None:
    for lang in LANGS:
        assert len(gzip.compress(page_html(published, lang).encode("utf-8"), 9)) <= 14 * 1024


def test_public_export_is_published_and_audits(published: dict[str, Any]) -> None:
    audit = published["dist"] / "audit"
    assert json.loads((audit / "results.json").read_text("utf-8")) == published["results"]
    assert ops.main(["audit", str(audit)]) == 0
    line = published["lines"][5]
    kept = json.dumps({k: line[k] for k in ("vote_id", "receipt", "receipt_signature")})
    assert ops.main(["prove", kept, "--export", str(audit)]) == 0


def _tampered(published: dict[str, Any], tmp: Path, change: str) -> Path:
    folder = tmp / change
    shutil.copytree(published["out"].parent, folder)
    results_path = folder / "results.json"
    results = json.loads(results_path.read_text("utf-8"))
    if change == "campaign":
        results["campaign"] = "another-vote"
    elif change == "candidate":
        results["lists"][0]["candidates"].pop()
    elif change == "arithmetic":
        results["lists"][0]["candidates"][0]["valid_votes"] += 1
    elif change == "export":
        (folder / "audit" / "ledger.jsonl").write_text("{}\n", "utf-8")
    results_path.write_text(json.dumps(results), "utf-8")
    return results_path


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("campaign", "is for campaign 'another-vote'"),
        ("candidate", "does not name each candidate once"),
        ("arithmetic", "valid_votes must be raw_votes − removed_votes"),
        ("export", "does not match the SHA-256"),
    ],
)
def test_build_refuses_bad_results(
    published: dict[str, Any], tmp_path: Path, change: str, words: str
) -> None:
    dist = tmp_path / "dist"
    with pytest.raises(BuildError) as err:
        build_site(
            dist,
            receipt_key=signer().public_key_b64,
            results=_tampered(published, tmp_path, change),
        )
    assert words in str(err.value)
    assert not dist.exists()  # nothing written


def test_announced_date_and_bad_settings(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    settings = content / "campaign.yaml"
    original = settings.read_text("utf-8")
    settings.write_text(
        original + "\nresults:\n  announce: {zh: 2022年1月20日, en: on 20 January 2022}\n", "utf-8"
    )
    build_site(tmp_path / "dist", receipt_key=signer().public_key_b64, content_dir=content)
    zh = (tmp_path / "dist" / "zh" / "results" / "index.html").read_text("utf-8")
    en = (tmp_path / "dist" / "en" / "results" / "index.html").read_text("utf-8")
    assert "最终结果将于2022年1月20日在此公布。" in zh
    assert "The final results will be published here on 20 January 2022." in en
    settings.write_text(original + "\nresults:\n  weights: {public: 0.6, expert: 0.6}\n", "utf-8")
    with pytest.raises(BuildError) as err:
        build_site(tmp_path / "dist2", receipt_key="x", content_dir=content)
    assert "results.weights: public and expert must add up to 1" in str(err.value)


# ---------------------------------------------------------------------------
# In the browser


@pytest.mark.browser
@pytest.mark.parametrize("lang", LANGS)
def test_results_pages_have_no_axe_violations(browser: Any, server: str, lang: str) -> None:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{server}/{lang}/results/")
    page.wait_for_selector("#check:not([hidden])")
    assert len(requests) <= 4, requests  # HTML, CSS, the checker (favicon is inline)
    violations = axe_violations(page)
    context.close()
    assert violations == [], describe(violations)


@pytest.mark.browser
def test_receipts_are_checked_in_the_browser(
    browser: Any, server: str, published: dict[str, Any]
) -> None:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{server}/en/results/")
    page.wait_for_selector("#check:not([hidden])")
    out = page.locator("#check-out")
    line = published["lines"][3]
    page.fill("#receipt", json.dumps({"vote_id": line["vote_id"], "receipt": line["receipt"]}))
    page.get_by_role("button", name="Check").click()
    page.wait_for_function("document.getElementById('check-out').textContent !== ''")
    assert out.text_content() == f"✓ Vote {line['vote_id']} is included in the published ledger."
    forged = line["receipt"].replace(line["day"], "2022-01-01")
    page.fill("#receipt", json.dumps({"receipt": forged}))
    page.get_by_role("button", name="Check").click()
    page.wait_for_function("document.getElementById('check-out').textContent.startsWith('✗')")
    page.fill("#receipt", "not a receipt")
    page.get_by_role("button", name="Check").click()
    page.wait_for_function("document.getElementById('check-out').textContent.startsWith('This')")
    # Receipts the vote page kept on this device are checked on arrival.
    campaign = published["results"]["campaign"]
    stored = [{"vote_id": x["vote_id"], "receipt": x["receipt"]} for x in published["lines"][:3]]
    stored[2]["receipt"] = stored[2]["receipt"].replace(line["day"][:4], "1999")
    page.evaluate(
        """([name, rows]) => new Promise((ok, no) => {
            const r = indexedDB.open(name, 1);
            r.onupgradeneeded = () => r.result.createObjectStore('receipts', {keyPath: 'vote_id'});
            r.onsuccess = () => {
                const t = r.result.transaction('receipts', 'readwrite');
                rows.forEach(x => t.objectStore('receipts').put(x));
                t.oncomplete = () => { r.result.close(); ok(); };
                t.onerror = () => no(t.error);
            };
        })""",
        [f"vote-{campaign}", stored],
    )
    page.reload()
    page.wait_for_function("document.getElementById('check-out').textContent.includes('3')")
    assert out.text_content() == "3 receipts kept on this device: 2 proved included."
    context.close()


def test_goldens_are_not_stale() -> None:
    """Every golden file belongs to a test above (a renamed test leaves none behind)."""
    expected = {f"{kind}.{lang}.html" for kind in ("published", "pending") for lang in LANGS}
    assert {p.name for p in GOLDEN.glob("*.html")} == expected
