"""Whole synthetic campaigns as export JSONL, with a label for every vote.

The point is independence: every family below is a distribution whose ranges were chosen
here, from the research notes and the issue's description of real 刷票 markets, without
reading the detector or its own benchmark. A draw is one campaign: organic traffic, every
hard-negative family (real people who must not be removed) and every attack family, each
instance drawn with fresh parameters from the seed.

    .venv/bin/python -m bench.analysis_heldout.generate --seed 7 --out /tmp/c.jsonl

writes ``/tmp/c.jsonl`` (export lines) and ``/tmp/c.labels.tsv`` (``vote_id<TAB>label``).
"""

from __future__ import annotations

import argparse
import base64
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

DAY = 86_400.0
DAYS = 12  # 2021-12-29 .. 2022-01-09, Beijing time
WINDOW = DAYS * DAY
START = np.datetime64("2021-12-29T00:00:00.000", "ms")  # Beijing wall clock
CAP = 5

ORGANIC = "organic"
# Real people acting together: none of these may be removed.
NEGATIVES = (
    "hn:share_wave",
    "hn:official_push",
    "hn:assembly",
    "hn:office_lunch",
    "hn:evening_reminder",
    "hn:ridden_wave",
)
ATTACKS = (
    "atk:flash_burst",
    "atk:periodic",
    "atk:slow_drip",
    "atk:phone_farm",
    "atk:click_workers",
    "atk:vote_exchange",
    "atk:ride_wave",
)
LABELS: tuple[str, ...] = (ORGANIC, *NEGATIVES, *ATTACKS)
CODE = {name: i for i, name in enumerate(LABELS)}

# Beijing hour-of-day weights: night trough, breakfast, lunch peak, evening peak 20-22h.
_HOURS = np.array(
    [
        0.9,
        0.45,
        0.22,
        0.14,
        0.12,
        0.2,
        0.55,
        1.4,
        2.0,
        2.3,
        2.3,
        2.7,
        3.4,
        2.9,
        2.1,
        2.0,
        2.1,
        2.4,
        2.9,
        3.6,
        4.6,
        4.9,
        3.9,
        2.1,
    ],
)

# Weight of each day of the window as a newcomer's first day, before the trend: the launch
# days and New Year's Day stand out (returning voters then pile up towards the end).
_DAY_SHAPE = np.array([2.2, 1.4, 1.1, 1.25, 1.0, 0.9, 0.85, 0.85, 0.9, 0.95, 1.1, 1.0])


def candidate_ids(root: Path) -> tuple[list[str], list[str]]:
    """The real campaign's slugs (events, highlights), so the report can title them."""
    events = sorted({p.name.split(".")[0] for p in (root / "content" / "events").glob("*.md")})
    highs = sorted({p.name.split(".")[0] for p in (root / "content" / "highlights").glob("*.md")})
    return events, highs


@dataclass
class Campaign:
    """The generated votes, in time order, with identities still as integers."""

    t: F64  # seconds since 2021-12-29T00:00 Beijing
    voter: I64
    cand: I64
    net: I64
    ua: I64
    label: I64


