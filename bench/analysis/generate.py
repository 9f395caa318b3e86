"""Synthetic vote traffic with labelled ballot-stuffing episodes, for ``ops.py analyze``.

Every campaign is one draw from a *space* of behaviour, not a fixed scenario: the seed
draws the organic world (how many carrier-NAT networks and how skewed, how many people on
home Wi-Fi, the phone mix) and then every attack family and every hard negative with its
own parameters (intervals from minutes to hours and their jitter, batch sizes, click pace
from a script to a person, network pools from one address to thousands, including the
carrier NAT addresses real voters use, user-agent policy, days, target, start time).

Organic traffic: Beijing daily curve with an evening peak, heavy-tailed candidate
popularity, returning voters, superfans using all five votes every day, a final-day push.
Hard negatives (honest surges): WeChat-group share waves, a workplace on a few office
networks, a school or company assembly on one network, an official account's push
(thousands within minutes), a daily fan-group reminder, enthusiasts' quick votes.

Attack families (one episode each per campaign; ``bench/analysis/seeds.py`` says which
seeds tune and which evaluate, and which families are held out of all tuning):

- ``flash_burst``: many identities within minutes; sometimes riding a real share wave.
- ``periodic``: a batch every N minutes (5 min to 3 h, with jitter) for one to six days.
- ``slow_drip``: one identity every few minutes through a proxy pool, flat or diurnal.
- ``phone_farm``: the same devices every day together, sometimes voting decoys too.
- ``vote_exchange`` (互投群): real people in a group voting for each other's candidates
  after a daily message, from their own phones and networks.
- ``click_workers`` (兼职刷手): a pool of paid people voting by hand on their own phones
  whenever a task is posted, several times in the campaign.
- ``decoy_rotation``: waves of fresh identities through a proxy pool, one decoy vote each.

Everything is vectorised with numpy and written with polars. Usage::

    python bench/analysis/generate.py --seed 1001 --voters 60000 --out /tmp/votes.jsonl
"""

from __future__ import annotations

import argparse
import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

DAYS = 12
DAY_MS = 86_400_000
# 2021-12-29T00:00:00+08:00 in epoch milliseconds.
OPEN_MS = 1_640_707_200_000
CANDIDATES = [f"event-{i:02d}" for i in range(1, 13)] + [f"highlight-{i:02d}" for i in range(1, 13)]
FAMILIES = (
    "flash_burst",
    "periodic",
    "slow_drip",
    "phone_farm",
    "vote_exchange",
    "click_workers",
    "decoy_rotation",
)
NEGATIVES = (
    "share_wave",
    "workplace",
    "meeting",
    "official_push",
    "reminder",
    "final_push",
    "enthusiast",
    "superfan",
)

# Votes per hour of a Beijing day: asleep at night, a lunch bump, the evening peak.
HOURLY = np.array(
    [1.2, 0.6, 0.3, 0.2, 0.2, 0.3, 0.8, 2.0, 3.5, 4.0, 4.2, 4.5,
     5.5, 5.0, 4.2, 4.0, 4.2, 4.8, 5.5, 6.5, 8.5, 9.0, 7.5, 3.5]
)  # fmt: skip
HOURLY = HOURLY / HOURLY.sum()


@dataclass
class Parts:
    """Vote rows under construction, one array per column."""

    t_ms: list[np.ndarray]
    voter: list[np.ndarray]
    cand: list[np.ndarray]
    net: list[np.ndarray]
    ua: list[np.ndarray]
    label: list[np.ndarray]
    episode: list[np.ndarray]

    def add(self, t, voter, cand, net, ua, label: str, episode: str) -> None:  # type: ignore[no-untyped-def]
        n = len(t)
        self.t_ms.append(np.asarray(t, dtype=np.int64))
        self.voter.append(np.asarray(voter, dtype=np.int64))
        self.cand.append(np.broadcast_to(np.asarray(cand, dtype=np.int64), (n,)).copy())
        self.net.append(np.broadcast_to(np.asarray(net, dtype=np.int64), (n,)).copy())
        self.ua.append(np.broadcast_to(np.asarray(ua, dtype=np.int64), (n,)).copy())
        self.label.append(np.full(n, label, dtype=object))
        self.episode.append(np.full(n, episode, dtype=object))


