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
    return Population(day, med, cv, n_gaps, automated, one_off, cell_flag, n_cell, lam)
