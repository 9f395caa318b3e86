"""``ops.py audit PUBLIC_EXPORT``: redo the published results from the published files alone.

PUBLIC_EXPORT is the folder holding results.json and the files it names (the site's
``/audit/`` folder, downloaded, or the tally's output folder). The audit checks each
file's SHA-256, re-verifies every vote with verify's checks, checks the invalidation
log's hash chain and that every recorded removal was applied, recomputes the tally and
the Merkle root with the tally's own pure code, compares every published number, and
checks that every published inclusion proof leads to the root. Exit 0 only if all agree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ballotbox.core.campaign import ListSpec
from ballotbox.core.formats import Results

from opstools import merkle
from opstools.experts import mean_scores, parse_experts
from opstools.invalidations import chain_removals, parse_log, removals_from_json
from opstools.scoring import method_from_json
from opstools.tally import compute, read_lines, scan
from opstools.verify import load_auditor


def differences(published: Any, recomputed: Any, where: str = "") -> Iterator[str]:
    """Every path at which two JSON values differ."""
    if isinstance(published, dict) and isinstance(recomputed, dict):
        for key in sorted(set(published) | set(recomputed)):
            yield from differences(published.get(key), recomputed.get(key), f"{where}.{key}")
    elif isinstance(published, list) and isinstance(recomputed, list):
        if len(published) != len(recomputed):
            yield f"{where or '.'}: {len(published)} items published, {len(recomputed)} recomputed"
        for i, (a, b) in enumerate(zip(published, recomputed, strict=False)):
            yield from differences(a, b, f"{where}[{i}]")
    elif published != recomputed or type(published) is not type(recomputed):
        yield f"{where or '.'}: published {published!r}, recomputed {recomputed!r}"


def audit(folder: Path) -> list[str]:
    """Problems found, as sentences; an empty list means every number was reproduced."""
    data = json.loads((folder / "results.json").read_text("utf-8"))
    results = Results.from_json(data)
    files = results.files
    problems = []
    for name, digest in results.sha256.items():
        actual = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if actual != digest:
            problems.append(f"{name}: SHA-256 is {actual}, results.json says {digest}")
    auditor = load_auditor(folder / files["campaign"])
    removals = removals_from_json(json.loads((folder / files["removals"]).read_text("utf-8")))
    if "invalidations" in files:
        records = parse_log((folder / files["invalidations"]).read_text("utf-8"))
        recorded = chain_removals(records)
        missing = [v for v in recorded.votes if v not in removals.votes]
        missing += [v for v in recorded.voters if v not in removals.voters]
        if missing:
            problems.append(f"recorded removals not applied: {', '.join(sorted(missing))}")
    experts = None
    if "experts" in files:
        ids = list(auditor.campaign.candidates)
        text = (folder / files["experts"]).read_text("utf-8-sig")
        experts = mean_scores(parse_experts(text, ids))
    lists = [ListSpec(item.kind, item.select) for item in results.lists]
    result_scan = scan(read_lines(folder / files["ledger"]), auditor, removals)
    numbers = compute(
        result_scan,
        campaign=auditor.campaign,
        lists=lists,
        method=method_from_json(results.method),
        expert_scores=experts,
        removals=removals,
    )
    problems += differences({k: data.get(k) for k in numbers}, numbers)
    problems += _check_proofs(folder, results, result_scan.entries)
    return problems


def _check_proofs(folder: Path, results: Results, entries: list[tuple[str, str, str]]) -> list[str]:
    root = bytes.fromhex(results.root)
    prefix = results.proofs_prefix
    buckets: dict[str, Any] = {}
    problems = []
    for index, (vid, receipt, _) in enumerate(entries):
        name = vid[:prefix]
        if name not in buckets:
            path = folder / results.proofs_dir / f"{name}.json"
            buckets[name] = json.loads(path.read_text("utf-8")) if path.is_file() else {}
        entry = buckets[name].get("proofs", {}).get(vid)
        if entry is None:
            problems.append(f"{vid}: no published inclusion proof")
            continue
        path_hashes = [bytes.fromhex(p) for p in entry["path"]]
        leaf = merkle.receipt_leaf(receipt)
        proved = entry["index"] == index and merkle.verify_inclusion(
            leaf, index, len(entries), path_hashes, root
        )
        # A replayed vote id appears twice; its proof covers the first occurrence.
        replay = index > 0 and entries[index - 1][0] == vid
        if not proved and not replay:
            problems.append(f"{vid}: the published proof does not lead to the root")
    return problems


def run(args: argparse.Namespace) -> int:
    try:
        problems = audit(args.folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # ValueError covers bad JSON, campaign, experts and a broken invalidation chain.
        print(
            f"audit: the published files are incomplete or unreadable: {exc}"
            " / 公开文件不完整或无法读取",
            file=sys.stderr,
        )
        return 1
    for problem in problems:
        print(problem)
    if problems:
        print(f"audit FAILED: {len(problems)} problems / 核查未通过", file=sys.stderr)
        return 1
    print(
        "audit OK: every published number and the Merkle root were reproduced"
        " / 核查通过：公布的每个数字与 Merkle 根均已复算一致",
        file=sys.stderr,
    )
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "audit", help="recompute the results from the public export", description=__doc__
    )
    parser.add_argument("folder", type=Path, help="the public export (holds results.json)")
    parser.set_defaults(run=run)
