"""The house style (docs/style.md), checked on what voters read: built pages in both
languages, the interface strings (including the vote page's script texts, which only
show after a tap) and the vote function's refusal messages.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from ballotbox.core import errors

from sitegen.render import Text
from tests import resultskit as rk
from tests.conftest import ROOT
from tests.sitecheck import html_pages

#: Chinese characters and full-width punctuation.
CJK = r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]"
#: Chinese puts no space between Chinese and digits or Latin letters ("最多投5票").
ZH_SPACING = re.compile(rf"{CJK} +[0-9A-Za-z]|[0-9A-Za-z] +{CJK}")
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
#: US dates only ("December 29, 2021"), never "29 December 2021".
EN_DAY_FIRST = re.compile(rf"\b\d{{1,2}} (?:{MONTHS}) \d{{4}}\b")
#: "CAST" alone is ambiguous: the Chongqing association or the national one.
BARE_CAST = re.compile(r"(?<!Chongqing )\bCAST\b")
ONE_PLURAL = re.compile(r"\b1 (?:votes|times|candidates|records|receipts)\b|\b1 of them were\b")


class Texts(HTMLParser):
    """The visible text (and labels) of a page, by language of the enclosing element."""

    SKIP: ClassVar[set[str]] = {"script", "style", "pre", "code"}
    VOID: ClassVar[set[str]] = {"meta", "link", "img", "br", "hr", "input", "source", "rect"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []
        self.skip = 0
        self.by_lang: dict[str, list[str]] = {}

    def _lang(self) -> str:
        return self.stack[-1][1] if self.stack else ""

    def _add(self, text: str, lang: str) -> None:
        if text.strip():
            self.by_lang.setdefault(lang.split("-")[0], []).append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        lang = a.get("lang") or self._lang()
        for name in ("alt", "aria-label", "title"):
            if name in a:
                self._add(a[name], lang)
        if tag == "meta" and a.get("name") == "description":
            self._add(a.get("content", ""), lang)
        if tag in self.VOID or tag.endswith("/"):
            return
        self.stack.append((tag, lang))
        if tag in self.SKIP:
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag not in {open_tag for open_tag, _ in self.stack}:
            return  # a void or self-closing element: nothing was opened
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag in self.SKIP:
                self.skip -= 1
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self._add(data, self._lang())


def texts_of(path: Path) -> dict[str, str]:
    parser = Texts()
    parser.feed(path.read_text(encoding="utf-8"))
    return {lang: " | ".join(parts) for lang, parts in parser.by_lang.items()}


def zh_problems(text: str) -> list[str]:
    found = [m.group(0) for m in ZH_SPACING.finditer(text)]
    found += [w for w in ("你", "投票凭证") if w in text]  # 您 and 回执, always
    return found


def en_problems(text: str) -> list[str]:
    found = ["straight apostrophe"] if "'" in text else []
    for pattern in (EN_DAY_FIRST, BARE_CAST, ONE_PLURAL):
        found += [m.group(0) for m in pattern.finditer(text)]
    return found


def test_built_pages_follow_the_house_style(site: Path) -> None:
    checked = {"zh": 0, "en": 0}
    for path in html_pages(site):
        for lang, text in texts_of(path).items():
            problems = {"zh": zh_problems, "en": en_problems}[lang](text)
            assert not problems, (path.relative_to(site).as_posix(), lang, problems)
            checked[lang] += 1
    assert checked["zh"] >= 30
    assert checked["en"] >= 30


def test_published_results_pages_follow_the_house_style(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    dist = rk.build_published(tmp_path_factory.mktemp("published"))["dist"]
    for lang, check in (("zh", zh_problems), ("en", en_problems)):
        texts = texts_of(dist / lang / "results" / "index.html")
        assert "<table" in (dist / lang / "results" / "index.html").read_text(encoding="utf-8")
        assert not check(texts[lang]), (lang, check(texts[lang]))
    en = texts_of(dist / "en" / "results" / "index.html")["en"]
    assert "277 votes passed verification; 1 of them was removed after investigation." in en
    assert "(weights set by the organizer)" in en
    assert "January 20, 2022" in en  # the tally date, US style
    zh = texts_of(dist / "zh" / "results" / "index.html")["zh"]
    assert "通过校验的选票共277张，其中经核查取消1张" in zh
    assert "（权重由主办方确定）" in zh


def test_dates_are_one_style_per_language(site: Path) -> None:
    en = texts_of(site / "en" / "index.html")["en"]
    zh = texts_of(site / "zh" / "index.html")["zh"]
    assert "December 29, 2021 to January 9, 2022 (Beijing time)" in en
    assert "2021年12月29日至2022年1月9日（北京时间）" in zh


def _strings() -> dict[str, dict[str, str]]:
    loaded: dict[str, dict[str, str]] = yaml.safe_load(
        (ROOT / "templates" / "strings.yaml").read_text(encoding="utf-8")
    )
    return loaded


@pytest.mark.parametrize("number", [1, 2])
def test_interface_strings_follow_the_house_style(number: int) -> None:
    """Every string as a voter reads it, with each number placeholder 1 and then 2."""
    for key, texts in _strings().items():
        names = set(re.findall(r"\{(\w+)[|}]", texts["en"] + texts["zh"]))
        values = {name: number for name in names}
        zh, en = Text(texts["zh"]).format(**values), Text(texts["en"]).format(**values)
        assert not zh_problems(zh), (key, zh)
        assert not en_problems(en), (key, en)


def test_plurals_read_right_for_one_and_many() -> None:
    strings = _strings()
    recorded = Text(strings["vjs_recorded"]["en"])
    assert recorded.format(title="T", id="ab", n=1).endswith("You have 1 vote left for it today.")
    assert recorded.format(title="T", id="ab", n=0).endswith("You have 0 votes left for it today.")
    counts = Text(strings["results_counts"]["en"]).format(counted=277, removed=1, rejected=0)
    assert counts.startswith("277 votes passed verification; 1 of them was removed")


def test_function_messages_use_the_pages_words() -> None:
    """Refusals the vote page shows: no words the page never uses ("nonce")."""
    classes = [c for c in vars(errors).values() if isinstance(c, type)]
    refusals = [c for c in classes if issubclass(c, errors.VoteError)]
    assert len(refusals) > 15
    for cls in refusals:
        message = cls().message()
        assert not zh_problems(message["zh"]), (cls.code, message["zh"])
        assert not en_problems(message["en"]), (cls.code, message["en"])
        for jargon in ("nonce", "proof of work", "credential", "campaign"):
            assert jargon not in message["en"].lower(), (cls.code, message["en"])
