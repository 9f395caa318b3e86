"""Proof-of-work solve time in the browser, as a voter's phone would run it.

    .venv/bin/python bench/pow_solve.py [--runs 7] [--bits 18]

Starts `build.py serve` in identity mode `device+pow`, then in Debian's chromium (phone
viewport) asks for fresh challenges and times the vote page's Web Worker from posting
the challenge to its answer. Prints the median solve time, tries and cost per hash.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "functions")]

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser import CHROMIUM_ARGS, PHONE, chromium_path  # noqa: E402
from tests.test_identity_serve import identity_server  # noqa: E402

SOLVE = """async () => {
  const voter = 'A'.repeat(43);
  const r = await fetch('/api/challenge?voter=' + voter);
  const ch = await r.json();
  const url = JSON.parse(document.getElementById('vote-config').textContent).identity.worker;
  const t0 = performance.now();
  const tries = await new Promise(ok => {
    const w = new Worker(url);
    w.onmessage = e => { if (e.data.done) { w.terminate(); ok(e.data.tries); } };
    w.postMessage({challenge: ch.challenge, bits: ch.difficulty});
  });
  return [performance.now() - t0, tries];
}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--bits", type=int, default=18)
    args = parser.parse_args()
    settings = f"  mode: device+pow\n  pow_difficulty: {args.bits}\n"
    runs: list[tuple[float, int]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        identity_server(Path(tmp), settings) as server,
        sync_playwright() as pw,
    ):
        browser: Any = pw.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        for _ in range(args.runs):
            context = browser.new_context(**PHONE)
            page = context.new_page()
            page.goto(server.url + "/en/vote/")
            ms, tries = page.evaluate(SOLVE)
            runs.append((float(ms), int(tries)))
            context.close()
        browser.close()
    print(
        f"difficulty {args.bits}, {args.runs} runs: median solve "
        f"{statistics.median(t for t, _ in runs):.0f} ms, median tries "
        f"{statistics.median(n for _, n in runs):,.0f}, median cost per hash "
        f"{statistics.median(t * 1000 / n for t, n in runs):.2f} µs "
        f"(solves: {', '.join(f'{t:.0f}' for t, _ in runs)} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
