"""Cold-start import cost: ``import vote_handler`` against ``import boto3`` alone.

Each measurement is a fresh interpreter (as a Lambda cold start is), timing only the
import statements; the median of the runs is reported. Goal: at most 1.2x for the
module itself (what the runtime's init phase pays). Also reported: the module plus
everything the first vote imports lazily (pynacl, the core, the DynamoDB store,
boto3), i.e. the whole cold path of a first vote against boto3 alone.

    .venv/bin/python bench/import_time.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import sys, time; sys.path.insert(0, {path!r}); t = time.perf_counter(); import {module};"
    " print(time.perf_counter() - t)"
)


def measure(module: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        code = PROBE.format(path=str(ROOT / "functions"), module=module)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)  # fmt: skip
        samples.append(float(out.stdout))
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    handler = measure("vote_handler", args.runs)
    full = measure("vote_handler, ballotbox.http, ballotbox.stores.dynamodb, boto3", args.runs)
    boto3 = measure("boto3", args.runs)
    print(f"import boto3:                          {boto3 * 1000:6.1f} ms (median of {args.runs})")
    print(f"import vote_handler:                   {handler * 1000:6.1f} ms")
    print(f"vote_handler + first-vote lazy imports: {full * 1000:6.1f} ms")
    ratio = handler / boto3
    print(f"module: {ratio:.2f}x (goal <= 1.2x) -> {'PASS' if ratio <= 1.2 else 'FAIL'};"
          f" with the first vote's lazy imports: {full / boto3:.2f}x")  # fmt: skip
    return 0 if ratio <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
