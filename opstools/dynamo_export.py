"""``ops.py export --table``: a consistent snapshot of a large DynamoDB ledger.

A parallel Scan (``--segments`` workers) with strongly consistent reads. The ledger is
append-only, so "consistent" has a precise meaning: the export holds every vote whose
``recorded_at`` is before the snapshot instant, and nothing after it. The instant is
``SETTLE_S`` before the export starts: a vote stamped earlier was committed (or given
up) within the function's timeout, so every such vote is already in the table when
the scan reads it. Later votes are counted and left out; export again for them.

Resumable: each segment appends to its own part file, and after each page the part's
length and the segment's next key are saved (``OUT.parts/state.json``). An
interrupted export (Ctrl-C, a lost network) run again with the same arguments goes on
from there; a part is cut back to its saved length first, so no vote is written twice.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ballotbox.stores.dynamodb import DynamoStore

from opstools.export import ExportError, export_line
from opstools.files import PRIVATE, atomic_writer

#: The function's timeout (infra/stack.yaml, 6 s) plus room for clock skew.
SETTLE_S = 10


@dataclass
class Segment:
    key: dict[str, Any] | None = None  # where the next page starts
    offset: int = 0  # bytes of the part file that are final
    written: int = 0
    after_cutoff: int = 0
    done: bool = False


@dataclass(frozen=True)
class Result:
    written: int
    after_cutoff: int
    cutoff: datetime
    resumed: bool


class _State:
    """The export's progress on disk, saved atomically after every page."""

    def __init__(self, folder: Path, table: str, segments: int, cutoff: datetime) -> None:
        self.folder = folder
        self.table = table
        self.cutoff = cutoff
        self.segments = [Segment() for _ in range(segments)]
        self.lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.folder / "state.json"

    def part(self, index: int) -> Path:
        return self.folder / f"part-{index:03d}.jsonl"

    def save(self) -> None:
        doc = {
            "table": self.table,
            "cutoff": self.cutoff.isoformat(),
            "segments": [asdict(s) for s in self.segments],
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc), "utf-8")
        os.replace(tmp, self.path)

    @classmethod
    def load_or_start(
        cls, folder: Path, table: str, segments: int, now: datetime
    ) -> tuple[_State, bool]:
        path = folder / "state.json"
        if path.is_file():
            doc = json.loads(path.read_text("utf-8"))
            if doc["table"] != table or len(doc["segments"]) != segments:
                raise ExportError(
                    f"{folder} holds an unfinished export of {doc['table']} with "
                    f"{len(doc['segments'])} segments; resume it with the same --table and "
                    "--segments, or delete the folder to start again"
                )
            state = cls(folder, table, segments, datetime.fromisoformat(doc["cutoff"]))
            state.segments = [Segment(**s) for s in doc["segments"]]
            return state, True
        folder.mkdir(parents=True, exist_ok=True)
        state = cls(folder, table, segments, now - timedelta(seconds=SETTLE_S))
        state.save()
        return state, False


def export_table(
    store: DynamoStore,
    out: Path,
    *,
    segments: int = 4,
    page_limit: int | None = None,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    on_page: Callable[[int], None] | None = None,
) -> Result:
    """Write the snapshot to ``out`` (atomically, once every segment is done)."""
    folder = out.with_name(out.name + ".parts")
    state, resumed = _State.load_or_start(
        folder, store.ledger_table, segments, now or datetime.now(UTC)
    )
    stop = threading.Event()

    def work(index: int) -> None:
        segment = state.segments[index]
        part = state.part(index)
        part.touch()
        with part.open("r+b") as fh:
            fh.truncate(segment.offset)  # drop a page written but not yet saved
            fh.seek(segment.offset)
            while not segment.done and not stop.is_set():
                records, last = store.scan_page(
                    segment=index, total_segments=segments, start_key=segment.key, limit=page_limit
                )
                kept = [r for r in records if datetime.fromisoformat(r.recorded_at) < state.cutoff]
                fh.write("".join(export_line(r) + "\n" for r in kept).encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
                with state.lock:
                    segment.key, segment.done = last, last is None
                    segment.offset = fh.tell()
                    segment.written += len(kept)
                    segment.after_cutoff += len(records) - len(kept)
                    state.save()
                if progress is not None:
                    progress(len(records))
                if on_page is not None:
                    on_page(index)

    with ThreadPoolExecutor(max_workers=segments) as pool:
        futures = [pool.submit(work, i) for i in range(segments)]
        try:
            for future in futures:
                future.result()
        except BaseException:
            stop.set()  # the others finish their page, save it, and stop
            raise
    _join(state, out)
    shutil.rmtree(folder)
    return Result(
        written=sum(s.written for s in state.segments),
        after_cutoff=sum(s.after_cutoff for s in state.segments),
        cutoff=state.cutoff,
        resumed=resumed,
    )


def _join(state: _State, out: Path) -> None:
    # The same all-or-nothing write as the SQLite export (opstools/files.py), 0600 too.
    with atomic_writer(out, PRIVATE) as joined:
        for index in range(len(state.segments)):
            with state.part(index).open("rb") as part:
                shutil.copyfileobj(part, joined)


def open_table(table: str, region: str | None, profile: str | None) -> DynamoStore:
    """The ledger through the organiser's profile and region (never the caps table)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        raise ExportError(f"no AWS profile named {profile!r}") from exc
    # Patient reads: an export is not a voter waiting; the store's loop owns the retries.
    config = Config(
        connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 1}
    )
    return DynamoStore(table, "", client=session.client("dynamodb", config=config), deadline_s=60)


def run_table(args: Any) -> int:
    from ballotbox.core.errors import Unavailable
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        store = open_table(args.table, args.region, args.profile)
        described = store.client.describe_table(TableName=args.table)["Table"]
        from tqdm import tqdm

        # ItemCount is DynamoDB's estimate (refreshed about every six hours).
        with tqdm(
            total=int(described.get("ItemCount", 0)) or None,
            unit=" votes",
            desc="export",
            file=sys.stderr,
            disable=not sys.stderr.isatty(),
        ) as bar:
            result = export_table(store, args.out, segments=args.segments, progress=bar.update)
    except (ExportError, Unavailable, ClientError, BotoCoreError) as exc:
        print(f"export: {exc}", file=sys.stderr)
        print("export: run the same command again to resume.", file=sys.stderr)
        return 1
    resumed = " (resumed)" if result.resumed else ""
    print(
        f"exported {result.written} votes recorded before {result.cutoff.isoformat()} "
        f"to {args.out}{resumed}",
        file=sys.stderr,
    )
    if result.after_cutoff:
        print(
            f"{result.after_cutoff} votes recorded after that instant were left out; "
            "export again to include them.",
            file=sys.stderr,
        )
    return 0
