"""Load and validate everything under ``content/`` before anything is rendered.

Every mistake an organiser can make in a content file (a missing translation, a
duplicate id, an unknown or mistyped key) stops the build with the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import markdown
import yaml
from ballotbox.core.campaign import ListSpec, Method, MethodError, parse_method
from ballotbox.core.clock import BEIJING
from ballotbox.core.identity import LIMITS, IdentityConfigError, IdentityPolicy

from sitegen.errors import BuildError

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
#: Longest campaign or candidate id: every vote stores both (in the ballot and the
#: receipt), and the ledger item must stay under DynamoDB's 1 KB write unit.
MAX_ID_LENGTH = 64

CAMPAIGN_KEYS = {
    "id": True,
    "base_url": True,
    "languages": True,
    "default_language": True,
    "title": True,
    "short_title": True,
    "organiser": True,
    "opens": True,
    "closes": True,
    "daily_cap": True,
    "lists": True,
    "results": False,
    "identity": False,
    "icp": False,
    "wechat": False,
}
#: ``wechat:`` (issue 16): the Official Account whose JS-SDK gives pages a share card.
WECHAT_KEYS = {"appid": True}
#: An Official Account AppID: "wx" and 16 hex digits.
WECHAT_APPID = re.compile(r"wx[0-9a-f]{16}")
#: ``identity:`` (README "Identity modes"): who counts as one voter. Absent = device.
IDENTITY_KEYS = {
    "mode": True,
    "pow_difficulty": False,
    "credential_minutes": False,
    "wechat_appid": False,
    "wechat_authorize_url": False,
    "network_burst": False,
    "network_per_minute": False,
}
LIST_KEYS = {
    "kind": True,
    "folder": True,
    "select": True,
    "title": True,
    "candidates_title": True,
    "candidate_label": False,
}
CANDIDATE_KEYS = {"title": True, "order": True}
PAGE_KEYS = {"title": True}
#: Pages every campaign must provide, in each language.
REQUIRED_PAGES = ("intro", "rules")


@dataclass(frozen=True, slots=True)
class SiteList(ListSpec):
    """A list as the campaign defines it (``kind``, ``select``), with its pages' texts."""

    folder: str
    title: Mapping[str, str]
    candidates_title: Mapping[str, str]
    #: What one candidate of this list is called ("候选大事"), above its title; empty
    #: means the interface's generic word (strings.yaml ``candidate_label``).
    candidate_label: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Candidate:
    id: str
    kind: str
    order: int
    title: Mapping[str, str]
    body_html: Mapping[str, str]
    #: Plain-text opening of the body, for meta descriptions and cards.
    summary: Mapping[str, str]
    source: Mapping[str, Path]


@dataclass(frozen=True, slots=True)
class Page:
    name: str
    title: Mapping[str, str]
    body_html: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    base_url: str
    languages: tuple[str, ...]
    default_language: str
    title: Mapping[str, str]
    short_title: Mapping[str, str]
    organiser: Mapping[str, str]
    opens: datetime
    closes: datetime
    daily_cap: int
    lists: tuple[SiteList, ...]
    #: The ``results:`` settings, validated (the core's ``parse_method``).
    method: Method
    # The validated ``identity`` block, as campaign.json carries it; None means device.
    identity: Mapping[str, Any] | None = None
    #: The ICP filing number a site served from mainland China must show, e.g. 渝ICP备…号.
    icp: str = ""
    #: The AppID for WeChat share cards (``wechat.appid``, else ``identity.wechat_appid``).
    wechat_appid: str = ""

    @property
    def identity_mode(self) -> str:
        return str(self.identity["mode"]) if self.identity else "device"


@dataclass(frozen=True, slots=True)
class Content:
    campaign: Campaign
    candidates: tuple[Candidate, ...]
    pages: Mapping[str, Page]

    def candidates_of(self, kind: str) -> list[Candidate]:
        return [c for c in self.candidates if c.kind == kind]


# ---------------------------------------------------------------------------
# YAML with line numbers


@dataclass(frozen=True, slots=True)
class _Doc:
    """A parsed YAML mapping that remembers where each key was written."""

    path: Path
    values: dict[str, Any]
    lines: dict[str, int]
    start_line: int

    def line_of(self, key: str) -> int:
        return self.lines.get(key, self.start_line)


