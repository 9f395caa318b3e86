"""Layer 3: groups acting together, SynchroTrap-style but without all-pairs comparisons.

An action is (candidate, Beijing day, 10-minute bucket, network). A *dense cell* is an
action shared by far more distinct voters than the candidate's traffic in that bucket and
the network's share of all voters explain. Voters who sit in dense cells on at least three
different days are linked through the cells they share (union-find over the voter-cell
graph); a component whose members were together on at least three days is a group. Two
bucket grids offset by five minutes catch a lockstep that straddles a bucket edge.

This avoids the quadratic pair list of classic SynchroTrap (millions of voters behind one
carrier NAT would make it explode), while keeping its idea: the same accounts, the same
place, the same moment, again and again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from opstools.analyze.load import VoteTable
from opstools.analyze.population import Population, surprise

I64 = npt.NDArray[np.int64]

BUCKET_MS = 10 * 60_000
MIN_DAYS = 3
MIN_MEMBERS = 5
DENSE_MIN_VOTERS = 5
DENSE_SURPRISE = 12.0


@dataclass(frozen=True, slots=True)
class Group:
    members: list[int]  # voter codes
    candidates: list[int]
    days_together: int
    nets: int
    uas: int
    votes: int
    median_spread_s: float  # per day, seconds between the group's first and last vote
    # Median share of the members present on the days the group met. People come and go
    # (a fan club's reminder brings about half of them on a given day); a rack of devices
    # driven by one operator is nearly all there every time.
    attendance: float


def _find(parent: list[int], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def find_groups(t: VoteTable, pop: Population) -> tuple[list[Group], I64]:
    """Coordinated groups, and per voter the index of its group (-1 for none)."""
    n_voters = len(t.voter_names)
    group_of = np.full(n_voters, -1, dtype=np.int64)
    if t.size == 0:
        return [], group_of
    voter = t.voter.astype(np.int64)
    n_days = int(pop.day.max()) + 1
    voters_on_net = np.bincount(
        np.unique(t.net.astype(np.int64) * n_voters + voter) // n_voters, minlength=t.n_nets
    )
    p_net = voters_on_net / n_voters
    cells: list[I64] = []
    cell_voter: list[I64] = []
    cell_day: list[I64] = []
    for offset in (0, BUCKET_MS // 2):
        bucket = (t.t_ms + offset) // BUCKET_MS
        cb = t.cand.astype(np.int64) * (bucket.max() + 1) + bucket
        key = cb * t.n_nets + t.net
        uk, kinv = np.unique(key, return_inverse=True)
        kv = np.unique(kinv.astype(np.int64) * n_voters + voter)
        k_of, v_of = kv // n_voters, kv % n_voters
        n_in = np.bincount(k_of, minlength=len(uk))
        ucb, cbinv = np.unique(uk // t.n_nets, return_inverse=True)
        # Distinct voters of the candidate in the bucket (summed over networks is an upper
        # bound: a voter rarely switches network within ten minutes).
        n_cb = np.bincount(cbinv, weights=n_in, minlength=len(ucb))
        lam = n_cb[cbinv] * p_net[uk % t.n_nets]
        dense = (n_in >= DENSE_MIN_VOTERS) & (
            surprise(n_in.astype(np.float64), lam) >= DENSE_SURPRISE
        )
        keep = dense[k_of]
        first_row = np.zeros(len(uk), dtype=np.int64)
        first_row[kinv[::-1]] = np.arange(len(kinv))[::-1]
        cells.append(k_of[keep] + (offset > 0) * (1 << 40))
        cell_voter.append(v_of[keep])
        cell_day.append(pop.day[first_row[k_of[keep]]])
    cell = np.concatenate(cells)
    cv = np.concatenate(cell_voter)
    cd = np.concatenate(cell_day)
    if not len(cell):
        return [], group_of
    dense_days = np.bincount(np.unique(cv * n_days + cd) // n_days, minlength=n_voters)
    ok = dense_days[cv] >= MIN_DAYS
    cell, cv, cd = cell[ok], cv[ok], cd[ok]
    if not len(cell):
        return [], group_of
    # Union-find over voters joined by shared dense cells.
    ucell, cinv = np.unique(cell, return_inverse=True)
    uv, vinv = np.unique(cv, return_inverse=True)
    parent = list(range(len(uv)))
    first_of_cell = np.full(len(ucell), -1, dtype=np.int64)
    for ci, vi in zip(cinv.tolist(), vinv.tolist(), strict=True):
        f = int(first_of_cell[ci])
        if f < 0:
            first_of_cell[ci] = vi
        else:
            a, b = _find(parent, f), _find(parent, vi)
            if a != b:
                parent[a] = b
    roots = np.array([_find(parent, i) for i in range(len(uv))])
    groups: list[Group] = []
    for r in np.unique(roots):
        members = uv[roots == r]
        if len(members) < MIN_MEMBERS:
            continue
        in_g = np.isin(cv, members)
        # Days on which at least half of the members shared dense cells.
        per_day = np.bincount(np.unique(cv[in_g] * n_days + cd[in_g]) % n_days, minlength=n_days)
        together = int((per_day >= 0.5 * len(members)).sum())
        if together < MIN_DAYS:
            continue
        rows = np.isin(voter, members)
        cands = np.unique(t.cand[rows])
        # Per day: time from the group's first to last vote.
        spread = []
        present = []
        for d in np.flatnonzero(per_day >= 0.5 * len(members)):
            on_day = rows & (pop.day == d)
            tt = t.t_ms[on_day]
            spread.append((tt.max() - tt.min()) / 1000)
            present.append(len(np.unique(t.voter[on_day])) / len(members))
        gi = len(groups)
        group_of[members] = gi
        groups.append(
            Group(
                members=members.tolist(),
                candidates=cands.tolist(),
                days_together=together,
                nets=len(np.unique(t.net[rows])),
                uas=len(np.unique(t.ua[rows])),
                votes=int(rows.sum()),
                median_spread_s=float(np.median(spread)),
                attendance=float(np.median(present)),
            )
        )
    return groups, group_of
