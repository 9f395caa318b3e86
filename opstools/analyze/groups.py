"""Layer 3: groups acting together, SynchroTrap-style but without all-pairs comparisons.

An action is (candidate, Beijing day, 10-minute bucket, network). A *dense cell* is an
action shared by far more distinct voters than the candidate's traffic in that bucket and
the network's share of all voters explain. The same moment is also looked at through any
network: (candidate, bucket) cells with far more distinct voters than the candidate's
share of the day times everybody's voters in that bucket, since a rack behind the carrier
NAT addresses thousands of real voters share makes no crowd on one network. Voters in
dense cells on at least three different days are linked through the cells they share
(union-find; through-any-network cells link (voter, candidate) pairs, so two crowds are
never chained by a passer-by); a component whose members were together (half of them
within one busy hour) on at least three days is a group. Two bucket grids offset by five
minutes catch a lockstep that straddles a bucket edge.

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
DAY_MS = 86_400_000
BEIJING_MS = 8 * 3_600_000
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


def _keep(
    cells: list[I64],
    cell_voter: list[I64],
    cell_day: list[I64],
    dense: npt.NDArray[np.bool_],
    k_of: I64,
    v_of: I64,
    kinv: I64,
    day: I64,
    offset: int,
    keying: int,
) -> None:
    """Append the (cell, voter, day) rows of the dense cells, cells of each grid apart."""
    keep = dense[k_of]
    first_row = np.zeros(len(dense), dtype=np.int64)
    first_row[kinv[::-1]] = np.arange(len(kinv))[::-1]
    grid = (1 if offset else 0) + 2 * keying
    cells.append(k_of[keep] + grid * (1 << 40))
    cell_voter.append(v_of[keep])
    cell_day.append(day[first_row[k_of[keep]]])


def _components(cells: list[I64], nodes: list[I64], days: list[I64], n_days: int) -> list[I64]:
    """Nodes joined by shared dense cells, among nodes in dense cells on MIN_DAYS days."""
    if not cells or not sum(len(c) for c in cells):
        return []
    cell, cv, cd = np.concatenate(cells), np.concatenate(nodes), np.concatenate(days)
    uv, vinv = np.unique(cv, return_inverse=True)
    dense_days = np.bincount(np.unique(vinv * n_days + cd) // n_days, minlength=len(uv))
    ok = dense_days[vinv] >= MIN_DAYS
    cell, cv = cell[ok], cv[ok]
    if not len(cell):
        return []
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
    order = np.argsort(roots, kind="stable")
    splits = np.flatnonzero(np.diff(roots[order])) + 1
    return [uv[part] for part in np.split(order, splits) if len(part) >= MIN_MEMBERS]


def _days_together(t_ms: I64, day: I64, voter: I64, n_days: int) -> I64:
    """Per day, how many distinct voters of these rows voted in its busiest hour."""
    out = np.zeros(n_days, dtype=np.int64)
    if not len(t_ms):
        return out
    hour = ((t_ms - t_ms.min()) // 3_600_000).astype(np.int64)
    nv = int(voter.max()) + 1
    # Each voter's rows per (day, hour), then the best hour (and the one after) per day.
    dh = np.unique((day * 100_000 + hour) * nv + voter) // nv
    for d in np.unique(dh // 100_000).tolist():
        hs = dh[dh // 100_000 == d] % 100_000
        u, c = np.unique(hs, return_counts=True)
        best = c + np.concatenate([c[1:] * (np.diff(u) == 1), [0]])
        out[d] = int(best.max())
    return out


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
    free: list[I64] = []
    free_node: list[I64] = []
    free_day: list[I64] = []
    n_c = len(t.cand_names)
    for offset in (0, BUCKET_MS // 2):
        bucket = (t.t_ms + offset) // BUCKET_MS
        cb = t.cand.astype(np.int64) * (bucket.max() + 1) + bucket
        # The same place and moment: (candidate, bucket, network) against the network's
        # share of all voters.
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
        _keep(cells, cell_voter, cell_day, dense, k_of, v_of, kinv, pop.day, offset, 0)
        # The same moment through any network: a rack of devices behind carrier NAT
        # addresses, which thousands of real voters share, is no crowd on one network,
        # yet it is the same identities at the same minutes day after day.
        cb_v = np.unique(cb * n_voters + voter) // n_voters
        ub, n_b = np.unique(cb_v, return_counts=True)
        kinv_b = np.searchsorted(ub, cb)
        b_c = ub // (bucket.max() + 1)
        b_abs = ub % (bucket.max() + 1)
        # The candidate's share of the day's voters times everybody's voters in this
        # bucket: the whole campaign's rhythm, which one rack cannot move, and the
        # candidate's own popularity that day (its median over days would not do: a rack
        # that comes on most days would set it).
        day_b = (b_abs * BUCKET_MS - offset + BEIJING_MS) // DAY_MS
        day_b -= day_b.min()
        _, b_inv = np.unique(b_abs, return_inverse=True)
        everybody = np.bincount(b_inv, weights=n_b)
        n_d = int(day_b.max()) + 1
        per_cd = np.bincount(b_c * n_d + day_b, weights=n_b, minlength=n_c * n_d)
        per_d = np.bincount(day_b, weights=n_b, minlength=n_d)
        share = per_cd[b_c * n_d + day_b] / np.maximum(per_d[day_b], 1.0)
        lam_b = np.maximum(share * everybody[b_inv], 1.0)
        dense_b = (n_b >= DENSE_MIN_VOTERS * 2) & (
            surprise(n_b.astype(np.float64), lam_b) >= DENSE_SURPRISE
        )
        kb = np.unique(kinv_b.astype(np.int64) * n_voters + voter)
        # A rack votes for its target and a few decoys, and a voter of one candidate may
        # sit in another candidate's crowd by chance: here a member is a (voter,
        # candidate) pair, so that two crowds are never chained through a passer-by.
        node = (kb % n_voters) * n_c + b_c[kb // n_voters]
        _keep(free, free_node, free_day, dense_b, kb // n_voters, node, kinv_b, pop.day,
              offset, 1)  # fmt: skip
    groups: list[Group] = []
    # Network groups speak for every candidate their members vote for; a group found
    # through any network speaks only for the candidates it was found on (a rack's target
    # and decoys: components over the same identities), so a person who fell into it
    # keeps their other votes clean.
    comps: list[tuple[I64, I64 | None]] = [
        (m, None) for m in _components(cells, cell_voter, cell_day, n_days)
    ]
    free_sets: list[tuple[I64, set[int]]] = []
    for nodes in _components(free, free_node, free_day, n_days):
        members, cand = np.unique(nodes // n_c), int(nodes[0] % n_c)
        for i, (other, cs) in enumerate(free_sets):
            if np.isin(members, other).mean() >= 0.5:
                free_sets[i] = (np.union1d(other, members), cs | {cand})
                break
        else:
            free_sets.append((members, {cand}))
    comps += [(m, np.array(sorted(cs), dtype=np.int64)) for m, cs in free_sets]
    for members, found_on in comps:
        members = members[group_of[members] < 0]
        if len(members) < MIN_MEMBERS:
            continue
        rows = np.isin(voter, members)
        if found_on is not None:
            rows &= np.isin(t.cand, found_on)
        # Days on which at least half of the members voted within one hour of the day.
        per_day = _days_together(t.t_ms[rows], pop.day[rows], voter[rows], n_days)
        together = int((per_day >= 0.5 * len(members)).sum())
        if together < MIN_DAYS:
            continue
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