def _parse_mapping(text: str, path: Path, first_line: int) -> _Doc:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        values = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = first_line + mark.line if mark is not None else first_line
        raise BuildError(f"invalid YAML: {getattr(err, 'problem', err)}", path, line) from err
    if node is None:
        values, lines = {}, {}
    elif not isinstance(node, yaml.MappingNode) or not isinstance(values, dict):
        raise BuildError("expected a mapping of keys to values", path, first_line)
    else:
        lines = {str(k.value): first_line + k.start_mark.line for k, _ in node.value}
    return _Doc(path, {str(k): v for k, v in values.items()}, lines, first_line)


def _check_keys(doc: _Doc, spec: Mapping[str, bool], what: str) -> None:
    for key in doc.values:
        if key not in spec:
            allowed = ", ".join(sorted(spec))
            raise BuildError(
                f"unknown {what} key {key!r} (allowed: {allowed})", doc.path, doc.line_of(key)
            )
    for key, required in spec.items():
        if required and key not in doc.values:
            raise BuildError(f"missing {what} key {key!r}", doc.path, doc.start_line)


def _localized(doc: _Doc, key: str, languages: Iterable[str]) -> dict[str, str]:
    value = doc.values[key]
    if not isinstance(value, dict):
        raise BuildError(f"{key!r} must map each language to a text", doc.path, doc.line_of(key))
    out: dict[str, str] = {}
    for lang in languages:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            raise BuildError(f"{key!r} has no {lang!r} text", doc.path, doc.line_of(key))
        out[lang] = text.strip()
    extra = set(value) - set(out)
    if extra:
        raise BuildError(
            f"{key!r} has texts for unknown languages {sorted(extra)}", doc.path, doc.line_of(key)
        )
    return out


def _text(doc: _Doc, key: str) -> str:
    value = doc.values[key]
    if not isinstance(value, str) or not value.strip():
        raise BuildError(f"{key!r} must be a non-empty text", doc.path, doc.line_of(key))
    return value.strip()


