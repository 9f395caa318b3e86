"""Score ``ops.py analyze`` on the synthetic benchmark, per attack family and overall.

For each seed: generate, write the export, run the same code path as the CLI, then
compare ``remove`` verdicts with the labels. Time to detection replays the export cut
at every 6 hours (as a periodic check would see it) and reports, per episode, the hours
from its first vote until the first cut at which any of its votes is ``remove``.

    python bench/analysis/evaluate.py --seeds 1 2 3 --voters 60000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.analysis.generate import CRUDE, FAMILIES, HELD_OUT, STEALTHY, generate, write
from opstools.analyze.fuse import analyze
from opstools.analyze.load import read_votes

HOUR_MS = 3_600_000


def pr(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    tp = int((pred & truth).sum())
    p = tp / max(int(pred.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    return p, r


def ranking(df: pl.DataFrame, keep: np.ndarray) -> list[list[str]]:
    """Rank order of each list (event / highlight) by the kept votes."""
    counts = df.filter(pl.Series(keep)).group_by("candidate").len()
    out = []
    for prefix in ("event", "highlight"):
        sub = counts.filter(pl.col("candidate").str.starts_with(prefix)).sort(
            ["len", "candidate"], descending=[True, False]
        )
        out.append(sub["candidate"].to_list())
    return out


def detection_hours(path: Path, df: pl.DataFrame) -> dict[str, float]:
    """Hours from an episode's first vote to the first 6-hourly cut that removes any of it."""
    t_all = df["t_ms"].to_numpy()
    first: dict[str, int] = {}
    for fam in FAMILIES:
        sel = (df["label"] == fam).to_numpy()
        if sel.any():
            first[fam] = int(t_all[sel].min())
    found: dict[str, float] = {}
    lines = path.read_bytes().splitlines(keepends=True)
    t0 = int(t_all.min())
    cut = t0 + 6 * HOUR_MS
    while cut <= int(t_all.max()) + 6 * HOUR_MS and len(found) < len(first):
        n = int(np.searchsorted(t_all, cut))
        with tempfile.NamedTemporaryFile(suffix=".jsonl") as tmp:
            tmp.write(b"".join(lines[:n]))
            tmp.flush()
            table, _ = read_votes(Path(tmp.name))
            f = analyze(table)
        removed = set(table.vote_id.filter(pl.Series(f.level == 2)).to_list())
        sub = df.head(n)
        for fam, ft in first.items():
            if fam in found or ft >= cut:
                continue
            ids = sub.filter(pl.col("label") == fam)["vote_id"].to_list()
            if any(v in removed for v in ids):
                found[fam] = round((cut - ft) / HOUR_MS, 1)
        cut += 6 * HOUR_MS
    return found


