"""Score ``ops.py analyze`` on fresh campaign draws: per family, per hard negative, overall.

Each seed is one campaign drawn from the whole space in ``generate.py`` (every attack
family once, with its own parameters, and every hard negative). The default seeds are the
newest evaluation block of ``seeds.py`` (``EVALUATION_ROUND4D``), never used for tuning;
the older blocks have been looked at. For each seed the export is written, read and
analysed exactly as the CLI does, then the ``remove`` and ``review`` verdicts are compared
with the labels.

Reported over the seeds: per family the median and the worst decile (10th percentile) of
recall (share of its votes proposed for removal), precision (its removed votes against
organic votes removed on its candidates), flagged share; per hard negative the median and
the worst (90th percentile) share removed and flagged; overall precision and recall over
all attack votes, organic removed and flagged, cases per campaign, flags.json bytes per
flagged vote. Families held out of all tuning are reported apart.

Time to detection replays the export as an organiser rerunning analyze every hour would
see it: for the first ``--ttd-seeds`` seeds and each family, the export cut 1, 2, ... 6
hours after the family's first vote, until one of its votes is proposed for removal.

    python bench/analysis/evaluate.py                       # evaluation seeds
    python bench/analysis/evaluate.py --seeds 1001 1002     # named seeds (tuning)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
# The analysis shares ballotbox.core (the Lambda zip root, functions/) as ops.py does.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions"))

from bench.analysis.generate import FAMILIES, NEGATIVES, generate_with_params, write
from bench.analysis.seeds import EVALUATION_ROUND4D, HELD_OUT
from opstools.analyze.fuse import analyze, to_flags
from opstools.analyze.load import read_votes

HOUR_MS = 3_600_000
TTD_HOURS = 6


def _levels(path: Path) -> tuple[pl.DataFrame, dict[str, Any]]:
    table, bad = read_votes(path)
    if bad:
        raise SystemExit(f"generator wrote {len(bad)} malformed lines")
    f = analyze(table)
    flags = to_flags(table, f)
    return pl.DataFrame({"vote_id": table.vote_id, "level": f.level}), flags


def detection_hours(path: Path, df: pl.DataFrame) -> dict[str, float | None]:
    """Per family: hours after its first vote of the first hourly cut that removes any."""
    t_all = df["t_ms"].to_numpy()
    lines = path.read_bytes().splitlines(keepends=True)
    out: dict[str, float | None] = {}
    for fam in FAMILIES:
        mine = df.filter(pl.col("label") == fam)
        if not mine.height:
            continue
        first = int(mine["t_ms"].min())  # type: ignore[arg-type]
        out[fam] = None
        for h in range(1, TTD_HOURS + 1):
            n = int(np.searchsorted(t_all, first + h * HOUR_MS))
            with tempfile.NamedTemporaryFile(suffix=".jsonl") as tmp:
                tmp.write(b"".join(lines[:n]))
                tmp.flush()
                lv, _ = _levels(Path(tmp.name))
            ids = set(mine.filter(pl.col("t_ms") < first + h * HOUR_MS)["vote_id"].to_list())
            removed = lv.filter(pl.col("level") == 2)["vote_id"]
            if any(v in ids for v in removed.to_list()):
                out[fam] = float(h)
                break
    return out


def evaluate(seed: int, voters: int, ttd: bool) -> dict[str, Any]:
    df, params = generate_with_params(seed, voters)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "votes.jsonl"
        write(df, path)
        t0 = time.perf_counter()
        lv, flags = _levels(path)
        seconds = time.perf_counter() - t0
        flags_bytes = len(json.dumps(flags, ensure_ascii=False, separators=(",", ":")).encode())
        df = df.join(lv, on="vote_id", how="left", maintain_order="left")
        hours = detection_hours(path, df) if ttd else {}
    label = df["label"].to_numpy().astype(str)
    level = df["level"].to_numpy()
    rem, flag = level == 2, level >= 1
    organic = np.char.startswith(label, "organic")
    cand = df["candidate"].to_numpy().astype(str)
    res: dict[str, Any] = {"seed": seed, "votes": df.height, "seconds": round(seconds, 1)}
    for fam in FAMILIES:
        truth = label == fam
        on_c = np.isin(cand, np.unique(cand[truth]))
        tp = int((rem & truth).sum())
        fp = int((rem & on_c & organic).sum())
        res[fam] = {
            "recall": tp / max(int(truth.sum()), 1),
            "precision": tp / max(tp + fp, 1),
            "flagged": float(flag[truth].mean()) if truth.any() else 0.0,
            "ttd_h": hours.get(fam),
            "params": params.get(fam, {}),
        }
    attack = ~organic
    tp = int((rem & attack).sum())
    res["overall"] = {
        "recall": tp / max(int(attack.sum()), 1),
        "precision": tp / max(int(rem.sum()), 1),
        "recall_tuned": float(rem[attack & ~np.isin(label, HELD_OUT)].mean()),
    }
    res["organic_removed"] = float(rem[organic].mean())
    res["organic_flagged"] = float(flag[organic].mean())
    neg: dict[str, dict[str, float]] = {}
    for kind in NEGATIVES:
        s = label == f"organic:{kind}"
        if s.any():
            neg[kind] = {"removed": float(rem[s].mean()), "flagged": float(flag[s].mean())}
    res["negatives"] = neg
    res["cases"] = len(flags["cases"])
    res["bytes_per_flag"] = flags_bytes / max(len(flags["votes"]), 1)
    return res


def q(values: list[float], p: float) -> float:
    return float(np.percentile(np.array(values, dtype=float), p)) if values else float("nan")


def report(results: list[dict[str, Any]]) -> str:
    n = len(results)
    lines = [
        f"{n} campaigns, seeds {results[0]['seed']}–{results[-1]['seed']}, "
        f"{int(np.median([r['votes'] for r in results])):,} votes (median)",
        "",
        "| family | tuned? | recall median | recall worst decile | precision median | "
        "precision worst decile | flagged median | found within 6 h (hourly reruns) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for fam in FAMILIES:
        rec = [r[fam]["recall"] for r in results]
        pre = [r[fam]["precision"] for r in results if r[fam]["recall"] > 0]
        fl = [r[fam]["flagged"] for r in results]
        ttd = [
            r[fam]["ttd_h"] for r in results if "ttd_h" in r[fam] and r[fam]["ttd_h"] is not None
        ]
        ttd_n = sum(1 for r in results if r[fam].get("ttd_h") is not None)
        ttd_of = sum(1 for r in results if r.get("_ttd"))
        lines.append(
            f"| {fam} | {'held out' if fam in HELD_OUT else 'tuned'} | {q(rec, 50):.3f} | "
            f"{q(rec, 10):.3f} | {q(pre, 50):.3f} | {q(pre, 10):.3f} | {q(fl, 50):.3f} | "
            f"{ttd_n}/{ttd_of}" + (f" (median {q(ttd, 50):.0f} h)" if ttd else "") + " |"
        )
    ov = [r["overall"] for r in results]
    lines += [
        "",
        f"- remove, all attack votes: precision median {q([o['precision'] for o in ov], 50):.3f}"
        f" (worst decile {q([o['precision'] for o in ov], 10):.3f}), recall median "
        f"{q([o['recall'] for o in ov], 50):.3f} (worst decile {q([o['recall'] for o in ov], 10):.3f});"  # noqa: E501
        f" tuned families only: recall median {q([o['recall_tuned'] for o in ov], 50):.3f}",
        f"- organic votes removed: median {q([r['organic_removed'] for r in results], 50):.4%},"
        f" worst {max(r['organic_removed'] for r in results):.4%}; flagged at any level: median "
        f"{q([r['organic_flagged'] for r in results], 50):.3%}, worst "
        f"{max(r['organic_flagged'] for r in results):.3%}",
        f"- cases per campaign: median {q([r['cases'] for r in results], 50):.0f}, max "
        f"{max(r['cases'] for r in results)}; flags.json bytes per flagged vote: max "
        f"{max(r['bytes_per_flag'] for r in results):.0f}; analysis time median "
        f"{q([r['seconds'] for r in results], 50):.1f} s",
        "",
        "| hard negative | removed median | removed worst | flagged median | flagged worst |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind in NEGATIVES:
        rows = [r["negatives"][kind] for r in results if kind in r["negatives"]]
        if not rows:
            continue
        re_, fl_ = [x["removed"] for x in rows], [x["flagged"] for x in rows]
        lines.append(
            f"| {kind} | {q(re_, 50):.3%} | {max(re_):.3%} | {q(fl_, 50):.3%} | {max(fl_):.3%} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seeds", type=int, nargs="+", default=list(EVALUATION_ROUND4D))
    ap.add_argument("--voters", type=int, default=60_000, help="organic voters per campaign")
    ap.add_argument("--ttd-seeds", type=int, default=3, help="seeds replayed hourly")
    ap.add_argument("--json", type=Path, help="also write every campaign's figures here")
    a = ap.parse_args()
    results = []
    for i, s in enumerate(a.seeds):
        r = evaluate(s, a.voters, i < a.ttd_seeds)
        r["_ttd"] = i < a.ttd_seeds
        results.append(r)
        worst = min(FAMILIES, key=lambda fam: r[fam]["recall"])
        print(
            f"seed {s}: {r['votes']} votes, recall {r['overall']['recall']:.3f}, precision "
            f"{r['overall']['precision']:.3f}, organic removed {r['organic_removed']:.4%}, "
            f"flagged {r['organic_flagged']:.3%}, cases {r['cases']}, lowest {worst} "
            f"{r[worst]['recall']:.2f} {json.dumps(r[worst]['params'], default=str)}",
            file=sys.stderr,
        )
    if a.json:
        a.json.write_text(json.dumps(results, default=str, indent=1))
    print(report(results))


if __name__ == "__main__":
    main()
