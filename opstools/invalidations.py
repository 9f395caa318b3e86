"""``ops.py invalidate``: record the organiser's decision to remove votes, append-only.

A removal changes the published result, so it must be explained and impossible to
rewrite quietly. Each decision is one JSON line: who, when, why, which flags file
(its SHA-256) and exactly which votes and voters it removes (only ``remove``-level
flags: ``review`` never removes anything). Every record carries the hash of the one
before it, so editing, dropping or reordering any past record breaks the chain, and
``ops.py tally --invalidations`` and ``ops.py audit`` refuse a broken chain.

With ``--case ID`` (repeatable) the decision applies whole cases from the flags file
instead: every vote the analysis attributed to the case, with the case's evidence as the
reason. The committee may apply a ``review`` case after looking at it; the record format
is the same either way, so the chain, ``tally`` and ``audit`` need nothing new.

The record's hash is SHA-256 over its canonical JSON without the ``hash`` field.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ballotbox.core.clock import beijing_iso
from ballotbox.core.receipt import canonical_json

GENESIS = "0" * 64
RECORD_KEYS = frozenset(
    {"seq", "at", "by", "reason", "flags_sha256", "votes", "voters", "prev", "hash"}
)


class InvalidationError(ValueError):
    """A flags file or an invalidation log that cannot be trusted; says which and why."""


@dataclass(frozen=True, slots=True)
class Removals:
    """What is removed from the count: votes by id, and every vote of some voters."""

    votes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # vote_id -> reasons
    voters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # voter -> reasons

    def removes(self, vote_id: str, voter: str) -> bool:
        return vote_id in self.votes or voter in self.voters

    def __or__(self, other: Removals) -> Removals:
        return Removals({**self.votes, **other.votes}, {**self.voters, **other.voters})

    def to_json(self) -> dict[str, Any]:
        return {
            "votes": [{"vote_id": k, "reasons": list(v)} for k, v in sorted(self.votes.items())],
            "voters": [{"voter": k, "reasons": list(v)} for k, v in sorted(self.voters.items())],
        }


def _reasons(entry: Mapping[str, Any], where: str) -> tuple[str, ...]:
    reasons = entry.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise InvalidationError(f"{where}: reasons must be a list of texts")
    return tuple(reasons)


def removals_from_flags(flags: Mapping[str, Any]) -> Removals:
    """The ``remove``-level entries of a flags.json (``review`` entries are ignored)."""
    votes: dict[str, tuple[str, ...]] = {}
    voters: dict[str, tuple[str, ...]] = {}
    for name, key, target in (("votes", "vote_id", votes), ("voters", "voter", voters)):
        entries = flags.get(name, [])
        if not isinstance(entries, list):
            raise InvalidationError(f"flags.json: {name!r} must be a list")
        for i, entry in enumerate(entries):
            where = f"flags.json {name}[{i}]"
            if not isinstance(entry, dict) or not isinstance(entry.get(key), str):
                raise InvalidationError(f"{where}: needs a {key!r} text")
            level = entry.get("level")
            if level not in ("remove", "review"):
                raise InvalidationError(f"{where}: level must be 'remove' or 'review'")
            if level == "remove":
                target[entry[key]] = _reasons(entry, where)
    return Removals(votes, voters)


def removals_from_cases(flags: Mapping[str, Any], ids: Sequence[str]) -> Removals:
    """The votes of the named cases, each with the case's one-line summary in both
    languages as the reason (the evidence itself stays in the flags file, whose SHA-256
    the record keeps).

    A case's votes are its own ``votes`` list of vote ids; a flags file written before
    cases listed them (``votes`` a count) is read through the ``votes[]`` entries whose
    first reason names the case. Only votes, never voters: a voter entry would reach that
    voter's votes outside the case."""
    cases = flags.get("cases")
    if not isinstance(cases, list):
        raise InvalidationError(
            "flags.json has no cases: re-run ops.py analyze / flags.json 中没有案例，请重新运行分析"
        )
    by_id: dict[str, Mapping[str, Any]] = {}
    for i, case in enumerate(cases):
        if not isinstance(case, dict) or not isinstance(case.get("id"), str):
            raise InvalidationError(f"flags.json cases[{i}]: needs an 'id' text")
        by_id[case["id"]] = case
    reasons: dict[str, tuple[str, ...]] = {}
    for cid in ids:
        case = by_id.get(cid)
        if case is None:
            known = ", ".join(sorted(by_id)) or "none"
            raise InvalidationError(
                f"no case {cid!r} in flags.json / 没有案例 {cid} (known: {known})"
            )
        summary = case.get("summary")
        if not isinstance(summary, dict) or not summary.get("zh") or not summary.get("en"):
            raise InvalidationError(f"case {cid}: needs a summary in zh and en")
        reasons[cid] = (f"case {cid} ({case.get('action')})", f"{summary['zh']} / {summary['en']}")
    votes: dict[str, tuple[str, ...]] = {}
    legacy: set[str] = set()
    for cid in ids:
        listed = by_id[cid].get("votes")
        if not isinstance(listed, list):
            legacy.add(cid)
            continue
        for j, vid in enumerate(listed):
            if not isinstance(vid, str) or not vid:
                raise InvalidationError(
                    f"case {cid}: votes[{j}] must be a vote id text"
                    f" / 案例 {cid} 的 votes[{j}] 应为投票编号"
                )
            votes[vid] = reasons[cid]
    entries = flags.get("votes", []) if legacy else []
    if not isinstance(entries, list):
        raise InvalidationError("flags.json: 'votes' must be a list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("vote_id"), str):
            raise InvalidationError(f"flags.json votes[{i}]: needs a 'vote_id' text")
        named = entry.get("reasons", [])
        if isinstance(named, list) and named and named[0] in legacy:
            votes[entry["vote_id"]] = reasons[named[0]]
    empty = [cid for cid in ids if cid not in {r[0].split()[1] for r in votes.values()}]
    if empty:
        raise InvalidationError(f"case(s) {', '.join(empty)} have no votes in flags.json")
    return Removals(votes, {})


def removals_from_json(data: Mapping[str, Any]) -> Removals:
    """Read the ``Removals.to_json`` shape back (removals.json, records)."""
    try:
        votes = {e["vote_id"]: tuple(e["reasons"]) for e in data["votes"]}
        voters = {e["voter"]: tuple(e["reasons"]) for e in data["voters"]}
    except (KeyError, TypeError) as exc:
        raise InvalidationError(f"removals are not in the expected shape: {exc}") from exc
    return Removals(votes, voters)


def record_hash(record: Mapping[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def new_record(
    previous: Sequence[Mapping[str, Any]],
    *,
    at: datetime,
    by: str,
    reason: str,
    flags_sha256: str,
    removals: Removals,
) -> dict[str, Any]:
    """The next record of a (verified) chain. Pure: the time is a parameter."""
    if not by.strip() or not reason.strip():
        raise InvalidationError("a removal needs who decided it (--by) and why (--reason)")
    if not removals.votes and not removals.voters:
        raise InvalidationError("the flags file has no remove-level entries: nothing to record")
    record: dict[str, Any] = {
        "seq": len(previous) + 1,
        "at": beijing_iso(at),
        "by": by.strip(),
        "reason": reason.strip(),
        "flags_sha256": flags_sha256,
        **removals.to_json(),
        "prev": previous[-1]["hash"] if previous else GENESIS,
    }
    record["hash"] = record_hash(record)
    return record


def verify_chain(records: Sequence[Mapping[str, Any]]) -> None:
    """Raise ``InvalidationError`` naming the first record that breaks the chain."""
    prev = GENESIS
    for number, record in enumerate(records, start=1):
        if set(record) != RECORD_KEYS:
            raise InvalidationError(f"record {number}: fields must be {sorted(RECORD_KEYS)}")
        if record["seq"] != number:
            raise InvalidationError(f"record {number}: seq is {record['seq']!r}")
        if record["prev"] != prev:
            raise InvalidationError(f"record {number}: does not follow record {number - 1}")
        if record_hash(record) != record["hash"]:
            raise InvalidationError(f"record {number}: its content does not match its hash")
        prev = record["hash"]


def chain_removals(records: Iterable[Mapping[str, Any]]) -> Removals:
    total = Removals()
    for record in records:
        total = total | removals_from_json(record)
    return total


def parse_log(text: str) -> list[dict[str, Any]]:
    """Parse and verify a whole log; an empty log is a valid empty chain."""
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise InvalidationError(f"line {number} is not JSON") from exc
        if not isinstance(record, dict):
            raise InvalidationError(f"line {number} is not a JSON object")
        records.append(record)
    verify_chain(records)
    return records


# ---------------------------------------------------------------------------
# Adapter: files and the clock


def read_log(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text("utf-8") if path.exists() else ""
    except OSError as exc:
        raise InvalidationError(f"cannot read {path}: {exc}") from exc
    try:
        return parse_log(text)
    except InvalidationError as exc:
        raise InvalidationError(f"{path}: {exc}") from exc


def read_flags(path: Path, cases: Sequence[str] = ()) -> tuple[Removals, str]:
    """The flags file's remove-level entries (or the named cases) and its SHA-256."""
    try:
        data = path.read_bytes()
        flags = json.loads(data)
    except (OSError, ValueError) as exc:
        raise InvalidationError(f"cannot read flags file {path}: {exc}") from exc
    if not isinstance(flags, dict):
        raise InvalidationError(f"{path}: flags.json must be a JSON object")
    removals = removals_from_cases(flags, cases) if cases else removals_from_flags(flags)
    return removals, hashlib.sha256(data).hexdigest()


def append_record(log: Path, record: Mapping[str, Any]) -> None:
    """Append one line and fsync it: a record, once reported, is on disk."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8", newline="\n") as fh:
        fh.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def run(args: argparse.Namespace) -> int:
    try:
        records = read_log(args.log)
        removals, digest = read_flags(args.flags, args.case or ())
        record = new_record(
            records,
            at=datetime.now().astimezone(),
            by=args.by,
            reason=args.reason,
            flags_sha256=digest,
            removals=removals,
        )
        append_record(args.log, record)
    except (InvalidationError, OSError) as exc:
        print(f"invalidate: {exc}", file=sys.stderr)
        print("invalidate: nothing was recorded / 未记录任何取消决定", file=sys.stderr)
        return 1
    print(
        f"recorded #{record['seq']} in {args.log}: {len(removals.votes)} votes and"
        f" {len(removals.voters)} voters removed, hash {record['hash']}",
        file=sys.stderr,
    )
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "invalidate", help="record a decision to remove flagged votes", description=__doc__
    )
    parser.add_argument("--flags", type=Path, required=True, help="flags.json from analyze")
    parser.add_argument("--by", required=True, help="who decides (name or role)")
    parser.add_argument("--reason", required=True, help="why, in a sentence")
    parser.add_argument(
        "--case",
        action="append",
        metavar="ID",
        help="apply this whole case from flags.json (repeatable); default: every remove flag",
    )
    parser.add_argument(
        "--log",
        type=Path,
        default=Path("invalidations.jsonl"),
        help="the append-only log (default %(default)s)",
    )
    parser.set_defaults(run=run)
