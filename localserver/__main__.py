"""``python -m localserver DIST``: serve a built ``dist/`` (``build.py serve`` builds first)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))  # the vote function's package root


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs a UTC offset, e.g. +08:00")
    return value


def _cidr(text: str) -> str:
    from localserver.proxy import parse_network

    return str(parse_network(text))


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """The production options, shared by ``build.py serve`` and ``python -m localserver``."""
    parser.add_argument(
        "--trusted-proxy",
        type=_cidr,
        action="append",
        default=[],
        metavar="CIDR",
        help="a reverse proxy whose X-Forwarded-For names the client (repeatable)",
    )
    parser.add_argument(
        "--request-timeout",
        type=_positive,
        default=20.0,
        metavar="SECONDS",
        help="deadline for a whole request, head and body, from its first byte (20)",
    )
    parser.add_argument(
        "--max-connections",
        type=lambda t: int(_positive(t)),
        default=4096,
        metavar="N",
        help="open connections at most; more are answered 503 (4096, or the fd limit)",
    )


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "trusted_proxies": args.trusted_proxy,
        "request_timeout": args.request_timeout,
        "max_connections": args.max_connections,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localserver", description=__doc__)
    parser.add_argument("dist", type=Path, nargs="?", default=ROOT / "dist")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--data", type=Path, default=ROOT / ".data")
    parser.add_argument("--now", type=_instant, default=None)
    add_server_options(parser)
    args = parser.parse_args(argv)
    from localserver.server import run

    return run(
        args.dist,
        host=args.host,
        port=args.port,
        data_dir=args.data,
        now=args.now,
        **server_options(args),
    )


if __name__ == "__main__":
    sys.exit(main())
