"""Benchmark: `saqmigrate scan` on a large real-world tree vs parsing every file with ast and libcst.

The tree is real code: every .py file of this machine's CPython 3.11 installation (stdlib and
site-packages, which include celery, kombu, saq and their dependencies) plus the 3.12 and 3.13
standard libraries, copied into bench/.data/tree (site-packages renamed so the scan does not
skip it). About 19,800 files. Add more with --extra DIR.

    python bench/bench_scan.py                 # build the tree if needed, run, print a table
    python bench/bench_scan.py --json out.json

Cold = fresh process, no cache (includes interpreter start-up and imports). Warm = fresh
process, cache present, nothing changed. libcst cost is measured on a random sample and
extrapolated (parsing 20k files with libcst takes minutes); the sample size is printed.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
TREE = DATA / "tree"


def sources() -> list[tuple[str, Path]]:
    out = []
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    out.append(("py311", stdlib))
    for v in ("3.12", "3.13"):
        for base in Path(os.path.expanduser("~/.pyenv/versions")).glob(f"{v}.*"):
            lib = base / "lib" / f"python{v}"
            if lib.is_dir():
                out.append((f"py{v.replace('.', '')}", lib))
                break
    return out


def build_tree(extra: list[Path]) -> int:
    if TREE.is_dir() and any(TREE.iterdir()):
        return sum(1 for _ in TREE.rglob("*.py"))
    TREE.mkdir(parents=True, exist_ok=True)
    n = 0
    for name, src in sources() + [(p.name, p) for p in extra]:
        for path in src.rglob("*.py"):
            rel = path.relative_to(src)
            parts = ["sitepkgs" if p == "site-packages" else p for p in rel.parts]
            if any(p in ("__pycache__",) for p in parts):
                continue
            dest = TREE / name / Path(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(path, dest)
                n += 1
            except OSError:
                pass
    return n


def run_cli(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "saqmigrate", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def parse_all_ast(files: list[Path]) -> tuple[float, int]:
    t0 = time.perf_counter()
    ok = 0
    for f in files:
        try:
            ast.parse(f.read_bytes())
            ok += 1
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
    return time.perf_counter() - t0, ok


def parse_sample_libcst(files: list[Path], n: int) -> tuple[float, int]:
    import libcst

    sample = random.Random(7).sample(files, min(n, len(files)))
    t0 = time.perf_counter()
    for f in sample:
        try:
            libcst.parse_module(f.read_bytes())
        except Exception:  # noqa: BLE001
            pass
    return time.perf_counter() - t0, len(sample)


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--extra", type=Path, action="append", default=[])
    ap.add_argument("--libcst-sample", type=int, default=400)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = build_tree(args.extra)
    files = sorted(TREE.rglob("*.py"))
    cache = DATA / "cache"
    out = DATA / "scan.json"
    cold, warm = [], []
    for _ in range(args.repeat):
        shutil.rmtree(cache, ignore_errors=True)
        cold.append(run_cli(["scan", str(TREE), "--format", "json", "-o", str(out), "--cache-dir", str(cache)]))
        warm.append(run_cli(["scan", str(TREE), "--format", "json", "-o", str(out), "--cache-dir", str(cache)]))
    one_core = run_cli(["scan", str(TREE), "--format", "json", "-o", str(out), "--no-cache", "-j", "1"])
    result = json.loads(out.read_text())
    t_ast, ok_ast = parse_all_ast(files)
    t_cst, n_cst = parse_sample_libcst(files, args.libcst_sample)
    cst_total = t_cst / n_cst * len(files)
    report = {
        "machine": machine(),
        "files": len(files),
        "files_with_celery_usage": result["files_parsed"],
        "tasks": len(result["tasks"]),
        "schedules": len(result["schedules"]),
        "calls": len(result["calls"]),
        "errors": len(result["errors"]),
        "scan_cold_s": min(cold),
        "scan_cold_all": cold,
        "scan_warm_s": min(warm),
        "scan_warm_all": warm,
        "scan_cold_one_process_s": one_core,
        "ast_parse_all_s": t_ast,
        "ast_parsed_ok": ok_ast,
        "libcst_sample_files": n_cst,
        "libcst_sample_s": t_cst,
        "libcst_all_estimated_s": cst_total,
        "ratio_libcst_to_scan_cold": cst_total / min(cold),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
