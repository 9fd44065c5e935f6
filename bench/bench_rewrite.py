"""Benchmark: `saqmigrate rewrite --check` (scan + plan + render + black + compile gate) on a
generated project of N tasks (default 3000 in 100 modules, with queue constants, retries,
autoretry_for through imports, task_routes and 200 beat entries), in a fresh process.

    python bench/bench_rewrite.py [--tasks 3000] [--runs 3]

Reports the wall time of `rewrite --check` (nothing written yet: every file is generated and
compared) and of `scan --no-cache` on the same tree, best of the runs.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(root: Path, n_tasks: int) -> None:
    if root.exists():
        shutil.rmtree(root)
    pkg = root / "proj"
    (pkg / "jobs").mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "jobs" / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "queues.py").write_text('MAIL = "mail"\nREPORTS = "reports"\n', encoding="utf-8")
    (pkg / "errors.py").write_text("class Flaky(Exception):\n    pass\n", encoding="utf-8")
    beat = ",\n".join(
        f'    "entry-{i}": {{"task": "proj.jobs.m{i % 100}.t{i}", "schedule": crontab(minute={i % 60})}}'
        for i in range(min(200, n_tasks))
    )
    (pkg / "celery.py").write_text(
        "from celery import Celery\nfrom celery.schedules import crontab\n\n"
        'app = Celery("proj")\n'
        'app.conf.task_routes = {"proj.jobs.m1*": {"queue": "bulk"}}\n'
        f"app.conf.beat_schedule = {{\n{beat}\n}}\n",
        encoding="utf-8",
    )
    per = max(1, n_tasks // 100)
    for m in range(100):
        lines = [
            "from celery import shared_task",
            "",
            "from proj.errors import Flaky",
            "from proj.queues import MAIL, REPORTS",
            "",
        ]
        for j in range(per):
            i = m * per + j
            opts = [
                "queue=MAIL" if i % 3 == 0 else "queue=REPORTS" if i % 3 == 1 else "max_retries=4",
                "autoretry_for=(Flaky,)" if i % 2 else "bind=True",
            ]
            params = "self, x, y=1" if "bind=True" in opts else "x, y=1"
            lines += ["", f"@shared_task({', '.join(opts)})", f"def t{i}({params}):", "    return x", ""]
        (pkg / "jobs" / f"m{m}.py").write_text("\n".join(lines), encoding="utf-8")


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    root = HERE / ".data" / f"rewrite_{args.tasks}"
    build(root, args.tasks)
    exe = [sys.executable, "-m", "saqmigrate"]
    rw = min(timed([*exe, "rewrite", ".", "--check"], root) for _ in range(args.runs))
    sc = min(
        timed([*exe, "scan", ".", "--no-cache", "--format", "json", "-o", "/dev/null"], root) for _ in range(args.runs)
    )
    print(f"{args.tasks} tasks: rewrite --check {rw:.2f} s, scan --no-cache {sc:.2f} s (best of {args.runs})")


if __name__ == "__main__":
    main()
