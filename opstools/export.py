"""``ops.py export``: stream the vote ledger (SQLite or DynamoDB) into a JSON Lines file.

One vote per line (the export line of docs/file-formats.md): the contract's fields plus
the nonce and the server's receipt, so an auditor can re-check everything with
``ops.py verify`` and nothing else. Streaming: memory stays constant however large the ledger.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ballotbox.core.formats import export_json
from ballotbox.core.store import VoteRecord, VoteStore

from opstools.files import PRIVATE, atomic_writer


class ExportError(RuntimeError):
    """The ledger cannot be read (no such data directory, table unreachable)."""


def export_line(vote: VoteRecord) -> str:
    """One line of the export (the format is ``ballotbox.core.formats``)."""
    return json.dumps(export_json(vote), ensure_ascii=False, separators=(",", ":"))


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
    count = 0
    with atomic_writer(out, PRIVATE) as fh:
        for vote in _progress(store.iter_votes()):
            fh.write((export_line(vote) + "\n").encode("utf-8"))
            count += 1
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
