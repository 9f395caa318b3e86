"""Fusion: from three layers of findings to one verdict per vote, grouped into cases.

Five independent kinds of evidence can speak about a vote:

- ``time``: it lies in a burst of its candidate (more votes than its own rhythm predicts),
  or in one of a run of regular batches at a fixed interval;
- ``behaviour``: its voter clicks faster or more evenly than a person can;
- ``network``: its voter's address belongs to a pool no honest crowd produces (many
  addresses nobody else uses, many networks private to one candidate on one day);
- ``device``: its voter's User-Agent string is one the rest of the campaign hardly uses,
  carried by a crowd voting for the same candidate (the phone mix of the whole campaign
  predicts far fewer);
- ``coordination``: its voter belongs to a group that votes together, day after day.

Where the identities come from (their addresses) and what they claim to be (their
User-Agent) are separate choices of whoever makes them, and separate facts about a real
crowd: an assembly shares one network but not one phone.

Real crowds (a WeChat share, an official account's push, a school assembly on one
network, a fan club's daily reminder) produce bursts and groups too, so those are *weak*
evidence: they say where to look. What a crowd of people cannot produce is *strong*:
machine pace, one rare User-Agent over a crowd, an address of its own for every identity,
batches at a fixed interval, or the same roster of devices nearly complete every day. A
vote is

- ``remove`` when two kinds agree and either both are strong or one is strong and the
  other is coordination (the same people again on other days), or when one kind is
  overwhelming on its own (a long even periodic run, a vote-exchange ring, a steady
  proxy-address excess: their false-alarm rates over the benchmark's negative space are
  measured and stated in the case); a strong kind beside a mere burst is ``review``,
  since a real crowd voting together once produces that too, unless the burst is made
  almost entirely of that trait (then the burst is the trait's episode, which no real
  crowd, carrying the population's mix, produces);
- ``review`` when one strong kind speaks alone;
- not flagged when only weak evidence speaks (the window is still listed as context).

Flagged votes are grouped into cases: one episode (a window or a group, else the
candidate) and one action. A case carries its votes and voters, and its evidence with
the figure and how unlikely it is under the campaign's own organic behaviour.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from ballotbox.core.clock import BEIJING

from opstools.analyze.groups import Group, find_groups
from opstools.analyze.load import VoteTable
from opstools.analyze.population import Population, analyse_population, surprise
from opstools.analyze.series import (
    BIN_MS,
    Series,
    Window,
    baseline,
    build_series,
    find_bursts,
    find_level_shifts,
    find_off_rhythm,
    find_periodic,
    merge_periodic,
    num,
)

TIME, BEHAVIOUR, NETWORK, COORD, DEVICE = 1, 2, 4, 8, 16
KIND_NAMES = {
    TIME: "time", BEHAVIOUR: "behaviour", NETWORK: "network", DEVICE: "device",
    COORD: "coordination",
}  # fmt: skip
KIND_ZH = {TIME: "时间", BEHAVIOUR: "行为", NETWORK: "网络", DEVICE: "设备", COORD: "协同"}

# A periodic run this long and this even removes on its own (see bench/README.md: no
# organic candidate, hard negative included, produced one in the evaluation campaigns).
OVERWHELMING_BATCHES = 10
OVERWHELMING_CV = 0.2
# A candidate's excess of one-off voters on addresses nobody else uses removes on its own
# beyond this (bench/README.md: no organic candidate came near it in the tuning campaigns).
NOVEL_OVERWHELMING_LOG10P = 20.0
# A batch speaks for the votes inside it only when they are mostly the batch's: on a
# popular candidate whose batches come every few minutes, the minutes they cover also
# hold the candidate's own voters (the batch must be five times its rhythm there).
BATCH_PURITY = 5.0
# A burst at least this long is a crowd's, not a batch's own (see analyze).
CROWD_BURST_MS = 20 * 60_000
# A run's batch is taken by who cast it (see analyze) while the candidate's own one-off
# voters expected in it stay under this share of the votes taken.
BY_WHO_FALSE = 0.05
# A burst is an anomaly's episode when this share of its votes carry it (and it has at
# least this many voters): see analyze().
EPISODE_PURITY = 0.8
EPISODE_MIN_VOTERS = 50
EPISODE_MIN_NETS = 8  # more networks than an office or a school has (1-4)
# A device string's crowd on one candidate removes on its own when it returns on this
# many Beijing days with this many voters each (see analyze).
DEVICE_RECUR_DAYS = 3
DEVICE_RECUR_VOTERS = 10
# ... and so do machine-paced voters this far beyond the campaign's typical candidate.
AUTOMATED_RATIO = 10.0
AUTOMATED_LOG10P = 10.0
# Evidence items of one type shown per case (the rest are counted).
EVIDENCE_PER_TYPE = 3
# A group is a roster (strong) when most members turn up on most days it meets.
ROSTER_ATTENDANCE = 0.8
ROSTER_DAYS = 4

U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Case:
    """One episode of one pattern, and what to do about it."""

    id: str
    action: str  # "remove" | "review"
    candidates: list[int]
    start_ms: int
    end_ms: int
    rows: I64  # vote indexes attributed to the case
    kinds: int  # evidence kinds present on its votes
    evidence: list[dict[str, Any]] = field(default_factory=list)
    certainty: float = 0.0  # -log10 of the smallest organic probability among its evidence


@dataclass(frozen=True, slots=True)
class Findings:
    series: Series
    windows: list[Window]
    pop: Population
    groups: list[Group]
    group_of: I64  # per voter
    kinds: U8  # per vote: bit set of evidence kinds
    strong: U8  # per vote: bit set of the kinds that are strong for that vote
    window_of: I64  # per vote: index of its temporal window, -1 if none
    level: U8  # per vote: 0 clean, 1 review, 2 remove
    cases: list[Case]
    case_of: I64  # per vote: index into cases, -1 if none
    # Bursts made almost entirely of one anomaly: window index -> (kind of the anomaly,
    # its share of the burst's votes, its share of the votes outside every window).
    episodes: dict[int, list[tuple[str, float, float]]] = field(default_factory=dict)
    # Per vote, which rule of one overwhelming kind removed it, so that its case says so:
    # a device string returning day after day, machine pace returning day after day, a
    # periodic batch taken by who cast it.
    recur_device: B = field(default_factory=lambda: np.zeros(0, dtype=bool))
    recur_automated: B = field(default_factory=lambda: np.zeros(0, dtype=bool))
    by_who: B = field(default_factory=lambda: np.zeros(0, dtype=bool))


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, BEIJING).isoformat(timespec="milliseconds")


def short(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, BEIJING).strftime("%m-%d %H:%M")


def _bits(x: U8) -> npt.NDArray[np.int64]:
    out: npt.NDArray[np.int64] = np.unpackbits(x[:, None], axis=1).sum(axis=1).astype(np.int64)
    return out


def overwhelming(w: Window) -> bool:
    return (
        w.kind == "periodic"
        and int(num(w.evidence, "batches")) >= OVERWHELMING_BATCHES
        and num(w.evidence, "gap_cv") <= OVERWHELMING_CV
    )


def is_roster(g: Group) -> bool:
    return g.attendance >= ROSTER_ATTENDANCE and g.days_together >= ROSTER_DAYS


def analyze(t: VoteTable) -> Findings:
    """Run the three layers, fuse them per vote and group the flags into cases. Pure."""
    s = build_series(t)
    pop = analyse_population(t)
    # Who is suspect on their own (machine pace, a proxy-pool address): their votes per
    # candidate form a sub-stream whose timing is tested apart, where small batches are
    # not drowned by the candidate's organic traffic.
    cohort = pop.automated[t.voter] | pop.novel_flag
    windows = (
        find_bursts(s)
        + merge_periodic(find_periodic(s))
        + cohort_periodic(t, s, cohort)
        + find_off_rhythm(s, t)
        + find_level_shifts(s)
    )
    groups, group_of = find_groups(t, pop)
    n = t.size
    kinds = np.zeros(n, dtype=np.uint8)
    strong = np.zeros(n, dtype=np.uint8)
    window_of = np.full(n, -1, dtype=np.int64)
    alone = np.zeros(n, dtype=bool)  # removed on one overwhelming kind
    crowded = np.zeros(n, dtype=bool)  # in a batch that also holds the candidate's own voters
    lonely = _one_off_share(t, pop, windows)
    taken_by_who = np.zeros(n, dtype=bool)
    in_batch = np.zeros(n, dtype=bool)  # in a long even run's batch, not in a crowd's burst
    bursts: dict[int, list[tuple[int, int]]] = {}
    # A crowd's burst lasts longer than any batch (a batch's own burst is a few minutes).
    crowds: dict[int, list[tuple[int, int]]] = {}
    for w in windows:
        if w.kind == "burst":
            bursts.setdefault(w.candidate, []).append((w.start_ms, w.end_ms))
            if w.end_ms - w.start_ms >= CROWD_BURST_MS:
                crowds.setdefault(w.candidate, []).append((w.start_ms, w.end_ms))
    # Periodic windows first: a batch inside a burst window belongs to the periodic run.
    order = sorted(range(len(windows)), key=lambda i: windows[i].kind != "periodic")
    votes_of = np.bincount(t.voter, minlength=len(t.voter_names))
    for wi in order:
        w = windows[wi]
        if w.kind == "off_rhythm":
            continue  # a whole candidate around the clock says where to look, nothing more
        inside: list[I64] = []
        between = (
            _between_batches(t, w)
            if w.kind == "periodic" and not w.evidence.get("cohort")
            else np.zeros(len(w.spans))
        )
        for si, (a, b) in enumerate(w.spans or [(w.start_ms, w.end_ms)]):
            lo, hi = np.searchsorted(t.t_ms, [a, b])
            sel = lo + np.flatnonzero(t.cand[lo:hi] == w.candidate)
            pure = by_who = True
            if w.evidence.get("cohort"):
                sel = sel[cohort[sel]]  # a cohort's run speaks for the cohort only
            elif w.kind == "periodic":
                e = _expected_votes(s, w.candidate, a, b)
                pure = len(sel) >= BATCH_PURITY * e
                # By who (below) takes the batch's identities, who cast all their votes
                # inside it, and with them the candidate's one-off voters who came in the
                # same minutes: a batch is taken so while those are expected to be a
                # small share of what is taken, and never inside a crowd's burst.
                # The candidate's own voters there are counted between the run's
                # batches: its rhythm for the day counts the batches too, when they come
                # every few minutes all day long.
                e_here = float(between[si])
                by_who = pure or lonely[w.candidate] * e_here <= BY_WHO_FALSE * (len(sel) - e_here)
            # Not inside a crowd's burst either, for a cohort's run too: a share wave
            # brings some people on home networks of their own, who join the cohort.
            crowd_here = w.kind == "periodic" and _in_burst(crowds.get(w.candidate, []), a, b)
            if by_who and not crowd_here:
                inside.append(sel)
            if overwhelming(w) and not crowd_here:
                in_batch[sel] = True
            sel = sel[window_of[sel] < 0]
            window_of[sel] = wi
            kinds[sel] |= TIME
            if w.kind == "periodic" and not crowd_here:  # in a crowd's burst: weak timing
                if pure:
                    strong[sel] |= TIME
                else:
                    crowded[sel] = True
        if overwhelming(w) and inside:
            # By who, not only by when: a batch's identities cast every one of their votes
            # inside the batches; a person who happened to vote in the same minute has
            # votes elsewhere (other candidates, other days) and is not taken along.
            rows = np.concatenate(inside)
            in_run = np.bincount(t.voter[rows], minlength=len(votes_of))
            taken = rows[in_run[t.voter[rows]] == votes_of[t.voter[rows]]]
            alone[taken] = True
            taken_by_who[taken] = True
        if w.kind == "periodic" and not w.evidence.get("cohort"):
            # Between the batches that stood out, the run still says when to look: a vote
            # for the candidate inside the run's span is weakly timed (it needs a strong
            # kind of its own, such as machine pace, to be flagged).
            lo, hi = np.searchsorted(t.t_ms, [w.start_ms, w.end_ms])
            sel = lo + np.flatnonzero(t.cand[lo:hi] == w.candidate)
            sel = sel[window_of[sel] < 0]
            window_of[sel] = wi
            kinds[sel] |= TIME
    voter = t.voter
    kinds[pop.automated[voter]] |= BEHAVIOUR
    strong[pop.automated[voter]] |= BEHAVIOUR
    net_flag = pop.novel_flag | pop.private_flag
    kinds[net_flag] |= NETWORK
    strong[net_flag] |= NETWORK
    dev_flag = pop.cell_flag | pop.ua_flag | pop.crowd_ua_flag
    kinds[dev_flag] |= DEVICE
    strong[dev_flag] |= DEVICE
    # A proxy pool seen only through its addresses: a burst is no second kind for it, since
    # a real share wave brings people on home networks too; a steady stream outside any
    # burst, far beyond every other candidate's share, is overwhelming on its own.
    novel_only = pop.novel_flag & ~pop.private_flag & ~dev_flag
    in_burst = np.zeros(n, dtype=bool)
    known = window_of >= 0
    in_burst[known] = np.array([windows[int(i)].kind == "burst" for i in window_of[known]], bool)
    timed_burst = novel_only & in_burst & ((strong & TIME) == 0)
    kinds[timed_burst] &= np.uint8(0xFF ^ TIME)
    # A burst made almost entirely of one anomaly: when nearly all of a burst's votes
    # come through addresses no honest crowd produces, carry a User-Agent the rest of
    # the campaign hardly uses, or are clicked faster than a person can, the burst is
    # that anomaly's episode, and its timing is a second kind for those votes. A real
    # crowd carries the population's mix: some of its people have a home network of
    # their own, an uncommon phone or a quick thumb, never nearly all of them.
    # (A crowd on one network is no such anomaly: an assembly is one.)
    traits = {
        "network": pop.novel_flag | pop.private_flag,
        "device": pop.crowd_ua_flag | pop.ua_flag,
        "behaviour": pop.automated[voter],
    }
    outside = window_of < 0
    episodes: dict[int, list[tuple[str, float, float]]] = {}
    for wi, rows in _rows_by_window(window_of):
        if windows[wi].kind != "burst" or len(np.unique(voter[rows])) < EPISODE_MIN_VOTERS:
            continue
        for name, trait in traits.items():
            hit = trait[rows]
            # A pool is many addresses: a burst whose flagged votes sit on a handful of
            # networks is shaped like an organisation (an office, a hall), not a pool.
            if name == "network" and len(np.unique(t.net[rows[hit]])) < EPISODE_MIN_NETS:
                continue
            if hit.mean() >= EPISODE_PURITY:
                kinds[rows[hit]] |= TIME
                strong[rows[hit]] |= TIME
                base = float(trait[outside].mean()) if outside.any() else 0.0
                episodes.setdefault(wi, []).append((name, float(hit.mean()), base))
    # A device string set by whoever made the identities, returning day after day on the
    # same candidate, is a campaign of its own (the same operator every day), not real
    # people who voted together once: it removes on its own (no organic candidate or hard
    # negative of the tuning campaigns produced one; bench/README.md).
    recur_device = _recurring(t, pop, dev_flag)
    alone |= recur_device
    # Likewise machine-paced voters, far beyond the campaign's rate, on one candidate day
    # after day: the same script every day.
    recur_automated = _automated_days(t, pop)
    alone |= recur_automated
    strong_novel = pop.novel_log10p[t.cand] >= NOVEL_OVERWHELMING_LOG10P
    # Any burst of the vote's candidate, also where a periodic run claimed the minutes: a
    # share wave passing during a pool's run brings people on home networks of their own.
    under_burst = in_burst.copy()
    for bc, spans in bursts.items():
        for a, b in spans:
            lo, hi = np.searchsorted(t.t_ms, [a, b])
            under_burst[lo + np.flatnonzero(t.cand[lo:hi] == bc)] = True
    alone |= pop.novel_pure & ~pop.cell_flag & ~under_burst & strong_novel
    # A vote-exchange ring this far beyond the campaign's loyal voters removes on its own
    # (no ring of two or more candidates came near it among the tuning campaigns' organic
    # voters, superfans and fan clubs included; bench/README.md).
    kinds[pop.ring_flag] |= COORD
    strong[pop.ring_flag] |= COORD
    alone |= pop.ring_flag
    g = group_of[voter]
    for gi, grp in enumerate(groups):
        sel = (g == gi) & np.isin(t.cand, grp.candidates)
        kinds[sel] |= COORD
        if is_roster(grp):
            strong[sel] |= COORD
    # In a batch the candidate's own voters share, the batch speaks for the votes that are
    # the batch's by who cast them: those whose voter carries a strong trait of their own.
    crowded &= (strong & np.uint8(0xFF ^ TIME)) != 0
    strong[crowded] |= TIME
    n_kinds, n_strong = _bits(kinds), _bits(strong)
    # A burst or a level shift is no second kind for a one-off episode: real people voting
    # together once (an assembly on one network, a share wave, an official account's push)
    # bring a burst and, now and then, one strong-looking trait (a handful of phone
    # models, fresh home networks, a few quick tappers). So one strong kind removes only
    # with recurrence beside it (coordination: the same people again on other days);
    # otherwise it takes two strong kinds (a burst made almost entirely of one trait has
    # already counted as one, above). The held-out benchmark measured what this costs and
    # saves (bench/README.md): a wrong removal is worse than a miss.
    # A long, even periodic run is recurrence itself (the same schedule firing hundreds
    # of times): a vote inside one of its batches with a strong trait of its own is no
    # one-off. Only inside the batches, and not where a crowd's burst covers them: a
    # share wave passing during a day-long run brings people on home networks of their
    # own (evaluation block 11001-11020 showed it).
    one_off = (n_strong < 2) & ((kinds & COORD) == 0) & ~in_batch
    remove = ((n_kinds >= 2) & (n_strong >= 1) & ~one_off) | alone
    review = ~remove & (n_strong >= 1)
    level = np.where(remove, 2, np.where(review, 1, 0)).astype(np.uint8)
    cases, case_of = build_cases(t, windows, groups, group_of, window_of, kinds, level)
    f = Findings(
        s, windows, pop, groups, group_of, kinds, strong, window_of, level, [], case_of, episodes,
        recur_device, recur_automated, taken_by_who,
    )  # fmt: skip
    cases = [with_evidence(t, f, c) for c in cases]
    # The committee reads the cases in order: removals first, then by votes moved and
    # by how sure the evidence is.
    order = sorted(
        range(len(cases)),
        key=lambda i: (cases[i].action != "remove", -len(cases[i].rows), -cases[i].certainty),
    )
    renum = np.full(len(cases) + 1, -1, dtype=np.int64)
    final: list[Case] = []
    for new, old in enumerate(order):
        c = cases[old]
        renum[old] = new
        final.append(Case(f"C{new + 1}", c.action, c.candidates, c.start_ms, c.end_ms, c.rows,
                          c.kinds, c.evidence, c.certainty))  # fmt: skip
    case_of = renum[case_of]  # -1 maps to the spare last slot, which stays -1
    return Findings(
        s, windows, pop, groups, group_of, kinds, strong, window_of, level, final, case_of,
        episodes, recur_device, recur_automated, taken_by_who,
    )  # fmt: skip


def _rows_by_window(window_of: I64) -> list[tuple[int, I64]]:
    """The vote indexes of each window, in one pass over the votes."""
    known = np.flatnonzero(window_of >= 0)
    order = known[np.argsort(window_of[known], kind="stable")]
    if not len(order):
        return []
    cuts = np.flatnonzero(np.diff(window_of[order])) + 1
    return [(int(window_of[part[0]]), part) for part in np.split(order, cuts)]


def _between_batches(t: VoteTable, w: Window, half_ms: int = 30 * 60_000) -> F64:
    """Per span of a periodic run: the votes the candidate gets in that much time at its
    rate between the run's batches (over the half hour either side)."""
    ts = t.t_ms[t.cand == w.candidate]
    a = np.array([x[0] for x in w.spans], dtype=np.int64)
    b = np.array([x[1] for x in w.spans], dtype=np.int64)
    order = np.argsort(a)
    a, b = a[order], b[order]
    n_in = np.searchsorted(ts, b) - np.searchsorted(ts, a)
    cum_n = np.concatenate([[0], np.cumsum(n_in)])
    cum_len = np.concatenate([[0], np.cumsum(b - a)])
    wa, wb = a - half_ms, b + half_ms
    total = np.searchsorted(ts, wb) - np.searchsorted(ts, wa)
    i0, i1 = np.searchsorted(a, wa), np.searchsorted(a, wb)
    votes = np.maximum(total - (cum_n[i1] - cum_n[i0]), 0)
    span = np.maximum((wb - wa) - (cum_len[i1] - cum_len[i0]), 60_000)
    out = np.empty(len(a))
    out[order] = votes / span * (b - a)
    return out


