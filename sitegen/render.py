"""Jinja2 rendering with strict undefined: a missing variable or string fails the build."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
import yaml

from sitegen.errors import BuildError

EN_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


#: ``{n|vote|votes}``: the first form when ``n`` is 1, the second otherwise.
PLURAL = re.compile(r"\{(\w+)\|([^|{}]*)\|([^|{}]*)\}")


class Text(str):
    """An interface text whose ``format`` also chooses plural forms (``{n|vote|votes}``).

    A ``str`` subclass so that templates, JSON and every existing ``.format(...)``
    call keep working; the vote page's script reads the same syntax (site_src/js).
    """

    __slots__ = ()

    def format(self, *args: object, **kwargs: object) -> str:
        def choose(match: re.Match[str]) -> str:
            name, one, other = match.groups()
            if name not in kwargs:
                raise KeyError(name)
            return one if kwargs[name] == 1 else other

        return str.format(PLURAL.sub(choose, self), *args, **kwargs)


def load_strings(path: Path, languages: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Interface texts by key, each required in every language of the campaign."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise BuildError(f"cannot read interface strings: {err}", path) from err
    if not isinstance(raw, dict):
        raise BuildError("must map keys to per-language texts", path)
    node = yaml.compose(path.read_text(encoding="utf-8"))
    keys = node.value if isinstance(node, yaml.MappingNode) else []
    lines = {str(k.value): k.start_mark.line + 1 for k, _ in keys}
    strings: dict[str, dict[str, str]] = {}
    for key, value in raw.items():
        if not isinstance(value, dict):
            raise BuildError(f"{key!r} must map languages to texts", path, lines.get(key))
        for lang in languages:
            if not isinstance(value.get(lang), str) or not value[lang]:
                raise BuildError(f"{key!r} has no {lang!r} translation", path, lines.get(key))
        strings[str(key)] = {lang: Text(value[lang]) for lang in languages}
    return strings


def format_date(moment: datetime, lang: str) -> str:
    """The date as the content writes it: 2021年12月29日, or US style December 29, 2021."""
    if lang == "zh":
        return f"{moment.year}年{moment.month}月{moment.day}日"
    return f"{EN_MONTHS[moment.month - 1]} {moment.day}, {moment.year}"


def last_day(closes: datetime) -> datetime:
    """The last day inside a window whose end is exclusive."""
    return closes - timedelta(milliseconds=1)


class Renderer:
    def __init__(self, templates: Path, globals_: Mapping[str, Any]) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(["html", "xml"]),
            trim_blocks=False,
            keep_trailing_newline=True,
        )
        self.env.globals.update(globals_)

    def render(self, template: str, context: Mapping[str, Any]) -> str:
        try:
            return self.env.get_template(template).render(context)
        except jinja2.UndefinedError as err:
            raise BuildError(
                f"undefined template variable: {err.message}", f"templates/{template}"
            ) from err
        except jinja2.TemplateSyntaxError as err:
            raise BuildError(
                f"template syntax error: {err.message}", err.filename, err.lineno
            ) from err