def _int(doc: _Doc, key: str, minimum: int) -> int:
    value = doc.values[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BuildError(f"{key!r} must be a whole number ≥ {minimum}", doc.path, doc.line_of(key))
    return value


def _instant(doc: _Doc, key: str) -> datetime:
    value = doc.values[key]
    raw = value if isinstance(value, str) else None
    try:
        parsed = datetime.fromisoformat(raw) if raw else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.utcoffset() != BEIJING.utcoffset(None):
        raise BuildError(
            f'{key!r} must be a quoted ISO 8601 time with +08:00, e.g. "2021-12-29T00:00:00+08:00"',
            doc.path,
            doc.line_of(key),
        )
    return parsed


# ---------------------------------------------------------------------------
# Files


def _split_front_matter(path: Path) -> tuple[_Doc, str, int]:
    """Return the front matter, the Markdown body and the body's first line number."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise BuildError("must start with a '---' front-matter block", path, 1)
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            doc = _parse_mapping("\n".join(lines[1:index]), path, first_line=2)
            return doc, "\n".join(lines[index + 1 :]), index + 2
    raise BuildError("front-matter block is not closed with '---'", path, 1)


def _render_markdown(body: str) -> str:
    # A fresh converter per document: python-markdown keeps state between calls.
    return markdown.Markdown(extensions=["smarty"], output_format="html").convert(body)


_TAG = re.compile(r"<[^>]+>")


def plain_summary(html: str, limit: int) -> str:
    """The plain-text opening of rendered Markdown, for descriptions and previews."""
    text = " ".join(_TAG.sub(" ", html).split())
    text = text.replace("&amp;", "&").replace("&quot;", '"').replace("&#39;", "'")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def load_campaign(path: Path) -> Campaign:
    if not path.is_file():
        raise BuildError("campaign settings file not found", path)
    doc = _parse_mapping(path.read_text(encoding="utf-8"), path, first_line=1)
    _check_keys(doc, CAMPAIGN_KEYS, "campaign")
    languages = doc.values["languages"]
    if (
        not isinstance(languages, list)
        or not languages
        or not all(isinstance(x, str) and re.fullmatch(r"[a-z]{2}", x) for x in languages)
        or len(set(languages)) != len(languages)
    ):
        raise BuildError("'languages' must list two-letter codes", path, doc.line_of("languages"))
    default = _text(doc, "default_language")
    if default not in languages:
        raise BuildError(
            "'default_language' must be one of 'languages'", path, doc.line_of("default_language")
        )
    campaign_id = _text(doc, "id")
    if not SLUG.match(campaign_id) or len(campaign_id) > MAX_ID_LENGTH:
        raise BuildError(
            f"'id' must be a lowercase slug like 'city-2021', at most {MAX_ID_LENGTH} characters",
            path,
            doc.line_of("id"),
        )
    base_url = _text(doc, "base_url").rstrip("/")
    if not re.fullmatch(r"https://[a-z0-9.-]+(?::\d+)?", base_url):
        raise BuildError(
            "'base_url' must be an https:// origin without a path", path, doc.line_of("base_url")
        )
    opens, closes = _instant(doc, "opens"), _instant(doc, "closes")
    if closes <= opens:
        raise BuildError("'closes' must come after 'opens'", path, doc.line_of("closes"))
    raw_lists = doc.values["lists"]
    if not isinstance(raw_lists, list) or not raw_lists:
        raise BuildError("'lists' must be a list of candidate lists", path, doc.line_of("lists"))
    lists: list[SiteList] = []
    for item in raw_lists:
        sub = _Doc(path, item if isinstance(item, dict) else {}, {}, doc.line_of("lists"))
        if not isinstance(item, dict):
            raise BuildError("each entry of 'lists' must be a mapping", path, sub.start_line)
        _check_keys(sub, LIST_KEYS, "list")
        kind, folder = _text(sub, "kind"), _text(sub, "folder")
        if not SLUG.match(kind) or not SLUG.match(folder):
            raise BuildError("list 'kind' and 'folder' must be slugs", path, sub.start_line)
        lists.append(
            SiteList(
                kind=kind,
                folder=folder,
                select=_int(sub, "select", 1),
                title=_localized(sub, "title", languages),
                candidates_title=_localized(sub, "candidates_title", languages),
                candidate_label=(
                    _localized(sub, "candidate_label", languages)
                    if "candidate_label" in sub.values
                    else {}
                ),
            )
        )
    if len({spec.kind for spec in lists}) != len(lists):
        raise BuildError("two lists share a 'kind'", path, doc.line_of("lists"))
    results = doc.values.get("results") or {}
    if not isinstance(results, dict):
        raise BuildError("'results' must be a mapping", path, doc.line_of("results"))
    try:
        method = parse_method(results, languages)
    except MethodError as err:
        raise BuildError(str(err), path, doc.line_of("results")) from err
    identity = _identity(doc) if "identity" in doc.values else None
    return Campaign(
        id=campaign_id,
        base_url=base_url,
        languages=tuple(languages),
        default_language=default,
        title=_localized(doc, "title", languages),
        short_title=_localized(doc, "short_title", languages),
        organiser=_localized(doc, "organiser", languages),
        opens=opens,
        closes=closes,
        daily_cap=_int(doc, "daily_cap", 1),
        lists=tuple(lists),
        method=method,
        identity=identity,
        icp=_text(doc, "icp") if "icp" in doc.values else "",
        wechat_appid=_wechat_appid(doc, identity),
    )


def _wechat_appid(doc: _Doc, identity: Mapping[str, Any] | None) -> str:
    """The share cards' AppID: ``wechat.appid``, else wechat mode's, else none (off)."""
    if "wechat" not in doc.values:
        return str((identity or {}).get("wechat_appid", ""))
    line = doc.line_of("wechat")
    raw = doc.values["wechat"]
    if not isinstance(raw, dict):
        raise BuildError("'wechat' must be a mapping with an 'appid'", doc.path, line)
    _check_keys(
        _Doc(doc.path, {str(k): v for k, v in raw.items()}, {}, line), WECHAT_KEYS, "wechat"
    )
    appid = raw["appid"]
    if not isinstance(appid, str) or not WECHAT_APPID.fullmatch(appid):
        raise BuildError(
            "wechat 'appid' must be the Official Account's AppID: 'wx' and 16 hex digits "
            "(WeChat admin: 设置与开发 → 基本配置)",
            doc.path,
            line,
        )
    if identity and identity.get("wechat_appid", appid) != appid:
        raise BuildError("wechat 'appid' differs from identity 'wechat_appid'", doc.path, line)
    return appid


def _identity(doc: _Doc) -> dict[str, Any]:
    """Validate ``identity:`` with the core's rules; errors point at its line.

    The modes, ranges and AppID rule are ``IdentityPolicy.from_dict``'s (the function
    reads the same block back from campaign.json); only the key check and the page-only
    ``wechat_authorize_url`` are the builder's own. Nested keys have no line of their own.
    """
    line = doc.line_of("identity")
    raw = doc.values["identity"]
    if not isinstance(raw, dict):
        raise BuildError("'identity' must be a mapping with a 'mode'", doc.path, line)
    sub = _Doc(doc.path, {str(k): v for k, v in raw.items()}, {}, line)
    _check_keys(sub, IDENTITY_KEYS, "identity")
    try:
        IdentityPolicy.from_dict(raw)
    except IdentityConfigError as err:
        raise BuildError(str(err), doc.path, line) from err
    url = raw.get("wechat_authorize_url")
    if url is not None and (
        not isinstance(url, str) or not re.fullmatch(r"https?://[^\s?#]+", url)
    ):
        raise BuildError("identity 'wechat_authorize_url' must be an http(s) URL", doc.path, line)
    # campaign.json carries the block as written (validated), in a stable key order.
    order = ("mode", *LIMITS, "wechat_appid", "wechat_authorize_url")
    return {key: raw[key] for key in order if key in raw}


def _load_translated(
    folder: Path, languages: tuple[str, ...], keys: Mapping[str, bool], what: str
) -> dict[str, dict[str, tuple[_Doc, str]]]:
    """Group ``<name>.<lang>.md`` files by name; every name needs every language."""
    found: dict[str, dict[str, tuple[_Doc, str]]] = {}
    if not folder.is_dir():
        raise BuildError(f"{what} folder not found", folder)
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix != ".md":
            continue
        match = re.fullmatch(r"(.+)\.([a-z]{2})\.md", path.name)
        if not match:
            raise BuildError(f"{what} file names must look like '<slug>.<lang>.md'", path, 1)
        name, lang = match.groups()
        if lang not in languages:
            raise BuildError(f"language {lang!r} is not in the campaign's languages", path, 1)
        if not SLUG.match(name) or len(name) > MAX_ID_LENGTH:
            raise BuildError(
                f"{name!r} is not a valid slug (a-z, 0-9, hyphens; at most {MAX_ID_LENGTH})",
                path,
                1,
            )
        doc, body, body_line = _split_front_matter(path)
        _check_keys(doc, keys, "front-matter")
        if not body.strip():
            raise BuildError(f"the {what} text is empty", path, body_line)
        found.setdefault(name, {})[lang] = (doc, body)
    for name, by_lang in found.items():
        for lang in languages:
            if lang not in by_lang:
                present = next(iter(by_lang.values()))[0].path
                missing = folder / f"{name}.{lang}.md"
                raise BuildError(
                    f"no {lang!r} translation: expected {missing.name} beside it", present, 1
                )
    return found


def load_content(content_dir: Path) -> Content:
    campaign = load_campaign(content_dir / "campaign.yaml")
    langs = campaign.languages
    candidates: list[Candidate] = []
    seen: dict[str, Path] = {}
    for spec in campaign.lists:
        files = _load_translated(content_dir / spec.folder, langs, CANDIDATE_KEYS, "candidate")
        if not files:
            raise BuildError("this list has no candidates", content_dir / spec.folder)
        batch: list[Candidate] = []
        orders: dict[int, Path] = {}
        for slug, by_lang in files.items():
            source = {lang: doc.path for lang, (doc, _) in by_lang.items()}
            first = by_lang[campaign.default_language][0]
            if slug in seen:
                raise BuildError(
                    f"duplicate candidate id {slug!r} (also {seen[slug]})", first.path, 1
                )
            seen[slug] = first.path
            order = _int(first, "order", 1)
            for lang in langs:
                doc = by_lang[lang][0]
                if _int(doc, "order", 1) != order:
                    raise BuildError(
                        f"'order' differs from {first.path.name} ({order})",
                        doc.path,
                        doc.line_of("order"),
                    )
            if order in orders:
                raise BuildError(
                    f"'order' {order} is also used by {orders[order].name}",
                    first.path,
                    first.line_of("order"),
                )
            orders[order] = first.path
            html = {lang: _render_markdown(by_lang[lang][1]) for lang in langs}
            batch.append(
                Candidate(
                    id=slug,
                    kind=spec.kind,
                    order=order,
                    title={lang: _text(by_lang[lang][0], "title") for lang in langs},
                    body_html=html,
                    summary={
                        lang: plain_summary(html[lang], 80 if lang == "zh" else 160)
                        for lang in langs
                    },
                    source=source,
                )
            )
        candidates.extend(sorted(batch, key=lambda c: c.order))
    pages_raw = _load_translated(content_dir / "pages", langs, PAGE_KEYS, "page")
    pages = {
        name: Page(
            name=name,
            title={lang: _text(by_lang[lang][0], "title") for lang in langs},
            body_html={lang: _render_markdown(by_lang[lang][1]) for lang in langs},
        )
        for name, by_lang in pages_raw.items()
    }
    for name in REQUIRED_PAGES:
        if name not in pages:
            raise BuildError(
                f"the {name!r} page is missing ({name}.<lang>.md)", content_dir / "pages"
            )
    return Content(campaign=campaign, candidates=tuple(candidates), pages=pages)