@dataclass
class _Builder:
    rng: np.random.Generator
    n_cand: int
    popularity: F64
    hour_w: F64
    ua_w: F64  # organic UA mix (indices 0..len-1)
    mobile_w: F64  # carrier-NAT /24 pool (net ids 0..len-1)
    scale: float = 1.0
    next_voter: int = 0
    next_net: int = 0
    next_ua: int = 0
    parts: list[tuple[F64, I64, I64, I64, I64, int]] = field(default_factory=list)
    organic_voters: I64 = field(default_factory=lambda: np.zeros(0, np.int64))

    def count(self, lo: int, hi: int) -> int:
        """How many people (or votes) an instance has; ``scale`` shrinks tiny test draws."""
        return max(2, int(int(self.rng.integers(lo, hi)) * self.scale))

    # identities -------------------------------------------------------------------------
    def voters(self, n: int) -> I64:
        out = np.arange(self.next_voter, self.next_voter + n, dtype=np.int64)
        self.next_voter += n
        return out

    def fresh_nets(self, n: int) -> I64:
        out = np.arange(self.next_net, self.next_net + n, dtype=np.int64)
        self.next_net += n
        return out

    def fresh_uas(self, n: int) -> I64:
        out = np.arange(self.next_ua, self.next_ua + n, dtype=np.int64)
        self.next_ua += n
        return out

    def organic_uas(self, n: int) -> I64:
        return self.rng.choice(len(self.ua_w), size=n, p=self.ua_w).astype(np.int64)

    def mobile_nets(self, n: int) -> I64:
        return self.rng.choice(len(self.mobile_w), size=n, p=self.mobile_w).astype(np.int64)

    def home_nets(self, n: int) -> I64:
        # Households: a fresh /24 each, sometimes shared by neighbours on one broadband block.
        pool = self.fresh_nets(max(1, int(n * 0.8)))
        return self.rng.choice(pool, size=n).astype(np.int64)

    def person_nets(self, n: int) -> I64:
        """Where a real person votes from: carrier NAT on the phone or home broadband."""
        mobile = self.rng.random(n) < self.rng.uniform(0.45, 0.8)
        return np.where(mobile, self.mobile_nets(n), self.home_nets(n))

    def diurnal_times(self, days: I64) -> F64:
        hours = self.rng.choice(24, size=len(days), p=self.hour_w)
        return (days * DAY + hours * 3600.0 + self.rng.random(len(days)) * 3600.0).astype(
            np.float64
        )

    def organic_k(self, n: int) -> I64:
        """Votes one person gives one candidate in one visit: many 1s, many who max out."""
        return self.rng.choice(np.arange(1, 6), size=n, p=[0.42, 0.14, 0.09, 0.05, 0.30]).astype(
            np.int64
        )

    # votes --------------------------------------------------------------------------------
    def sessions(
        self,
        t0: F64,
        voter: I64,
        cand: I64,
        k: I64,
        net: I64,
        ua: I64,
        label: str,
        gap_median: float,
        gap_sigma: float,
    ) -> None:
        """Expand visits of ``k`` taps each into votes ``gap`` seconds apart."""
        keep = k > 0
        t0, voter, cand, k, net, ua = (
            t0[keep],
            voter[keep],
            cand[keep],
            k[keep],
            net[keep],
            ua[keep],
        )
        total = int(k.sum())
        if total == 0:
            return
        gaps = gap_median * np.exp(gap_sigma * self.rng.standard_normal(total))
        starts = np.cumsum(k) - k
        gaps[starts] = 0.0
        csum = np.cumsum(gaps)
        offset = csum - np.repeat(csum[starts], k)
        self.parts.append(
            (
                np.repeat(t0, k) + offset,
                np.repeat(voter, k),
                np.repeat(cand, k),
                np.repeat(net, k),
                np.repeat(ua, k),
                CODE[label],
            )
        )

    def pick_target(self) -> int:
        """Popular or obscure alike: attackers push whoever paid them."""
        return int(self.rng.integers(self.n_cand))

    def popular(self, n: int) -> I64:
        return self.rng.choice(self.n_cand, size=n, p=self.popularity).astype(np.int64)


