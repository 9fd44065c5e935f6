"""The cockpit's reads: thresholds from pyproject.toml, and comparisons from the recorded outcomes."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from saqmigrate.cockpit.analysis import (
    AnalysisConfigError,
    Comparison,
    Side,
    Thresholds,
    compare,
    format_duration,
    render_text,
)
from saqmigrate.runtime.outcomes import CELERY, SAQ, OutcomeStore, Stats, redis_time


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


@dataclass
class Window:
    """The windows a comparison reads, after clamping to what the outcomes keep."""

    since: float
    baseline: float | None = None
    retention: float = 0.0
    clamped: dict[str, dict[str, str]] = field(default_factory=dict)  # option -> {"asked", "used"}

    @property
    def notes(self) -> list[str]:
        return [
            f"{what} {v['asked']} is longer than the outcomes are kept ({v['used']}, "
            "SAQMIGRATE_OUTCOMES_RETENTION of the writers): clamped to it"
            for what, v in self.clamped.items()
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "since": format_duration(self.since),
            "baseline": format_duration(self.baseline or self.since),
            "retention": format_duration(self.retention),
            "clamped": dict(self.clamped) or None,
        }


def clamp_window(outcomes: OutcomeStore, since: float, baseline: float | None = None) -> Window:
    """``since`` / ``baseline`` seconds, each at most the retention (older buckets have expired: reading them
    is work for nothing, and at 366 days would be half a million keys per task)."""
    keep = float(outcomes.retention)
    w = Window(min(since, keep), None if baseline is None else min(baseline, keep), keep)
    for what, asked in (("--since", since), ("--baseline", baseline)):
        if asked is not None and asked > keep:
            w.clamped[what] = {"asked": format_duration(asked), "used": format_duration(keep)}
    return w


@dataclass
class Report:
    """What ``route compare`` shows (:func:`compare_report`)."""

    window: Window
    thresholds: Thresholds
    rows: list[Comparison]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.window.to_json(),
            "notes": self.window.notes,
            "thresholds": self.thresholds.to_json(),
            "tasks": [r.to_json() for r in self.rows],
        }

    def text(self) -> str:
        w = self.window
        table = render_text(
            self.rows, since=format_duration(w.since), baseline=format_duration(w.baseline) if w.baseline else None
        )
        return "\n".join([f"note: {n}" for n in w.notes] + [table])


def compare_report(
    outcomes: OutcomeStore,
    patterns: Iterable[str],
    *,
    since: float,
    thresholds: Thresholds,
    baseline: float | None = None,
    now: float | None = None,
) -> Report:
    """``route compare``: the windows (clamped to the retention, and said so), the thresholds and a comparison
    per task (names or globs; none: every task with outcomes in the window)."""
    now = redis_time(outcomes.client) if now is None else now
    w = clamp_window(outcomes, since, baseline)
    names = task_names(outcomes, now - max(w.since, w.baseline or 0), patterns)
    rows = compare_tasks(outcomes, names, since=w.since, baseline=w.baseline, thresholds=thresholds, now=now)
    return Report(w, thresholds, rows)


def compare_tasks(
    outcomes: OutcomeStore,
    tasks: Iterable[str],
    *,
    since: float,
    thresholds: Thresholds,
    saq_since: dict[str, float] | None = None,
    baseline: float | None = None,
    now: float | None = None,
) -> list[Comparison]:
    """Celery (over ``baseline`` seconds, default ``since``) vs SAQ (over ``since`` seconds, or from
    ``saq_since[task]`` epoch) for each task, in two pipelines."""
    now = redis_time(outcomes.client) if now is None else now
    tasks = list(tasks)
    if not tasks:
        return []
    keep = float(outcomes.retention)  # never read buckets that have expired (bounded work whatever was asked)
    since, baseline = min(since, keep), None if baseline is None else min(baseline, keep)
    if saq_since:
        saq_since = {t: max(s, now - keep) for t, s in saq_since.items()}
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
