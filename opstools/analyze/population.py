"""Layer 2: who is voting. Per-voter behaviour and per-network composition.

Two kinds of evidence come from here, each about the voters themselves rather than the
candidate's curve:

- *behaviour*: confirmed votes faster than a thumb can go (the vote page asks for a
  confirmation tap, and the network round trip comes on top), or gaps as even as a
  metronome. An enthusiast voting five times quickly still needs about a second a vote.
- *infrastructure*: on one network, on one day, for one candidate, many different voters
  with the same User-Agent, beyond what the overall mix of phones explains. Carrier NAT
  puts thousands of people behind one network, and an office puts its staff behind a few,
  but they still carry the ordinary variety of phones; a farm or a script does not.

Freshness (brand-new voters who vote for one candidate once and never return) is
measured and reported, but it is context, never evidence on its own: a WeChat share
brings exactly such voters honestly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from opstools.analyze.load import VoteTable
from opstools.analyze.series import BEIJING_MS, DAY_MS

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

SESSION_GAP_MS = 60_000
HUMAN_MIN_GAP_MS = 800  # median gap below this is faster than vote + confirm by hand
METRONOME_CV = 0.05
METRONOME_MIN_GAPS = 9
CELL_MIN_VOTERS = 8
CELL_SURPRISE = 14.0  # Chernoff bound exponent: P <= e^-14 (about 1e-6)
NOVEL_LOG10P = 8.0
NOVEL_MIN_EXCESS = 30
NOVEL_MAX_SHARED = 3  # voters on one network of a pool (see _novelty)
NOVEL_PURE_RATIO = 5.0


@dataclass(frozen=True, slots=True)
class Population:
    day: I64  # Beijing day index per vote
    median_gap_ms: F64  # per voter (nan when fewer than 2 session gaps)
    gap_cv: F64  # per voter
    n_gaps: I64  # per voter
    automated: B  # per voter: behaviour evidence
    one_off: B  # per voter: one day, one candidate (context)
    cell_flag: B  # per vote: infrastructure evidence
    cell_voters: I64  # per vote: distinct voters in its (candidate, day, net, UA) cell
    cell_expected: F64  # per vote: what the phone mix predicts for that cell
    novel_flag: B  # per vote: one-off voter on a network nobody else uses, on a candidate
    # whose share of such voters is far above the campaign's typical candidate
    novel_count: I64  # per candidate: one-off voters on networks nobody else uses
    novel_of: I64  # per candidate: one-off voters
    novel_rate: float  # the typical candidate's share (median over candidates)
    novel_log10p: F64  # per candidate: how unlikely its count is at the typical share
    # per vote: flagged, on a (candidate, day) whose such voters are at least
    # NOVEL_PURE_RATIO times what the typical share predicts (nearly all of them the pool's)
    novel_pure: B
    # Private networks (see ``_private_nets``): per vote, whether its voter sits on one of
    # the private networks of a (candidate, day) that has far more of them than the
    # campaign's own rate predicts; per (candidate, day) cell the count, the expectation
    # and -log10 of the Poisson tail.
    private_flag: B
    private_k: I64  # per (candidate * n_days + day)
    private_expected: F64
    private_log10p: F64
    n_days: int
    # A User-Agent string almost only one candidate's voters use, over the whole campaign
    # (see ``_ua_exclusive``): per vote, and per flagged vote the UA's figures.
    ua_flag: B
    ua_figures: dict[tuple[int, int], tuple[int, int, float, float]]  # (ua, cand) ->
    # (voters of the UA for the candidate, voters of the UA, expected share, -log10 p)
    # Co-voting rings (see ``_rings``): per vote, and per ring (its candidates) the figures
    # (members, expected, -log10 p).
    ring_flag: B
    rings: dict[tuple[int, ...], tuple[int, float, float]]
    # One User-Agent string over a (candidate, day)'s crowd (see ``_ua_crowds``): per vote,
    # and per flagged (candidate, day, UA) cell its figures (voters with the string, the
    # cell's voters, what the rest of the campaign predicts, -log10 p).
    crowd_ua_flag: B
    crowd_ua: dict[tuple[int, int, int], tuple[int, int, float, float]]


def surprise(k: F64, lam: F64) -> F64:
    """Chernoff exponent of P(Poisson(lam) >= k): large means very unlikely by chance."""
    lam = np.maximum(lam, 1e-9)
    k = np.asarray(k, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = k * np.log(np.maximum(k, 1e-12) / lam) - k + lam
    return np.where(k > lam, s, 0.0)


def _group_median(keys: I64, values: F64, n: int) -> F64:
    """Median of values per key in [0, n), nan where a key has none."""
    out = np.full(n, np.nan)
    if not len(keys):
        return out
    order = np.lexsort((values, keys))
    k, v = keys[order], values[order]
    counts = np.bincount(k, minlength=n)
    starts = np.cumsum(counts) - counts
    has = counts > 0
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    out[has] = (v[lo] + v[hi]) / 2
    return out


def _distinct_per(keys: I64, voter: I64, n_voters: int) -> I64:
    """For each row: how many distinct voters share its key."""
    uk, kinv = np.unique(keys, return_inverse=True)
    kv = np.unique(kinv.astype(np.int64) * max(n_voters, 1) + voter)
    per_key = np.bincount(kv // max(n_voters, 1), minlength=len(uk))
    return per_key[kinv].astype(np.int64)


def analyse_population(t: VoteTable) -> Population:
    n_voters = len(t.voter_names)
    day = ((t.t_ms + BEIJING_MS) // DAY_MS).astype(np.int64)
    day -= day.min() if len(day) else 0
    voter = t.voter.astype(np.int64)
    # Gaps between a voter's consecutive votes within one sitting (any candidate).
    order = np.lexsort((t.t_ms, voter))
    vs, ts = voter[order], t.t_ms[order]
    same = (vs[1:] == vs[:-1]) & (ts[1:] - ts[:-1] <= SESSION_GAP_MS)
    gv = vs[1:][same]
    gaps = (ts[1:] - ts[:-1])[same].astype(np.float64)
    n_gaps = np.bincount(gv, minlength=n_voters).astype(np.int64)
    med = _group_median(gv, gaps, n_voters)
    s1 = np.bincount(gv, weights=gaps, minlength=n_voters)
    s2 = np.bincount(gv, weights=gaps * gaps, minlength=n_voters)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n_gaps
        cv = np.sqrt(np.maximum(s2 / n_gaps - mean * mean, 0)) / mean
    # A metronome needs many gaps: four even gaps happen to people about once in 200.
    automated = ((n_gaps >= 2) & (med < HUMAN_MIN_GAP_MS)) | (
        (n_gaps >= METRONOME_MIN_GAPS) & (cv < METRONOME_CV) & (med < 5_000)
    )
    # One-off voters: a single Beijing day and a single candidate.
    n_days = int(day.max()) + 1 if len(day) else 1
    vd = np.unique(voter * n_days + day) // n_days
    days_per_voter = np.bincount(vd, minlength=n_voters)
    vc = np.unique(voter * (1 << 16) + t.cand) >> 16
    cands_per_voter = np.bincount(vc, minlength=n_voters)
    one_off = (days_per_voter == 1) & (cands_per_voter == 1)
    # UA homogeneity within (candidate, day, network), against the overall phone mix.
    ua_voters = np.bincount(
        np.unique(t.ua.astype(np.int64) * (1 << 31) + voter) >> 31, minlength=t.n_uas
    )
    p_ua = ua_voters / max(n_voters, 1)
    cdn = (t.cand.astype(np.int64) * n_days + day) * t.n_nets + t.net
    n_cdn = _distinct_per(cdn, voter, n_voters)
    n_cell = _distinct_per(cdn * t.n_uas + t.ua, voter, n_voters)
    lam = n_cdn * p_ua[t.ua]
    # And the string must be rare outside the cell, as for a crowd's string (``_ua_crowds``):
    # an assembly on one network whose staff carry a few popular models is a real crowd.
    others = np.maximum(ua_voters[t.ua] - n_cell, 1) / np.maximum(n_voters - n_cdn, 1)
    cell_flag = (
        (n_cell >= CELL_MIN_VOTERS)
        & (surprise(n_cell.astype(np.float64), lam) >= CELL_SURPRISE)
        & (n_cell >= UA_CROWD_RATIO * n_cdn * others)
    )
    novel = _novelty(t, voter, one_off, n_voters)
    private = _private_nets(t, voter, day, days_per_voter, n_days, n_voters)
    ua_flag, ua_figures = _ua_exclusive(t, voter, n_voters)
    ring_flag, rings = _rings(t, voter, day)
    crowd_ua_flag, crowd_ua = _ua_crowds(t, voter, day, n_days, ua_voters)
    return Population(
        day, med, cv, n_gaps, automated, one_off, cell_flag, n_cell, lam, *novel, *private,
        n_days, ua_flag, ua_figures, ring_flag, rings, crowd_ua_flag, crowd_ua,
    )  # fmt: skip


UA_CROWD_MIN_VOTERS = 20
UA_CROWD_RATIO = 50.0  # the string is 50 times commoner in the crowd than in the campaign
UA_CROWD_LOG10P = 10.0


def _ua_crowds(
    t: VoteTable, voter: I64, day: I64, n_days: int, ua_voters: I64
) -> tuple[B, dict[tuple[int, int, int], tuple[int, int, float, float]]]:
    """A crowd that carries one User-Agent string the rest of the campaign hardly uses.

    Per (candidate, day), over all networks: how many of its voters carry each string,
    against what the string's share among *all other* voters of the campaign predicts
    (the campaign's own phone mix, from which the crowd itself is left out so that a
    string only the crowd uses has no weight of its own). Real people who vote together
    (a share wave, a push, an assembly, a workplace) carry the ordinary variety of phones:
    even a crowd that all bought one popular model is at most a few times commoner in it
    than in the campaign. A string 50 times commoner than anywhere else, on 20 or more
    voters, was set by whoever made the identities. The evidence is about the device, not
    the address: it is independent of how many networks the crowd came through.
    """
    flag = np.zeros(t.size, dtype=bool)
    figures: dict[tuple[int, int, int], tuple[int, int, float, float]] = {}
    n_voters = len(t.voter_names)
    if t.size == 0:
        return flag, figures
    n_c, n_u = len(t.cand_names), max(t.n_uas, 1)
    cd = t.cand.astype(np.int64) * n_days + day
    nv = max(n_voters, 1)
    cd_v = np.unique(cd * nv + voter) // nv
    n_cd = np.bincount(cd_v, minlength=n_c * n_days)
    cdu_v = np.unique((cd * n_u + t.ua) * nv + voter) // nv
    key, counts = np.unique(cdu_v, return_counts=True)
    big = counts >= UA_CROWD_MIN_VOTERS
    key, k = key[big], counts[big].astype(np.float64)
    if not len(key):
        return flag, figures
    cell, ua = key // n_u, key % n_u
    m = n_cd[cell].astype(np.float64)
    others = np.maximum(n_voters - m, 1.0)
    # At least one voter's worth of share: a string nobody else uses is rare, not impossible.
    p = np.maximum(ua_voters[ua] - k, 1.0) / others
    lam = m * p
    log10p = surprise(k, lam) / np.log(10)
    hot = (k >= UA_CROWD_RATIO * lam) & (log10p >= UA_CROWD_LOG10P)
    if not hot.any():
        return flag, figures
    hot_keys = key[hot]
    flag = np.isin(cd * n_u + t.ua, hot_keys)
    for kk, kv, mv, lv, lp in zip(
        hot_keys.tolist(), k[hot].tolist(), m[hot].tolist(), lam[hot].tolist(),
        log10p[hot].tolist(), strict=True,
    ):  # fmt: skip
        c, d, u = kk // n_u // n_days, kk // n_u % n_days, kk % n_u
        figures[(int(c), int(d), int(u))] = (int(kv), int(mv), float(lv), float(lp))
    return flag, figures


RING_MIN_DAYS = 3
RING_MIN_MEMBERS = 30
RING_LOG10P = 20.0


def _rings(
    t: VoteTable, voter: I64, day: I64
) -> tuple[B, dict[tuple[int, ...], tuple[int, float, float]]]:
    """互投群: many voters who vote for exactly the same set of candidates, at the cap.

    A member of a vote-exchange group votes, on every day they turn up, for every
    candidate of the group and always the full daily cap. Loyal honest voters exist (a
    superfan votes the cap for their favourites every day), but their favourites follow
    the candidates' popularity, so among the campaign's loyal voters with k favourites,
    one exact set of k candidates is expected about ``N_k * k! * prod(p_c)`` times, with
    ``p_c`` each candidate's share of all (voter, candidate) pairs. Dozens of voters on
    one set, far beyond that, are a ring. Only sets of two or more candidates: one
    candidate's loyal fans are a fan club, which is not a ring.
    """
    n_c = len(t.cand_names)
    flag = np.zeros(t.size, dtype=bool)
    rings: dict[tuple[int, ...], tuple[int, float, float]] = {}
    if t.size == 0:
        return flag, rings
    df = pl.DataFrame({"v": voter, "c": t.cand.astype(np.int64), "d": day})
    cells = df.group_by("v", "c", "d").len()
    # The daily cap, as the campaign shows it: the largest count that at least 1 % of the
    # (voter, candidate, day) cells reach (a session across midnight can exceed it once).
    counts = np.bincount(cells["len"].to_numpy())
    cap = int(np.flatnonzero(counts >= 0.01 * cells.height).max())
    pairs = cells.group_by("v", "c").agg(
        pl.len().alias("days_c"), (pl.col("len") >= cap).all().alias("full")
    )
    per_v = (
        cells.group_by("v")
        .agg(pl.col("d").n_unique().alias("days"))
        .join(pairs.group_by("v").agg(
            pl.col("c").sort().alias("set"), pl.col("days_c").min().alias("min_days_c"),
            pl.col("full").all().alias("full")), on="v")
    )  # fmt: skip
    loyal = per_v.filter(
        (pl.col("days") >= RING_MIN_DAYS)
        & pl.col("full")
        & (pl.col("min_days_c") == pl.col("days"))  # every candidate of the set, every day
        & (pl.col("set").list.len() >= 2)
    )
    if loyal.height == 0:
        return flag, rings
    share = np.bincount(pairs["c"].to_numpy(), minlength=n_c) / max(pairs.height, 1)
    n_k = loyal.group_by(pl.col("set").list.len().alias("k")).len()
    n_of_k = dict(zip(n_k["k"].to_list(), n_k["len"].to_list(), strict=True))
    sets = loyal.group_by("set").agg(pl.col("v"))
    hit_voters: list[int] = []
    for cs, members in zip(sets["set"].to_list(), sets["v"].to_list(), strict=True):
        if len(members) < RING_MIN_MEMBERS:
            continue
        k = len(cs)
        lam = n_of_k[k] * math.factorial(k) * float(np.prod(share[cs]))
        lp = float(surprise(np.array([float(len(members))]), np.array([lam]))[0]) / math.log(10)
        if lp >= RING_LOG10P:
            rings[tuple(int(c) for c in cs)] = (len(members), lam, lp)
            hit_voters.extend(members)
    if hit_voters:
        member = np.zeros(int(voter.max()) + 1, dtype=bool)
        member[np.array(hit_voters, dtype=np.int64)] = True
        flag = member[voter]
    return flag, rings


UA_MIN_VOTERS = 30
UA_EXCLUSIVE = 0.8
UA_LOG10P = 8.0


def _ua_exclusive(
    t: VoteTable, voter: I64, n_voters: int
) -> tuple[B, dict[tuple[int, int], tuple[int, int, float, float]]]:
    """A browser string that almost only one candidate's voters use.

    The people behind a phone model or a WeChat version vote for the candidates in about
    the campaign's proportions; over the whole campaign, per candidate, that is what a
    real User-Agent shows, however its owners cluster on a network or a day. A string
    that 80 % or more of its voters use for one candidate, far beyond that candidate's
    share of all voters, is one that the operator of the identities set (a rare string
    or a new one). Network-cell homogeneity only sees this within one network and one
    day; a drip spreads its identities thinly over carrier networks and many days.
    """
    n_c = len(t.cand_names)
    nv = max(n_voters, 1)
    flag = np.zeros(t.size, dtype=bool)
    figures: dict[tuple[int, int], tuple[int, int, float, float]] = {}
    if t.size == 0:
        return flag, figures
    ua = t.ua.astype(np.int64)
    cand = t.cand.astype(np.int64)
    pairs = np.unique((ua * n_c + cand) * nv + voter) // nv  # distinct (ua, cand, voter)
    uc, n_uc = np.unique(pairs, return_counts=True)
    n_u = np.bincount(uc // n_c, weights=n_uc, minlength=t.n_uas)  # voter-candidate pairs
    share_c = np.bincount(uc % n_c, weights=n_uc, minlength=n_c) / max(float(n_uc.sum()), 1)
    u, c = uc // n_c, uc % n_c
    cand_ok = (n_uc >= UA_MIN_VOTERS) & (n_uc >= UA_EXCLUSIVE * n_u[u])
    for i in np.flatnonzero(cand_ok):
        p = float(share_c[c[i]])
        lp = float(binom_log10p(np.array([float(n_uc[i])]), np.array([float(n_u[u[i]])]), p)[0])
        if lp >= UA_LOG10P:
            figures[(int(u[i]), int(c[i]))] = (int(n_uc[i]), int(n_u[u[i]]), p, lp)
    if figures:
        hot = np.zeros(t.n_uas * n_c, dtype=bool)
        for uu, cc in figures:
            hot[uu * n_c + cc] = True
        flag = hot[ua * n_c + cand]
    return flag, figures


PRIVATE_MIN_NETS = 8  # more private networks than an office or a school has (1-4)
PRIVATE_LOG10P = 8.0
PRIVATE_SIZE_RATIO = 4.0  # a flagged private network is at most this many times the typical


def _private_nets(
    t: VoteTable, voter: I64, day: I64, days_per_voter: I64, n_days: int, n_voters: int
) -> tuple[B, I64, F64, F64]:
    """Proxy pools smaller than their crowd of identities: many *private* networks.

    A network is private to a candidate on a day when at least two voters use it, every
    one of them votes on that day only, and every one of them votes for that candidate.
    Honest crowds make few: a family sharing home Wi-Fi who both vote once for the same
    candidate on the same day, one hall network for a school assembly, a few office
    networks for a workplace. A pool of addresses cycled under many fresh identities makes
    one for every address it uses. The campaign gives the honest rate: pairs on a shared
    home network grow with the square of a (candidate, day)'s one-day voters, so the
    expected count is ``alpha * m**2`` with ``alpha`` the typical candidate's ratio (the
    median over candidates: a few attacked candidates cannot move it). A cell is hot when
    its count is far beyond that (Poisson tail) and larger than an organisation's handful
    of networks; its evidence is about who voted, so the votes flagged are those of the
    voters on its private networks, whenever they fell in the day.
    """
    n_c = len(t.cand_names)
    n_cells = n_c * n_days
    nv = max(n_voters, 1)
    flag = np.zeros(t.size, dtype=bool)
    zero = np.zeros(n_cells)
    if t.size == 0:
        return flag, np.zeros(n_cells, dtype=np.int64), zero, zero
    net = t.net.astype(np.int64)
    cand = t.cand.astype(np.int64)
    one_day = days_per_voter[voter] == 1
    voters_on_net = np.bincount(np.unique(net * nv + voter) // nv, minlength=t.n_nets)
    multi_day_on_net = np.bincount(net[~one_day], minlength=t.n_nets) > 0
    days_on_net = np.bincount(np.unique(net * n_days + day) // n_days, minlength=t.n_nets)
    # (net, candidate) pairs whose voters are all the net's voters.
    nc_v = np.unique((net * n_c + cand) * nv + voter) // nv
    nc_key, nc_voters = np.unique(nc_v, return_counts=True)
    pnet, pcand = nc_key // n_c, nc_key % n_c
    net_day = np.full(t.n_nets, -1, dtype=np.int64)
    net_day[net] = day
    private = (
        (nc_voters == voters_on_net[pnet])
        & (voters_on_net[pnet] >= 2)
        & ~multi_day_on_net[pnet]
        & (days_on_net[pnet] == 1)
    )
    cell_of_private = pcand[private] * n_days + net_day[pnet[private]]
    k = np.bincount(cell_of_private, minlength=n_cells).astype(np.int64)
    # One-day voters per (candidate, day).
    od = np.unique((cand[one_day] * n_days + day[one_day]) * nv + voter[one_day]) // nv
    m = np.bincount(od, minlength=n_cells).astype(np.float64)
    m2 = (m * m).reshape(n_c, n_days).sum(axis=1)
    kc = k.reshape(n_c, n_days).sum(axis=1)
    has = m2 > 0
    floor = 1.0 / max(float(m2.sum()), 1.0)  # one pair in the whole campaign
    alpha = max(float(np.median(kc[has] / m2[has])) if has.any() else 0.0, floor)
    lam = alpha * m * m
    log10p = surprise(k.astype(np.float64), lam) / np.log(10)
    hot = (k >= PRIVATE_MIN_NETS) & (log10p >= PRIVATE_LOG10P)
    if hot.any():
        # The pool's addresses, not every private network of a hot cell: an office or a
        # hall network on the same day carries a whole organisation, many times more
        # voters than the pool's typical address, and is no part of its evidence.
        in_hot = hot[cell_of_private]
        size = voters_on_net[pnet[private]].astype(np.float64)
        typical = np.zeros(n_cells)
        for c in np.flatnonzero(hot).tolist():
            typical[c] = float(np.median(size[cell_of_private == c]))
        pool_sized = size <= PRIVATE_SIZE_RATIO * typical[cell_of_private]
        hot_net = np.zeros(t.n_nets, dtype=bool)
        hot_net[pnet[private][in_hot & pool_sized]] = True
        flag = hot_net[net]
    return flag, k, lam, log10p


def binom_log10p(k: F64, n: F64, p: float) -> F64:
    """-log10 of the Chernoff bound on P(Binomial(n, p) >= k), elementwise."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(k / np.maximum(n, 1), 1e-12, 1 - 1e-12)
        kl = q * np.log(q / p) + (1 - q) * np.log((1 - q) / (1 - p))
    return np.where(k > n * p, n * kl / np.log(10), 0.0)


