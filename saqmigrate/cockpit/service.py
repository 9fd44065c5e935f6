"""The cockpit's reads: thresholds from pyproject.toml, and comparisons from the recorded outcomes."""

from __future__ import annotations

import fnmatch
import time
from pathlib import Path
from typing import Iterable

from saqmigrate.cockpit.analysis import AnalysisConfigError, Comparison, Side, Thresholds, compare
from saqmigrate.runtime.outcomes import CELERY, SAQ, OutcomeStore, Stats


def load_thresholds(pyproject: str | Path = "pyproject.toml") -> Thresholds:
    """``[tool.saqmigrate.analysis]`` of a pyproject.toml (the defaults when absent)."""
    import tomllib

    path = Path(pyproject)
    if not path.is_file():
        return Thresholds()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise AnalysisConfigError(f"{path}: cannot read: {exc}") from None
    tool = data.get("tool", {})
    section = tool.get("saqmigrate", {}) if isinstance(tool, dict) else {}
    table = section.get("analysis", {}) if isinstance(section, dict) else {}
    if not isinstance(table, dict):
        raise AnalysisConfigError(f"{path}: [tool.saqmigrate.analysis] must be a table")
    return Thresholds.from_config(table, f"{path}: [tool.saqmigrate.analysis]")


def task_names(outcomes: OutcomeStore, since: float, patterns: Iterable[str] = ()) -> list[str]:
    """Tasks with outcomes since ``since`` (epoch), filtered by exact names or globs."""
    seen = sorted(outcomes.tasks(since))
    pats = list(patterns)
    if not pats:
        return seen
    out = [t for t in seen if any(t == p or fnmatch.fnmatchcase(t, p) for p in pats)]
    out += [p for p in pats if not any(c in p for c in "*?[") and p not in out]  # asked for: shown, even at 0
    return sorted(set(out))


def compare_tasks(outcomes: OutcomeStore, tasks: Iterable[str], *, since: float, thresholds: Thresholds,
                  saq_since: dict[str, float] | None = None, baseline: float | None = None,
                  now: float | None = None) -> list[Comparison]:
    """Celery (over ``baseline`` seconds, default ``since``) vs SAQ (over ``since`` seconds, or from
    ``saq_since[task]`` epoch) for each task, in two pipelines."""
    now = time.time() if now is None else now
    tasks = list(tasks)
    if not tasks:
        return []
    celery = outcomes.window(tasks, now - (baseline or since), now, backends=[CELERY])
    earliest = min(saq_since.values()) if saq_since else now - since
    saq_rows = outcomes.series(tasks, earliest, now, backends=[SAQ])
    out = []
    for t in tasks:
        start = (saq_since or {}).get(t, now - since)
        total = None
        for bstart, st in saq_rows[(t, SAQ)]:
            if bstart + outcomes.bucket_seconds <= start:
                continue  # a bucket that ended before the window
            total = st if total is None else total.merge(st)
        out.append(compare(t, Side.from_stats(celery[(t, CELERY)]), Side.from_stats(total or Stats()), thresholds))
    return out
