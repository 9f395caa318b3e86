"""ops.py analyze on small crafted logs: each layer, the hard negatives, the contract."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opstools.analyze import register
from opstools.analyze.fuse import analyze, to_flags
from opstools.analyze.load import read_votes
from opstools.analyze.population import surprise

DAY0 = 1_640_707_200_000  # 2021-12-29T00:00:00+08:00
HOUR = 3_600_000
DAY = 24 * HOUR
CANDS = [f"event-{i:02d}" for i in range(1, 7)]
EVENING = np.array([1, 0.5, .3, .2, .2, .3, .8, 2, 3.5, 4, 4, 4.5, 5.5, 5, 4, 4, 4, 5, 5.5, 6.5, 8.5, 9, 7.5, 3.5])  # fmt: skip  # noqa: E501


def ts(ms: int) -> str:
    import datetime as dt

    tz = dt.timezone(dt.timedelta(hours=8))
    return dt.datetime.fromtimestamp(ms / 1000, tz).isoformat(timespec="milliseconds")


class Log:
    """A tiny vote log builder: organic background plus crafted episodes."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.rows: list[dict[str, str]] = []
        self.tags: dict[str, str] = {}
        self.n = 0

    def vote(self, voter: str, cand: str, t: int, net: str, ua: str, tag: str = "organic") -> None:
        self.n += 1
        vid = f"v{self.n:07d}"
        self.rows.append({"vote_id": vid, "voter": voter, "candidate": cand, "day": ts(t)[:10],
                          "recorded_at": ts(t), "net": net, "ua": ua})  # fmt: skip
        self.tags[vid] = tag

    def person(
        self,
        name: str,
        cand: str,
        t: int,
        k: int,
        net: str,
        ua: str,
        tag: str,
        gap: tuple[int, int] = (1_100, 4_000),
    ) -> None:
        for _ in range(k):
            self.vote(name, cand, t, net, ua, tag)
            t += int(self.rng.integers(*gap))

    def organic(self, voters: int = 1500, days: int = 6) -> None:
        r = self.rng
        p = EVENING / EVENING.sum()
        for i in range(voters):
            net = f"carrier{int(r.zipf(1.6)) % 40}"
            ua = f"phone{int(r.zipf(1.5)) % 60}"
            cands = r.choice(CANDS, size=int(r.integers(1, 4)), replace=False)
            for d in sorted(set(r.integers(0, days, size=int(r.integers(1, 4))).tolist())):
                t = DAY0 + d * DAY + int(r.choice(24, p=p)) * HOUR + int(r.integers(0, HOUR))
                for c in cands:
                    k = int(r.integers(1, 6))
                    self.person(f"o{i}", str(c), t, k, net, ua, "organic")
                    t += 60_000

    def write(self, path: Path) -> Path:
        self.rows.sort(key=lambda r: r["recorded_at"])
        path.write_text("".join(json.dumps(r) + "\n" for r in self.rows))
        return path


def run(path: Path, out: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["analyze", str(path), "--out", str(out)])
    code = args.run(args)
    flags = json.loads((out / "flags.json").read_text()) if (out / "flags.json").exists() else {}
    return code, flags


def levels(log: Log, flags: dict, tag: str) -> set[str]:  # type: ignore[type-arg]
    mine = {v for v, t in log.tags.items() if t == tag}
    return {f["level"] for f in flags["votes"] if f["vote_id"] in mine}


