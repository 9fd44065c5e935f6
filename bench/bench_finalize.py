"""Benchmark: `saqmigrate finalize --check` on the generated project of bench_rewrite.py (N tasks in 100
modules, queue constants, retries, 200 beat entries) after `rewrite --write`, plus one caller module per task
module dispatching every task (`.delay` positional, `.apply_async` with countdown), in a fresh process.

    python bench/bench_finalize.py [--tasks 3000] [--runs 3]

Reports the wall time of `finalize --check` (every edit computed and compiled, nothing written), best of the runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_rewrite import build, timed  # noqa: E402


def add_callers(root: Path, n_tasks: int) -> None:
    per = max(1, n_tasks // 100)
    calls = root / "proj" / "calls"
    calls.mkdir(exist_ok=True)
    (calls / "__init__.py").write_text("", encoding="utf-8")
    for m in range(100):
        names = [f"t{m * per + j}" for j in range(per)]
        lines = [f"from proj.jobs.m{m} import {', '.join(names)}", "", "", "def run(x):"]
        for j, name in enumerate(names):
            lines.append(f"    {name}.delay(x, y=2)" if j % 2 else f"    {name}.apply_async((x,), countdown=5)")
        (calls / f"c{m}.py").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    root = HERE / ".data" / f"finalize_{args.tasks}"
    build(root, args.tasks)
    add_callers(root, args.tasks)
    exe = [sys.executable, "-m", "saqmigrate"]
    subprocess.run([*exe, "rewrite", ".", "--write"], cwd=root, capture_output=True, check=True)
    fin = min(timed([*exe, "finalize", ".", "--check"], root) for _ in range(args.runs))
    print(f"{args.tasks} tasks + {args.tasks} call sites: finalize --check {fin:.2f} s (best of {args.runs})")


if __name__ == "__main__":
    main()
