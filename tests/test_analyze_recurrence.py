"""ops.py analyze: batches at the scale they have, batches taken by who cast them, and
traits that return on a candidate day after day (issue 11, round 4).

Small crafted logs (the builder of tests/test_analyze_layers.py), read from real files and
analysed by the real layers; the first test drives the temporal layer on a bare series.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from opstools.analyze.fuse import Findings, analyze
from opstools.analyze.population import analyse_population
from opstools.analyze.series import MIN_MS, Series, find_periodic, num
from tests.test_analyze_kinds import RARE_UA, Tags, carrier, organic_ua, table_of
from tests.test_analyze_layers import CANDS, DAY, DAY0, HOUR, Log


def explained(f: Findings, tags: Tags, tag: str) -> list[str]:
    """The English evidence of the case that holds most of the tag's removed votes."""
    cases = f.case_of[(tags == tag) & (f.level == 2)]
    top = int(np.bincount(cases[cases >= 0]).argmax())
    return [e["en"] for e in f.cases[top].evidence]


def removed(f_level: np.ndarray, tags: Tags, tag: str) -> float:
    mine = tags == tag
    return float((f_level[mine] == 2).mean()) if mine.any() else 0.0


def test_a_batch_staggered_over_minutes_is_found_at_its_own_scale() -> None:
    """Twenty votes spread over five minutes every 40 minutes: no single minute stands
    out against the candidate's rhythm, the five minutes together do."""
    r = np.random.default_rng(3)
    n_min = 2 * 1440
    minute = r.poisson(0.4, size=n_min).astype(np.float64)
    starts = np.arange(600, n_min - 10, 40)
    starts += r.integers(-1, 2, size=len(starts))
    for a in starts:
        minute[a : a + 5] += 4
    series = Series(
        day0_ms=DAY0,
        counts=minute.reshape(1, -1, 5).sum(axis=2),
        expected=np.full((1, n_min // 5), 2.0),
        minute_counts=minute[None, :],
    )
    assert find_periodic(series, scales=(1,)) == []  # minute by minute, nothing
    found = find_periodic(series)
    assert len(found) == 1
    w = found[0]
    assert w.kind == "periodic"
    assert abs(num(w.evidence, "period_minutes") - 40) <= 2
    assert num(w.evidence, "batches") >= 0.8 * len(starts)
    # Each batch's span is its own minutes (and the minute either side), not the marked
    # stretch around them.
    assert all((b - a) <= 8 * MIN_MS for a, b in w.spans)


def test_a_few_staggered_clusters_are_no_run() -> None:
    """Over several minutes a real crowd's arrivals can look like a handful of batches by
    chance (a workplace after a meeting): at those scales a run must be long (ten)."""
    n_min = 1440

    def series_with(n_batches: int) -> Series:
        minute = np.full(n_min, 0.4)
        for a in range(600, 600 + 11 * n_batches, 11):
            minute[a : a + 5] += 4
        return Series(DAY0, minute.reshape(1, -1, 5).sum(axis=2), np.full((1, n_min // 5), 2.0),
                      minute[None, :])  # fmt: skip

    assert find_periodic(series_with(6)) == []
    assert len(find_periodic(series_with(12))) == 1


def busy_candidate_with_batches(seed: int, batches: bool = True) -> Log:
    """event-01 is busy all day (voters who also vote for another candidate in the same
    sitting); every 17 minutes six fresh identities cast four votes each for it, from the
    carrier networks and phones everybody uses, at a person's pace."""
    log = Log(seed)
    log.organic(voters=600, days=3)
    r = log.rng
    for d in range(3):
        t = DAY0 + d * DAY + 9 * HOUR
        i = 0
        while t < DAY0 + d * DAY + 21 * HOUR:
            i += 1
            other = str(r.choice(CANDS[1:]))
            name = f"busy{d}-{i}"
            log.person(name, "event-01", t, int(r.integers(1, 3)), carrier(r), organic_ua(r),
                       "busy")  # fmt: skip
            log.person(name, other, t + 20_000, 1, carrier(r), organic_ua(r), "busy")
            t += int(r.exponential(40_000))
        if not batches:
            continue
        t = DAY0 + d * DAY + 9 * HOUR + 5 * 60_000
        k = 0
        while t < DAY0 + d * DAY + 21 * HOUR:
            for _ in range(6):
                k += 1
                log.person(f"b{d}-{k}", "event-01", t + int(r.integers(0, 40_000)), 4,
                           carrier(r), organic_ua(r), "batch")  # fmt: skip
            t += 17 * 60_000 + int(r.integers(-60_000, 60_000))
    return log


def test_batches_on_a_busy_candidate_are_taken_by_who_cast_them(tmp_path: Path) -> None:
    """The batches share their minutes with the candidate's own voters, so no batch is
    five times the candidate's rhythm; by who cast them they are: identities whose every
    vote lies inside a batch, where the candidate's own voters vote for others too."""
    table, tags = table_of(busy_candidate_with_batches(5), tmp_path)
    f = analyze(table)
    runs = [w for w in f.windows if w.kind == "periodic" and not w.evidence.get("cohort")]
    assert runs
    assert all(table.cand_names[w.candidate] == "event-01" for w in runs)
    assert removed(f.level, tags, "batch") >= 0.9
    assert removed(f.level, tags, "busy") == 0.0
    assert any("cast every one of their votes inside" in e for e in explained(f, tags, "batch"))
    # The candidate's one-off voters who came in a batch's minutes go with it: a few, as
    # the rule allows (at most 5 % of what it takes).
    wrong = int(((f.level == 2) & (tags == "organic")).sum())
    assert wrong <= 0.05 * int(((f.level == 2) & (tags == "batch")).sum())


def test_a_busy_candidate_without_batches_has_no_run(tmp_path: Path) -> None:
    table, _ = table_of(busy_candidate_with_batches(5, batches=False), tmp_path)
    f = analyze(table)
    assert not [w for w in f.windows if w.kind == "periodic"]
    assert not (f.level == 2).any()


def daily_crowd(
    tmp_path: Path, seed: int, days: range, ua: str | None, gap: tuple[int, int]
) -> tuple[Findings, Tags]:
    """An organic campaign plus thirty fresh identities a day for event-03, spread over
    the day (no burst), on the carrier networks everybody uses; ``ua`` None draws the
    organic phone mix. Analysed."""
    log = Log(seed)
    log.organic(voters=900, days=5)
    r = log.rng
    for d in days:
        for i in range(30):
            t = DAY0 + d * DAY + 8 * HOUR + int(r.integers(0, 14 * HOUR))
            log.person(f"d{d}-{i}", "event-03", t, int(r.integers(3, 6)), carrier(r),
                       ua or organic_ua(r), "crowd", gap=gap)  # fmt: skip
    table, tags = table_of(log, tmp_path)
    return analyze(table), tags


def test_a_rare_string_returning_day_after_day_on_one_candidate_is_removed(
    tmp_path: Path,
) -> None:
    f, tags = daily_crowd(tmp_path, 8, range(1, 5), RARE_UA, (1_500, 4_000))
    assert removed(f.level, tags, "crowd") >= 0.95
    assert any("came back on 4 Beijing days" in e for e in explained(f, tags, "crowd"))
    assert removed(f.level, tags, "organic") == 0.0


def test_a_rare_string_on_one_day_only_is_reviewed_not_removed(tmp_path: Path) -> None:
    """The same crowd on a single day could be real people once (a club on one phone
    brand's beta): it takes a second kind of evidence or a return to remove."""
    f, tags = daily_crowd(tmp_path, 8, range(2, 3), RARE_UA, (1_500, 4_000))
    assert removed(f.level, tags, "crowd") == 0.0
    assert (f.level[tags == "crowd"] == 1).mean() >= 0.95


def test_machine_paced_voters_returning_day_after_day_are_removed(tmp_path: Path) -> None:
    f, tags = daily_crowd(tmp_path, 9, range(1, 5), None, (300, 420))
    assert removed(f.level, tags, "crowd") >= 0.95
    assert any("machine-paced voters" in e and "came back on 4" in e
               for e in explained(f, tags, "crowd"))  # fmt: skip
    assert removed(f.level, tags, "organic") == 0.0


def test_machine_paced_voters_on_one_day_only_are_reviewed(tmp_path: Path) -> None:
    f, tags = daily_crowd(tmp_path, 9, range(2, 3), None, (300, 420))
    assert removed(f.level, tags, "crowd") == 0.0
    assert (f.level[tags == "crowd"] >= 1).mean() >= 0.95


def test_a_pool_that_hands_an_address_to_a_few_identities_is_still_a_pool(
    tmp_path: Path,
) -> None:
    """Six hundred identities over two hundred addresses: each address is shared by a few
    of them and by nobody else. A home network shared by a family who vote for several
    candidates, or on several days, is not one."""
    log = Log(10)
    log.organic(voters=900, days=5)
    r = log.rng
    for i in range(600):
        t = DAY0 + (1 + i % 4) * DAY + 8 * HOUR + int(r.integers(0, 14 * HOUR))
        log.person(f"p{i}", "event-04", t, int(r.integers(1, 6)), f"pool{i % 200}",
                   organic_ua(r), "pool")  # fmt: skip
    for h in range(40):  # families: two people, one home network, several candidates
        for m in range(2):
            t = DAY0 + (h % 5) * DAY + 19 * HOUR + m * 600_000
            log.person(f"h{h}-{m}", "event-04", t, 2, f"home{h}", organic_ua(r), "home")
            log.person(f"h{h}-{m}", CANDS[m + 4], t + 30_000, 2, f"home{h}", organic_ua(r),
                       "home")  # fmt: skip
    table, tags = table_of(log, tmp_path)
    pop = analyse_population(table)
    assert pop.novel_flag[tags == "pool"].mean() >= 0.95
    assert not pop.novel_flag[tags == "home"].any()
    f = analyze(table)
    assert removed(f.level, tags, "pool") >= 0.95
    assert removed(f.level, tags, "home") == 0.0
    assert removed(f.level, tags, "organic") == 0.0


def test_a_final_push_beside_a_pool_keeps_its_voters_on_home_networks(tmp_path: Path) -> None:
    """On the day a candidate's supporters push, some of them vote from a home network of
    their own, as the pool's identities seem to: on that day the pool is not most of those
    voters, so they are at most reviewed, while the pool's other days are removed (with
    the few one-off voters at home who came on those days: the price of attribution by
    network, a few per cent of what is taken)."""
    log = Log(11)
    log.organic(voters=900, days=5)
    r = log.rng
    for i in range(1600):  # people who vote once, a few of them from a home network
        t = DAY0 + int(r.integers(0, 5)) * DAY + 8 * HOUR + int(r.integers(0, 14 * HOUR))
        net = f"home{i}" if i % 16 == 0 else carrier(r)
        log.person(f"once{i}", str(r.choice(CANDS)), t, int(r.integers(1, 6)), net,
                   organic_ua(r), "organic")  # fmt: skip
    for i in range(600):
        t = DAY0 + (i % 5) * DAY + 8 * HOUR + int(r.integers(0, 14 * HOUR))
        log.person(f"p{i}", "event-04", t, int(r.integers(1, 6)), f"pool{i}",
                   organic_ua(r), "pool")  # fmt: skip
    for i in range(3000):
        t = DAY0 + 4 * DAY + 8 * HOUR + int(r.integers(0, 14 * HOUR))
        net = f"home-push{i}" if r.random() < 0.15 else carrier(r)
        log.person(f"push{i}", "event-04", t, int(r.integers(1, 6)), net, organic_ua(r), "push")
    table, tags = table_of(log, tmp_path)
    f = analyze(table)
    assert removed(f.level, tags, "push") == 0.0
    day = (table.t_ms - DAY0) // DAY
    earlier = (tags == "pool") & (day < 4)
    assert (f.level[earlier] == 2).mean() >= 0.9
    wrong = int(((f.level == 2) & (tags == "organic")).sum())
    assert wrong <= 0.05 * int(((f.level == 2) & (tags == "pool")).sum())