# organic --------------------------------------------------------------------------------------
def _organic(b: _Builder) -> None:
    rng = b.rng
    n = int(rng.integers(40_000, 75_000))
    voters = b.voters(n)
    growth = rng.uniform(0.0, 0.12)
    final_push = rng.uniform(1.6, 3.2)
    day_w = _DAY_SHAPE * (1 + growth * np.arange(DAYS)) * rng.lognormal(0, 0.1, DAYS)
    day_w[-1] *= final_push
    first = rng.choice(DAYS, size=n, p=day_w / day_w.sum())
    # Return rate per person: most come once or twice, a loyal minority most days.
    ret = rng.beta(rng.uniform(0.6, 1.2), rng.uniform(1.8, 3.5), size=n)
    days = np.arange(DAYS)
    active = (days[None, :] == first[:, None]) | (
        (days[None, :] > first[:, None]) & (rng.random((n, DAYS)) < ret[:, None])
    )
    vi, di = np.nonzero(active)
    visits = len(vi)
    favourite = b.popular(n)
    enthusiast = rng.random(n) < rng.uniform(0.08, 0.2)
    ua = b.organic_uas(n)
    home = b.home_nets(n)
    mobile = b.mobile_nets(n)
    mobile_share = rng.beta(2.0, 1.5, size=n)
    on_mobile = rng.random(visits) < mobile_share[vi]
    net = np.where(on_mobile, mobile[vi], home[vi])
    t_visit = b.diurnal_times(di.astype(np.int64))
    k = b.organic_k(visits)
    k[enthusiast[vi]] = 5
    b.sessions(t_visit, voters[vi], favourite[vi], k, net, ua[vi], ORGANIC, 2.5, 0.6)
    # Some visits also vote for a few other candidates, a little later in the same visit.
    extra = rng.poisson(rng.uniform(0.3, 0.8), size=visits)
    ei = np.repeat(np.arange(visits), extra)
    b.sessions(
        t_visit[ei] + rng.uniform(8, 150, len(ei)),
        voters[vi][ei],
        b.popular(len(ei)),
        b.organic_k(len(ei)),
        net[ei],
        ua[vi][ei],
        ORGANIC,
        2.5,
        0.6,
    )
    b.organic_voters = voters


def _people(b: _Builder, n: int, fresh: float) -> I64:
    """Real people joining a wave: mostly first-time voters, some already voting."""
    new = b.voters(n)
    old = b.rng.choice(b.organic_voters, size=n)
    return np.where(b.rng.random(n) < fresh, new, old)