def _novelty(
    t: VoteTable, voter: I64, one_off: B, n_voters: int
) -> tuple[B, I64, I64, float, F64, B]:
    """Proxy pools: one-off voters arriving on networks that nobody else ever uses.

    Real voters come through the networks everybody uses (carrier NAT, offices) or a home
    network, and a share wave or a push brings them in the population's proportions. A
    residential or 秒拨 proxy pool gives every identity an address of its own. So, per
    candidate, the share of its one-off voters whose network no other voter uses is
    compared with the typical candidate's share (the median, which a few attacked
    candidates cannot move) over the whole campaign.
    """
    n_c = len(t.cand_names)
    voters_on_net = np.bincount(
        np.unique(t.net.astype(np.int64) * max(n_voters, 1) + voter) // max(n_voters, 1),
        minlength=t.n_nets,
    )
    first = np.full(n_voters, -1, dtype=np.int64)
    first[voter[::-1]] = np.arange(len(voter))[::-1]
    has = first >= 0
    v_cand = np.full(n_voters, -1, dtype=np.int64)
    v_cand[has] = t.cand[first[has]]
    oo = one_off & has
    # A network "nobody else uses": its only voters are one-off voters of this candidate,
    # at most a few of them (a pool of addresses smaller than its identities hands some
    # out twice; an office or a carrier NAT carries many voters, and other candidates).
    v_net = np.full(n_voters, -1, dtype=np.int64)
    v_net[has] = t.net[first[has]]
    nc = v_net * n_c + v_cand
    _, inv = np.unique(nc[has], return_inverse=True)
    oo_on = np.bincount(inv, weights=oo[has].astype(np.float64))[inv]  # per voter's key
    on = voters_on_net[v_net[has]]
    v_alone = np.zeros(n_voters, dtype=bool)
    v_alone[has] = (on <= NOVEL_MAX_SHARED) & (oo_on == on)
    n_of = np.bincount(v_cand[oo], minlength=n_c).astype(np.int64)
    k_of = np.bincount(v_cand[oo & v_alone], minlength=n_c).astype(np.int64)
    # The typical share, for each candidate from the *other* candidates that have enough
    # one-off voters to say (the median: a few attacked candidates cannot move it).
    enough = n_of >= 20
    share = np.divide(k_of, n_of, out=np.zeros(n_c), where=n_of > 0)
    rates = np.zeros(n_c)
    for c in range(n_c):
        others = enough.copy()
        others[c] = False
        rates[c] = float(np.median(share[others])) if others.any() else 1.0
    rate = float(np.median(share[enough])) if enough.any() else 0.0
    log10p = np.array(
        [float(binom_log10p(np.array([float(k_of[c])]), np.array([float(n_of[c])]),
                            float(rates[c]))[0]) for c in range(n_c)]
    )  # fmt: skip
    # Over the whole campaign the excess must be significant and large; the doubling is
    # asked of the days that carry it (below), not of the whole campaign, where a drip of
    # a few days is diluted by a popular candidate's honest one-off voters (a push brings
    # thousands of them on one day).
    big = n_of >= 50
    hit = big & (log10p >= NOVEL_LOG10P) & (k_of - rates * n_of >= NOVEL_MIN_EXCESS)
    v_flag = oo & v_alone & hit[np.maximum(v_cand, 0)] & has
    # Only on the days that carry the excess: a drip runs for some days, while the
    # candidate's honest one-off voters on home networks come on every day.
    if v_flag.any():
        day = ((t.t_ms + 8 * 3_600_000) // 86_400_000).astype(np.int64)
        day -= day.min()
        n_days = int(day.max()) + 1
        v_day = np.zeros(n_voters, dtype=np.int64)
        v_day[has] = day[first[has]]
        cd = np.maximum(v_cand, 0) * n_days + v_day
        k_cd = np.bincount(cd[v_flag], minlength=n_c * n_days)
        n_cd = np.bincount(cd[oo], minlength=n_c * n_days)
        expected = np.repeat(rates, n_days) * n_cd
        hot = k_cd >= 2 * expected + 3
        v_flag &= hot[cd]
        # A day the pool carries nearly alone: the candidate's honest voters on home
        # networks of their own (a final-day push brings thousands) are a few per cent
        # of its flagged voters at most.
        v_pure = v_flag & (k_cd >= NOVEL_PURE_RATIO * expected)[cd]
    else:
        v_pure = v_flag
    return v_flag[voter], k_of, n_of, rate, log10p, v_pure[voter]
