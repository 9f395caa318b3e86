"""Score one or more checkouts' ``ops.py analyze`` on fresh held-out draws.

The detector is a black box: each checkout is run as ``<checkout>/.venv/bin/python ops.py
analyze FILE --out DIR`` and only its ``flags.json`` is read. Every draw is generated once
and given to every checkout, so the comparison is on the same votes.

    .venv/bin/python -m bench.analysis_heldout.score --draws 5 \
        --checkout /work/wt/i11 --checkout . --json /tmp/heldout.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.analysis_heldout.generate import (
    ATTACKS,
    LABELS,
    NEGATIVES,
    ORGANIC,
    candidate_ids,
    generate,
    write,
)

# Evaluation seeds: SEED_BASE + draw index. Never used for anything but these runs.
SEED_BASE = 20_211_229_000


@dataclass
class DrawResult:
    seed: int
    votes: int
    seconds: float
    cases: int | None
    flagged_votes: int
    removed: dict[str, int] = field(default_factory=dict)  # label -> votes at remove
    flagged: dict[str, int] = field(default_factory=dict)  # label -> votes at any level
    total: dict[str, int] = field(default_factory=dict)  # label -> votes


def run_checkout(checkout: Path, export: Path, out: Path) -> tuple[float, dict[str, object]]:
    python = checkout / ".venv" / "bin" / "python"
    began = time.perf_counter()
    subprocess.run(
        [str(python), "ops.py", "analyze", str(export), "--out", str(out)],
        cwd=checkout,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - began
    flags: dict[str, object] = json.loads((out / "flags.json").read_text(encoding="utf-8"))
    return seconds, flags


def score_draw(
    seed: int, labels: dict[str, str], seconds: float, flags: dict[str, object]
) -> DrawResult:
    level: dict[str, str] = {}
    votes = flags.get("votes", [])
    assert isinstance(votes, list)
    for v in votes:
        level[str(v["vote_id"])] = str(v["level"])
    cases = flags.get("cases")
    r = DrawResult(
        seed=seed,
        votes=len(labels),
        seconds=seconds,
        cases=len(cases) if isinstance(cases, list) else None,
        flagged_votes=len(level),
    )
    for name in LABELS:
        r.total[name] = r.removed[name] = r.flagged[name] = 0
    for vid, name in labels.items():
        r.total[name] += 1
        lv = level.get(vid)
        if lv is not None:
            r.flagged[name] += 1
            if lv == "remove":
                r.removed[name] += 1
    return r


def read_labels(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            vid, name = line.rstrip("\n").split("\t")
            out[vid] = name
    return out


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.2f}" if b else "-"


def summarise(results: list[DrawResult]) -> dict[str, object]:
    """Pooled precision/recall plus per-family median and worst-decile recall."""
    attack_total = sum(r.total[a] for r in results for a in ATTACKS)
    attack_removed = sum(r.removed[a] for r in results for a in ATTACKS)
    removed_all = sum(sum(r.removed.values()) for r in results)
    fam: dict[str, dict[str, float]] = {}
    for a in ATTACKS:
        rec = [r.removed[a] / r.total[a] for r in results if r.total[a]]
        flg = [r.flagged[a] / r.total[a] for r in results if r.total[a]]
        fam[a] = {
            "draws": len(rec),
            "median_recall": float(np.median(rec)) if rec else float("nan"),
            "p10_recall": float(np.quantile(rec, 0.1)) if rec else float("nan"),
            "min_recall": min(rec) if rec else float("nan"),
            "median_flagged": float(np.median(flg)) if flg else float("nan"),
            "votes": sum(r.total[a] for r in results),
        }
    neg: dict[str, dict[str, float]] = {}
    for name in (ORGANIC, *NEGATIVES):
        tot = sum(r.total[name] for r in results)
        neg[name] = {
            "votes": tot,
            "removed_pct": 100 * sum(r.removed[name] for r in results) / tot if tot else 0.0,
            "flagged_pct": 100 * sum(r.flagged[name] for r in results) / tot if tot else 0.0,
            "worst_draw_flagged_pct": max(
                (100 * r.flagged[name] / r.total[name] for r in results if r.total[name]),
                default=0.0,
            ),
        }
    cases = [r.cases for r in results if r.cases is not None]
    return {
        "draws": len(results),
        "seeds": [r.seed for r in results],
        "votes_median": statistics.median(r.votes for r in results),
        "remove_precision": attack_removed / removed_all if removed_all else float("nan"),
        "remove_recall": attack_removed / attack_total if attack_total else float("nan"),
        "attack_votes": attack_total,
        "attacks": fam,
        "negatives": neg,
        "cases_median": statistics.median(cases) if cases else None,
        "cases_max": max(cases) if cases else None,
        "seconds_median": statistics.median(r.seconds for r in results),
        "flagged_votes_median": statistics.median(r.flagged_votes for r in results),
    }


def markdown(name: str, s: dict[str, object]) -> str:
    cases = (
        f"cases median {s['cases_median']} (max {s['cases_max']})"
        if s["cases_median"] is not None
        else "no `cases` in flags.json"
    )
    lines = [
        f"### {name}",
        "",
        f"{s['draws']} draws, median {s['votes_median']:,.0f} votes; `remove` precision "
        f"**{s['remove_precision']:.3f}**, recall **{s['remove_recall']:.3f}** over "
        f"{s['attack_votes']:,} attack votes; {cases}; analyze median "
        f"{s['seconds_median']:.0f} s; flagged votes median "
        f"{s['flagged_votes_median']:,.0f}.",
        "",
        "| attack family | draws | votes | median recall | worst-decile recall | min "
        "| median flagged |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    fam = s["attacks"]
    assert isinstance(fam, dict)
    for a, f in fam.items():
        lines.append(
            f"| {a.removeprefix('atk:')} | {f['draws']} | {f['votes']:,} "
            f"| {f['median_recall']:.3f} "
            f"| {f['p10_recall']:.3f} | {f['min_recall']:.3f} | {f['median_flagged']:.3f} |"
        )
    lines += [
        "",
        "| organic / hard negative | votes | removed % | flagged % | worst draw flagged % |",
        "| --- | --- | --- | --- | --- |",
    ]
    neg = s["negatives"]
    assert isinstance(neg, dict)
    for n, f in neg.items():
        lines.append(
            f"| {n.removeprefix('hn:')} | {f['votes']:,} | {f['removed_pct']:.2f} "
            f"| {f['flagged_pct']:.2f} | {f['worst_draw_flagged_pct']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--checkout", type=Path, action="append", help="default /work/wt/i11")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--first", type=int, default=0, help="index of the first draw")
    parser.add_argument("--json", type=Path, help="write per-draw results and summaries here")
    parser.add_argument(
        "--combine", type=Path, nargs="+", help="only summarise the draws of earlier --json files"
    )
    args = parser.parse_args(argv)
    if args.combine:
        combined: dict[str, list[DrawResult]] = {}
        for path in args.combine:
            saved = json.loads(path.read_text(encoding="utf-8"))
            for c, rows in saved["draws"].items():
                combined.setdefault(c, []).extend(DrawResult(**row) for row in rows)
        for name, rs in combined.items():
            print(markdown(name, summarise(sorted(rs, key=lambda r: r.seed))))
        return 0
    checkouts: list[Path] = [c.resolve() for c in (args.checkout or [Path("/work/wt/i11")])]
    root = Path(__file__).resolve().parents[2]
    events, highs = candidate_ids(root)
    per: dict[str, list[DrawResult]] = {str(c): [] for c in checkouts}
    work = Path(tempfile.mkdtemp(prefix="heldout-"))
    try:
        for i in range(args.first, args.first + args.draws):
            seed = SEED_BASE + i
            export = work / f"draw{i}.jsonl"
            began = time.perf_counter()
            labels_path = write(generate(seed), events + highs, export, seed)
            labels = read_labels(labels_path)
            print(
                f"draw {i} seed {seed}: {len(labels):,} votes in "
                f"{time.perf_counter() - began:.1f} s",
                flush=True,
            )
            for c in checkouts:
                out = work / f"out{i}-{c.name}"
                seconds, flags = run_checkout(c, export, out)
                r = score_draw(seed, labels, seconds, flags)
                per[str(c)].append(r)
                rec = sum(r.removed[a] for a in ATTACKS) / max(1, sum(r.total[a] for a in ATTACKS))
                print(
                    f"  {c}: {seconds:.0f} s, attack recall {rec:.3f}, organic flagged "
                    f"{_pct(r.flagged[ORGANIC], r.total[ORGANIC])} %, cases {r.cases}",
                    flush=True,
                )
                shutil.rmtree(out)
            export.unlink()
            labels_path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summaries = {c: summarise(rs) for c, rs in per.items() if rs}
    for name, summary in summaries.items():
        print(markdown(name, summary))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "summaries": summaries,
                    "draws": {c: [r.__dict__ for r in rs] for c, rs in per.items()},
                },
                indent=1,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
