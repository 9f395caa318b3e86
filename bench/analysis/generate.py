"""Synthetic vote traffic with labelled ballot-stuffing episodes, for ``ops.py analyze``.

Organic traffic follows what the poster's audience does: phones on Chongqing mobile data
(a few hundred carrier-NAT networks shared by many people, plus home Wi-Fi), WeChat's
browser (a heavy-tailed mix of user agents), a Beijing-time daily curve with an evening
peak, heavy-tailed candidate popularity, returning voters and superfans who use all five
votes every day. Organic *hard negatives* are surges that look alarming but are honest:
a WeChat-group share wave, a workplace voting from a few office networks, a daily evening
reminder, the final-day push and enthusiasts clicking five votes quickly.

Attack families (each its own episode and target candidate):

- ``flash_burst`` (crude): hundreds of fresh identities in twenty minutes from a few
  networks, scripted clicks, one or two user agents.
- ``periodic`` (crude): small scripted batches every N minutes with jitter, user agents
  camouflaged as the organic mix, a small proxy pool.
- ``slow_drip`` (stealthy): one fresh identity every few minutes around the clock through a
  large proxy pool, camouflaged user agents; no burst at all.
- ``phone_farm`` (stealthy): the same 80 devices (two phone models, two networks) vote
  together every day at a different time, with human-like jitter.
- ``decoy_rotation`` (held out of tuning): waves of fresh identities through a medium proxy
  pool that also cast one decoy vote for another candidate, semi-scripted timing.

Everything is vectorised with numpy and written with polars, so 10 million votes take
about a minute. Usage::

    python bench/analysis/generate.py --seed 1 --voters 60000 --out /tmp/votes.jsonl
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
CRUDE = ("flash_burst", "periodic")
STEALTHY = ("slow_drip", "phone_farm")
HELD_OUT = ("decoy_rotation",)
FAMILIES = CRUDE + STEALTHY + HELD_OUT
NEGATIVES = ("share_wave", "workplace", "reminder", "final_push", "enthusiast", "superfan")

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

    def organic_nets(self, n: int) -> np.ndarray:
        """Mostly carrier NAT shared by many, sometimes a home network of a few people."""
        home = self.rng.random(n) < 0.15
        nets = self.rng.choice(self.carrier, size=n, p=self.carrier_w)
        nets[home] = self.home_base + self.rng.integers(0, self.n_home, size=int(home.sum()))
        return nets

    home_base: int = 0

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


def negatives(w: World, scale: float, targets: dict[str, int]) -> None:
    rng = w.rng
    # WeChat-group share: a wave of new voters from everywhere, decaying over two hours.
    for i in range(2):
        n = int(900 * scale)
        day = int(rng.integers(1, DAYS - 1))
        t0 = OPEN_MS + day * DAY_MS + int(rng.integers(12, 21)) * 3_600_000
        start = t0 + rng.exponential(35 * 60_000, size=n).astype(np.int64)
        crowd(w, n, targets[f"share{i}"], start, w.organic_nets(n), w.organic_uas(n),
              "organic:share_wave", f"share_wave-{i}")  # fmt: skip
    # A workplace: staff asked at the morning meeting, three office networks.
    n = int(300 * scale)
    day = int(rng.integers(1, DAYS - 2))
    t0 = OPEN_MS + day * DAY_MS + 9 * 3_600_000 + 30 * 60_000
    start = t0 + rng.gamma(2.0, 12 * 60_000, size=n).astype(np.int64)
    office = w.ids.nets(3)
    crowd(w, n, targets["work"], start, rng.choice(office, size=n), w.organic_uas(n),
          "organic:workplace", "workplace")  # fmt: skip
    # A daily evening reminder in a fan group at 20:00: members come back every day.
    n = int(500 * scale)
    members = w.ids.voters(n)
    m_net, m_ua = w.organic_nets(n), w.organic_uas(n)
    for day in range(DAYS):
        present = rng.random(n) < 0.55
        k = int(present.sum())
        start = (
            OPEN_MS + day * DAY_MS + 20 * 3_600_000
            + rng.exponential(12 * 60_000, size=k).astype(np.int64)
        )  # fmt: skip
        crowd(w, k, targets["remind"], start, m_net[present], m_ua[present],
              "organic:reminder", "reminder", voters=members[present])  # fmt: skip
    # Final-day push for one candidate: many extra voters over the last day's curve.
    n = int(2500 * scale)
    start = diurnal_times(rng, np.full(n, DAYS - 1), HOURLY)
    crowd(w, n, targets["push"], start, w.organic_nets(n), w.organic_uas(n),
          "organic:final_push", "final_push")  # fmt: skip
    # Enthusiasts: five quick votes as fast as a thumb goes (still a person: >= 1 s).
    n = int(60 * scale)
    start = diurnal_times(rng, rng.integers(0, DAYS, size=n), HOURLY)

    def quick(r: np.random.Generator, k: int) -> np.ndarray:
        return r.integers(1_000, 1_400, size=k).astype(np.int64)

    crowd(w, n, rng.choice(len(CANDIDATES), p=w.pop), start, w.organic_nets(n),
          w.organic_uas(n), "organic:enthusiast", "enthusiast", gaps_fn=quick,
          counts=np.full(n, 5))  # fmt: skip


def scripted(mean_ms: int, jitter_ms: int):  # type: ignore[no-untyped-def]
    def gaps(r: np.random.Generator, k: int) -> np.ndarray:
        return (mean_ms + r.integers(-jitter_ms, jitter_ms + 1, size=k)).astype(np.int64)

    return gaps


def attacks(w: World, scale: float, targets: dict[str, int]) -> None:
    rng = w.rng
    # Flash burst: fresh identities, few networks, one headless UA plus the top real one.
    n = int(500 * scale)
    day = int(rng.integers(1, DAYS - 1))
    t0 = OPEN_MS + day * DAY_MS + int(rng.integers(10, 23)) * 3_600_000
    start = t0 + rng.integers(0, 20 * 60_000, size=n)
    uas = np.where(rng.random(n) < 0.5, w.ids.uas(1)[0], w.ua_ids[0])
    crowd(w, n, targets["flash_burst"], start, rng.choice(w.ids.nets(4), size=n), uas,
          "flash_burst", "flash_burst", gaps_fn=scripted(250, 40),
          counts=np.full(n, 5))  # fmt: skip
    # Periodic batches: 8 identities every ~20 minutes (+-2), 09:00-23:00, three days.
    pool = w.ids.nets(10)
    d0 = int(rng.integers(0, DAYS - 3))
    for day in range(d0, d0 + 3):
        t = OPEN_MS + day * DAY_MS + 9 * 3_600_000
        while t < OPEN_MS + day * DAY_MS + 23 * 3_600_000:
            k = 8
            start = t + rng.integers(0, 60_000, size=k)
            crowd(w, k, targets["periodic"], start, rng.choice(pool, size=k),
                  w.organic_uas(k), "periodic", "periodic", gaps_fn=scripted(500, 60),
                  counts=np.full(k, 5))  # fmt: skip
            t += 20 * 60_000 + int(rng.integers(-120_000, 120_001))
    # Slow drip: a fresh identity every ~5 minutes, day and night, for eight days.
    d0 = int(rng.integers(0, DAYS - 8))
    span = 8 * DAY_MS
    n = max(int(span / (5 * 60_000) * scale), 200)
    start = OPEN_MS + d0 * DAY_MS + np.sort(rng.integers(0, span, size=n))
    crowd(w, n, targets["slow_drip"], start, w.ids.nets(n), w.organic_uas(n),
          "slow_drip", "slow_drip", gaps_fn=scripted(600, 200),
          counts=rng.integers(3, 6, size=n))  # fmt: skip
    # Phone farm: the same 80 devices, two models, two networks, together every day.
    n = 80
    devices = w.ids.voters(n)
    d_net = rng.choice(w.ids.nets(2), size=n)
    d_ua = rng.choice(w.ids.uas(2), size=n)

    def farm_gaps(r: np.random.Generator, k: int) -> np.ndarray:
        return (1_200 + r.lognormal(np.log(900), 0.4, size=k)).astype(np.int64)

    for day in range(DAYS):
        t0 = OPEN_MS + day * DAY_MS + int(rng.integers(10 * 60, 22 * 60)) * 60_000
        crowd(w, n, targets["phone_farm"], t0 + rng.integers(0, 180_000, size=n), d_net,
              d_ua, "phone_farm", "phone_farm", gaps_fn=farm_gaps, counts=np.full(n, 5),
              voters=devices)  # fmt: skip
    # Held out: waves of fresh identities via a medium proxy pool, one decoy vote each.
    pool = w.ids.nets(150)
    target = targets["decoy_rotation"]

    def semi(r: np.random.Generator, k: int) -> np.ndarray:
        return (500 + r.exponential(450, size=k)).astype(np.int64)

    for day in range(int(rng.integers(0, DAYS - 3)), DAYS):
        if rng.random() < 0.6:
            continue
        for _ in range(3):
            k = int(30 * scale) + 1
            t0 = OPEN_MS + day * DAY_MS + int(rng.integers(9 * 60, 23 * 60)) * 60_000
            start = t0 + rng.integers(0, 25 * 60_000, size=k)
            nets, uas = rng.choice(pool, size=k), w.organic_uas(k)
            vs = crowd(w, k, target, start, nets, uas, "decoy_rotation", "decoy_rotation",
                       gaps_fn=semi, counts=np.full(k, 5))  # fmt: skip
            decoy = (target + 1 + rng.integers(0, len(CANDIDATES) - 1, size=k)) % len(CANDIDATES)
            for c in np.unique(decoy):
                sel = decoy == c
                crowd(w, int(sel.sum()), int(c), start[sel] + 15_000, nets[sel], uas[sel],
                      "decoy_rotation", "decoy_rotation", gaps_fn=semi,
                      counts=np.ones(int(sel.sum()), dtype=np.int64), voters=vs[sel])  # fmt: skip


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def names(prefix: bytes, ids: np.ndarray, nbytes: int, seed: int) -> list[str]:
    """Stable opaque strings for integer ids (voter keys, keyed hashes)."""
    salt = prefix + seed.to_bytes(4, "big")
    return [b64(hashlib.blake2b(salt + int(i).to_bytes(8, "big"), digest_size=nbytes).digest())
            for i in ids]  # fmt: skip


def generate(seed: int, n_voters: int) -> pl.DataFrame:
    """All votes, sorted by time, with columns of the export line plus ``label``/``episode``."""
    rng = np.random.default_rng(seed)
    scale = n_voters / 60_000
    ids = Ids()
    carrier = ids.nets(300)
    n_home = max(2_000, n_voters // 3)
    home_base = int(ids.nets(n_home)[0])
    ua_ids = ids.uas(400)
    pop = zipf_weights(len(CANDIDATES), 0.8)
    order = rng.permutation(len(CANDIDATES))
    pop = pop[np.argsort(order)]
    w = World(rng, ids, Parts([], [], [], [], [], [], []), pop, carrier,
              zipf_weights(300, 1.0), ua_ids, zipf_weights(400, 1.1), n_home, home_base)  # fmt: skip  # noqa: E501
    organic(w, n_voters)
    # Attack targets are mid- and low-ranked candidates (where stuffing changes the list);
    # hard negatives hit other candidates so every label has a clean ground truth.
    ranked = list(np.argsort(-pop))
    picks = [ranked[i] for i in (8, 9, 10, 11, 20, 21, 2, 5, 14, 17, 22, 4)]
    fams = ["flash_burst", "periodic", "slow_drip", "phone_farm", "decoy_rotation"]
    negs = ["share0", "share1", "work", "remind", "push"]
    targets = dict(zip(fams + negs, [int(p) for p in picks], strict=False))
    negatives(w, scale, targets)
    attacks(w, scale, targets)
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
    return df.with_columns(
        day=local.dt.strftime("%Y-%m-%d"),
        recorded_at=local.dt.strftime("%Y-%m-%dT%H:%M:%S%.3f") + "+08:00",
    )


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