def removed_share(log: Log, flags: dict, tag: str) -> float:  # type: ignore[type-arg]
    mine = {v for v, t in log.tags.items() if t == tag}
    rem = {f["vote_id"] for f in flags["votes"] if f["level"] == "remove"}
    return len(mine & rem) / max(len(mine), 1)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Log, dict, Path]:  # type: ignore[type-arg]
    """One log with every hard negative and two crafted attacks, analysed once."""
    log = Log(1)
    log.organic()
    r = log.rng
    # Hard negative: a WeChat share wave, many networks, ordinary phones.
    for i in range(250):
        t = DAY0 + 2 * DAY + 19 * HOUR + int(r.exponential(20 * 60_000))
        log.person(
            f"share{i}",
            "event-02",
            t,
            int(r.integers(1, 6)),
            f"carrier{i % 40}",
            f"phone{int(r.zipf(1.5)) % 60}",
            "share",
        )
    # Hard negative: a workplace behind three office networks.
    for i in range(120):
        t = DAY0 + 3 * DAY + 9 * HOUR + int(r.gamma(2, 8 * 60_000))
        log.person(
            f"staff{i}",
            "event-03",
            t,
            int(r.integers(1, 6)),
            f"office{i % 3}",
            f"phone{int(r.zipf(1.5)) % 60}",
            "work",
        )
    # Hard negative: a daily 20:00 reminder, the same members every day.
    for d in range(6):
        for i in range(80):
            if r.random() < 0.6:
                t = DAY0 + d * DAY + 20 * HOUR + int(r.exponential(10 * 60_000))
                log.person(
                    f"fan{i}", "event-04", t, 5, f"carrier{i % 40}", f"phone{i % 60}", "remind"
                )
    # Hard negative: the final-day push.
    for i in range(300):
        t = (
            DAY0
            + 5 * DAY
            + int(r.choice(24, p=EVENING / EVENING.sum())) * HOUR
            + int(r.integers(0, HOUR))
        )
        log.person(
            f"push{i}",
            "event-05",
            t,
            int(r.integers(1, 6)),
            f"carrier{i % 40}",
            f"phone{i % 60}",
            "push",
        )
    # Hard negative: an enthusiast's five quick votes; a superfan using all five daily.
    log.person(
        "quick",
        "event-06",
        DAY0 + DAY + 12 * HOUR,
        5,
        "carrier1",
        "phone1",
        "quick",
        gap=(1_000, 1_300),
    )
    for d in range(6):
        for c in CANDS[:3]:
            log.person(
                "superfan", c, DAY0 + d * DAY + 21 * HOUR, 5, "carrier2", "phone2", "superfan"
            )
    # Attack: flash burst from fresh identities, two networks, one UA, scripted clicks.
    for i in range(150):
        t = DAY0 + 4 * DAY + 15 * HOUR + int(r.integers(0, 15 * 60_000))
        log.person(
            f"bot{i}", "event-06", t, 5, f"cloud{i % 2}", "headless", "flash", gap=(200, 300)
        )
    # Attack: a phone farm voting together every day from one network, two models.
    for d in range(6):
        t0 = DAY0 + d * DAY + int(r.integers(10, 22)) * HOUR
        for i in range(25):
            log.person(
                f"farm{i}",
                "event-01",
                t0 + int(r.integers(0, 120_000)),
                5,
                "farmnet",
                f"model{i % 2}",
                "farm",
            )
    path = log.write(tmp_path_factory.mktemp("log") / "votes.jsonl")
    out = tmp_path_factory.mktemp("out")
    code, flags = run(path, out)
    assert code == 0
    return log, flags, out


@pytest.mark.parametrize("tag", ["organic", "share", "work", "remind", "push", "quick", "superfan"])
def test_hard_negatives_are_never_removed(scenario, tag: str) -> None:  # type: ignore[no-untyped-def]
    log, flags, _ = scenario
    assert "remove" not in levels(log, flags, tag)


def test_share_wave_is_seen_as_a_burst_but_only_for_review(scenario) -> None:  # type: ignore[no-untyped-def]
    log, flags, _ = scenario
    bursts = [w for w in flags["windows"] if w["candidate"] == "event-02" and w["kind"] == "burst"]
    assert bursts
    assert bursts[0]["start"].startswith("2021-12-31T19")
    assert levels(log, flags, "share") <= {"review"}


def test_flash_burst_is_removed_with_two_kinds_of_evidence(scenario) -> None:  # type: ignore[no-untyped-def]
    log, flags, _ = scenario
    assert removed_share(log, flags, "flash") >= 0.95
    mine = {v for v, t in log.tags.items() if t == "flash"}
    for f in flags["votes"]:
        if f["vote_id"] in mine and f["level"] == "remove":
            kinds = {r.split(":")[0] for r in f["reasons"] if not r.startswith("背景")}
            assert len(kinds) >= 2, f["reasons"]
            assert any(re.search(r"\d", r) for r in f["reasons"])


def test_phone_farm_is_found_as_a_group(scenario) -> None:  # type: ignore[no-untyped-def]
    log, flags, _ = scenario
    groups = [w for w in flags["windows"] if w["kind"] == "group"]
    assert any(w["candidate"] == "event-01" and w["evidence"]["members"] >= 20 for w in groups)
    assert removed_share(log, flags, "farm") >= 0.95


