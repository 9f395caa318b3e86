"""``python -m localserver DIST``: serve a built ``dist/`` (``build.py serve`` builds first)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))  # the vote function's package root


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs a UTC offset, e.g. +08:00")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localserver", description=__doc__)
    parser.add_argument("dist", type=Path, nargs="?", default=ROOT / "dist")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--data", type=Path, default=ROOT / ".data")
    parser.add_argument("--now", type=_instant, default=None)
    args = parser.parse_args(argv)
    from localserver.server import run

    return run(args.dist, host=args.host, port=args.port, data_dir=args.data, now=args.now)


if __name__ == "__main__":
    sys.exit(main())
