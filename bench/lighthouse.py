"""Lighthouse (mobile) on every kind of page in both languages; median of runs.

    make -C bench lighthouse            # or: .venv/bin/python bench/lighthouse.py --runs 3

Starts `build.py serve` on a free loopback port with the clock inside the voting
window, runs Lighthouse 12.2.3 (bench/package.json) against Debian's chromium, and
prints per page the median score of each category plus the transfer size and
request count of the first load (budget, bench/README.md: 100/100/100/100, ≤ 30 KB,
≤ 4 requests).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIGHTHOUSE = ROOT / "bench" / "node_modules" / "lighthouse" / "cli" / "index.js"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
PAGES = [
    "/zh/", "/en/", "/zh/vote/", "/en/vote/", "/zh/rules/", "/en/rules/",
    "/zh/events/party-history-study/", "/en/events/party-history-study/",
    "/zh/highlights/carbon-neutrality/", "/en/highlights/carbon-neutrality/",
    "/zh/results/", "/en/results/", "/zh/poster/", "/en/poster/",
]  # fmt: skip
CHROME_FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run "
    "--disable-background-networking --disable-component-update --disable-sync"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server not ready: {url}")


def run_once(url: str, out: Path) -> dict[str, float]:
    subprocess.run(
        [
            "node",
            str(LIGHTHOUSE),
            url,
            "--quiet",
            "--output=json",
            f"--output-path={out}",
            f"--chrome-flags={CHROME_FLAGS}",
            f"--only-categories={','.join(CATEGORIES)}",
        ],
        check=True,
        env={**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")},
        timeout=180,
    )
    report = json.loads(out.read_text(encoding="utf-8"))
    scores: dict[str, float] = {
        c: round(100 * (report["categories"][c]["score"] or 0)) for c in CATEGORIES
    }
    requests = report["audits"]["network-requests"]["details"]["items"]
    scores["requests"] = len(requests)
    scores["kb"] = sum(r.get("transferSize", 0) for r in requests) / 1024
    failing = [
        a for a in report["audits"].values()
        if a.get("score") is not None and a["score"] < 1 and a.get("scoreDisplayMode") == "binary"
    ]  # fmt: skip
    for audit in failing:
        print(f"    failing audit on {url}: {audit['id']}: {audit['title']}", file=sys.stderr)
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pages", nargs="*", default=PAGES)
    args = parser.parse_args()
    if not LIGHTHOUSE.is_file():
        raise SystemExit("Lighthouse is missing: run `npm ci --prefix bench`")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "build.py"), "serve", "--port", str(port),
             "--now", "2021-12-30T09:00:00+08:00", "--data", f"{tmp}/data", "--out",
             f"{tmp}/dist"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base + "/api/health")
            print(f"| page | {' | '.join(CATEGORIES)} | requests | KB transferred |")
            print("| --- " * (len(CATEGORIES) + 3) + "|")
            worst = 100.0
            for path in args.pages:
                runs = [run_once(base + path, Path(tmp) / "lh.json") for _ in range(args.runs)]
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                worst = min(worst, *(med[c] for c in CATEGORIES))
                cells = " | ".join(f"{med[c]:.0f}" for c in CATEGORIES)
                print(f"| {path} | {cells} | {med['requests']:.0f} | {med['kb']:.1f} |", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0 if worst == 100 else 1


if __name__ == "__main__":
    sys.exit(main())
