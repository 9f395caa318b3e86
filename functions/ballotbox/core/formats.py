"""The files that travel between the parts: the export line and results.json.

``ops.py export`` writes export lines; ``verify``, ``tally`` and ``audit`` read them.
``ops.py tally`` writes results.json; ``audit``, ``prove`` and the site builder read it.
Each format is defined here once, with ``to_json``/``from_json``, so a reader checks
what a writer wrote with the same rules. The formats are in docs/file-formats.md.
Pure: no file is opened here; ``FormatError`` says what is wrong in plain words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, Final

from ballotbox.core.store import VoteRecord

#: results.json's ``format``: a reader refuses anything else.
RESULTS_FORMAT: Final = "topn-results/1"
#: The public export's folder: beside results.json after a tally, and ``/audit/`` on the site.
AUDIT_DIR: Final = "audit"

#: The export line's fields, in this order (docs/file-formats.md); the first nine are the
#: contract's, the last three what auditors need to re-check receipts.
EXPORT_FIELDS: Final = (
    "vote_id",
    "voter",
    "candidate",
    "day",
    "recorded_at",
    "ballot",
    "signature",
    "net",
    "ua",
    "nonce",
    "receipt",
    "receipt_signature",
)
#: Fields that identify networks and browsers: kept for analysis, never published.
PRIVATE_FIELDS: Final = ("net", "ua")
#: What verify needs on every line: all but the nonce, which the ballot itself carries.
REQUIRED_EXPORT_FIELDS: Final = tuple(name for name in EXPORT_FIELDS if name != "nonce")

NUMBER_FIELDS: Final = ("raw_votes", "removed_votes", "valid_votes")
SCORE_FIELDS: Final = ("public_score", "expert_score", "final_score")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class FormatError(ValueError):
    """A file is not in the shape its format defines; the message names the field."""


# ---------------------------------------------------------------------------
# The export line


def export_json(vote: VoteRecord) -> dict[str, str]:
    """One vote as an export line: outside device mode it also carries ``identity`` and,
    for wechat, the hashed ``person`` (a device-mode line has exactly EXPORT_FIELDS)."""
    line = {name: getattr(vote, name) for name in EXPORT_FIELDS}
    if vote.identity != "device":
        line["identity"] = vote.identity
    if vote.person:
        line["person"] = vote.person
    return line


def check_export_line(obj: Any) -> dict[str, Any]:
    """An export line parsed from JSON, with every required field a string; else FormatError."""
    if not isinstance(obj, dict):
        raise FormatError("not a JSON object")
    missing = [k for k in REQUIRED_EXPORT_FIELDS if not isinstance(obj.get(k), str)]
    if missing:
        raise FormatError(f"missing or non-string fields {', '.join(missing)}")
    return obj


def public_line(line: Mapping[str, Any]) -> dict[str, Any]:
    """The line as the public export publishes it: without the private hashes."""
    return {k: v for k, v in line.items() if k not in PRIVATE_FIELDS}


# ---------------------------------------------------------------------------
# results.json


@dataclass(frozen=True, slots=True)
class ResultRow:
    id: str
    rank: int
    selected: bool
    raw_votes: int
    removed_votes: int
    valid_votes: int
    public_score: float
    expert_score: float | None  # None in a public-only tally
    final_score: float

    @classmethod
    def from_json(cls, row: Any) -> ResultRow:
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise FormatError("each candidate needs an 'id'")
        for name in ("rank", *NUMBER_FIELDS):
            value = row.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise FormatError(f"{row['id']}: {name!r} must be a whole number ≥ 0")
        if row["valid_votes"] != row["raw_votes"] - row["removed_votes"]:
            raise FormatError(f"{row['id']}: valid_votes must be raw_votes − removed_votes")
        for name in SCORE_FIELDS:
            value = row.get(name)
            ok = value is None and name == "expert_score"
            if not ok and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise FormatError(f"{row['id']}: {name!r} must be a number")
        if not isinstance(row.get("selected"), bool):
            raise FormatError(f"{row['id']}: 'selected' must be true or false")
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ResultList:
    kind: str
    select: int
    candidates: tuple[ResultRow, ...]

    @classmethod
    def from_json(cls, item: Any) -> ResultList:
        if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
            raise FormatError("each list needs a 'kind'")
        kind, select, rows = item["kind"], item.get("select"), item.get("candidates")
        if isinstance(select, bool) or not isinstance(select, int) or select < 1:
            raise FormatError(f"list {kind!r}: 'select' must be a whole number ≥ 1")
        if not isinstance(rows, list):
            raise FormatError(f"list {kind!r} has no candidates")
        parsed = tuple(ResultRow.from_json(row) for row in rows)
        if sorted(r.rank for r in parsed) != list(range(1, len(parsed) + 1)):
            raise FormatError(f"list {kind!r}: ranks must be 1..{len(parsed)}")
        return cls(kind, select, parsed)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "select": self.select,
            "candidates": [row.to_json() for row in self.candidates],
        }


@dataclass(frozen=True, slots=True)
class Results:
    """results.json: what ``ops.py tally`` publishes and everyone else re-checks.

    The nested summaries (``window``, ``method``, ``ledger``, ``merkle``) are kept as the
    JSON objects they are, checked for the fields readers use; the audit compares them
    number by number with its own recomputation.
    """

    campaign: str
    window: Mapping[str, str]
    method: Mapping[str, Any]
    ledger: Mapping[str, Any]
    lists: tuple[ResultList, ...]
    merkle: Mapping[str, Any]
    tallied_at: str
    files: Mapping[str, str]  # role -> file name in the public export
    proofs_dir: str
    proofs_prefix: int
    sha256: Mapping[str, str]  # file name -> hex digest

    @property
    def root(self) -> str:
        return str(self.merkle["root"])

    @property
    def leaves(self) -> int:
        return int(self.merkle["leaves"])

    @classmethod
    def from_json(cls, data: Any) -> Results:
        if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
            raise FormatError(f"not a results file of `ops.py tally` (format {RESULTS_FORMAT})")
        objects = ("window", "method", "ledger", "merkle", "files", "sha256", "proofs")
        for name in objects:
            if not isinstance(data.get(name), dict):
                raise FormatError(f"incomplete: {name!r} must be an object")
        try:
            campaign = data["campaign"]
            window, method, ledger = data["window"], data["method"], data["ledger"]
            merkle, files, digests = data["merkle"], data["files"], data["sha256"]
            proofs_dir, prefix = data["proofs"]["dir"], data["proofs"]["prefix"]
            tallied_at = data["tallied_at"]
            datetime.fromisoformat(tallied_at)
            weights = method["weights"]
            if not {"public", "expert"} <= set(weights):
                raise KeyError("method.weights")
            lists = data["lists"]
        except (KeyError, TypeError, ValueError) as err:
            raise FormatError(f"incomplete ({err!r})") from err
        if not isinstance(campaign, str) or not isinstance(lists, list):
            raise FormatError("'campaign' must be a text and 'lists' a list")
        parsed = tuple(ResultList.from_json(item) for item in lists)
        if len({item.kind for item in parsed}) != len(parsed):
            raise FormatError("two lists share a kind")
        root, leaves = merkle.get("root"), merkle.get("leaves")
        if not isinstance(root, str) or not _HEX64.fullmatch(root) or not isinstance(leaves, int):
            raise FormatError("the Merkle root must be 64 hex digits with a leaf count")
        for name in (*files.values(), *digests, proofs_dir):
            if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
                raise FormatError(f"file name {name!r} must be a plain name")
        if isinstance(prefix, bool) or not isinstance(prefix, int) or prefix < 1:
            raise FormatError("proofs.prefix must be a whole number ≥ 1")
        return cls(
            campaign=campaign,
            window=window,
            method=method,
            ledger=ledger,
            lists=parsed,
            merkle=merkle,
            tallied_at=tallied_at,
            files=files,
            proofs_dir=proofs_dir,
            proofs_prefix=prefix,
            sha256=digests,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RESULTS_FORMAT,
            "campaign": self.campaign,
            "window": dict(self.window),
            "method": dict(self.method),
            "ledger": dict(self.ledger),
            "lists": [item.to_json() for item in self.lists],
            "merkle": dict(self.merkle),
            "tallied_at": self.tallied_at,
            "files": dict(self.files),
            "proofs": {"dir": self.proofs_dir, "prefix": self.proofs_prefix},
            "sha256": dict(self.sha256),
        }

    def list_of(self, kind: str) -> ResultList:
        return next(item for item in self.lists if item.kind == kind)
