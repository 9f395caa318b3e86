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

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

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
    cell_flag = (n_cell >= CELL_MIN_VOTERS) & (
        surprise(n_cell.astype(np.float64), lam) >= CELL_SURPRISE
    )
    novel = _novelty(t, voter, one_off, n_voters)
    return Population(day, med, cv, n_gaps, automated, one_off, cell_flag, n_cell, lam, *novel)


def binom_log10p(k: F64, n: F64, p: float) -> F64:
    """-log10 of the Chernoff bound on P(Binomial(n, p) >= k), elementwise."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(k / np.maximum(n, 1), 1e-12, 1 - 1e-12)
        kl = q * np.log(q / p) + (1 - q) * np.log((1 - q) / (1 - p))
    return np.where(k > n * p, n * kl / np.log(10), 0.0)


def _novelty(t: VoteTable, voter: I64, one_off: B, n_voters: int) -> tuple[B, I64, I64, float, F64]:
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
    v_alone = np.zeros(n_voters, dtype=bool)
    v_alone[has] = voters_on_net[t.net[first[has]]] == 1
    oo = one_off & has
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
    big = n_of >= 50
    hit = (
        big
        & (log10p >= NOVEL_LOG10P)
        & (k_of - rates * n_of >= NOVEL_MIN_EXCESS)
        & (k_of >= 2 * rates * n_of)
    )
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
        hot = k_cd >= 2 * np.repeat(rates, n_days) * n_cd + 3
        v_flag &= hot[cd]
    return v_flag[voter], k_of, n_of, rate, log10p
