"""Fusion: from three layers of findings to one verdict per vote, with reasons.

Four independent kinds of evidence can speak about a vote:

- ``temporal``: it lies in a burst or a periodic batch of its candidate, or its candidate
  votes around the clock when nobody else does (off-rhythm);
- ``behaviour``: its voter clicks faster or more evenly than a person can;
- ``infrastructure``: its voter shares network and User-Agent with an implausible crowd
  voting for the same candidate that day;
- ``coordination``: its voter belongs to a group that votes together, day after day.

A vote is ``remove`` when at least two kinds agree, and ``review`` when exactly one does
(an off-rhythm candidate alone flags no single vote: it only tells where to look).
Freshness is printed as context and never counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from ballotbox.core.clock import BEIJING

from opstools.analyze.groups import Group, find_groups
from opstools.analyze.load import VoteTable
from opstools.analyze.population import Population, analyse_population
from opstools.analyze.series import (
    Series,
    Window,
    build_series,
    find_bursts,
    find_off_rhythm,
    find_periodic,
)

TEMPORAL, BEHAVIOUR, INFRA, COORD = 1, 2, 4, 8
KIND_NAMES = {
    TEMPORAL: "temporal",
    BEHAVIOUR: "behaviour",
    INFRA: "infrastructure",
    COORD: "coordination",
}

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Findings:
    series: Series
    windows: list[Window]
    pop: Population
    groups: list[Group]
    group_of: I64  # per voter
    kinds: U8  # per vote: bit set of evidence kinds
    window_of: I64  # per vote: index of its temporal window, -1 if none
    level: U8  # per vote: 0 clean, 1 review, 2 remove


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, BEIJING).isoformat(timespec="milliseconds")


def short(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, BEIJING).strftime("%m-%d %H:%M")


def analyze(t: VoteTable) -> Findings:
    """Run the three layers and fuse them. Pure: the table in, findings out."""
    s = build_series(t)
    windows = find_bursts(s) + find_periodic(s) + find_off_rhythm(s, t)
    pop = analyse_population(t)
    groups, group_of = find_groups(t, pop)
    n = t.size
    kinds = np.zeros(n, dtype=np.uint8)
    window_of = np.full(n, -1, dtype=np.int64)
    broad = np.zeros(n, dtype=bool)  # temporal only through an off-rhythm candidate
    for wi, w in enumerate(windows):
        spans = w.spans or [(w.start_ms, w.end_ms)]
        for a, b in spans:
            lo, hi = np.searchsorted(t.t_ms, [a, b])
            sel = lo + np.flatnonzero(t.cand[lo:hi] == w.candidate)
            if w.kind == "off_rhythm":
                fresh = sel[window_of[sel] < 0]
                broad[fresh] = True
                window_of[fresh] = wi
            else:
                broad[sel] = False
                window_of[sel] = wi
            kinds[sel] |= TEMPORAL
    voter = t.voter
    kinds[pop.automated[voter]] |= BEHAVIOUR
    kinds[pop.cell_flag] |= INFRA
    g = group_of[voter]
    in_group = g >= 0
    if in_group.any():
        gc = np.zeros(n, dtype=bool)
        for gi, grp in enumerate(groups):
            gc |= (g == gi) & np.isin(t.cand, grp.candidates)
        kinds[gc] |= COORD
    count = np.unpackbits(kinds[:, None], axis=1).sum(axis=1)
    level = np.where(count >= 2, 2, np.where((count == 1) & ~(broad & (kinds == TEMPORAL)), 1, 0))
    return Findings(s, windows, pop, groups, group_of, kinds, window_of, level.astype(np.uint8))


def window_text(t: VoteTable, w: Window) -> str:
    c = t.cand_names[w.candidate]
    e = w.evidence
    if w.kind == "burst":
        return (
            f"时间 temporal: burst on {c} {short(w.start_ms)}–{short(w.end_ms)} (Beijing): "
            f"{e['votes']} votes where its own rhythm predicts {e['expected']} (x{e['ratio']})"
        )
    if w.kind == "periodic":
        return (
            f"时间 temporal: regular batches on {c} {short(w.start_ms)}–{short(w.end_ms)}: "
            f"{e['batches']} batches every {e['period_minutes']} min (gap variation {e['gap_cv']}, "
            f"autocorrelation {e['autocorrelation_at_period']})"
        )
    return (
        f"时间 temporal: {c} keeps receiving votes at night: {e['night_share']:.1%} of its votes "
        f"fall in {e['night_hours']} against {e['everybody_night_share']:.1%} for all candidates"
    )


def group_text(t: VoteTable, gi: int, grp: Group) -> str:
    cands = ", ".join(t.cand_names[c] for c in grp.candidates)
    return (
        f"协同 coordination: group G{gi + 1}, {len(grp.members)} voters voting for {cands} "
        f"together on {grp.days_together} days (within {grp.median_spread_s:.0f} s a day), "
        f"from {grp.nets} network(s) and {grp.uas} User-Agent(s)"
    )


def behaviour_text(pop: Population, v: int) -> str:
    med = pop.median_gap_ms[v] / 1000
    return (
        f"行为 behaviour: median {med:.2f} s between confirmed votes over {pop.n_gaps[v]} gaps, "
        f"variation {pop.gap_cv[v]:.2f} (a person needs about a second per vote and confirmation)"
    )


def infra_text(pop: Population, i: int) -> str:
    return (
        f"网络 infrastructure: {pop.cell_voters[i]} different voters on one network with one "
        f"User-Agent for this candidate that day, where the usual phone mix predicts "
        f"{pop.cell_expected[i]:.1f}"
    )


ONE_OFF = "背景 context: brand-new voter seen on one day for one candidate only (never counted as evidence)"  # noqa: E501


def window_profile(t: VoteTable, f: Findings, wi: int) -> dict[str, Any]:
    """Layer 2 on the votes inside a window: who they are, and the verdicts they got."""
    sel = np.flatnonzero(f.window_of == wi)
    if not len(sel):
        return {"votes_inside": 0}
    vs = np.unique(t.voter[sel])
    nets, ncount = np.unique(t.net[sel], return_counts=True)
    uas, ucount = np.unique(t.ua[sel], return_counts=True)
    c = f.windows[wi].candidate
    base = (t.cand == c) & (f.window_of != wi)
    base_v = np.unique(t.voter[base])
    return {
        "votes_inside": len(sel),
        "voters_inside": len(vs),
        "share_one_off_voters": round(float(f.pop.one_off[vs].mean()), 3),
        "baseline_share_one_off_voters": round(float(f.pop.one_off[base_v].mean()), 3)
        if len(base_v)
        else None,
        "share_automated_voters": round(float(f.pop.automated[vs].mean()), 3),
        "share_votes_in_ua_homogeneous_cells": round(float(f.pop.cell_flag[sel].mean()), 3),
        "share_votes_in_groups": round(float((f.group_of[t.voter[sel]] >= 0).mean()), 3),
        "networks": len(nets),
        "top_network_share": round(float(ncount.max() / len(sel)), 3),
        "user_agents": len(uas),
        "top_user_agent_share": round(float(ucount.max() / len(sel)), 3),
        "votes_remove": int((f.level[sel] == 2).sum()),
        "votes_review": int((f.level[sel] == 1).sum()),
    }


def to_flags(t: VoteTable, f: Findings) -> dict[str, Any]:
    """flags.json exactly as docs/file-formats.md describes it."""
    wtext = [window_text(t, w) for w in f.windows]
    gtext = [group_text(t, gi, g) for gi, g in enumerate(f.groups)]
    flagged = np.flatnonzero(f.level > 0)
    vote_ids = t.vote_id.gather(flagged).to_list() if len(flagged) else []
    votes: list[dict[str, Any]] = []
    voter_reasons: dict[int, dict[str, None]] = {}
    voter_level: dict[int, int] = {}
    for i, vid in zip(flagged.tolist(), vote_ids, strict=True):
        k = int(f.kinds[i])
        v = int(t.voter[i])
        reasons: list[str] = []
        if k & TEMPORAL:
            reasons.append(wtext[int(f.window_of[i])])
        if k & BEHAVIOUR:
            reasons.append(behaviour_text(f.pop, v))
        if k & INFRA:
            reasons.append(infra_text(f.pop, i))
        if k & COORD:
            reasons.append(gtext[int(f.group_of[v])])
        if f.pop.one_off[v]:
            reasons.append(ONE_OFF)
        lvl = int(f.level[i])
        votes.append(
            {"vote_id": vid, "level": "remove" if lvl == 2 else "review", "reasons": reasons}
        )
        voter_level[v] = max(voter_level.get(v, 0), lvl)
        voter_reasons.setdefault(v, {}).update(
            dict.fromkeys(r for r in reasons if not r.startswith("时间"))
        )
    removed = np.bincount(t.voter[f.level == 2], minlength=len(t.voter_names))
    flagged_n = np.bincount(t.voter[f.level > 0], minlength=len(t.voter_names))
    voters: list[dict[str, Any]] = []
    codes = sorted(voter_level)
    names = t.voter_names.gather(codes).to_list() if codes else []
    for v, name in zip(codes, names, strict=True):
        reasons = [
            f"票 votes: {removed[v]} to remove, {flagged_n[v] - removed[v]} to review",
            *voter_reasons[v],
        ]
        voters.append(
            {
                "voter": name,
                "level": "remove" if voter_level[v] == 2 else "review",
                "reasons": reasons,
            }
        )
    windows: list[dict[str, Any]] = []
    for wi, w in enumerate(f.windows):
        ev: dict[str, Any] = dict(w.evidence)
        ev["summary"] = wtext[wi]
        ev["inside"] = window_profile(t, f, wi)
        if w.spans:
            ev["batch_starts"] = [iso(a) for a, _ in w.spans]
        windows.append(
            {
                "candidate": t.cand_names[w.candidate],
                "start": iso(w.start_ms),
                "end": iso(w.end_ms),
                "kind": w.kind,
                "evidence": ev,
            }
        )
    for gi, g in enumerate(f.groups):
        rows = np.isin(t.voter, g.members)
        for c in g.candidates:
            sel = rows & (t.cand == c)
            ts = t.t_ms[sel]
            windows.append(
                {
                    "candidate": t.cand_names[c],
                    "start": iso(int(ts.min())),
                    "end": iso(int(ts.max()) + 1),
                    "kind": "group",
                    "evidence": {
                        "group": f"G{gi + 1}",
                        "members": len(g.members),
                        "days_together": g.days_together,
                        "median_daily_spread_seconds": round(g.median_spread_s, 1),
                        "networks": g.nets,
                        "user_agents": g.uas,
                        "votes": int(sel.sum()),
                        "votes_remove": int((f.level[sel] == 2).sum()),
                        "summary": gtext[gi],
                    },
                }
            )
    return {"votes": votes, "voters": voters, "windows": windows}


def tally(t: VoteTable, f: Findings) -> list[tuple[str, int, int]]:
    """(candidate, votes, votes after removals), in the order of the cleaned tally."""
    n_c = len(t.cand_names)
    before = np.bincount(t.cand, minlength=n_c)
    removed = np.bincount(t.cand[f.level == 2], minlength=n_c)
    rows = [(t.cand_names[c], int(before[c]), int(before[c] - removed[c])) for c in range(n_c)]
    return sorted(rows, key=lambda r: (-r[2], r[0]))