def evaluate(seed: int, voters: int, ttd: bool) -> dict[str, Any]:
    df = generate(seed, voters)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "votes.jsonl"
        write(df, path)
        table, bad = read_votes(path)
        assert not bad
        f = analyze(table)
        level = pl.DataFrame({"vote_id": table.vote_id, "level": f.level})
        df = df.join(level, on="vote_id", how="left", maintain_order="left")
        hours = detection_hours(path, df) if ttd else {}
    rem = (df["level"] == 2).to_numpy()
    label = df["label"].to_numpy()
    organic = np.char.startswith(label.astype(str), "organic")
    res: dict[str, object] = {"seed": seed, "votes": df.height}
    voter_rem = df.group_by("voter").agg(pl.col("level").max().alias("lv"), pl.col("label").first())
    vrem = (voter_rem["lv"] == 2).to_numpy()
    vlab = voter_rem["label"].to_numpy().astype(str)
    for fam in FAMILIES:
        truth = label == fam
        # Precision per family: removals on that family's candidate(s) that are its votes.
        cands = df.filter(pl.col("label") == fam)["candidate"].unique()
        on_c = (
            df["candidate"].is_in(cands.implode()).to_numpy()
            if False
            else df["candidate"].is_in(cands.to_list()).to_numpy()
        )
        p, r = pr(rem & on_c & (organic | truth), truth)
        vt = vlab == fam
        vp, vr = pr(vrem & (vt | np.char.startswith(vlab, "organic")), vt)
        res[fam] = {"vote_p": p, "vote_r": r, "voter_p": vp, "voter_r": vr, "ttd_h": hours.get(fam)}
    attack = ~organic
    p, r = pr(rem, attack)
    res["overall"] = {"vote_p": p, "vote_r": r, "voter_p": pr(vrem, ~np.char.startswith(vlab, "organic"))[0],  # noqa: E501
                      "voter_r": pr(vrem, ~np.char.startswith(vlab, "organic"))[1]}  # fmt: skip
    res["organic_removed"] = int((rem & organic).sum())
    res["organic_removed_share"] = float((rem & organic).sum() / organic.sum())
    per_c = (
        df.filter(pl.Series(organic))
        .group_by("candidate")
        .agg((pl.col("level") == 2).sum().alias("r"), pl.len().alias("n"))
    )
    worst: Any = (per_c["r"] / per_c["n"]).max()
    res["worst_candidate_organic_removed_share"] = float(worst)
    neg = {}
    for lab in np.unique(label[organic]):
        s = label == lab
        neg[str(lab)] = int((rem & s).sum())
    res["organic_removed_by_kind"] = neg
    res["ranking_matches"] = ranking(df, organic) == ranking(df, ~rem)
    res["ranking_matches_without_held_out"] = ranking(df, organic) == ranking(
        df, ~rem & (label != "decoy_rotation")
    )
    res["ranking_raw_matches"] = ranking(df, organic) == ranking(df, np.ones(len(rem), bool))
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--voters", type=int, default=60_000)
    ap.add_argument("--ttd-seeds", type=int, default=1, help="seeds that also replay 6-hourly cuts")
    a = ap.parse_args()
    results = [evaluate(s, a.voters, i < a.ttd_seeds) for i, s in enumerate(a.seeds)]
    print("| family | group | vote P | vote R | voter P | voter R | time to detection (h) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for fam in FAMILIES:
        grp = "crude" if fam in CRUDE else "stealthy" if fam in STEALTHY else "held out"
        rows = [r[fam] for r in results]

        def m(k: str, rows: list[dict[str, Any]] = rows) -> str:
            v = [x[k] for x in rows]
            return f"{min(v):.3f} / {np.mean(v):.3f}"

        ttd = [x["ttd_h"] for x in rows if x["ttd_h"] is not None]
        print(
            f"| {fam} | {grp} | {m('vote_p')} | {m('vote_r')} | {m('voter_p')} | {m('voter_r')} | {', '.join(map(str, ttd)) or 'n/a'} |"  # noqa: E501
        )
    ov = [r["overall"] for r in results]
    print(
        f"| overall | all | {min(o['vote_p'] for o in ov):.3f} / {np.mean([o['vote_p'] for o in ov]):.3f} | "  # noqa: E501
        f"{min(o['vote_r'] for o in ov):.3f} / {np.mean([o['vote_r'] for o in ov]):.3f} | "
        f"{min(o['voter_p'] for o in ov):.3f} | {min(o['voter_r'] for o in ov):.3f} | |"
    )
    print()
    for r in results:
        print(
            f"seed {r['seed']}: {r['votes']} votes; organic removed {r['organic_removed']} "
            f"({r['organic_removed_share']:.5%}), worst candidate {r['worst_candidate_organic_removed_share']:.5%}; "  # noqa: E501
            f"by kind {r['organic_removed_by_kind']}; cleaned ranking == organic: {r['ranking_matches']} "  # noqa: E501
            f"(held-out family set aside: {r['ranking_matches_without_held_out']}; raw: {r['ranking_raw_matches']})"  # noqa: E501
        )
    _ = HELD_OUT


if __name__ == "__main__":
    main()