def test_flags_json_schema(scenario) -> None:  # type: ignore[no-untyped-def]
    _, flags, _ = scenario
    assert set(flags) == {"votes", "voters", "windows"}
    iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00$")
    for v in flags["votes"]:
        assert set(v) == {"vote_id", "level", "reasons"}
        assert v["level"] in {"remove", "review"}
        assert v["reasons"]
        assert all(isinstance(r, str) for r in v["reasons"])
    for v in flags["voters"]:
        assert set(v) == {"voter", "level", "reasons"}
        assert v["level"] in {"remove", "review"}
        assert v["reasons"]
    for w in flags["windows"]:
        assert set(w) == {"candidate", "start", "end", "kind", "evidence"}
        assert iso.match(w["start"])
        assert iso.match(w["end"])
        assert w["start"] < w["end"]
        assert isinstance(w["evidence"], dict)
        assert w["evidence"]["summary"]


def test_report_is_self_contained_and_bilingual(scenario) -> None:  # type: ignore[no-untyped-def]
    _, _, out = scenario
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert 'lang="zh-CN"' in html
    assert 'lang="en"' in html
    assert "<script" not in html.lower()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert "方法" in html
    assert "Method" in html
    assert "<svg" in html
    assert "剔除" in html
    assert "Removed" in html


def periodic_log(seed: int) -> Log:
    log = Log(seed)
    log.organic(voters=800, days=3)
    t = DAY0 + DAY + 9 * HOUR
    k = 0
    while t < DAY0 + DAY + 21 * HOUR:
        for _ in range(8):
            k += 1
            log.person(f"batch{k}", "event-03", t + int(log.rng.integers(0, 50_000)), 5,
                       f"proxy{k % 10}", f"phone{k % 60}", "periodic", gap=(450, 550))  # fmt: skip
        t += 20 * 60_000 + int(log.rng.integers(-90_000, 90_000))
    return log


def test_periodic_batches_are_found_with_their_period(tmp_path: Path) -> None:
    log = periodic_log(3)
    table, bad = read_votes(log.write(tmp_path / "p.jsonl"))
    assert not bad
    f = analyze(table)
    per = [w for w in f.windows if w.kind == "periodic"]
    assert per
    assert 17 <= float(str(per[0].evidence["period_minutes"])) <= 23
    flags = to_flags(table, f)
    assert removed_share(log, flags, "periodic") >= 0.9
    assert "remove" not in levels(log, flags, "organic")


def test_files_without_ballot_or_signature_and_with_unknown_fields(tmp_path: Path) -> None:
    rows = [{"vote_id": f"x{i}", "voter": "v", "candidate": "c", "recorded_at": ts(DAY0 + i * 5000),
             "net": "n", "ua": "u", "extra": [1, 2], "ballot": "{}"} for i in range(3)]  # fmt: skip
    del rows[0]["ballot"]
    p = tmp_path / "a.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, flags = run(p, tmp_path / "out")
    assert code == 0
    assert set(flags) == {"votes", "voters", "windows"}


def test_malformed_lines_are_reported_with_line_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {
        "vote_id": "a",
        "voter": "v",
        "candidate": "c",
        "recorded_at": ts(DAY0),
        "net": "n",
        "ua": "u",
    }
    lines = [json.dumps(good), "{not json", "", json.dumps({**good, "recorded_at": "yesterday"}),
             json.dumps({**good, "candidate": 7}), json.dumps({k: v for k, v in good.items() if k != "net"})]  # fmt: skip  # noqa: E501
    p = tmp_path / "m.jsonl"
    p.write_text("\n".join(lines) + "\n")
    table, bad = read_votes(p)
    assert table.size == 1
    assert [m.line for m in bad] == [2, 3, 4, 5, 6]
    code, _ = run(p, tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 0
    assert "m.jsonl:2:" in err
    assert "m.jsonl:6:" in err
    assert "不是" in err


def test_missing_file_is_a_clear_bilingual_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(tmp_path / "nope.jsonl", tmp_path / "out")
    assert code == 1  # ops.py's convention: an input refused
    assert "找不到" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@given(st.floats(0.1, 500), st.integers(0, 2000))
def test_surprise_is_zero_below_the_mean_and_grows_above(lam: float, k: int) -> None:
    s = float(surprise(np.array([float(k)]), np.array([lam]))[0])
    if k <= lam:
        assert s == 0
    else:
        assert s > 0
        assert float(surprise(np.array([float(k + 1)]), np.array([lam]))[0]) > s
