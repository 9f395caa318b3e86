"""Reading an export into columns: polars parses, numpy analyses.

Why polars for reading: JSON parsing is the dominant cost at 10 million lines, and polars
parses NDJSON in Rust on both cores, about 20x faster than ``json.loads`` per line, then
hands over Arrow columns that become numpy arrays without copies. DuckDB would parse as
fast but would make us express the analysis in SQL; the layers are array arithmetic
(binning, FFT, sorting, group-bys by integer code), which numpy does directly.

The file is read in blocks of whole lines. A block that polars rejects (a malformed line,
a blank line, a wrong type) is re-read line by line with the standard library, so bad
lines are reported with their line numbers while the good lines are kept.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

# What analyze needs; every other field (ballot, signature, day, ...) is ignored.
REQUIRED = ("vote_id", "voter", "candidate", "recorded_at", "net", "ua")
#: wechat mode's hashed OpenID: when present, the analysis groups by it (a person with
#: two keys is one voter), else by the key.
OPTIONAL = ("person",)
SCHEMA = {name: pl.String for name in (*REQUIRED, *OPTIONAL)}
# recorded_at is ISO 8601 with milliseconds and an offset (+08:00 in practice).
TS_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"
BLOCK = 64 << 20

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True)
class Malformed:
    line: int  # 1-based line number in the file
    reason: str


@dataclass(frozen=True, slots=True)
class VoteTable:
    """All votes as integer-coded columns, sorted by time.

    Strings are kept once, in dictionaries (``*_names``); rows refer to them by code.
    """

    vote_id: pl.Series
    t_ms: I64  # epoch milliseconds (UTC)
    cand: I32
    voter: I32
    net: I32
    ua: I32
    cand_names: list[str]
    voter_names: pl.Series
    n_nets: int
    n_uas: int

    @property
    def size(self) -> int:
        return len(self.t_ms)


class ExportUnreadable(Exception):
    """The export file cannot be opened or read at all."""


def _blocks(path: Path) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines, each with the 1-based number of its first line."""
    line = 1
    rest = b""
    with path.open("rb") as fh:
        while True:
            data = fh.read(BLOCK)
            if not data:
                break
            data = rest + data
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            block, rest = data[: cut + 1], data[cut + 1 :]
            yield block, line
            line += block.count(b"\n")
    if rest:
        yield rest + b"\n", line


def _slow(block: bytes, first_line: int, bad: list[Malformed]) -> pl.DataFrame:
    """Line-by-line parse of a block polars rejected: keep good lines, name bad ones."""
    cols: dict[str, list[str | None]] = {k: [] for k in (*REQUIRED, *OPTIONAL)}
    lines: list[int] = []
    for i, raw in enumerate(block.split(b"\n")[:-1]):
        no = first_line + i
        if not raw.strip():
            bad.append(Malformed(no, "empty line / 空行"))
            continue
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            bad.append(
                Malformed(no, f"not JSON / 不是 JSON: {err.msg if hasattr(err, 'msg') else err}")
            )
            continue
        if not isinstance(obj, dict):
            bad.append(Malformed(no, "not a JSON object / 不是 JSON 对象"))
            continue
        wrong = [k for k in REQUIRED if not isinstance(obj.get(k), str) or not obj.get(k)]
        if wrong:
            bad.append(
                Malformed(no, "missing or not a string / 缺少或不是字符串: " + ", ".join(wrong))
            )
            continue
        for k in REQUIRED:
            cols[k].append(obj[k])
        person = obj.get("person")
        cols["person"].append(person if isinstance(person, str) and person else None)
        lines.append(no)
    return pl.DataFrame({**cols, "_line": lines}, schema={**SCHEMA, "_line": pl.Int64})


def _parse_block(block: bytes, first_line: int, bad: list[Malformed]) -> pl.DataFrame:
    n_lines = block.count(b"\n")
    try:
        df = pl.read_ndjson(io.BytesIO(block), schema=SCHEMA)
    except pl.exceptions.PolarsError:
        return _slow(block, first_line, bad)
    if df.height != n_lines:  # blank lines were skipped: line numbers would shift
        return _slow(block, first_line, bad)
    df = df.with_columns(_line=pl.int_range(first_line, first_line + n_lines, dtype=pl.Int64))
    missing = df.filter(
        pl.any_horizontal(pl.col(k).is_null() | (pl.col(k) == "") for k in REQUIRED)
    )
    if missing.height:
        for row in missing.iter_rows(named=True):
            wrong = [k for k in REQUIRED if not row[k]]
            bad.append(
                Malformed(
                    row["_line"], "missing or not a string / 缺少或不是字符串: " + ", ".join(wrong)
                )
            )
        df = df.filter(~pl.col("_line").is_in(missing["_line"].implode()))
    return df


def _codes(col: pl.Series) -> tuple[I32, pl.Series]:
    """Dense integer codes for a string column, and the names they stand for."""
    frame = col.to_frame("s").with_columns(code=pl.col("s").rank("dense").cast(pl.Int32) - 1)
    names = frame.select("s", "code").unique("code").sort("code")["s"]
    return frame["code"].to_numpy(), names


def read_votes(
    path: Path, progress: Callable[[int], None] | None = None
) -> tuple[VoteTable, list[Malformed]]:
    """Parse an export; ``progress`` gets the number of bytes done after each block."""
    bad: list[Malformed] = []
    frames: list[pl.DataFrame] = []
    try:
        for block, first in _blocks(path):
            df = _parse_block(block, first, bad)
            ts = pl.col("recorded_at").str.to_datetime(TS_FORMAT, strict=False)
            df = df.with_columns(t_ms=ts.dt.epoch("ms"))
            for no in df.filter(pl.col("t_ms").is_null())["_line"]:
                bad.append(
                    Malformed(
                        int(no), "recorded_at is not ISO 8601 / recorded_at 不是 ISO 8601 时间"
                    )
                )
            frames.append(df.filter(pl.col("t_ms").is_not_null()).drop("recorded_at", "_line"))
            if progress:
                progress(len(block))
    except OSError as err:
        raise ExportUnreadable(str(err)) from err
    df = (
        pl.concat(frames)
        if frames
        else pl.DataFrame(schema={**SCHEMA, "t_ms": pl.Int64}).drop("recorded_at")
    )
    df = df.sort("t_ms", maintain_order=True)
    cand, cand_names = _codes(df["candidate"])
    # The person where known (wechat mode), else the device key.
    who = df.select(pl.coalesce(pl.col("person").replace("", None), pl.col("voter")))
    voter, voter_names = _codes(who.to_series().alias("voter"))
    net, net_names = _codes(df["net"])
    ua, ua_names = _codes(df["ua"])
    bad.sort(key=lambda m: m.line)
    table = VoteTable(
        vote_id=df["vote_id"],
        t_ms=df["t_ms"].to_numpy().astype(np.int64),
        cand=cand,
        voter=voter,
        net=net,
        ua=ua,
        cand_names=cand_names.to_list(),
        voter_names=voter_names,
        n_nets=len(net_names),
        n_uas=len(ua_names),
    )
    return table, bad
