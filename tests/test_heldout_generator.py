"""Invariants of the held-out benchmark's campaign generator, on a tiny draw."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from bench.analysis_heldout.generate import (
    ATTACKS,
    CAP,
    LABELS,
    NEGATIVES,
    candidate_ids,
    generate,
    write,
)

ROOT = Path(__file__).resolve().parent.parent
BEIJING = timezone(timedelta(hours=8))
OPENS = datetime(2021, 12, 29, tzinfo=BEIJING)
CLOSES = datetime(2022, 1, 10, tzinfo=BEIJING)


def _draw(tmp_path: Path, seed: int) -> tuple[list[dict[str, str]], dict[str, str]]:
    events, highs = candidate_ids(ROOT)
    out = tmp_path / f"c{seed}.jsonl"
    labels_path = write(
        generate(seed, len(events) + len(highs), scale=0.01), events + highs, out, seed
    )
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    labels = dict(line.split("\t") for line in labels_path.read_text(encoding="utf-8").splitlines())
    return lines, labels


def test_campaign_invariants(tmp_path: Path) -> None:
    events, highs = candidate_ids(ROOT)
    assert (len(events), len(highs)) == (12, 12)
    votes, labels = _draw(tmp_path, 5)
    # Every vote labelled, nothing else labelled; every family present in the draw.
    assert len({v["vote_id"] for v in votes}) == len(votes) == len(labels)
    assert {v["vote_id"] for v in votes} == set(labels)
    assert set(labels.values()) == set(LABELS)
    assert set(labels.values()) >= set(ATTACKS) | set(NEGATIVES)
    per_day: Counter[tuple[str, str, str]] = Counter()
    for v in votes:
        assert set(v) == {"vote_id", "voter", "candidate", "day", "recorded_at", "net", "ua"}
        at = datetime.fromisoformat(v["recorded_at"])
        assert v["recorded_at"].endswith("+08:00")
        assert len(v["recorded_at"]) == 29
        assert OPENS <= at < CLOSES
        assert v["day"] == at.date().isoformat()
        assert v["candidate"] in events + highs
        assert (len(v["voter"]), len(v["net"]), len(v["ua"])) == (43, 16, 16)
        per_day[v["voter"], v["candidate"], v["day"]] += 1
    assert max(per_day.values()) == CAP
    times = [datetime.fromisoformat(v["recorded_at"]) for v in votes]
    assert times == sorted(times)


def test_same_seed_same_campaign_other_seed_other(tmp_path: Path) -> None:
    a = generate(11, scale=0.01)
    b = generate(11, scale=0.01)
    c = generate(12, scale=0.01)
    for field in ("t", "voter", "cand", "net", "ua", "label"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert len(a.t) != len(c.t) or not np.array_equal(a.t, c.t)
    (tmp_path / "again").mkdir()
    first, _ = _draw(tmp_path, 3)
    again, _ = _draw(tmp_path / "again", 3)
    assert first == again
