#!/usr/bin/env python3
"""Build, serve and deploy the campaign site.

python build.py                 # same as `build`: writes dist/
python build.py serve --port 8000 [--host 127.0.0.1] [--now ISO] [--data .data]
                                [--trusted-proxy CIDR ...]
python build.py deploy --stack NAME --region REGION [--yes] [--dry-run]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# The vote function's package (the Lambda zip root) is importable like in the cloud.
sys.path.insert(0, str(ROOT / "functions"))

COMMANDS = ("build", "serve", "deploy")


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from err
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a UTC offset, e.g. 2021-12-30T20:00:00+08:00")
    return moment


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (dist/)")
        p.add_argument(
            "--data",
            type=Path,
            default=ROOT / ".data",
            help="folder of the embedded store and its local secrets (.data/)",
        )
        p.add_argument("--results", type=Path, help="publish this results.json on the site")

    build = sub.add_parser("build", help="render the site into dist/")
    common(build)
    build.add_argument(
        "--receipt-key",
        help="the server's public receipt key (base64url); by default the local one in --data",
    )

    serve = sub.add_parser("serve", help="build, then serve the site and /api/* on one port")
    common(serve)
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--now",
        type=_instant,
        help="start the server clock at this instant (it then runs in real time)",
    )
    from localserver.__main__ import add_server_options

    add_server_options(serve)

    sub.add_parser("deploy", help="build and deploy to AWS (see docs/runbook.md)", add_help=False)
    return parser


def _build(args: argparse.Namespace, receipt_key: str) -> Path:
    from sitegen.build import build_site

    started = time.perf_counter()
    report = build_site(args.out, receipt_key=receipt_key, results=args.results)
    took = time.perf_counter() - started
    print(
        f"built {report.pages} pages ({report.candidates} candidates, {report.files} files) "
        f"into {report.out_dir} in {took:.2f}s",
        file=sys.stderr,
    )
    return report.out_dir


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help"):
        argv.insert(0, "build")
    if argv[0] == "deploy":
        from deploy.cli import main as deploy_main

        code: int = deploy_main(argv[1:])
        return code

    args = _parser().parse_args(argv)
    from sitegen.errors import BuildError

    try:
        if args.command == "build" and args.receipt_key:
            _build(args, args.receipt_key)
            return 0
        from localserver.secrets import ensure_secrets

        secrets = ensure_secrets(args.data)
        dist = _build(args, secrets.receipt_public_key_b64)
    except BuildError as err:
        print(f"build failed: {err}", file=sys.stderr)
        return 1
    if args.command == "serve":
        from localserver.__main__ import server_options
        from localserver.server import run

        return run(
            dist,
            host=args.host,
            port=args.port,
            data_dir=args.data,
            now=args.now,
            **server_options(args),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
