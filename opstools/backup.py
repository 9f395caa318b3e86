"""``ops.py backup``: a consistent copy of the live SQLite ledger, while votes keep arriving.

SQLite's online backup API copies the database page by page through a read
transaction. In WAL mode a reader never blocks the writer, so ``serve`` keeps
recording during the copy, and the whole copy is taken in one step (``pages=-1``):
one read transaction, so the file is exactly the ledger as of the moment the backup
began — every vote acknowledged before then, none half-written. The copy is a single
self-contained file (rollback journal, not WAL), written to a temporary name, fsynced,
checked with ``PRAGMA integrity_check``, made private (0600) and only then renamed
into place. docs/self-hosting.md has the schedule and the restore procedure.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from ballotbox.stores.sqlite import DEFAULT_FILENAME


class BackupError(RuntimeError):
    """No ledger to copy, or the copy is not sound."""


def backup(data_dir: Path, out: Path) -> int:
    """Copy ``data_dir``'s ledger to ``out`` atomically; return the number of votes in it."""
    source = data_dir / DEFAULT_FILENAME
    if not source.is_file():  # connecting would create an empty ledger
        raise BackupError(f"no vote ledger at {source}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)  # mkstemp made it 0600; SQLite writes the pages into it
    tmp = Path(tmp_name)
    try:
        with (
            closing(sqlite3.connect(source, timeout=30)) as src,
            closing(sqlite3.connect(tmp)) as dst,
        ):
            src.backup(dst, pages=-1)  # one step: one snapshot of the ledger
            dst.execute("PRAGMA journal_mode = DELETE")  # one file, no -wal beside it
            (check,) = dst.execute("PRAGMA integrity_check").fetchone()
            if check != "ok":
                raise BackupError(f"the copy fails SQLite's integrity check: {check}")
            (votes,) = dst.execute("SELECT count(*) FROM ledger").fetchone()
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # the ledger is private, and so is every copy of it
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return int(votes)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        votes = backup(args.data, args.out)
    except (BackupError, sqlite3.Error, OSError) as exc:
        print(f"backup: {exc}", file=sys.stderr)
        return 1
    took = time.perf_counter() - started
    print(f"backed up {votes} votes to {args.out} in {took:.2f}s", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "backup", help="copy the live SQLite ledger consistently", description=__doc__
    )
    parser.add_argument("--data", type=Path, required=True, help="the data directory of `serve`")
    parser.add_argument("--out", type=Path, required=True, help="the backup file to write")
    parser.set_defaults(run=run)
