"""Build-time benchmark: the real campaign, and a generated one with 2,400 candidates.

    .venv/bin/python bench/build_time.py [--candidates 2400] [--runs 5]

Goals (bench/README.md, "Budgets"): the real site in ≤ 1 s, 2,400 candidates in ≤ 20 s. Prints the
median wall time of each over several runs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "functions")]  # sitegen reads ballotbox.core

from sitegen.build import build_site  # noqa: E402

KEY = "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"
PARAGRAPH_ZH = "这是一个用于测试构建速度的候选项正文，包含数字2021年和12项举措。" * 12
PARAGRAPH_EN = "This is the body of a generated candidate, with 2021 and 12 measures. " * 12


def generate(root: Path, count: int) -> Path:
    """A copy of the real campaign whose two lists hold `count` candidates in all."""
    content = root / "content"
    shutil.copytree(ROOT / "content", content)
    for folder in ("events", "highlights"):
        shutil.rmtree(content / folder)
        (content / folder).mkdir()
        for n in range(1, count // 2 + 1):
            slug = f"{folder[:2]}-{n}"
            for lang, title, body in (
                ("zh", f"第{n}号候选项", PARAGRAPH_ZH),
                ("en", f"Candidate number {n}", PARAGRAPH_EN),
            ):
                (content / folder / f"{slug}.{lang}.md").write_text(
                    f"---\ntitle: {title}\norder: {n}\n---\n{body}\n\n{body}\n", encoding="utf-8"
                )
    return content


def timed(runs: int, content: Path, out: Path) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        build_site(out, receipt_key=KEY, content_dir=content)
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidates", type=int, default=2400)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        real = timed(args.runs, ROOT / "content", Path(tmp) / "real")
        big = generate(Path(tmp) / "big", args.candidates)
        large = timed(max(1, args.runs // 2), big, Path(tmp) / "large")
    print(
        f"real campaign (24 candidates): median {statistics.median(real):.3f} s "
        f"(runs: {', '.join(f'{t:.3f}' for t in real)}) — goal ≤ 1 s"
    )
    print(
        f"generated campaign ({args.candidates} candidates): median "
        f"{statistics.median(large):.2f} s (runs: {', '.join(f'{t:.2f}' for t in large)}) "
        "— goal ≤ 20 s"
    )
    ok = statistics.median(real) <= 1 and statistics.median(large) <= 20
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
