"""Every built page is valid HTML by the W3C Nu checker (vnu), in both languages.

The pages of the site before results (results pending), of the site with the published
results (built from the results fixture) and the 404 page, all in one run: vnu is a
Java program that takes seconds to start, so it checks every file in one JVM. It comes
from npm (``vnu-jar``, pinned in package-lock.json) and runs on Debian's Java, which
``make test`` installs when it is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import resultskit as rk
from tests.conftest import ROOT
from tests.sitecheck import html_pages
from tests.test_share_build import APPID, build, mini

VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
#: A page with two known errors: proves the checker runs and reports in this set-up.
CANARY = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>canary</title>
<link rel="icon" href="data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'></svg>">
</head><body><p><div>block in a paragraph</div></p></body></html>
"""


def vnu(files: list[Path]) -> list[dict[str, object]]:
    java = shutil.which("java")
    assert java, "vnu needs Java: `make test` installs default-jre-headless"
    assert VNU.is_file(), "vnu.jar is missing: run `npm ci` (or `make setup`)"
    done = subprocess.run(
        [java, "-jar", str(VNU), "--errors-only", "--format", "json", "--stdout"]
        + [str(f) for f in files],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    messages: list[dict[str, object]] = json.loads(done.stdout)["messages"]
    return messages


def test_every_built_page_is_valid_html(
    site: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("vnu")
    published = rk.build_published(tmp)["dist"]
    canary = tmp / "canary.html"
    canary.write_text(CANARY, encoding="utf-8")
    # With WeChat share cards on, every page carries the share script (issue 16).
    share_dir = tmp_path_factory.mktemp("share")
    share_on = build(share_dir, mini(share_dir, f"wechat:\n  appid: {APPID}\n"))
    assert 'id="wx-share"' in (share_on / "zh" / "vote" / "index.html").read_text("utf-8")
    pages = html_pages(site) + html_pages(published) + html_pages(share_on)
    names = {p.relative_to(root).as_posix() for root in (site, published) for p in html_pages(root)}
    # Both languages of every page family, both states of the results page, and the 404.
    for lang in ("zh", "en"):
        for page in ("", "vote/", "rules/", "results/", "poster/", "events/party-centenary/"):
            assert f"{lang}/{page}index.html" in names
    assert "404.html" in names
    pending = (site / "zh" / "results" / "index.html").read_text(encoding="utf-8")
    final = (published / "zh" / "results" / "index.html").read_text(encoding="utf-8")
    assert "<table" not in pending
    assert "<table" in final

    messages = vnu([*pages, canary])
    errors = [m for m in messages if m.get("type") == "error"]
    on_pages = [m for m in errors if not str(m.get("url", "")).endswith("/canary.html")]
    assert on_pages == [], "\n".join(
        f"{m.get('url')}:{m.get('lastLine')}: {m.get('message')}" for m in on_pages
    )
    canary_errors = [str(m.get("message")) for m in errors if m not in on_pages]
    assert len(canary_errors) >= 2, canary_errors
    assert any("Space is not allowed" in m or "Illegal character" in m for m in canary_errors)