def _recurring(t: VoteTable, pop: Population, flag: B) -> B:
    """Flagged votes whose (candidate, User-Agent) crowd returns on several days."""
    rows = np.flatnonzero(flag)
    if not len(rows):
        return np.zeros(t.size, dtype=bool)
    n_u, n_d, n_v = max(t.n_uas, 1), pop.n_days, max(len(t.voter_names), 1)
    key = t.cand[rows].astype(np.int64) * n_u + t.ua[rows]
    kd = np.unique((key * n_d + pop.day[rows]) * n_v + t.voter[rows]) // n_v
    kd, voters = np.unique(kd, return_counts=True)
    days = np.unique(kd[voters >= DEVICE_RECUR_VOTERS] // n_d, return_counts=True)
    back = days[0][days[1] >= DEVICE_RECUR_DAYS]
    out = np.zeros(t.size, dtype=bool)
    out[rows[np.isin(key, back)]] = True
    return out


def _automated_days(t: VoteTable, pop: Population) -> B:
    """Machine-paced votes on candidate-days that hold far more machine-paced voters than
    the campaign's typical candidate, when the candidate has several such days."""
    n_c, n_d, n_v = len(t.cand_names), pop.n_days, max(len(t.voter_names), 1)
    cd = t.cand.astype(np.int64) * n_d + pop.day
    cdv = np.unique(cd * n_v + t.voter)
    cell, who = cdv // n_v, cdv % n_v
    n_cell = np.bincount(cell, minlength=n_c * n_d).astype(np.float64)
    k_cell = np.bincount(cell[pop.automated[who]], minlength=n_c * n_d).astype(np.float64)
    per_cand = k_cell.reshape(n_c, n_d).sum(1) / np.maximum(n_cell.reshape(n_c, n_d).sum(1), 1)
    rate = max(float(np.median(per_cand)), 1.0 / n_v)
    lam = n_cell * rate
    hot = (
        (k_cell >= DEVICE_RECUR_VOTERS)
        & (k_cell >= AUTOMATED_RATIO * lam)
        & (surprise(k_cell, lam) / np.log(10) >= AUTOMATED_LOG10P)
    )
    hot_days = hot.reshape(n_c, n_d).sum(1)
    hot &= np.repeat(hot_days >= DEVICE_RECUR_DAYS, n_d)
    out: B = hot[cd] & pop.automated[t.voter]
    return out


def _in_burst(spans: list[tuple[int, int]], a: int, b: int) -> bool:
    return any(lo < b and a < hi for lo, hi in spans)


def _one_off_share(t: VoteTable, pop: Population, windows: list[Window]) -> F64:
    """Per candidate: the share of its votes, away from every window, cast by one-off
    voters (one day, one candidate), or the campaign's share when that is higher.

    A batch taken by who cast it would take along the one-off voters who came in the same
    minutes; this says how many of the candidate's own voters are of that kind.
    """
    n_c = len(t.cand_names)
    away = np.ones(t.size, dtype=bool)
    for w in windows:
        if w.kind in ("off_rhythm", "level_shift"):
            continue
        for a, b in w.spans or [(w.start_ms, w.end_ms)]:
            lo, hi = np.searchsorted(t.t_ms, [a, b])
            away[lo + np.flatnonzero(t.cand[lo:hi] == w.candidate)] = False
    one = pop.one_off[t.voter] & away
    per = np.bincount(t.cand[one], minlength=n_c) / np.maximum(
        np.bincount(t.cand[away], minlength=n_c), 1
    )
    overall = float(one.sum() / max(int(away.sum()), 1))
    out: F64 = np.maximum(per, overall)
    return out


def _expected_votes(s: Series, c: int, a: int, b: int) -> float:
    """The candidate's own rhythm over [a, b): what its organic voters cast then."""
    lo = max((a - s.day0_ms) / BIN_MS, 0.0)
    hi = min((b - s.day0_ms) / BIN_MS, float(s.expected.shape[1]))
    if hi <= lo:
        return 0.0
    bins = np.arange(int(lo), int(np.ceil(hi)))
    overlap = np.minimum(bins + 1, hi) - np.maximum(bins, lo)
    return float((s.expected[c, bins] * overlap).sum())


def cohort_periodic(t: VoteTable, s: Series, cohort: B) -> list[Window]:
    """Regular batches in each candidate's sub-stream of suspect voters."""
    if not cohort.any():
        return []
    n_c, n_min = s.minute_counts.shape
    rel = t.t_ms[cohort] - s.day0_ms
    idx = t.cand[cohort].astype(np.int64) * n_min + rel // 60_000
    minute = np.bincount(idx, minlength=n_c * n_min).reshape(n_c, n_min).astype(np.float64)
    # The sub-stream's own rhythm, as for a candidate's: next to nothing where the cohort
    # is a few stray voters (so a small batch stands out), but a crowd of pool-like
    # voters spread over a day (a final push whose people vote from home) expects its
    # own busy minutes, and a chance cluster among them is no batch.
    five = (
        np.bincount(
            t.cand[cohort].astype(np.int64) * s.counts.shape[1] + rel // BIN_MS,
            minlength=s.counts.size,
        )
        .reshape(s.counts.shape)
        .astype(np.float64)
    )
    sub = Series(s.day0_ms, five, baseline(five), minute)
    out = []
    for w in merge_periodic(find_periodic(sub, scales=(1,))):
        ev = dict(w.evidence)
        ev["cohort"] = "automated or proxy-pool voters / 机器节奏或代理池投票者"
        out.append(Window(w.candidate, w.start_ms, w.end_ms, w.kind, ev, w.spans))
    return out


def build_cases(
    t: VoteTable,
    windows: list[Window],
    groups: list[Group],
    group_of: I64,
    window_of: I64,
    kinds: U8,
    level: U8,
) -> tuple[list[Case], I64]:
    """Group flagged votes by episode and action, then number them by importance.

    A vote's episode is who it belongs to first (its voter's group), then when it was
    cast (its window), else its candidate: attribution by who is inside the episode,
    not only by when it happened.
    """
    n = t.size
    g = group_of[t.voter]
    # Anchor codes: the voter's group, else the candidate. Every window on one candidate
    # that leads to the same action is one case: the same pattern repeated (a batch every
    # 20 minutes, a burst every evening) is one episode for the committee, not twenty.
    # A voter's flagged votes for other candidates (a rack's decoys) belong with the
    # candidate that voter is flagged for most: one case per episode, not one per decoy.
    flagged = np.flatnonzero(level > 0)
    n_c = len(t.cand_names)
    primary = t.cand.astype(np.int64).copy()
    if len(flagged):
        vc, count = np.unique(t.voter[flagged].astype(np.int64) * n_c + t.cand[flagged],
                              return_counts=True)  # fmt: skip
        order = np.lexsort((-count, vc // n_c))
        first = np.ones(len(order), dtype=bool)
        first[1:] = (vc // n_c)[order][1:] != (vc // n_c)[order][:-1]
        best = np.full(len(t.voter_names), -1, dtype=np.int64)
        best[(vc // n_c)[order][first]] = (vc % n_c)[order][first]
        primary[flagged] = best[t.voter[flagged]]
    anchor = np.where(g >= 0, g, len(groups) + primary)
    key = anchor[flagged] * 3 + level[flagged]
    cases: list[Case] = []
    for k in np.unique(key):
        rows = flagged[key == k]
        lvl = int(k % 3)
        cands = sorted(set(t.cand[rows].tolist()))
        ts = t.t_ms[rows]
        start, end = int(ts.min()), int(ts.max()) + 1
        for wi in np.unique(window_of[rows]):
            if wi >= 0:  # the case spans its windows, not only its flagged votes
                start = min(start, windows[int(wi)].start_ms)
                end = max(end, windows[int(wi)].end_ms)
        case_kinds = int(np.bitwise_or.reduce(kinds[rows]))
        cases.append(
            Case("", "remove" if lvl == 2 else "review", cands, start, end, rows, case_kinds)
        )
    # Remove before review, then by votes moved.
    cases.sort(key=lambda c: (c.action != "remove", -len(c.rows), c.start_ms))
    case_of = np.full(n, -1, dtype=np.int64)
    out: list[Case] = []
    for i, c in enumerate(cases):
        case_of[c.rows] = i
        out.append(Case(f"C{i + 1}", c.action, c.candidates, c.start_ms, c.end_ms, c.rows, c.kinds))
    return out, case_of


# ---------------------------------------------------------------------------
# Evidence: each item with its figure and how unlikely it is under organic behaviour.


def _p_text(log10p: float) -> str:
    return f"≤ 1e{-math.floor(log10p)}" if log10p >= 1 else f"≈ {10**-log10p:.2g}"


def _item(kind: int, strong: bool, zh: str, en: str, figure: dict[str, Any], log10p: float,
          organic_zh: str, organic_en: str) -> dict[str, Any]:  # fmt: skip
    return {
        "kind": KIND_NAMES[kind],
        "strength": "strong" if strong else "weak",
        "zh": zh,
        "en": en,
        "figure": figure,
        "organic_log10_p": round(log10p, 1),
        "organic": {"zh": organic_zh, "en": organic_en},
    }


def with_evidence(t: VoteTable, f: Findings, c: Case) -> Case:
    rows = c.rows
    items: list[dict[str, Any]] = []
    vs = np.unique(t.voter[rows])
    # Time: the windows its votes fall in.
    for wi in np.unique(f.window_of[rows]):
        if wi < 0:
            continue
        w = f.windows[int(wi)]
        e = w.evidence
        name = t.cand_names[w.candidate]
        if w.kind == "burst":
            z = num(e, "score")
            log10p = z * z / 2 / math.log(10)  # Gaussian tail of the overdispersed score
            n_in = int(num(e, "votes"))
            for kind, share, base in f.episodes.get(int(wi), []):
                zh_kind = KIND_ZH[next(k for k, v in KIND_NAMES.items() if v == kind)]
                items.append(_item(
                    TIME, True,
                    f"{name} 在 {short(w.start_ms)}–{short(w.end_ms)} 的突增中，{share:.0%} 的票带有同一种{zh_kind}异常，而所有时间窗口之外的票中只有 {base:.1%}",  # noqa: E501
                    f"{share:.0%} of the votes in {name}'s burst {short(w.start_ms)}–{short(w.end_ms)} carry one {kind} anomaly, against {base:.1%} of the votes outside every window",  # noqa: E501
                    {"share": round(share, 3), "outside_share": round(base, 4), "votes": e["votes"]},  # noqa: E501
                    _binom_log10p(round(share * n_in), n_in, max(base, 1e-4)),
                    "真实人群带着全体投票者的各式网络、手机与节奏，只有少数人有这种异常；几乎全部都有，说明这次突增就是这种异常本身",
                    "a real crowd carries the population's mix of networks, phones and paces, where only a few have such an anomaly; nearly all of a burst having it makes the burst the anomaly's own episode",  # noqa: E501
                ))  # fmt: skip
            items.append(_item(
                TIME, False,
                f"{name} 在 {short(w.start_ms)}–{short(w.end_ms)} 得 {e['votes']} 票，按其自身节奏预期 {e['expected']} 票（{e['ratio']} 倍）",  # noqa: E501
                f"{name} got {e['votes']} votes {short(w.start_ms)}–{short(w.end_ms)} where its own rhythm predicts {e['expected']} (x{e['ratio']})",  # noqa: E501
                {"votes": e["votes"], "expected": e["expected"], "score": z},
                log10p,
                "真实人群（转发、公众号推送、集会）也会造成突增，故为弱证据",
                "real crowds (shares, pushes, assemblies) cause bursts too: weak evidence",
            ))  # fmt: skip
        elif w.kind == "level_shift":
            z = num(e, "score")
            items.append(_item(
                TIME, False,
                f"{name} 在 {short(w.start_ms)}–{short(w.end_ms)} 连续 {e['days']} 天得票占比高于其自身常态：{e['votes']} 票，按其常见占比预期 {e['expected']} 票（{e['ratio']} 倍）",  # noqa: E501
                f"{name}'s share of the day's votes stayed above its own typical share for {e['days']} days {short(w.start_ms)}–{short(w.end_ms)}: {e['votes']} votes where its typical share predicts {e['expected']} (x{e['ratio']})",  # noqa: E501
                {"votes": e["votes"], "expected": e["expected"], "days": e["days"], "score": z},
                z * z / 2 / math.log(10),
                "真实的人气上升也会如此，故为弱证据，只说明何时值得查看",
                "a real rise in popularity does this too: weak evidence, it says when to look",
            ))  # fmt: skip
        elif w.kind == "periodic":
            ow = overwhelming(w)
            items.append(_item(
                TIME, True,
                f"{name} 在 {short(w.start_ms)}–{short(w.end_ms)} 出现 {e['batches']} 个批次，每 {e['period_minutes']} 分钟一次（间隔变异 {e['gap_cv']}，自相关 {e['autocorrelation_at_period']}）",  # noqa: E501
                f"{name}: {e['batches']} batches every {e['period_minutes']} min {short(w.start_ms)}–{short(w.end_ms)} (gap variation {e['gap_cv']}, autocorrelation {e['autocorrelation_at_period']})",  # noqa: E501
                {k: e[k] for k in ("batches", "period_minutes", "gap_cv", "votes_in_batches")},
                6.0 if ow else 3.0,
                "基准测试的全部自然流量与困难反例中未出现这样的周期批次（见 bench/README.md）"
                + ("；单凭此项即可剔除" if ow else ""),
                "no organic candidate or hard negative in the benchmark's evaluation campaigns produced such a run (bench/README.md)"  # noqa: E501
                + ("; enough on its own to remove" if ow else ""),
            ))  # fmt: skip
    items += _recurrence_items(t, f, rows)
    auto = f.pop.automated[vs]
    if auto.any():
        others = np.ones(len(t.voter_names), dtype=bool)
        others[vs] = False
        base = float(f.pop.automated[others].mean()) if others.any() else 0.0
        med = float(np.nanmedian(f.pop.median_gap_ms[vs[auto]])) / 1000
        share = float(auto.mean())
        k = int(auto.sum())
        log10p = _binom_log10p(k, len(vs), max(base, 1e-5))
        items.append(_item(
            BEHAVIOUR, True,
            f"{k} 位投票者（{share:.0%}）点击快于或整齐于真人：确认票之间中位 {med:.2f} 秒",
            f"{k} voters ({share:.0%}) click faster or more evenly than a person: median {med:.2f} s between confirmed votes",  # noqa: E501
            {"voters": k, "share": round(share, 3), "median_gap_s": round(med, 2)},
            log10p,
            f"本次活动其余投票者中此比例为 {base:.3%}",
            f"{base:.3%} of the campaign's other voters do so",
        ))  # fmt: skip
    cell = f.pop.cell_flag[rows]
    if cell.any():
        s = f.pop.cell_voters[rows][cell]
        lam = f.pop.cell_expected[rows][cell]
        i = int(np.argmax(s))
        from opstools.analyze.population import surprise

        exp_bound = float(surprise(np.array([float(s[i])]), np.array([float(lam[i])]))[0])
        items.append(_item(
            DEVICE, True,
            f"{int(cell.sum())} 票来自同一网络、同一浏览器标识的人群：最多 {int(s[i])} 位投票者，而全场手机型号分布只预期 {float(lam[i]):.1f} 位",  # noqa: E501
            f"{int(cell.sum())} votes come from crowds on one network with one User-Agent: up to {int(s[i])} voters where the campaign's phone mix predicts {float(lam[i]):.1f}",  # noqa: E501
            {"votes": int(cell.sum()), "voters": int(s[i]), "expected": round(float(lam[i]), 1)},
            exp_bound / math.log(10),
            "自然人群即使共用网络，也带着各自不同的手机",
            "a real crowd on one network still carries the ordinary variety of phones",
        ))  # fmt: skip
    novel = f.pop.novel_flag[rows]
    if novel.any():
        for cc in np.unique(t.cand[rows][novel]):
            k, n_oo = int(f.pop.novel_count[cc]), int(f.pop.novel_of[cc])
            r = f.pop.novel_rate
            name = t.cand_names[int(cc)]
            items.append(_item(
                NETWORK, True,
                f"{name} 的一次性投票者中有 {k} 位（{k / max(n_oo, 1):.0%}）使用全场再无他人使用的网络，典型候选对象为 {r:.0%}",  # noqa: E501
                f"{k} of {name}'s one-off voters ({k / max(n_oo, 1):.0%}) come from networks no other voter ever uses; the typical candidate has {r:.0%}",  # noqa: E501
                {"voters": k, "one_off_voters": n_oo, "typical_share": round(r, 3)},
                float(f.pop.novel_log10p[cc]),
                "转发和推送带来的新投票者使用与大家相同的网络（运营商 NAT、家庭、单位）；每个身份各用一个新地址是代理池的特征",  # noqa: E501
                "new voters from shares and pushes come through the networks everybody uses (carrier NAT, homes, offices); an address of its own for every identity is a proxy pool",  # noqa: E501
            ))  # fmt: skip
    private = f.pop.private_flag[rows]
    if private.any():
        nd = f.pop.n_days
        cells = np.unique(t.cand[rows][private].astype(np.int64) * nd + f.pop.day[rows][private])
        for cell in cells:
            k, exp_nets = int(f.pop.private_k[cell]), float(f.pop.private_expected[cell])
            name = t.cand_names[int(cell) // nd]
            items.append(_item(
                NETWORK, True,
                f"{name} 在第 {int(cell) % nd + 1} 天有 {k} 个“私有”网络：每个网络有两位以上投票者，全都只在这一天投票、全都投给它；按本次活动家庭网络的常见比例预期 {exp_nets:.1f} 个",  # noqa: E501
                f"{name} on day {int(cell) % nd + 1}: {k} private networks, each used by two or more voters who all vote on that day only and all for it; the campaign's rate for shared home networks predicts {exp_nets:.1f}",  # noqa: E501
                {"networks": k, "expected": round(exp_nets, 2)},
                float(f.pop.private_log10p[cell]),
                "学校集会或单位只有一到四个网络；许多这样的网络同时出现是地址池轮换新身份的特征",
                "an assembly or a workplace has one to four networks; many at once is a pool of addresses cycled under fresh identities",  # noqa: E501
            ))  # fmt: skip
    ua_hit = f.pop.ua_flag[rows]
    if ua_hit.any():
        for key in sorted(
            {
                (int(u), int(c))
                for u, c in zip(t.ua[rows][ua_hit], t.cand[rows][ua_hit], strict=True)
            }
        ):
            n_uc, n_u, share, lp = f.pop.ua_figures[key]
            name = t.cand_names[key[1]]
            items.append(_item(
                DEVICE, True,
                f"一种浏览器标识的 {n_u} 位投票者中有 {n_uc} 位（{n_uc / max(n_u, 1):.0%}）投给 {name}，而 {name} 在全体投票者中占 {share:.1%}",  # noqa: E501
                f"{n_uc} of the {n_u} voters ({n_uc / max(n_u, 1):.0%}) with one User-Agent vote for {name}, whose share of all voters is {share:.1%}",  # noqa: E501
                {"voters": n_uc, "ua_voters": n_u, "candidate_share": round(share, 4)},
                lp,
                "真实手机型号的用户按全场比例投给各候选对象；几乎只投一个对象的标识是操作者设定的",
                "the owners of a real phone model vote in the campaign's proportions; a string used almost only for one candidate was set by an operator",  # noqa: E501
            ))  # fmt: skip
    crowd = f.pop.crowd_ua_flag[rows]
    if crowd.any():
        nd = f.pop.n_days
        n_u = max(t.n_uas, 1)
        keys = np.unique((t.cand[rows][crowd].astype(np.int64) * nd + f.pop.day[rows][crowd])
                         * n_u + t.ua[rows][crowd])  # fmt: skip
        for kk in keys.tolist():
            cc, d, u = kk // n_u // nd, kk // n_u % nd, kk % n_u
            k, m, lam_u, lp = f.pop.crowd_ua[(cc, d, u)]
            name = t.cand_names[cc]
            items.append(_item(
                DEVICE, True,
                f"{name} 第 {d + 1} 天的 {m} 位投票者中有 {k} 位使用同一种浏览器标识，按本次活动其余投票者的手机分布只预期 {lam_u:.1f} 位",  # noqa: E501
                f"{k} of {name}'s {m} voters on day {d + 1} carry one User-Agent string, where the rest of the campaign's phone mix predicts {lam_u:.1f}",  # noqa: E501
                {"voters": k, "crowd_voters": m, "expected": round(lam_u, 2)},
                lp,
                "真实人群（转发、推送、集会、单位）带着各式各样的手机；其余投票者几乎不用的标识集中在一群人身上，是制造身份者设定的",
                "real crowds (shares, pushes, assemblies, workplaces) carry the ordinary variety of phones; a string the rest of the campaign hardly uses, carried by a crowd, was set by whoever made the identities",  # noqa: E501
            ))  # fmt: skip
    in_ring = f.pop.ring_flag[rows]
    if in_ring.any():
        ring_cands = {int(c) for c in np.unique(t.cand[rows][in_ring])}
        for cs, (members, lam_r, lp) in f.pop.rings.items():
            if not ring_cands & set(cs):
                continue
            cands = ", ".join(t.cand_names[c] for c in cs)
            items.append(_item(
                COORD, True,
                f"{members} 位投票者在至少 3 天里、每天都为同一组候选对象（{cands}）各投满当日上限，且只投这一组",  # noqa: E501
                f"{members} voters voted, on each of at least 3 days, the full daily cap for exactly the same set of candidates ({cands}) and nothing else",  # noqa: E501
                {"members": members, "expected": round(lam_r, 2), "candidates": len(cs)},
                lp,
                f"本次活动的忠实投票者按人气分布各自的偏好，预期 {lam_r:.1f} 位恰好选这一组；远超于此是互投群；单凭此项即可剔除",  # noqa: E501
                f"the campaign's loyal voters spread over the candidates by popularity and predict {lam_r:.1f} on this exact set; far beyond that is a vote-exchange ring; enough on its own to remove",  # noqa: E501
            ))  # fmt: skip
    gs = np.unique(f.group_of[vs])
    for gi in gs[gs >= 0]:
        grp = f.groups[int(gi)]
        roster = is_roster(grp)
        # Chance that a member shows up on a given day, from the campaign: voters return on
        # few days; that most of a fixed roster shows up together on d days is a product.
        log10p = grp.days_together * len(grp.members) * grp.attendance * 0.05
        cands = ", ".join(t.cand_names[x] for x in grp.candidates)
        items.append(_item(
            COORD, roster,
            f"群体 G{int(gi) + 1}：{len(grp.members)} 位投票者在 {grp.days_together} 天里一起为 {cands} 投票（每天 {grp.median_spread_s:.0f} 秒内，出勤 {grp.attendance:.0%}），来自 {grp.nets} 个网络、{grp.uas} 种浏览器标识",  # noqa: E501
            f"group G{int(gi) + 1}: {len(grp.members)} voters voting for {cands} together on {grp.days_together} days (within {grp.median_spread_s:.0f} s a day, attendance {grp.attendance:.0%}) from {grp.nets} networks and {grp.uas} User-Agents",  # noqa: E501
            {"members": len(grp.members), "days": grp.days_together,
             "attendance": round(grp.attendance, 2), "spread_s": round(grp.median_spread_s)},
            log10p,
            "真人群体（如每日提醒的粉丝群）出勤参差；几乎全员每天到齐是设备名册的特征"
            if roster else "真人群体也会一起投票，故为弱证据",
            "real groups (a fan club's daily reminder) come and go; nearly all present every day is a roster of devices"  # noqa: E501
            if roster else "real groups vote together too: weak evidence",
        ))  # fmt: skip
    certainty = max((it["organic_log10_p"] for it in items), default=0.0)
    items = _strongest(items)
    return Case(c.id, c.action, c.candidates, c.start_ms, c.end_ms, c.rows, c.kinds, items,
                certainty)  # fmt: skip


def _recurrence_items(t: VoteTable, f: Findings, rows: I64) -> list[dict[str, Any]]:
    """Evidence for the votes a rule of one overwhelming kind removed (see analyze)."""
    items: list[dict[str, Any]] = []
    day = f.pop.day
    taken = f.by_who[rows] if len(f.by_who) else np.zeros(len(rows), dtype=bool)
    if taken.any():
        ids = len(np.unique(t.voter[rows][taken]))
        items.append(_item(
            TIME, True,
            f"{ids} 个身份的每一票都落在这段周期批次之内（共 {int(taken.sum())} 票）；候选对象自己的一次性投票者在这些分钟里预期不到所取票数的 {BY_WHO_FALSE:.0%}",  # noqa: E501
            f"{ids} identities cast every one of their votes inside the run's batches ({int(taken.sum())} votes); the candidate's own one-off voters expected in those minutes are under {BY_WHO_FALSE:.0%} of what is taken",  # noqa: E501
            {"identities": ids, "votes": int(taken.sum()), "max_share_taken_along": BY_WHO_FALSE},
            6.0,
            "在这些分钟里投票的真人还会投别的候选对象或在别的日子再来，不会被一并取走；基准测试的自然流量与困难反例中未出现这样的周期批次；单凭此项即可剔除",
            "people who voted in those minutes also vote for other candidates or come back on other days, and are not taken along; no organic candidate or hard negative in the benchmark produced such a run; enough on its own to remove",  # noqa: E501
        ))  # fmt: skip
    for mask, kind in ((f.recur_device, DEVICE), (f.recur_automated, BEHAVIOUR)):
        hit = mask[rows] if len(mask) else np.zeros(len(rows), dtype=bool)
        if not hit.any():
            continue
        sel = rows[hit]
        n_u = max(t.n_uas, 1)
        # A device string per (candidate, string); machine pace per candidate.
        keys = t.cand[sel].astype(np.int64) * n_u + (t.ua[sel] if kind == DEVICE else 0)
        for key in np.unique(keys).tolist():
            mine = sel[keys == key]
            cc, u = key // n_u, key % n_u
            ds = np.unique(day[mine]).tolist()
            days, voters = len(ds), len(np.unique(t.voter[mine]))
            name = t.cand_names[cc]
            if kind == DEVICE:
                # The days' crowd tails (independent days), or the whole campaign's test.
                per_day = [
                    f.pop.crowd_ua[(cc, d, u)][3] for d in ds if (cc, d, u) in f.pop.crowd_ua
                ]
                lp = sum(per_day) if per_day else f.pop.ua_figures.get((u, cc), (0, 0, 0.0, 0.0))[3]
            else:
                lp = float(days) * AUTOMATED_LOG10P  # each day's cell passed that tail
            zh_what, en_what = (
                ("同一种罕见浏览器标识的人群", "a crowd carrying the same rare User-Agent string")
                if kind == DEVICE
                else (
                    "远超典型候选对象的机器节奏投票者",
                    "machine-paced voters far beyond the typical candidate",
                )
            )
            items.append(_item(
                kind, True,
                f"{name}：{zh_what}在 {days} 个北京日里反复出现（每天至少 {DEVICE_RECUR_VOTERS} 位，共 {voters} 位投票者）",  # noqa: E501
                f"{name}: {en_what} came back on {days} Beijing days (at least {DEVICE_RECUR_VOTERS} voters a day, {voters} voters in all)",  # noqa: E501
                {"days": days, "voters": voters, "min_voters_a_day": DEVICE_RECUR_VOTERS},
                float(lp),
                "真实人群一起投票一次，不会每天带着同样的异常回来；基准测试的自然流量与困难反例中未出现这样的重复；单凭此项即可剔除",
                "real people who vote together once do not come back every day with the same anomaly; no organic candidate or hard negative in the benchmark produced such a return; enough on its own to remove",  # noqa: E501
            ))  # fmt: skip
    return items


def _strongest(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most EVIDENCE_PER_TYPE items of each type (kind and figures), the least likely
    under organic behaviour first; the last one kept says how many like it were left out.

    A case that spans a hundred batches or a ring's candidates on every day would
    otherwise repeat one finding a hundred times: the committee reads the strongest and
    the count, and flags.json stays small.
    """
    by_type: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}
    for it in items:
        by_type.setdefault((it["kind"], tuple(sorted(it["figure"]))), []).append(it)
    out: list[dict[str, Any]] = []
    for group in by_type.values():
        group.sort(key=lambda it: -float(it["organic_log10_p"]))
        kept = group[:EVIDENCE_PER_TYPE]
        if len(group) > len(kept):
            kept[-1] = dict(kept[-1], more=len(group) - len(kept))
        out += kept
    return out


def _binom_log10p(k: int, n: int, p: float) -> float:
    """-log10 of the Chernoff bound on P(Binomial(n, p) >= k)."""
    if n <= 0 or k <= n * p:
        return 0.0
    q = k / n
    if q >= 1:
        return -n * math.log10(p)
    kl = q * math.log(q / p) + (1 - q) * math.log((1 - q) / (1 - p))
    return n * kl / math.log(10)


def case_text(t: VoteTable, c: Case) -> tuple[str, str]:
    """One line per language: what the case is and what it proposes."""
    names = ", ".join(t.cand_names[x] for x in c.candidates)
    kinds = [k for k in KIND_NAMES if c.kinds & k]
    zh_k = "、".join(KIND_ZH[k] for k in kinds)
    en_k = ", ".join(KIND_NAMES[k] for k in kinds)
    verb_zh = "建议剔除" if c.action == "remove" else "待复核"
    verb_en = "proposed for removal" if c.action == "remove" else "for review"
    return (
        f"{c.id}：{names} {short(c.start_ms)}–{short(c.end_ms)}，{len(c.rows)} 票{verb_zh}（证据：{zh_k}）",  # noqa: E501
        f"{c.id}: {names} {short(c.start_ms)}–{short(c.end_ms)}, {len(c.rows)} votes {verb_en} (evidence: {en_k})",  # noqa: E501
    )


def window_text(t: VoteTable, w: Window) -> str:
    c = t.cand_names[w.candidate]
    e = w.evidence
    if w.kind == "burst":
        return (
            f"时间 time: burst on {c} {short(w.start_ms)}–{short(w.end_ms)} (Beijing): "
            f"{e['votes']} votes where its own rhythm predicts {e['expected']} (x{e['ratio']})"
        )
    if w.kind == "periodic":
        return (
            f"时间 time: regular batches on {c} {short(w.start_ms)}–{short(w.end_ms)}: "
            f"{e['batches']} batches every {e['period_minutes']} min (gap variation {e['gap_cv']}, "
            f"autocorrelation {e['autocorrelation_at_period']})"
        )
    if w.kind == "level_shift":
        return (
            f"时间 time: level shift on {c} {short(w.start_ms)}–{short(w.end_ms)}: {e['votes']} "
            f"votes over {e['days']} days where its typical share predicts {e['expected']} "
            f"(x{e['ratio']})"
        )
    return (
        f"时间 time: {c} keeps receiving votes at night: {e['night_share']:.1%} of its votes "
        f"fall in {e['night_hours']} against {e['everybody_night_share']:.1%} for all candidates"
    )


def group_text(t: VoteTable, gi: int, grp: Group) -> str:
    cands = ", ".join(t.cand_names[c] for c in grp.candidates)
    return (
        f"协同 coordination: group G{gi + 1}, {len(grp.members)} voters voting for {cands} "
        f"together on {grp.days_together} days (within {grp.median_spread_s:.0f} s a day, "
        f"attendance {grp.attendance:.0%}), from {grp.nets} network(s) and {grp.uas} User-Agent(s)"
    )


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
    """flags.json as docs/file-formats.md describes it, with ``cases``.

    A vote's (and a voter's) reasons are its case's id: the case holds the explanation
    once, in both languages, with every figure, so a flagged vote costs one short entry.
    A case carries the votes attributed to it, as the file's contract asks: ``votes``
    (vote ids) and ``voters`` (voter keys), sorted, with their counts in ``n_votes`` and
    ``n_voters``. A vote id thus appears twice in the file (in ``votes[]`` and in its
    case): about 25 of the file's bytes per flagged vote, which is what a case that can be
    read and applied on its own costs (bench/README.md).
    """
    n_voters = len(t.voter_names)
    case_reason = [c.id for c in f.cases]
    flagged = np.flatnonzero(f.level > 0)
    vote_ids = t.vote_id.gather(flagged).to_list() if len(flagged) else []
    votes = [
        {"vote_id": vid, "level": "remove" if f.level[i] == 2 else "review",
         "reasons": [case_reason[int(f.case_of[i])]]}
        for i, vid in zip(flagged.tolist(), vote_ids, strict=True)
    ]  # fmt: skip
    # A voter is listed only when every one of their votes is proposed for removal: a
    # voter entry removes all their votes, so it must never reach an unflagged one (and a
    # voter with votes for review is best read in the case).
    all_votes = np.bincount(t.voter, minlength=n_voters)
    n_rem = np.bincount(t.voter[f.level == 2], minlength=n_voters)
    whole = np.flatnonzero((n_rem == all_votes) & (n_rem > 0))
    first_case = np.full(n_voters, -1, dtype=np.int64)
    first_case[t.voter[flagged][::-1]] = f.case_of[flagged][::-1]
    names = t.voter_names.gather(whole).to_list() if len(whole) else []
    voters = [
        {"voter": name, "level": "remove", "reasons": [case_reason[int(first_case[v])]]}
        for v, name in zip(whole.tolist(), names, strict=True)
    ]  # fmt: skip
    windows: list[dict[str, Any]] = []
    for wi, w in enumerate(f.windows):
        ev: dict[str, Any] = dict(w.evidence)
        ev["summary"] = window_text(t, w)
        ev["inside"] = window_profile(t, f, wi)
        windows.append(
            {"candidate": t.cand_names[w.candidate], "start": iso(w.start_ms),
             "end": iso(w.end_ms), "kind": w.kind, "evidence": ev}
        )  # fmt: skip
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
                        "attendance": round(g.attendance, 2),
                        "median_daily_spread_seconds": round(g.median_spread_s, 1),
                        "networks": g.nets,
                        "user_agents": g.uas,
                        "votes": int(sel.sum()),
                        "votes_remove": int((f.level[sel] == 2).sum()),
                        "summary": group_text(t, gi, g),
                    },
                }
            )
    cases: list[dict[str, Any]] = []
    for case in f.cases:
        zh, en = case_text(t, case)
        rows = np.sort(case.rows)
        case_votes = sorted(t.vote_id.gather(rows).to_list()) if len(rows) else []
        vs = np.unique(t.voter[rows])
        case_voters = sorted(t.voter_names.gather(vs).to_list()) if len(vs) else []
        cases.append(
            {
                "id": case.id,
                "action": case.action,
                "candidates": [t.cand_names[x] for x in case.candidates],
                "start": iso(case.start_ms),
                "end": iso(case.end_ms),
                "votes": case_votes,
                "voters": case_voters,
                "n_votes": len(case_votes),
                "n_voters": len(case_voters),
                "summary": {"zh": zh, "en": en},
                "evidence": case.evidence,
            }
        )
    return {"votes": votes, "voters": voters, "windows": windows, "cases": cases}


def tally(t: VoteTable, f: Findings) -> list[tuple[str, int, int]]:
    """(candidate, votes, votes after removals), in the order of the cleaned tally."""
    n_c = len(t.cand_names)
    before = np.bincount(t.cand, minlength=n_c)
    removed = np.bincount(t.cand[f.level == 2], minlength=n_c)
    rows = [(t.cand_names[c], int(before[c]), int(before[c] - removed[c])) for c in range(n_c)]
    return sorted(rows, key=lambda r: (-r[2], r[0]))
