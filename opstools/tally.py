"""``ops.py tally``: from the ledger, the removals and the expert panel to results.json.

Only votes that pass ``ops.py verify``'s checks count (its ``Auditor`` is reused, not
re-implemented); removals come from ``remove``-level flags and from the organiser's
recorded decisions (``ops.py invalidate``), never from ``review`` flags. Beside
results.json the tally writes the public export, everything an outsider needs to redo
every number with ``ops.py audit``: the ledger without network or User-Agent hashes,
campaign.json, the experts' scores, the removals, the invalidation log and the
Merkle inclusion proofs.

``compute`` is the pure heart, shared with the audit; the rest reads and writes files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from ballotbox.core.campaign import Campaign, ListSpec
from ballotbox.core.clock import beijing_iso
from ballotbox.core.formats import AUDIT_DIR, PRIVATE_FIELDS, RESULTS_FORMAT, Results, public_line

from opstools import merkle
from opstools.experts import mean_scores, parse_experts
from opstools.files import write_atomic
from opstools.invalidations import (
    Removals,
    chain_removals,
    read_flags,
    read_log,
)
from opstools.scoring import Count, Method, decimal4, rank_list
from opstools.verify import Auditor, load_auditor

#: The public export's files, by role, as named in results.json.
FILES = {
    "ledger": "ledger.jsonl",
    "campaign": "campaign.json",
    "experts": "experts.csv",
    "removals": "removals.json",
    "invalidations": "invalidations.jsonl",
}
PROOFS_DIR = "proofs"
#: The public export's folder (AUDIT_DIR), beside results.json: its own folder, so that
#: it can never overwrite an input such as the full export or experts.csv.


class TallyError(ValueError):
    """An input the tally cannot use; the message names the file and the problem."""


def check_line(auditor: Auditor, number: int, line: Mapping[str, Any]) -> list[str]:
    """verify's checks for one line, public or private.

    Thin wrapper: verify's ``Auditor.check`` takes the raw export text and requires
    ``net`` and ``ua``, which it does not otherwise check; the public export leaves them
    out, so they are filled with empty texts here. Everything else is verify's own.
    """
    private = {name: line.get(name, "") for name in PRIVATE_FIELDS}
    _, reasons = auditor.check(number, json.dumps({**line, **private}))
    return reasons


@dataclass
class Scan:
    """One pass over the ledger."""

    lines: int = 0
    raw: Counter[str] = field(default_factory=Counter)
    removed: Counter[str] = field(default_factory=Counter)
    rejected: list[str] = field(default_factory=list)  # "who: reasons", as verify prints
    #: (vote_id, receipt, public line text) of every vote that has an id and a receipt.
    entries: list[tuple[str, str, str]] = field(default_factory=list)


def public_text(line: Mapping[str, Any]) -> str:
    return json.dumps(public_line(line), ensure_ascii=False, separators=(",", ":"))


def scan(lines: Iterable[tuple[int, str]], auditor: Auditor, removals: Removals) -> Scan:
    """Check and count every line; keep what the Merkle tree and the export need."""
    out = Scan()
    for number, text in lines:
        out.lines += 1
        try:
            line = json.loads(text)
        except ValueError:
            line = None
        if not isinstance(line, dict):
            out.rejected.append(f"line {number}: not a JSON object")
            continue
        vid, receipt = line.get("vote_id"), line.get("receipt")
        if isinstance(vid, str) and isinstance(receipt, str):
            out.entries.append((vid, receipt, public_text(line)))
        reasons = check_line(auditor, number, line)
        if reasons:
            who = vid if isinstance(vid, str) else f"line {number}"
            out.rejected.append(f"{who}: {'; '.join(reasons)}")
            continue
        # verify passed, so the line has every field as a string.
        candidate, voter = str(line["candidate"]), str(line["voter"])
        out.raw[candidate] += 1
        if removals.removes(str(vid), voter):
            out.removed[candidate] += 1
    out.entries.sort()
    return out


def compute(
    result_scan: Scan,
    *,
    campaign: Campaign,
    lists: Sequence[ListSpec],
    method: Method,
    expert_scores: Mapping[str, Fraction] | None,
    removals: Removals,
) -> dict[str, Any]:
    """Every published number, from the scan and the inputs. Pure and deterministic.

    Without expert scores (a public-only tally, e.g. before the panel meets) the public
    score alone decides: the weights become 1 and 0 and expert scores are null.
    """
    if expert_scores is None:
        method = replace(method, public_weight=Fraction(1), expert_weight=Fraction(0))
    kinds: dict[str, list[str]] = {spec.kind: [] for spec in lists}
    for cid, kind in zip(campaign.candidates, campaign.kinds, strict=True):
        if kind not in kinds:
            raise TallyError(f"candidate {cid!r} has kind {kind!r}, not a list")
        kinds[kind].append(cid)
    counts = {
        c: Count(result_scan.raw[c], result_scan.removed[c])
        for members in kinds.values()
        for c in members
    }
    leaves = [merkle.receipt_leaf(receipt) for _, receipt, _ in result_scan.entries]
    out_lists = []
    for spec in lists:
        scores = expert_scores or dict.fromkeys(kinds[spec.kind], Fraction(0))
        rows = rank_list(kinds[spec.kind], counts, scores, method)
        out_lists.append(
            {
                "kind": spec.kind,
                "select": spec.select,
                "candidates": [
                    {
                        "id": r.id,
                        "rank": r.rank,
                        "selected": r.rank <= spec.select,
                        "raw_votes": r.raw_votes,
                        "removed_votes": r.removed_votes,
                        "valid_votes": r.valid_votes,
                        "public_score": decimal4(r.public_score),
                        "expert_score": None if expert_scores is None else decimal4(r.expert_score),
                        "final_score": decimal4(r.final_score),
                    }
                    for r in rows
                ],
            }
        )
    return {
        "format": RESULTS_FORMAT,
        "campaign": campaign.id,
        "window": {"opens": campaign.opens.isoformat(), "closes": campaign.closes.isoformat()},
        "method": {**method.to_json(), "experts": expert_scores is not None},
        "ledger": {
            "lines": result_scan.lines,
            "counted": sum(result_scan.raw.values()),
            "removed": sum(result_scan.removed.values()),
            "rejected": result_scan.rejected,
            "removal_entries": {"votes": len(removals.votes), "voters": len(removals.voters)},
        },
        "lists": out_lists,
        "merkle": {
            "root": merkle.root(leaves).hex(),
            "leaves": len(leaves),
            "hash": "sha256",
            "leaf": "0x00 || UTF-8 receipt text",
            "node": "0x01 || left || right",
            "order": "vote_id ascending (ASCII)",
        },
    }


def proof_buckets(entries: Sequence[tuple[str, str, str]]) -> tuple[int, dict[str, Any]]:
    """Every vote's inclusion proof, grouped by the first characters of its vote id.

    The results page fetches only the one small file its receipt's vote id points to;
    the prefix length grows with the ledger so that a file holds about 64 proofs.
    """
    leaves = [merkle.receipt_leaf(receipt) for _, receipt, _ in entries]
    top, paths = merkle.inclusion_proofs(leaves)
    prefix = max(1, math.ceil(math.log(max(len(leaves), 1) / 64, 64))) if leaves else 1
    buckets: dict[str, Any] = {}
    for index, ((vid, _, _), path) in enumerate(zip(entries, paths, strict=True)):
        bucket = buckets.setdefault(
            vid[:prefix], {"root": top.hex(), "size": len(leaves), "proofs": {}}
        )
        bucket["proofs"].setdefault(vid, {"index": index, "path": [p.hex() for p in path]})
    return prefix, buckets


# ---------------------------------------------------------------------------
# Adapter: files


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    # errors="replace", as verify: a corrupt byte makes one bad line, never a crash.
    with path.open(encoding="utf-8", errors="replace", newline="\n") as fh:
        for number, text in enumerate(fh, start=1):
            if text.strip():
                yield number, text


def load_settings(campaign: Campaign) -> tuple[tuple[ListSpec, ...], Method]:
    """The lists and the results method, from campaign.json (the builder writes them)."""
    if not campaign.lists or campaign.method is None:
        raise TallyError(
            "campaign.json has no 'lists' and 'results': rebuild the site with this version"
            " (python build.py) / campaign.json 缺少 lists 与 results，请用当前版本重新生成网站"
        )
    return campaign.lists, campaign.method


def _write(path: Path, data: bytes) -> str:
    """Write atomically; return the SHA-256 (hex) that results.json records."""
    write_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def write_public_export(
    out_dir: Path,
    result_scan: Scan,
    *,
    campaign_bytes: bytes,
    experts_bytes: bytes | None,
    removals: Removals,
    invalidations_bytes: bytes | None,
) -> tuple[dict[str, str], dict[str, str], int]:
    """Write the public export; return (role -> file name, file name -> SHA-256, prefix)."""
    files = {role: name for role, name in FILES.items()}
    if experts_bytes is None:
        del files["experts"]
    if invalidations_bytes is None:
        del files["invalidations"]
    ledger = "".join(text + "\n" for _, _, text in result_scan.entries).encode("utf-8")
    contents = {
        "ledger": ledger,
        "campaign": campaign_bytes,
        "experts": experts_bytes or b"",
        "removals": json_bytes(removals.to_json()),
        "invalidations": invalidations_bytes or b"",
    }
    digests = {files[role]: _write(out_dir / files[role], contents[role]) for role in files}
    prefix, buckets = proof_buckets(result_scan.entries)
    proofs = out_dir / PROOFS_DIR
    if proofs.exists():  # stale buckets from an earlier tally would prove nothing
        for old in proofs.glob("*.json"):
            old.unlink()
    for name, bucket in buckets.items():
        _write(proofs / f"{name}.json", json.dumps(bucket, separators=(",", ":")).encode())
    return files, digests, prefix


def export_dir(out: Path) -> Path:
    """Where the public export of a results.json lives."""
    return out.parent / AUDIT_DIR


def _refuse_inputs_inside(folder: Path, inputs: Iterable[Path | None]) -> None:
    for path in inputs:
        if path is not None and path.resolve().is_relative_to(folder.resolve()):
            raise TallyError(
                f"{path} is inside {folder}, which the tally rewrites: keep inputs elsewhere"
            )


def run(args: argparse.Namespace) -> int:
    out_dir = export_dir(args.out)
    try:
        _refuse_inputs_inside(
            out_dir,
            (args.file, args.experts, args.flags, args.invalidations, args.campaign),
        )
        campaign_bytes = args.campaign.read_bytes()
        auditor = load_auditor(args.campaign)
        campaign = auditor.campaign
        lists, method = load_settings(campaign)
        ids = list(campaign.candidates)
        experts_bytes, expert_scores = None, None
        if args.experts:
            experts_bytes = args.experts.read_bytes()
            expert_scores = mean_scores(parse_experts(experts_bytes.decode("utf-8-sig"), ids))
        removals = Removals()
        if args.flags:
            removals = removals | read_flags(args.flags)[0]
        invalidations_bytes = None
        if args.invalidations:
            removals = removals | chain_removals(read_log(args.invalidations))
            invalidations_bytes = args.invalidations.read_bytes()
        result_scan = scan(read_lines(args.file), auditor, removals)
        numbers = compute(
            result_scan,
            campaign=campaign,
            lists=lists,
            method=method,
            expert_scores=expert_scores,
            removals=removals,
        )
        files, digests, prefix = write_public_export(
            out_dir,
            result_scan,
            campaign_bytes=campaign_bytes,
            experts_bytes=experts_bytes,
            removals=removals,
            invalidations_bytes=invalidations_bytes,
        )
        # Through the format's own reader: what the tally writes, every reader accepts.
        document = Results.from_json(
            {
                **numbers,
                "tallied_at": beijing_iso(datetime.now().astimezone()),
                "files": files,
                "proofs": {"dir": PROOFS_DIR, "prefix": prefix},
                "sha256": digests,
            }
        ).to_json()
    except (
        OSError,
        UnicodeDecodeError,
        ValueError,  # JSON, CampaignError, ExpertsError, InvalidationError, TallyError
    ) as exc:
        print(f"tally: {exc}", file=sys.stderr)
        print(
            "tally: results.json was not written / 计票未完成，未写入 results.json", file=sys.stderr
        )
        return 1
    # The copy inside the export makes that folder self-contained for `ops.py audit`;
    # results.json itself is written last, so a failed tally never leaves a new one.
    _write(out_dir / "results.json", json_bytes(document))
    _write(args.out, json_bytes(document))
    led = numbers["ledger"]
    print(
        # The results page's wording: "counted" includes the votes removed afterwards.
        f"tallied into {args.out}: {led['counted']} votes passed verification, "
        f"{led['removed']} of them removed after investigation; {len(led['rejected'])} lines"
        f" rejected; Merkle root {numbers['merkle']['root']}",
        file=sys.stderr,
    )
    for line in led["rejected"]:
        print(f"rejected {line}", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "tally",
        help="count valid votes, combine expert scores, write results.json",
        description=__doc__,
    )
    parser.add_argument("file", type=Path, help="an export from `ops.py export`")
    parser.add_argument(
        "--experts", type=Path, help="experts.csv (without it: a public-only tally)"
    )
    parser.add_argument("--flags", type=Path, help="flags.json: its remove-level entries count")
    parser.add_argument("--invalidations", type=Path, help="the log of `ops.py invalidate`")
    parser.add_argument(
        "--campaign", type=Path, default=Path("dist/campaign.json"), help="default %(default)s"
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help=f"results.json; the public export goes to {AUDIT_DIR}/ beside it",
    )
    parser.set_defaults(run=run)