def _wave(b: _Builder, t0: float, n: int, median_min: float, label: str, cand: int) -> F64:
    rng = b.rng
    lag = median_min * 60 * np.exp(rng.uniform(0.9, 1.3) * rng.standard_normal(n))
    t = t0 + np.abs(lag)
    voters = _people(b, n, rng.uniform(0.7, 0.92))
    net = b.person_nets(n)
    ua = b.organic_uas(n)
    b.sessions(t, voters, np.full(n, cand), b.organic_k(n), net, ua, label, 2.2, 0.6)
    # A few also vote for others while on the page.
    more = rng.random(n) < 0.2
    b.sessions(
        t[more] + rng.uniform(10, 90, int(more.sum())),
        voters[more],
        b.popular(int(more.sum())),
        b.organic_k(int(more.sum())),
        net[more],
        ua[more],
        label,
        2.2,
        0.6,
    )
    # Some come back on later days at their own times.
    back = rng.random(n) < rng.uniform(0.05, 0.3)
    day0 = int(t0 // DAY)
    if day0 + 1 < DAYS and back.any():
        nb = int(back.sum())
        days = rng.integers(day0 + 1, DAYS, size=nb).astype(np.int64)
        b.sessions(
            b.diurnal_times(days),
            voters[back],
            np.full(nb, cand),
            b.organic_k(nb),
            b.person_nets(nb),
            ua[back],
            label,
            2.2,
            0.6,
        )
    return t


# hard negatives -----------------------------------------------------------------------------
def _share_wave(b: _Builder) -> None:
    day = int(b.rng.integers(DAYS))
    t0 = b.diurnal_times(np.array([day], np.int64))[0]
    n = b.count(300, 3_000)
    _wave(b, t0, n, b.rng.uniform(8, 40), "hn:share_wave", b.pick_target())


def _official_push(b: _Builder) -> None:
    rng = b.rng
    day = int(rng.integers(DAYS))
    hour = rng.choice([12.0, 18.0, 19.0, 20.0, 21.0])
    t0 = day * DAY + hour * 3600 + rng.uniform(-1800, 1800)
    n = b.count(1_500, 6_000)
    t = t0 + 60 * rng.uniform(3, 10) * np.exp(0.8 * rng.standard_normal(n))
    voters = _people(b, n, rng.uniform(0.6, 0.9))
    net = b.mobile_nets(n)
    ua = b.organic_uas(n)
    skew = rng.dirichlet(np.full(b.n_cand, rng.uniform(0.3, 1.0)))
    picks = rng.integers(1, 4, size=n)
    idx = np.repeat(np.arange(n), picks)
    cand = rng.choice(b.n_cand, size=len(idx), p=skew).astype(np.int64)
    b.sessions(
        t[idx] + rng.uniform(0, 60, len(idx)),
        voters[idx],
        cand,
        b.organic_k(len(idx)),
        net[idx],
        ua[idx],
        "hn:official_push",
        2.0,
        0.6,
    )


def _assembly(b: _Builder) -> None:
    """A school assembly or company meeting: hundreds on one network within 20 minutes."""
    rng = b.rng
    day = int(rng.integers(DAYS))
    hour = rng.choice([8.5, 9.0, 10.0, 14.0, 15.0, 16.0])
    t0 = day * DAY + hour * 3600 + rng.uniform(0, 1800)
    n = b.count(120, 800)
    span = rng.uniform(5, 20) * 60
    t = t0 + rng.random(n) * span
    voters = _people(b, n, rng.uniform(0.75, 0.98))
    nets = b.fresh_nets(int(rng.integers(1, 3)))
    net = rng.choice(nets, size=n).astype(np.int64)
    # Everyone on the same WeChat build: one to four of the common strings.
    common = np.argsort(-b.ua_w)[:10]
    uas = rng.choice(common, size=int(rng.integers(1, 5)), replace=False)
    ua = rng.choice(uas, size=n).astype(np.int64)
    nominated = b.pick_target()
    loyal = rng.random(n) < rng.uniform(0.6, 0.95)
    cand = np.where(loyal, nominated, b.popular(n))
    k = np.where(rng.random(n) < 0.6, 5, rng.integers(1, 5, size=n)).astype(np.int64)
    b.sessions(t, voters, cand, k, net, ua, "hn:assembly", 2.5, 0.5)


def _office_lunch(b: _Builder) -> None:
    rng = b.rng
    staff = b.count(15, 120)
    voters = b.voters(staff)
    net = b.fresh_nets(1)[0]
    ua = b.organic_uas(staff)
    units = np.array([b.pick_target() for _ in range(int(rng.integers(1, 3)))])
    days = [d for d in range(DAYS) if not (3 <= d <= 5 and rng.random() < 0.5)]
    for d in days:
        come = rng.random(staff) < rng.uniform(0.3, 0.8)
        m = int(come.sum())
        t = d * DAY + 12 * 3600 + rng.random(m) * 5400
        cand = rng.choice(units, size=m).astype(np.int64)
        b.sessions(
            t,
            voters[come],
            cand,
            b.organic_k(m),
            np.full(m, net),
            ua[come],
            "hn:office_lunch",
            2.5,
            0.6,
        )


def _evening_reminder(b: _Builder) -> None:
    """A fan group reminded every evening at the same minute; members vote from home."""
    rng = b.rng
    g = b.count(150, 1_500)
    voters = _people(b, g, rng.uniform(0.5, 0.9))
    ua = b.organic_uas(g)
    net = b.person_nets(g)
    cand = b.pick_target()
    at = rng.choice([20.0, 21.0, 21.5]) * 3600
    first = int(rng.integers(0, 6))
    median = rng.uniform(4, 15) * 60
    for d in range(first, DAYS):
        come = rng.random(g) < rng.uniform(0.3, 0.7)
        m = int(come.sum())
        t = d * DAY + at + rng.uniform(-180, 180) + median * np.exp(rng.standard_normal(m))
        b.sessions(
            t,
            voters[come],
            np.full(m, cand),
            b.organic_k(m),
            net[come],
            ua[come],
            "hn:evening_reminder",
            2.3,
            0.6,
        )


# attacks ------------------------------------------------------------------------------------
def _bot_nets(b: _Builder, n: int) -> I64:
    """A bot's network policy: one server, a few, or a proxy pool (partly residential)."""
    rng = b.rng
    policy = rng.integers(3)
    size = [int(rng.integers(1, 4)), int(rng.integers(5, 60)), int(rng.integers(150, 2_000))][
        policy
    ]
    pool = b.fresh_nets(size)
    if policy == 2:
        residential = rng.random(size) < rng.uniform(0.0, 0.5)
        pool = np.where(residential, b.mobile_nets(size), pool)
    return rng.choice(pool, size=n).astype(np.int64)


def _bot_uas(b: _Builder, n: int) -> I64:
    """One rare string, a handful of rare strings, or copied from the organic mix."""
    rng = b.rng
    policy = rng.integers(3)
    if policy == 0:
        return np.full(n, b.fresh_uas(1)[0])
    if policy == 1:
        return rng.choice(b.fresh_uas(int(rng.integers(2, 7))), size=n).astype(np.int64)
    return b.organic_uas(n)


def _k_bot(b: _Builder, n: int, p5: float) -> I64:
    return np.where(b.rng.random(n) < p5, 5, b.rng.integers(3, 5, size=n)).astype(np.int64)


def _flash_burst(b: _Builder) -> None:
    rng = b.rng
    t0 = rng.uniform(0, WINDOW - 3600)
    n = b.count(150, 2_500)
    span = rng.uniform(2, 40) * 60
    t = t0 + rng.random(n) * span
    b.sessions(
        t,
        b.voters(n),
        np.full(n, b.pick_target()),
        _k_bot(b, n, 0.8),
        _bot_nets(b, n),
        _bot_uas(b, n),
        "atk:flash_burst",
        rng.uniform(0.3, 2.0),
        0.2,
    )


def _periodic(b: _Builder) -> None:
    rng = b.rng
    interval = math.exp(rng.uniform(math.log(4 * 60), math.log(180 * 60)))
    jitter = rng.uniform(0, 0.25) * interval
    batch = int(rng.integers(2, 26))
    days = rng.uniform(1, 6)
    budget = b.count(2_000, 20_000)
    n_batches = max(4, min(int(days * DAY / interval), budget // (batch * 5)))
    t0 = rng.uniform(0, WINDOW - n_batches * interval) if n_batches * interval < WINDOW else 0.0
    times = t0 + np.arange(n_batches) * interval + rng.normal(0, jitter + 1e-9, n_batches)
    if rng.random() < 0.3:  # a cautious operator pauses the script at night
        times = times[(times % DAY) >= 7 * 3600]
    n = len(times) * batch
    t = np.repeat(times, batch) + rng.uniform(0, rng.uniform(5, 120), n)
    b.sessions(
        t,
        b.voters(n),
        np.full(n, b.pick_target()),
        _k_bot(b, n, 0.85),
        _bot_nets(b, n),
        _bot_uas(b, n),
        "atk:periodic",
        rng.uniform(0.3, 3.0),
        0.3,
    )


def _slow_drip(b: _Builder) -> None:
    """Residential or 秒拨 proxies, organic-looking UAs, human pace, over days."""
    rng = b.rng
    total = b.count(2_000, 15_000)
    n = total // 4
    span_days = int(rng.integers(3, 11))
    first = int(rng.integers(0, DAYS - span_days + 1))
    days = rng.integers(first, first + span_days, size=n).astype(np.int64)
    # A careful seller follows the day's rhythm; a lazy one spreads votes round the clock.
    t = b.diurnal_times(days) if rng.random() < 0.6 else days * DAY + rng.random(n) * DAY
    pool_size = int(math.exp(rng.uniform(math.log(20), math.log(5_000))))
    pool = b.fresh_nets(pool_size)
    residential = rng.random(pool_size) < rng.uniform(0.0, 0.5)
    pool = np.where(residential, b.mobile_nets(pool_size), pool)
    net = rng.choice(pool, size=n).astype(np.int64)
    voters = b.voters(n)
    ua = b.organic_uas(n)
    k = np.where(rng.random(n) < 0.7, 5, rng.integers(1, 5, size=n)).astype(np.int64)
    target = b.pick_target()
    gap = rng.uniform(2, 6)
    b.sessions(t, voters, np.full(n, target), k, net, ua, "atk:slow_drip", gap, 0.5)
    back = (rng.random(n) < rng.uniform(0, 0.3)) & (days < DAYS - 1)
    m = int(back.sum())
    later = np.minimum(days[back] + rng.integers(1, 3, size=m), DAYS - 1)
    b.sessions(
        b.diurnal_times(later),
        voters[back],
        np.full(m, target),
        np.full(m, 5),
        rng.choice(pool, size=m).astype(np.int64),
        ua[back],
        "atk:slow_drip",
        gap,
        0.5,
    )


def _phone_farm(b: _Builder) -> None:
    """The same phones come back together at night, in the controller's order."""
    rng = b.rng
    devices = b.count(25, 250)
    voters = b.voters(devices)
    models = (
        rng.choice(np.argsort(-b.ua_w)[:20], size=int(rng.integers(1, 7)))
        if rng.random() < 0.5
        else b.fresh_uas(int(rng.integers(1, 7)))
    )
    ua = rng.choice(models, size=devices).astype(np.int64)
    net = rng.choice(b.fresh_nets(int(rng.integers(1, 9))), size=devices).astype(np.int64)
    nights = np.sort(rng.choice(DAYS - 1, size=int(rng.integers(3, 9)), replace=False))
    start_h = rng.uniform(22, 26)
    run = rng.uniform(10, 60) * 60
    order = rng.permutation(devices) / devices * run
    target = b.pick_target()
    decoys = rng.random() < 0.5
    for d in nights:
        on = rng.random(devices) < rng.uniform(0.85, 1.0)
        m = int(on.sum())
        t = d * DAY + start_h * 3600 + rng.uniform(-1800, 1800) + order[on] + rng.normal(0, 20, m)
        b.sessions(
            t,
            voters[on],
            np.full(m, target),
            np.full(m, 5),
            net[on],
            ua[on],
            "atk:phone_farm",
            rng.uniform(0.8, 3.0),
            0.3,
        )
        if decoys:
            dk = rng.integers(1, 3, size=m)
            di = np.repeat(np.arange(m), dk)
            b.sessions(
                t[di] + rng.uniform(15, 60, len(di)),
                voters[on][di],
                rng.integers(b.n_cand, size=len(di)).astype(np.int64),
                rng.integers(1, 3, size=len(di)).astype(np.int64),
                net[on][di],
                ua[on][di],
                "atk:phone_farm",
                1.5,
                0.3,
            )


def _click_workers(b: _Builder) -> None:
    """Paid humans on their own phones: arrive after each task post, mostly max out."""
    rng = b.rng
    target = b.pick_target()
    task_days = rng.choice(DAYS, size=int(rng.integers(1, 4)), replace=False)
    previous = np.zeros(0, np.int64)
    for d in task_days:
        t0 = d * DAY + rng.uniform(9, 22) * 3600
        w = b.count(40, 500)
        new = b.voters(w)
        if len(previous):
            again = rng.random(w) < 0.3
            new = np.where(again, rng.choice(previous, size=w), new)
        previous = np.concatenate([previous, new])
        lag = rng.uniform(10, 60) * 60 * np.exp(rng.standard_normal(w))
        k = np.where(rng.random(w) < 0.85, 5, rng.integers(1, 5, size=w)).astype(np.int64)
        b.sessions(
            t0 + lag,
            new,
            np.full(w, target),
            k,
            b.person_nets(w),
            b.organic_uas(w),
            "atk:click_workers",
            3.0,
            0.6,
        )


def _vote_exchange(b: _Builder) -> None:
    """互投群: real people who each vote every member's candidate every day."""
    rng = b.rng
    members = b.count(20, 100)
    voters = b.voters(members)
    cands = rng.choice(b.n_cand, size=int(rng.integers(2, 5)), replace=False)
    ua = b.organic_uas(members)
    home = b.person_nets(members)
    span = int(rng.integers(5, DAYS + 1))
    first = int(rng.integers(0, DAYS - span + 1))
    for d in range(first, first + span):
        come = rng.random(members) < rng.uniform(0.6, 0.95)
        m = int(come.sum())
        t = b.diurnal_times(np.full(m, d, np.int64))
        for j, c in enumerate(cands):
            k = np.where(rng.random(m) < 0.7, 5, rng.integers(2, 5, size=m)).astype(np.int64)
            b.sessions(
                t + j * rng.uniform(10, 40, m),
                voters[come],
                np.full(m, c),
                k,
                home[come],
                ua[come],
                "atk:vote_exchange",
                2.5,
                0.6,
            )


def _ride_wave(b: _Builder) -> None:
    """Bought votes timed to a real share wave so the surge looks organic."""
    rng = b.rng
    day = int(rng.integers(DAYS))
    t0 = b.diurnal_times(np.array([day], np.int64))[0]
    target = b.pick_target()
    real = _wave(b, t0, b.count(300, 1_500), rng.uniform(8, 30), "hn:ridden_wave", target)
    n = b.count(100, 1_000)
    t = rng.choice(real, size=n) + rng.normal(0, 60, n)
    nets = b.fresh_nets(int(rng.integers(5, 200)))
    b.sessions(
        t,
        b.voters(n),
        np.full(n, target),
        _k_bot(b, n, 0.85),
        rng.choice(nets, size=n).astype(np.int64),
        b.organic_uas(n),
        "atk:ride_wave",
        rng.uniform(0.5, 3.0),
        0.3,
    )


_NEGATIVE_FNS = (_share_wave, _official_push, _assembly, _office_lunch, _evening_reminder)
_ATTACK_FNS = (
    _flash_burst,
    _periodic,
    _slow_drip,
    _phone_farm,
    _click_workers,
    _vote_exchange,
    _ride_wave,
)


def generate(seed: int, n_cand: int = 24, scale: float = 1.0) -> Campaign:
    """One campaign; ``scale`` < 1 shrinks every family (the tests use a tiny draw)."""
    rng = np.random.default_rng(seed)
    n_ua = int(rng.integers(1_500, 4_000))
    ua_w = 1.0 / np.arange(1, n_ua + 1) ** rng.uniform(1.05, 1.35)
    n_mobile = int(rng.integers(600, 2_500))
    mobile_w = rng.lognormal(0, rng.uniform(0.8, 1.3), n_mobile)
    pop = rng.lognormal(0, rng.uniform(0.8, 1.5), n_cand)
    hour_w = _HOURS * rng.lognormal(0, 0.12, 24)
    b = _Builder(
        rng=rng,
        n_cand=n_cand,
        popularity=pop / pop.sum(),
        hour_w=hour_w / hour_w.sum(),
        ua_w=ua_w / ua_w.sum(),
        mobile_w=mobile_w / mobile_w.sum(),
        next_net=n_mobile,
        next_ua=n_ua,
        scale=scale,
    )
    if scale < 1.0:
        b.organic_voters = b.voters(max(10, int(60_000 * scale)))
        b.sessions(
            b.diurnal_times(rng.integers(DAYS, size=len(b.organic_voters)).astype(np.int64)),
            b.organic_voters,
            b.popular(len(b.organic_voters)),
            b.organic_k(len(b.organic_voters)),
            b.person_nets(len(b.organic_voters)),
            b.organic_uas(len(b.organic_voters)),
            ORGANIC,
            2.5,
            0.6,
        )
    else:
        _organic(b)
    for fn in _NEGATIVE_FNS:
        for _ in range(int(rng.integers(1, 4))):
            fn(b)
    for fn in _ATTACK_FNS:
        for _ in range(int(rng.integers(1, 3))):
            fn(b)
    return _finish(b)


def _finish(b: _Builder) -> Campaign:
    t = np.concatenate([p[0] for p in b.parts])
    voter = np.concatenate([p[1] for p in b.parts])
    cand = np.concatenate([p[2] for p in b.parts])
    net = np.concatenate([p[3] for p in b.parts])
    ua = np.concatenate([p[4] for p in b.parts])
    label = np.concatenate([np.full(len(p[0]), p[5], np.int64) for p in b.parts])
    t = np.round(t, 3)
    inside = (t >= 0) & (t < WINDOW)
    t, voter, cand, net, ua, label = (a[inside] for a in (t, voter, cand, net, ua, label))
    # The server refuses a 6th vote for one candidate on one Beijing day: keep the first 5.
    day = (t // DAY).astype(np.int64)
    order = np.lexsort((t, cand, day, voter))
    key = np.stack([voter[order], day[order], cand[order]])
    new_group = np.ones(len(order), bool)
    new_group[1:] = np.any(key[:, 1:] != key[:, :-1], axis=0)
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(order)), 0))
    rank = np.arange(len(order)) - group_start
    kept = order[rank < CAP]
    kept = kept[np.argsort(t[kept], kind="stable")]
    return Campaign(t[kept], voter[kept], cand[kept], net[kept], ua[kept], label[kept])


def _opaque(rng: np.random.Generator, n: int, nbytes: int) -> list[str]:
    raw = rng.bytes(n * nbytes)
    return [
        base64.urlsafe_b64encode(raw[i * nbytes : (i + 1) * nbytes]).rstrip(b"=").decode()
        for i in range(n)
    ]


def write(c: Campaign, cands: list[str], out: Path, seed: int) -> Path:
    """Write export lines to ``out`` and ``vote_id<TAB>label`` lines beside it; return that path."""
    rng = np.random.default_rng([seed, 1])
    n = len(c.t)
    vote_ids = _opaque(rng, n, 16)
    # Identities become opaque strings only now: voter keys are 32-byte base64url like
    # Ed25519 public keys; net and ua are 12-byte keyed-hash digests like the export's.
    _, vinv = np.unique(c.voter, return_inverse=True)
    voters = _opaque(rng, int(vinv.max()) + 1, 32)
    _, ninv = np.unique(c.net, return_inverse=True)
    nets = _opaque(rng, int(ninv.max()) + 1, 12)
    _, uinv = np.unique(c.ua, return_inverse=True)
    uas = _opaque(rng, int(uinv.max()) + 1, 12)
    stamps = np.datetime_as_string(START + (c.t * 1000).astype(np.int64), unit="ms")
    labels_path = out.with_name(out.name.removesuffix(".jsonl") + ".labels.tsv")
    with out.open("w", encoding="utf-8") as f, labels_path.open("w", encoding="utf-8") as lf:
        for i in range(n):
            s = stamps[i]
            f.write(
                f'{{"vote_id":"{vote_ids[i]}","voter":"{voters[vinv[i]]}",'
                f'"candidate":"{cands[c.cand[i]]}","day":"{s[:10]}",'
                f'"recorded_at":"{s}+08:00","net":"{nets[ninv[i]]}","ua":"{uas[uinv[i]]}"}}\n'
            )
            lf.write(f"{vote_ids[i]}\t{LABELS[c.label[i]]}\n")
    return labels_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[2]
    events, highs = candidate_ids(root)
    c = generate(args.seed, len(events) + len(highs), args.scale)
    write(c, events + highs, args.out, args.seed)
    counts = np.bincount(c.label, minlength=len(LABELS))
    print(f"{len(c.t):,} votes")
    for name, cnt in zip(LABELS, counts, strict=True):
        print(f"  {name:22} {cnt:>9,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
