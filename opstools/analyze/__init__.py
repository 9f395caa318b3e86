"""``ops.py analyze FILE.jsonl --out DIR [--campaign FILE]``: find ballot stuffing, as cases.

The pure core (``fuse.analyze``, ``fuse.to_flags``, ``report.render``) takes columns and
returns data; this module is the thin adapter that reads the file, shows progress on a
terminal and writes ``flags.json`` and ``report.html`` atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_CAMPAIGN = Path("dist/campaign.json")


class CampaignUnreadable(Exception):
    """The campaign file named with --campaign cannot be used for titles."""


def read_titles(path: Path) -> dict[str, dict[str, str]]:
    """Candidate id -> {"zh", "en"} title, from dist/campaign.json (docs/file-formats.md)."""
    try:
        data = json.loads(path.read_text("utf-8"))
        cands = data["candidates"]
        return {
            str(c["id"]): {"zh": str(c["title"]["zh"]), "en": str(c["title"]["en"])} for c in cands
        }
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CampaignUnreadable(f"{path}: {err}") from err


def run(args: argparse.Namespace) -> int:
    # Imported here: nothing heavy happens when ops.py builds its parser.
    from tqdm import tqdm

    from opstools.analyze.fuse import analyze, to_flags
    from opstools.analyze.load import ExportUnreadable, read_votes
    from opstools.analyze.report import render
    from opstools.files import write_atomic

    src: Path = args.file
    out: Path = args.out
    if not src.is_file():
        print(f"找不到导出文件 / export file not found: {src}", file=sys.stderr)
        return 1
    # Titles make the report readable; without a campaign file the ids are shown.
    campaign: Path | None = args.campaign
    if campaign is None and DEFAULT_CAMPAIGN.is_file():
        campaign = DEFAULT_CAMPAIGN
    titles: dict[str, dict[str, str]] = {}
    if campaign is not None:
        try:
            titles = read_titles(campaign)
        except CampaignUnreadable as err:
            print(f"无法读取活动文件 / cannot read the campaign file: {err}", file=sys.stderr)
            return 1
    size = src.stat().st_size
    with tqdm(total=size, unit="B", unit_scale=True, desc="read 读取", disable=None) as bar:
        try:
            table, bad = read_votes(src, bar.update)
        except ExportUnreadable as err:
            print(f"无法读取导出文件 / cannot read the export: {err}", file=sys.stderr)
            return 1
    for m in bad[:20]:
        print(f"{src}:{m.line}: {m.reason}", file=sys.stderr)
    if len(bad) > 20:
        print(
            f"… {len(bad) - 20} more malformed lines / 另有 {len(bad) - 20} 行格式错误",
            file=sys.stderr,
        )
    if table.size == 0:
        print("导出文件中没有可用的投票 / no usable vote in the export", file=sys.stderr)
        return 1
    steps = tqdm(total=3, desc="analyse 分析", disable=None)
    findings = analyze(table)
    steps.update()
    flags: dict[str, Any] = to_flags(table, findings)
    steps.update()
    html = render(table, findings, flags, bad, src.name, titles)
    steps.update()
    steps.close()
    out.mkdir(parents=True, exist_ok=True)
    # Compact: flags.json stays under about 100 bytes per flagged vote.
    write_atomic(out / "flags.json", json.dumps(flags, ensure_ascii=False, separators=(",", ":")))
    write_atomic(out / "report.html", html)
    removed = sum(1 for v in flags["votes"] if v["level"] == "remove")
    print(
        f"{table.size} votes; remove {removed}, review {len(flags['votes']) - removed}; "
        f"{len(flags['cases'])} cases; malformed lines {len(bad)} -> {out}"
    )
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="find ballot stuffing in an export / 分析刷票",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument("file", type=Path, metavar="FILE.jsonl")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument(
        "--campaign",
        type=Path,
        default=None,
        metavar="FILE",
        help="campaign.json for candidate titles (default dist/campaign.json when present)",
    )
    p.set_defaults(run=run)
