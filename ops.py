#!/usr/bin/env python3
"""Organiser tools that work on the vote ledger: export, verify, analyze, tally, audit, backup.

Each subcommand lives in its own module under ``opstools/``, which registers its
arguments and its ``run`` function; this file only dispatches.

Exit codes, the same for every subcommand (tests/test_boundaries.py checks them):

- 0: done; for a check (``verify``, ``audit``, ``prove``), nothing wrong was found.
- 1: not done, or something was found: a check found problems (each one is named), or
  an input is missing, unreadable or refused (a bilingual message says which and how to
  fix it). A command that writes files leaves the previous ones untouched.
- 2: the command line itself is wrong (argparse's usage error).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# The vote function's package (the Lambda zip root) is importable like in the cloud.
sys.path.insert(0, str(ROOT / "functions"))

# Subcommand modules, in the order an organiser uses them.
COMMANDS = [
    "opstools.export",
    "opstools.verify",
    "opstools.analyze",
    "opstools.invalidations",
    "opstools.tally",
    "opstools.prove",
    "opstools.audit",
    "opstools.backup",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ops.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
