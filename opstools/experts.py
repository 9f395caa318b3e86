"""The expert panel's scores: ``candidate,expert,score`` rows, every expert scoring every candidate.

Parsing is pure (text in, scores out) so that the tally and the public audit read the
file the same way, and every mistake names its line so the organiser can fix it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from fractions import Fraction

HEADER = ("candidate", "expert", "score")


class ExpertsError(ValueError):
    """experts.csv is wrong; the message names the line and the fix, in zh and en."""

    def __init__(self, line: int | None, zh: str, en: str) -> None:
        where_en = f"line {line}: " if line else ""
        where_zh = f"第 {line} 行：" if line else ""
        super().__init__(f"experts.csv {where_en}{en} / {where_zh}{zh}")
        self.line = line


#: candidate -> expert -> score (exact, 0..100)
Scores = Mapping[str, Mapping[str, Fraction]]


def _score(text: str, line: int) -> Fraction:
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ExpertsError(
            line, f"分数 {text!r} 不是数字", f"score {text!r} is not a number"
        ) from exc
    if not value.is_finite():
        raise ExpertsError(line, f"分数 {text!r} 不是数字", f"score {text!r} is not a number")
    if not 0 <= value <= 100:
        raise ExpertsError(
            line, f"分数 {text} 超出 0–100 范围", f"score {text} is outside 0 to 100"
        )
    return Fraction(value)


def parse_experts(text: str, candidates: Iterable[str]) -> dict[str, dict[str, Fraction]]:
    """Parse and check the whole file; raise ``ExpertsError`` naming the first bad line."""
    known = list(candidates)
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a BOM
    header = next(rows, None)
    if header is None or tuple(h.strip().lower() for h in header) != HEADER:
        raise ExpertsError(
            1,
            "第一行必须是 candidate,expert,score",
            "the first line must be candidate,expert,score",
        )
    scores: dict[str, dict[str, Fraction]] = {}
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        line = rows.line_num
        if not row or all(not cell.strip() for cell in row):
            continue  # blank lines are harmless
        if len(row) != 3:
            raise ExpertsError(line, "每行需要三列", "each line needs exactly three fields")
        candidate, expert, raw = (cell.strip() for cell in row)
        if candidate not in known:
            raise ExpertsError(
                line, f"没有候选项 {candidate!r}", f"unknown candidate {candidate!r}"
            )
        if not expert:
            raise ExpertsError(line, "专家名称为空", "the expert's name is empty")
        if (candidate, expert) in seen:
            first = seen[candidate, expert]
            raise ExpertsError(
                line,
                f"重复：专家 {expert!r} 对 {candidate!r} 已在第 {first} 行评分",
                f"duplicate: expert {expert!r} already scored {candidate!r} on line {first}",
            )
        seen[candidate, expert] = line
        scores.setdefault(candidate, {})[expert] = _score(raw, line)
    experts = sorted({expert for _, expert in seen})
    if not experts:
        raise ExpertsError(None, "文件中没有评分", "the file holds no scores")
    for candidate in known:
        for expert in experts:
            if expert not in scores.get(candidate, {}):
                raise ExpertsError(
                    None,
                    f"缺少评分：专家 {expert!r} 未给 {candidate!r} 评分",
                    f"missing score: expert {expert!r} did not score {candidate!r}",
                )
    return scores


def mean_scores(scores: Scores) -> dict[str, Fraction]:
    """Each candidate's panel score: the plain mean of its experts' scores."""
    return {c: sum(by.values(), Fraction(0)) / len(by) for c, by in scores.items()}