class Ids:
    """Hands out fresh integer identities for voters, networks and user agents."""

    def __init__(self) -> None:
        self.next_voter = 0
        self.next_net = 0
        self.next_ua = 0

    def voters(self, n: int) -> np.ndarray:
        out = np.arange(self.next_voter, self.next_voter + n)
        self.next_voter += n
        return out

    def nets(self, n: int) -> np.ndarray:
        out = np.arange(self.next_net, self.next_net + n)
        self.next_net += n
        return out

    def uas(self, n: int) -> np.ndarray:
        out = np.arange(self.next_ua, self.next_ua + n)
        self.next_ua += n
        return out


def zipf_weights(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return np.asarray(w / w.sum(), dtype=np.float64)


def diurnal_times(rng: np.random.Generator, days: np.ndarray, hourly: np.ndarray) -> np.ndarray:
    """Epoch ms for visits on the given day indexes, drawn from the daily curve."""
    hours = rng.choice(24, size=len(days), p=hourly)
    return (
        OPEN_MS
        + days.astype(np.int64) * DAY_MS
        + hours.astype(np.int64) * 3_600_000
        + rng.integers(0, 3_600_000, size=len(days))
    )


def human_gaps(rng: np.random.Generator, n: int) -> np.ndarray:
    """Milliseconds between two confirmed votes by a person: tap, confirm, round trip."""
    return (1_000 + rng.lognormal(np.log(1_800), 0.6, size=n)).astype(np.int64)


def sessions(
    rng: np.random.Generator,
    start: np.ndarray,
    counts: np.ndarray,
    gaps_fn: Callable[[np.random.Generator, int], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Expand sessions (start time, number of votes) into vote times and session indexes."""
    idx = np.repeat(np.arange(len(start)), counts)
    gaps = gaps_fn(rng, len(idx))
    first = np.zeros(len(idx), dtype=bool)
    offsets = np.cumsum(counts) - counts
    first[offsets[counts > 0]] = True
    gaps[first] = 0
    cum = np.cumsum(gaps)
    base = np.repeat(cum[offsets[counts > 0]], counts[counts > 0])
    return np.repeat(start, counts) + (cum - base), idx


@dataclass
class World:
    rng: np.random.Generator
    ids: Ids
    parts: Parts
    pop: np.ndarray  # candidate popularity
    carrier: np.ndarray  # carrier-NAT network ids
    carrier_w: np.ndarray
    ua_ids: np.ndarray
    ua_w: np.ndarray
    n_home: int
    home_base: int
    home_share: float

    def organic_nets(self, n: int) -> np.ndarray:
        """Mostly carrier NAT shared by many, sometimes a home network of a few people."""
        home = self.rng.random(n) < self.home_share
        nets = self.rng.choice(self.carrier, size=n, p=self.carrier_w)
        nets[home] = self.home_base + self.rng.integers(0, self.n_home, size=int(home.sum()))
        return nets

    def organic_uas(self, n: int) -> np.ndarray:
        return self.rng.choice(self.ua_ids, size=n, p=self.ua_w)


def organic(w: World, n_voters: int) -> None:
    """Ordinary voters: first visit, returns, favourite candidates, 1-5 votes each."""
    rng = w.rng
    voters = w.ids.voters(n_voters)
    net = w.organic_nets(n_voters)
    ua = w.organic_uas(n_voters)
    superfan = rng.random(n_voters) < 0.015
    # First visit leans to the opening days; the last day gets the final push.
    first_p = np.linspace(1.6, 0.7, DAYS)
    first_p[-1] = 1.6
    first = rng.choice(DAYS, size=n_voters, p=first_p / first_p.sum())
    extra = np.minimum(rng.geometric(0.55, size=n_voters) - 1, DAYS - 1)
    extra[superfan] = DAYS
    # Visits: the first day, then `extra` returns on later days (duplicates merged).
    v_idx = np.repeat(np.arange(n_voters), extra + 1)
    offs = rng.integers(0, DAYS, size=len(v_idx))
    is_first = np.zeros(len(v_idx), dtype=bool)
    is_first[np.cumsum(extra + 1) - (extra + 1)] = True
    day = np.where(is_first, first[v_idx], np.maximum(first[v_idx], offs))
    sf_days = superfan[v_idx]
    day[sf_days] = offs[sf_days]
    # Final push: a quarter of all voters come back on the last day.
    back = rng.random(n_voters) < 0.25
    v_idx = np.concatenate([v_idx, np.flatnonzero(back)])
    day = np.concatenate([day, np.full(int(back.sum()), DAYS - 1)])
    key = np.unique(v_idx.astype(np.int64) * DAYS + day)
    v_idx, day = key // DAYS, key % DAYS
    # Favourite candidates (fixed per voter), 1 + Poisson.
    m = np.minimum(1 + rng.poisson(1.3, size=n_voters), 8)
    m[superfan] = rng.integers(3, 5, size=int(superfan.sum()))
    fav = rng.choice(len(CANDIDATES), size=(n_voters, 8), p=w.pop)
    start = diurnal_times(rng, day, HOURLY)
    # Per visit, per favourite: 1..5 votes (superfans always 5).
    mv = m[v_idx]
    pv = np.repeat(np.arange(len(v_idx)), mv)
    slot = np.arange(len(pv)) - np.repeat(np.cumsum(mv) - mv, mv)
    cand = fav[v_idx[pv], slot]
    nvotes = rng.choice(5, size=len(pv), p=[0.4, 0.15, 0.1, 0.07, 0.28]) + 1
    nvotes[superfan[v_idx[pv]]] = 5
    # Two favourites can coincide: keep one row per (visit, candidate) to respect the cap.
    k = pv.astype(np.int64) * len(CANDIDATES) + cand
    _, keep = np.unique(k, return_index=True)
    keep.sort()
    pv, cand, nvotes = pv[keep], cand[keep], nvotes[keep]
    # A visit is one sitting: its votes follow each other, candidate after candidate.
    rows = np.repeat(np.arange(len(pv)), nvotes)
    per_visit = np.bincount(pv[rows], minlength=len(v_idx))
    t, _ = sessions(rng, start, per_visit, human_gaps)
    vis = v_idx[pv[rows]]
    lab = np.where(superfan[vis], "organic:superfan", "organic").astype(object)
    w.parts.add(t, voters[vis], cand[rows], net[vis], ua[vis], "organic", "")
    w.parts.label[-1] = lab


def crowd(
    w: World,
    n: int,
    cand: int,
    start: np.ndarray,
    nets: np.ndarray,
    uas: np.ndarray,
    label: str,
    episode: str,
    gaps_fn: Callable[[np.random.Generator, int], np.ndarray] = human_gaps,
    counts: np.ndarray | None = None,
    voters: np.ndarray | None = None,
) -> np.ndarray:
    """n people (or bots) each casting a session of votes for one candidate."""
    rng = w.rng
    if voters is None:
        voters = w.ids.voters(n)
    if counts is None:
        counts = rng.choice(5, size=n, p=[0.35, 0.15, 0.1, 0.1, 0.3]) + 1
    t, sidx = sessions(rng, start, counts, gaps_fn)
    w.parts.add(t, voters[sidx], cand, nets[sidx], uas[sidx], label, episode)
    return voters


def loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def scripted(mean_ms: int, jitter_ms: int):  # type: ignore[no-untyped-def]
    def gaps(r: np.random.Generator, k: int) -> np.ndarray:
        return (mean_ms + r.integers(-jitter_ms, jitter_ms + 1, size=k)).astype(np.int64)

    return gaps


def humanlike(median_ms: float, sigma: float):  # type: ignore[no-untyped-def]
    def gaps(r: np.random.Generator, k: int) -> np.ndarray:
        return (900 + r.lognormal(np.log(median_ms), sigma, size=k)).astype(np.int64)

    return gaps


def draw_pace(w: World, p: dict[str, object], human_share: float = 0.5):  # type: ignore[no-untyped-def]
    """Clicks from a script (fast, even) to a person-like rhythm, as the attacker chooses."""
    rng = w.rng
    if rng.random() < human_share:
        med = loguniform(rng, 500, 3_000)
        p["pace"] = f"human-like ~{med + 900:.0f} ms"
        return humanlike(med, float(rng.uniform(0.3, 0.8)))
    mean = int(loguniform(rng, 120, 1_500))
    p["pace"] = f"scripted {mean} ms"
    return scripted(mean, int(mean * rng.uniform(0.02, 0.4)))


def draw_uas(w: World, n: int, p: dict[str, object]) -> np.ndarray:
    """User-agent policy: one rare string, a handful, or copied from the organic mix."""
    rng = w.rng
    policy = str(rng.choice(["rare", "handful", "organic", "organic"]))
    p["ua"] = policy
    if policy == "rare":
        return np.full(n, w.ids.uas(1)[0])
    if policy == "handful":
        k = int(rng.integers(2, 7))
        # A handful of real, common models (a farm buys popular phones) or new strings.
        pool = w.ua_ids[:k] if rng.random() < 0.5 else w.ids.uas(k)
        return rng.choice(pool, size=n)
    return w.organic_uas(n)


def draw_nets(w: World, n: int, p: dict[str, object], lo: int = 1, hi: int = 5_000) -> np.ndarray:
    """Network pool: 1 to thousands of addresses, data-centre, residential or carrier NAT."""
    rng = w.rng
    size = max(1, int(loguniform(rng, lo, hi)))
    kind = str(rng.choice(["datacentre", "residential", "carrier"]))
    p["nets"] = f"{kind} x{size}"
    if kind == "carrier":  # mobile proxies: the same carrier NAT addresses real voters use
        return w.rng.choice(w.carrier, size=n, p=w.carrier_w)
    return rng.choice(w.ids.nets(size), size=n)


def start_in_day(w: World, day: int, lo_h: float = 8, hi_h: float = 23) -> int:
    return OPEN_MS + day * DAY_MS + int(w.rng.uniform(lo_h, hi_h) * 3_600_000)


def negatives(w: World, scale: float, pick: Callable[[], int]) -> None:
    """Honest surges that look alarming. Each is a distribution, drawn per campaign."""
    rng = w.rng
    # WeChat-group share waves: new voters from everywhere, decaying over minutes to hours.
    for i in range(int(rng.integers(1, 4))):
        n = int(loguniform(rng, 300, 3_000) * scale)
        t0 = start_in_day(w, int(rng.integers(0, DAYS)), 9, 23)
        start = t0 + rng.exponential(loguniform(rng, 10, 90) * 60_000, size=n).astype(np.int64)
        crowd(w, n, pick(), start, w.organic_nets(n), w.organic_uas(n),
              "organic:share_wave", f"share_wave-{i}")  # fmt: skip
    # A workplace: staff asked at a morning meeting, a few office networks.
    n = int(loguniform(rng, 100, 600) * scale)
    t0 = start_in_day(w, int(rng.integers(0, DAYS)), 8.5, 16)
    start = t0 + rng.gamma(2.0, loguniform(rng, 5, 30) * 60_000, size=n).astype(np.int64)
    office = w.ids.nets(int(rng.integers(1, 5)))
    crowd(w, n, pick(), start, rng.choice(office, size=n), w.organic_uas(n),
          "organic:workplace", "workplace")  # fmt: skip
    # A school or company assembly: everyone on one network within a few minutes.
    n = int(loguniform(rng, 80, 800) * scale)
    t0 = start_in_day(w, int(rng.integers(0, DAYS)), 8, 17)
    start = t0 + rng.uniform(0, loguniform(rng, 3, 20) * 60_000, size=n).astype(np.int64)
    hall = w.ids.nets(1)[0]
    crowd(w, n, pick(), start, np.full(n, hall), w.organic_uas(n), "organic:meeting", "meeting")
    # An official account's push: thousands within minutes, then it fades.
    n = int(loguniform(rng, 2_000, 8_000) * scale)
    t0 = start_in_day(w, int(rng.integers(0, DAYS)), 7, 22)
    start = t0 + rng.exponential(loguniform(rng, 3, 12) * 60_000, size=n).astype(np.int64)
    crowd(w, n, pick(), start, w.organic_nets(n), w.organic_uas(n),
          "organic:official_push", "official_push")  # fmt: skip
    # A daily reminder in a fan group: members come back every day around one time.
    n = int(loguniform(rng, 150, 800) * scale)
    members = w.ids.voters(n)
    m_net, m_ua = w.organic_nets(n), w.organic_uas(n)
    hour = float(rng.uniform(12, 22))
    cand = pick()
    presence = float(rng.uniform(0.3, 0.7))
    for day in range(DAYS):
        present = rng.random(n) < presence
        k = int(present.sum())
        start = start_in_day(w, day, hour, hour) + rng.exponential(
            loguniform(rng, 5, 30) * 60_000, size=k
        ).astype(np.int64)
        crowd(w, k, cand, start, m_net[present], m_ua[present],
              "organic:reminder", "reminder", voters=members[present])  # fmt: skip
    # Final-day push for one candidate: many extra voters over the last day's curve.
    n = int(loguniform(rng, 1_000, 4_000) * scale)
    start = diurnal_times(rng, np.full(n, DAYS - 1), HOURLY)
    crowd(w, n, pick(), start, w.organic_nets(n), w.organic_uas(n),
          "organic:final_push", "final_push")  # fmt: skip
    # Enthusiasts: five quick votes as fast as a thumb goes (still a person: >= 1 s).
    n = int(60 * scale)
    start = diurnal_times(rng, rng.integers(0, DAYS, size=n), HOURLY)
    crowd(w, n, pick(), start, w.organic_nets(n), w.organic_uas(n), "organic:enthusiast",
          "enthusiast", gaps_fn=scripted(1_200, 200), counts=np.full(n, 5))  # fmt: skip


def flash_burst(w: World, scale: float, target: int, p: dict[str, object]) -> None:
    rng = w.rng
    n = int(loguniform(rng, 150, 1_500) * scale)
    minutes = loguniform(rng, 5, 60)
    day = int(rng.integers(0, DAYS))
    t0 = start_in_day(w, day, 0, 23.5)
    p.update(identities=n, minutes=round(minutes), day=day)
    start = t0 + rng.integers(0, int(minutes * 60_000), size=n)
    counts = rng.integers(int(rng.integers(1, 6)), 6, size=n)
    crowd(w, n, target, start, draw_nets(w, n, p), draw_uas(w, n, p), "flash_burst",
          "flash_burst", gaps_fn=draw_pace(w, p), counts=counts)  # fmt: skip


def periodic(w: World, scale: float, target: int, p: dict[str, object]) -> None:
    rng = w.rng
    interval = loguniform(rng, 5, 180) * 60_000
    jitter = rng.uniform(0, 0.2) * interval
    size = max(2, int(loguniform(rng, 3, 40) * min(scale, 1.5)))
    days = int(rng.integers(1, 7))
    d0 = int(rng.integers(0, DAYS - days + 1))
    hours = (
        (0.0, 24.0)
        if rng.random() < 0.4
        else (float(rng.uniform(7, 10)), float(rng.uniform(20, 24)))
    )
    p.update(interval_min=round(interval / 60_000, 1), jitter=round(jitter / interval, 2),
             batch=size, days=days, hours=hours)  # fmt: skip
    nets_p: dict[str, object] = {}
    pool_nets = draw_nets(w, 100_000, nets_p)
    p["nets"] = nets_p["nets"]
    uas = draw_uas(w, 100_000, p)
    gaps = draw_pace(w, p)
    spread = rng.uniform(10_000, min(interval / 3, 300_000))
    t = OPEN_MS + d0 * DAY_MS + int(rng.integers(0, int(interval)))
    k_all = 0
    while t < OPEN_MS + (d0 + days) * DAY_MS:
        hour = ((t - OPEN_MS) % DAY_MS) / 3_600_000
        if hours[0] <= hour < hours[1]:
            start = t + rng.integers(0, int(spread), size=size)
            sel = rng.integers(0, 100_000, size=size)
            crowd(w, size, target, start, pool_nets[sel], uas[sel], "periodic", "periodic",
                  gaps_fn=gaps, counts=np.full(size, int(rng.integers(3, 6))))  # fmt: skip
            k_all += 1
        t += int(interval + rng.uniform(-jitter, jitter))
    p["batches"] = k_all


def slow_drip(w: World, scale: float, target: int, p: dict[str, object]) -> None:
    rng = w.rng
    every = loguniform(rng, 2, 20) * 60_000 / max(scale, 0.05)
    days = int(rng.integers(3, 11))
    d0 = int(rng.integers(0, DAYS - days + 1))
    span = days * DAY_MS
    n = max(int(span / every), 100)
    # Around the clock, or shaped like the organic daily curve by a careful seller.
    if rng.random() < 0.5:
        start = OPEN_MS + d0 * DAY_MS + np.sort(rng.integers(0, span, size=n))
        p["rhythm"] = "flat"
    else:
        start = np.sort(diurnal_times(rng, d0 + rng.integers(0, days, size=n), HOURLY))
        p["rhythm"] = "diurnal"
    p.update(every_min=round(every / 60_000, 1), days=days, identities=n)
    nets = draw_nets(w, n, p, 200, 20_000)
    crowd(w, n, target, start, nets, draw_uas(w, n, p), "slow_drip", "slow_drip",
          gaps_fn=draw_pace(w, p, 0.7), counts=rng.integers(1, 6, size=n))  # fmt: skip


def phone_farm(w: World, scale: float, target: int, p: dict[str, object]) -> None:
    rng = w.rng
    n = int(loguniform(rng, 30, 300))
    devices = w.ids.voters(n)
    d_net = draw_nets(w, n, p, 1, 12)
    d_ua = draw_uas(w, n, p)
    gaps = draw_pace(w, p, 0.6)
    days = int(rng.integers(4, DAYS + 1))
    d0 = int(rng.integers(0, DAYS - days + 1))
    spread = loguniform(rng, 1, 20) * 60_000
    fixed = rng.random() < 0.5
    hour = float(rng.uniform(0, 23.5))
    decoys = rng.choice(len(CANDIDATES), size=int(rng.integers(0, 4)), replace=False)
    p.update(devices=n, days=days, spread_min=round(spread / 60_000, 1), fixed_time=fixed,
             decoys=len(decoys))  # fmt: skip
    for day in range(d0, d0 + days):
        t0 = start_in_day(w, day, hour, hour) if fixed else start_in_day(w, day, 0, 23.5)
        present = rng.random(n) < rng.uniform(0.85, 1.0)
        k = int(present.sum())
        start = t0 + rng.integers(0, int(spread), size=k)
        crowd(w, k, target, start, d_net[present], d_ua[present], "phone_farm", "phone_farm",
              gaps_fn=gaps, counts=np.full(k, 5), voters=devices[present])  # fmt: skip
        for c in decoys:  # camouflage: one or two votes for others, same sitting
            if c == target:
                continue
            crowd(w, k, int(c), start + 20_000, d_net[present], d_ua[present], "phone_farm",
                  "phone_farm", gaps_fn=gaps, counts=rng.integers(1, 3, size=k),
                  voters=devices[present])  # fmt: skip


def vote_exchange(w: World, scale: float, targets: list[int], p: dict[str, object]) -> None:
    """互投群: real people in a group, each voting for every member's candidate daily."""
    rng = w.rng
    n = int(loguniform(rng, 60, 400))
    members = w.ids.voters(n)
    m_net, m_ua = w.organic_nets(n), w.organic_uas(n)
    days = int(rng.integers(5, DAYS + 1))
    d0 = int(rng.integers(0, DAYS - days + 1))
    presence = float(rng.uniform(0.5, 0.95))
    p.update(members=n, candidates=len(targets), days=days, presence=round(presence, 2))
    for day in range(d0, d0 + days):
        # The group's daily "打卡" message; members answer within the hour or two after.
        t0 = start_in_day(w, day, 18, 23)
        present = rng.random(n) < presence
        k = int(present.sum())
        start = t0 + rng.gamma(1.5, loguniform(rng, 5, 40) * 60_000, size=k).astype(np.int64)
        for j, c in enumerate(targets):
            crowd(w, k, c, start + j * 25_000, m_net[present], m_ua[present], "vote_exchange",
                  "vote_exchange", counts=np.full(k, 5), voters=members[present])  # fmt: skip


def click_workers(w: World, scale: float, target: int, p: dict[str, object]) -> None:
    """Paid click-workers (兼职群): people voting by hand from their own phones per task."""
    rng = w.rng
    pool = int(loguniform(rng, 150, 1_500) * scale)
    workers = w.ids.voters(pool)
    w_net, w_ua = w.organic_nets(pool), w.organic_uas(pool)
    tasks = int(rng.integers(2, 9))
    size = float(rng.uniform(0.2, 0.7))
    p.update(pool=pool, tasks=tasks)
    # One task a day at most: a worker's five votes a day for the target is the cap.
    for day in rng.choice(DAYS, size=tasks, replace=False):
        t0 = start_in_day(w, int(day), 7, 23.5)
        take = rng.random(pool) < size
        k = int(take.sum())
        start = t0 + rng.gamma(1.5, loguniform(rng, 5, 40) * 60_000, size=k).astype(np.int64)
        crowd(w, k, target, start, w_net[take], w_ua[take], "click_workers", "click_workers",
              counts=np.full(k, 5), voters=workers[take])  # fmt: skip


def decoy_rotation(w: World, scale: float, target: int, p: dict[str, object]) -> None:
    """Waves of fresh identities via a proxy pool, each casting one decoy vote too."""
    rng = w.rng
    nets_p: dict[str, object] = {}
    pool = draw_nets(w, 100_000, nets_p, 20, 1_000)
    p["nets"] = nets_p["nets"]
    gaps = draw_pace(w, p, 0.5)
    d0 = int(rng.integers(0, DAYS - 3))
    waves = 0
    for day in range(d0, DAYS):
        if rng.random() < 0.5:
            continue
        for _ in range(int(rng.integers(1, 4))):
            k = int(loguniform(rng, 15, 80) * scale) + 1
            t0 = start_in_day(w, day, 8, 23.5)
            start = t0 + rng.integers(0, int(loguniform(rng, 5, 40) * 60_000), size=k)
            nets, uas = pool[rng.integers(0, 100_000, size=k)], w.organic_uas(k)
            vs = crowd(w, k, target, start, nets, uas, "decoy_rotation", "decoy_rotation",
                       gaps_fn=gaps, counts=np.full(k, 5))  # fmt: skip
            decoy = (target + 1 + rng.integers(0, len(CANDIDATES) - 1, size=k)) % len(CANDIDATES)
            for c in np.unique(decoy):
                sel = decoy == c
                crowd(w, int(sel.sum()), int(c), start[sel] + 15_000, nets[sel], uas[sel],
                      "decoy_rotation", "decoy_rotation", gaps_fn=gaps,
                      counts=np.ones(int(sel.sum()), dtype=np.int64), voters=vs[sel])  # fmt: skip
            waves += 1
    p["waves"] = waves


def attacks(
    w: World, scale: float, order: list[int], riding: int | None
) -> dict[str, dict[str, object]]:
    """One episode of every family, each with parameters drawn afresh; returns them."""
    rng = w.rng
    params: dict[str, dict[str, object]] = {f: {} for f in FAMILIES}
    # Targets: a mix of popular and obscure candidates, each family its own.
    it = iter(order)
    flash_target = riding if riding is not None else next(it)
    params["flash_burst"]["riding_share_wave"] = riding is not None
    flash_burst(w, scale, flash_target, params["flash_burst"])
    periodic(w, scale, next(it), params["periodic"])
    slow_drip(w, scale, next(it), params["slow_drip"])
    phone_farm(w, scale, next(it), params["phone_farm"])
    ring = [next(it) for _ in range(int(rng.integers(2, 5)))]
    vote_exchange(w, scale, ring, params["vote_exchange"])
    click_workers(w, scale, next(it), params["click_workers"])
    decoy_rotation(w, scale, next(it), params["decoy_rotation"])
    return params


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def names(prefix: bytes, ids: np.ndarray, nbytes: int, seed: int) -> list[str]:
    """Stable opaque strings for integer ids (voter keys, keyed hashes)."""
    salt = prefix + seed.to_bytes(4, "big")
    return [b64(hashlib.blake2b(salt + int(i).to_bytes(8, "big"), digest_size=nbytes).digest())
            for i in ids]  # fmt: skip


def generate(seed: int, n_voters: int) -> pl.DataFrame:
    """All votes, sorted by time, with columns of the export line plus ``label``/``episode``."""
    return generate_with_params(seed, n_voters)[0]


def generate_with_params(
    seed: int, n_voters: int
) -> tuple[pl.DataFrame, dict[str, dict[str, object]]]:
    """The campaign and the parameters each attack family was drawn with."""
    rng = np.random.default_rng(seed)
    scale = n_voters / 60_000
    ids = Ids()
    # The organic world itself varies: carrier NAT shapes, home Wi-Fi, the phone mix.
    n_carrier = int(loguniform(rng, 80, 800))
    carrier = ids.nets(n_carrier)
    n_home = max(2_000, int(n_voters * rng.uniform(0.2, 0.6)))
    home_base = int(ids.nets(n_home)[0])
    n_ua = int(rng.integers(200, 700))
    ua_ids = ids.uas(n_ua)
    pop = zipf_weights(len(CANDIDATES), float(rng.uniform(0.5, 1.1)))
    perm = rng.permutation(len(CANDIDATES))
    pop = pop[np.argsort(perm)]
    w = World(rng, ids, Parts([], [], [], [], [], [], []), pop, carrier,
              zipf_weights(n_carrier, float(rng.uniform(0.8, 1.3))), ua_ids,
              zipf_weights(n_ua, float(rng.uniform(0.9, 1.3))), n_home, home_base,
              float(rng.uniform(0.08, 0.3)))  # fmt: skip
    organic(w, n_voters)

    def pick() -> int:
        return int(rng.integers(0, len(CANDIDATES)))

    negatives(w, scale, pick)
    # A third of the campaigns have the flash burst ride on a real share wave.
    riding = None
    if rng.random() < 0.33:
        n = int(loguniform(rng, 500, 2_000) * scale)
        riding = pick()
        day = int(rng.integers(0, DAYS))
        t0 = start_in_day(w, day, 10, 22)
        start = t0 + rng.exponential(40 * 60_000, size=n).astype(np.int64)
        crowd(w, n, riding, start, w.organic_nets(n), w.organic_uas(n),
              "organic:share_wave", "share_wave-ridden")  # fmt: skip
    params = attacks(w, scale, [int(c) for c in rng.permutation(len(CANDIDATES))], riding)
    p = w.parts
    t = np.concatenate(p.t_ms)
    order = np.argsort(t, kind="stable")
    voter = np.concatenate(p.voter)[order]
    net = np.concatenate(p.net)[order]
    ua = np.concatenate(p.ua)[order]
    uv, vinv = np.unique(voter, return_inverse=True)
    un, ninv = np.unique(net, return_inverse=True)
    uu, uinv = np.unique(ua, return_inverse=True)
    n = len(t)
    vid = rng.bytes(16 * n)
    df = pl.DataFrame(
        {
            "vote_id": [b64(vid[16 * i : 16 * i + 16]) for i in range(n)],
            "voter": pl.Series(names(b"v", uv, 32, seed)).gather(vinv),
            "candidate": pl.Series(CANDIDATES).gather(np.concatenate(p.cand)[order]),
            "t_ms": t[order],
            "net": pl.Series(names(b"n", un, 16, seed)).gather(ninv),
            "ua": pl.Series(names(b"u", uu, 16, seed)).gather(uinv),
            "label": pl.Series(np.concatenate(p.label)[order].astype(str)),
            "episode": pl.Series(np.concatenate(p.episode)[order].astype(str)),
        }
    )
    # Server time is inside the window: clip the few sessions that ran past closing.
    df = df.filter(pl.col("t_ms") < OPEN_MS + DAYS * DAY_MS)
    local = pl.from_epoch(pl.col("t_ms"), time_unit="ms") + pl.duration(hours=8)
    df = df.with_columns(
        day=local.dt.strftime("%Y-%m-%d"),
        recorded_at=local.dt.strftime("%Y-%m-%dT%H:%M:%S%.3f") + "+08:00",
    )
    return df, params


EXPORT = ["vote_id", "voter", "candidate", "day", "recorded_at", "net", "ua"]


def write(df: pl.DataFrame, out: Path) -> None:
    """The export JSONL (no ballot/signature) and a labels CSV beside it."""
    df.select(EXPORT).write_ndjson(out)
    df.select("vote_id", "voter", "candidate", "label", "episode").write_csv(
        out.with_suffix(".labels.csv")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--voters", type=int, default=60_000, help="organic voters")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    df = generate(a.seed, a.voters)
    write(df, a.out)
    print(f"{df.height} votes -> {a.out}")
    print(df.group_by("label").len().sort("label"))


if __name__ == "__main__":
    main()
