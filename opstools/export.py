"""``ops.py export``: stream the vote ledger (SQLite or DynamoDB) into a JSON Lines file.

One vote per line with DESIGN's export fields plus the nonce and the server's receipt,
so an auditor can re-check everything with ``ops.py verify`` and nothing else.
Streaming: memory stays constant however large the ledger.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ballotbox.stores.base import VoteRecord, VoteStore

#: DESIGN's export line, in this order, then the fields auditors need.
EXPORT_FIELDS = (
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


class ExportError(RuntimeError):
    """The ledger cannot be read (no such data directory, table unreachable)."""


def export_line(vote: VoteRecord) -> str:
    """One line; outside device mode it also carries ``identity`` and, for wechat, the
    hashed ``person`` (a device-mode line is exactly DESIGN's, unchanged)."""
    line = {name: getattr(vote, name) for name in EXPORT_FIELDS}
    if vote.identity != "device":
        line["identity"] = vote.identity
    if vote.person:
        line["person"] = vote.person
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def open_store(args: argparse.Namespace) -> VoteStore:
    """The SQLite ledger of ``--data`` (``--table`` goes to ``opstools.dynamo_export``)."""
    from ballotbox.stores.sqlite import DEFAULT_FILENAME, SqliteStore

    path = args.data / DEFAULT_FILENAME
    if not path.is_file():  # do not create an empty ledger by mistake
        raise ExportError(f"no vote ledger at {path}")
    return SqliteStore(path)


def _progress(votes: Iterable[VoteRecord]) -> Iterator[VoteRecord]:
    if not sys.stderr.isatty():
        yield from votes
        return
    from tqdm import tqdm

    yield from tqdm(votes, unit=" votes", desc="export", file=sys.stderr)


def write_export(store: VoteStore, out: Path) -> int:
    """Write every vote to ``out`` atomically (a temp file renamed at the end)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            for vote in _progress(store.iter_votes()):
                fh.write(export_line(vote) + "\n")
                count += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def run(args: argparse.Namespace) -> int:
    from ballotbox.core.errors import Unavailable

    if args.table:
        from opstools.dynamo_export import run_table

        return run_table(args)

    try:
        store = open_store(args)
    except (ExportError, Unavailable) as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 1
    try:
        count = write_export(store, args.out)
    except Unavailable as exc:
        print(f"export: the ledger could not be read: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"exported {count} votes to {args.out}", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("export", help="write the ledger as JSON Lines", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="the SQLite data directory of `serve`")
    source.add_argument("--table", help="the DynamoDB ledger table name")
    parser.add_argument("--out", type=Path, required=True, help="the JSON Lines file to write")
    table = parser.add_argument_group("DynamoDB (--table)")
    table.add_argument("--region", help="the table's region (default: the profile's)")
    table.add_argument("--profile", help="AWS CLI profile (default: the environment's)")
    table.add_argument(
        "--segments",
        type=int,
        default=4,
        choices=range(1, 65),
        metavar="N",
        help="parallel scan workers, 1-64 (default 4); resume with the same N",
    )
    parser.set_defaults(run=run)
