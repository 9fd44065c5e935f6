"""Compare `saqmigrate scan` with the hand-counted ground truth of a real project.

    python tests/realworld/compare.py NAME [--show]

Reads tests/realworld/NAME.json and scans /tmp/realworld/NAME (see README.md in this folder
for how to fetch it). Prints recall (found / true) for tasks, beat entries and dispatch call
sites, and the tasks reported that are not tasks (precision).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = Path("/tmp/realworld")


def load(name: str) -> dict:
    return json.loads((HERE / f"{name}.json").read_text())


def compare(name: str, show: bool = False) -> dict:
    from saqmigrate.config import Config
    from saqmigrate.scan import run_scan

    truth = load(name)
    root = CORPUS / name
    index, _ = run_scan(root, Config(), use_cache=False)

    def norm(f: str) -> str:
        return f

    got_tasks = {(t.file, t.line) for t in index.tasks}
    got_task_lines = {(t.file, t.decorator_line) for t in index.tasks} | got_tasks
    true_tasks = {(t["file"], t["line"]) for t in truth["tasks"]}
    found_tasks = {k for k in true_tasks if k in got_task_lines}
    extra_tasks = {
        (t.file, t.line, t.name)
        for t in index.tasks
        if (t.file, t.line) not in true_tasks and (t.file, t.decorator_line) not in true_tasks
    }

    by_loc = {}
    for t in index.tasks:
        by_loc[(t.file, t.line)] = t.name
        by_loc.setdefault((t.file, t.decorator_line), t.name)
    wrong_names = sorted(
        (t["file"], t["line"], t["name"], by_loc.get((t["file"], t["line"])))
        for t in truth["tasks"]
        if (t["file"], t["line"]) in by_loc and by_loc[(t["file"], t["line"])] != t["name"]
    )
    got_sched = {(s.file, s.line) for s in index.schedules}
    true_sched = {(s["file"], s["line"]) for s in truth["schedules"]}
    found_sched = true_sched & got_sched

    got_calls = {(c.file, c.line) for c in index.calls}
    true_calls = {(c["file"], c["line"]) for c in truth["calls"]}
    found_calls = true_calls & got_calls
    res = {
        "tasks": (len(found_tasks), len(true_tasks)),
        "extra_tasks": sorted(extra_tasks),
        "wrong_names": wrong_names,
        "schedules": (len(found_sched), len(true_sched)),
        "calls": (len(found_calls), len(true_calls)),
        "missed_tasks": sorted(true_tasks - found_tasks),
        "missed_schedules": sorted(true_sched - found_sched),
        "missed_calls": sorted(true_calls - found_calls),
    }
    if show:
        for k in ("missed_tasks", "missed_schedules", "missed_calls", "extra_tasks", "wrong_names"):
            for item in res[k][:40]:
                print(f"  {k}: {item}")
    return res


def main() -> None:
    names = [a for a in sys.argv[1:] if not a.startswith("-")] or sorted(p.stem for p in HERE.glob("*.json"))
    show = "--show" in sys.argv
    for name in names:
        if not (CORPUS / name).is_dir():
            print(f"{name}: /tmp/realworld/{name} absent (see tests/realworld/README.md)")
            continue
        r = compare(name, show)

        def pct(a: tuple[int, int]) -> str:
            return f"{a[0]}/{a[1]} ({100 * a[0] / a[1]:.1f}%)" if a[1] else "0/0"

        print(
            f"{name}: tasks {pct(r['tasks'])}, schedules {pct(r['schedules'])}, calls {pct(r['calls'])}, "
            f"non-tasks reported: {len(r['extra_tasks'])}, wrong task names: {len(r['wrong_names'])}"
        )


if __name__ == "__main__":
    main()
