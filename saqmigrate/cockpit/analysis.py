"""Celery vs SAQ for one task: the numbers side by side and a verdict. Pure: no I/O.

A verdict is one of:

* ``pass``: both sides have at least ``min_runs`` finished runs, SAQ's failure rate is at most
  ``max_failure_rate_diff_pp`` percentage points above Celery's, and SAQ's p95 run time is at
  most ``max_p95_ratio`` times Celery's (a p95 below ``p95_floor_seconds`` counts as the floor:
  at a few milliseconds the ratio measures timers, not the task);
* ``fail``: enough runs, and one of those checks is over its threshold (every one that is, is named);
* ``insufficient``: fewer than ``min_runs`` runs on either side; no verdict yet.

SAQ doing *better* than Celery never fails a check. Queue wait is reported, never judged (it is a
property of the fleet's size, not of the task's port).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

PASS, FAIL, INSUFFICIENT = "pass", "fail", "insufficient"

DEFAULTS: dict[str, Any] = {
    "max_failure_rate_diff_pp": 0.5,
    "max_p95_ratio": 1.5,
    "min_runs": 100,
    "p95_floor_seconds": 0.01,
    "baseline": "24h",
}


class AnalysisConfigError(ValueError):
    """A bad ``[tool.saqmigrate.analysis]`` value; one line for a person."""


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


#: The longest duration any cockpit option takes (a step, a window, a baseline): 366 days.
MAX_DURATION = 366 * 86400.0


def parse_duration(text: Any, what: str = "duration") -> float:
    """``"90s"``, ``"30m"``, ``"1h"``, ``"2d"``, ``"1h30m"`` or a number of seconds -> seconds (> 0)."""
    if isinstance(text, bool):
        raise AnalysisConfigError(f"{what} must be a duration like 30m, 1h or 2d, got {text!r}")
    if isinstance(text, (int, float)):
        if not math.isfinite(text) or text > MAX_DURATION:
            raise AnalysisConfigError(f"{what} must be at most {format_duration(MAX_DURATION)}, got {text!r}")
        if text > 0:
            return float(text)
        raise AnalysisConfigError(f"{what} must be positive, got {text!r}")
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return parse_duration(float(s), what)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise AnalysisConfigError(f"{what} must be a duration like 30m, 1h or 2d, got {text!r}")
    total = sum(float(n) * _UNITS[u] for n, u in parts)
    if not math.isfinite(total) or total > MAX_DURATION:  # "9999...9d" is inf: never a step length or a window
        raise AnalysisConfigError(f"{what} must be at most {format_duration(MAX_DURATION)}, got {text!r}")
    if total <= 0:
        raise AnalysisConfigError(f"{what} must be positive, got {text!r}")
    return total


def format_duration(seconds: float) -> str:
    """The shortest of ``2d`` / ``1h30m`` / ``45s`` for a number of seconds."""
    seconds = int(round(seconds))
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out) or "0s"


@dataclass(frozen=True)
class Thresholds:
    max_failure_rate_diff_pp: float = DEFAULTS["max_failure_rate_diff_pp"]
    max_p95_ratio: float = DEFAULTS["max_p95_ratio"]
    min_runs: int = DEFAULTS["min_runs"]
    p95_floor_seconds: float = DEFAULTS["p95_floor_seconds"]
    baseline_seconds: float = 86400.0  # the Celery window the autopilot compares a step against

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None, source: str = "[tool.saqmigrate.analysis]") -> "Thresholds":
        """From the ``[tool.saqmigrate.analysis]`` table; unknown keys and bad values raise."""
        section = dict(section or {})
        unknown = sorted(set(section) - set(DEFAULTS))
        if unknown:
            raise AnalysisConfigError(f"{source}: unknown key(s) {', '.join(unknown)} (known: {', '.join(DEFAULTS)})")

        def number(key: str, low: float, integer: bool = False) -> Any:
            v = section.get(key, DEFAULTS[key])
            ok = isinstance(v, int) if integer else isinstance(v, (int, float))
            if isinstance(v, bool) or not ok or v != v or v < low or not math.isfinite(v):
                kind = "a whole number" if integer else "a number"
                raise AnalysisConfigError(f"{source}: {key} must be {kind} >= {low:g}, got {v!r}")
            return v

        return cls(
            max_failure_rate_diff_pp=float(number("max_failure_rate_diff_pp", 0)),
            max_p95_ratio=float(number("max_p95_ratio", 1)),
            min_runs=int(number("min_runs", 1, integer=True)),
            p95_floor_seconds=float(number("p95_floor_seconds", 0)),
            baseline_seconds=parse_duration(section.get("baseline", DEFAULTS["baseline"]), f"{source}: baseline"),
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "baseline": format_duration(self.baseline_seconds)}


@dataclass(frozen=True)
class Side:
    """One backend's numbers for a task (what :class:`saqmigrate.runtime.outcomes.Stats` gives)."""

    runs: int = 0
    failures: int = 0
    retries: int = 0
    dead_letters: int = 0
    p50: float | None = None
    p95: float | None = None
    wait_p95: float | None = None

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.runs if self.runs else None

    @classmethod
    def from_stats(cls, st: Any) -> "Side":
        return cls(runs=st.runs, failures=st.failures, retries=st.retries, dead_letters=st.dead,
                   p50=st.duration_q(0.5), p95=st.duration_q(0.95), wait_p95=st.wait_q(0.95))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "failure_rate": self.failure_rate}


@dataclass(frozen=True)
class Comparison:
    task: str
    celery: Side
    saq: Side
    verdict: str
    reasons: tuple[str, ...] = ()
    checks: Mapping[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """One line for an audit entry or a table: the verdict and why."""
        return f"{self.verdict}: " + "; ".join(self.reasons)

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "verdict": self.verdict, "reasons": list(self.reasons),
                "celery": self.celery.to_json(), "saq": self.saq.to_json(), "checks": dict(self.checks)}


def inert_text(value: Any, limit: int = 300) -> str:
    """A name or reason from the store or a job, safe on a terminal: control and format characters (newlines,
    escape sequences, RTL overrides) shown as escapes, so a value cannot forge a row or retitle the window."""
    import unicodedata

    text = str(value)
    out = "".join(ch if unicodedata.category(ch)[0] != "C" else ch.encode("unicode_escape").decode("ascii")
                  for ch in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f}%"


def _secs(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"


def compare(task: str, celery: Side, saq: Side, t: Thresholds = Thresholds()) -> Comparison:
    """The verdict for ``task`` (see the module docstring)."""
    short = [f"{name} has {side.runs} run(s), fewer than min_runs={t.min_runs}"
             for name, side in (("celery", celery), ("saq", saq)) if side.runs < t.min_runs]
    if short:
        return Comparison(task, celery, saq, INSUFFICIENT, tuple(short), {"min_runs": t.min_runs})
    checks: dict[str, Any] = {}
    failed: list[str] = []
    passed: list[str] = []
    c_rate, s_rate = celery.failure_rate or 0.0, saq.failure_rate or 0.0
    diff_pp = (s_rate - c_rate) * 100
    ok_rate = diff_pp <= t.max_failure_rate_diff_pp + 1e-9
    checks["failure_rate_diff_pp"] = {"value": round(diff_pp, 4), "max": t.max_failure_rate_diff_pp, "ok": ok_rate}
    text = (f"failure rate saq {_pct(s_rate)} vs celery {_pct(c_rate)} ({diff_pp:+.2f} pp, max "
            f"{t.max_failure_rate_diff_pp:g} pp)")
    (passed if ok_rate else failed).append(text)
    if celery.p95 is not None and saq.p95 is not None:
        base = max(celery.p95, t.p95_floor_seconds)
        ratio = max(saq.p95, t.p95_floor_seconds) / base if base > 0 else 1.0
        ok_p95 = ratio <= t.max_p95_ratio + 1e-9
        checks["p95_ratio"] = {"value": round(ratio, 4), "max": t.max_p95_ratio, "ok": ok_p95,
                               "floor_seconds": t.p95_floor_seconds}
        text = f"p95 saq {_secs(saq.p95)} vs celery {_secs(celery.p95)} (x{ratio:.2f}, max x{t.max_p95_ratio:g})"
        (passed if ok_p95 else failed).append(text)
    else:
        checks["p95_ratio"] = {"value": None, "max": t.max_p95_ratio, "ok": None}
        passed.append("p95 not compared (no run times recorded on one side)")
    if failed:
        return Comparison(task, celery, saq, FAIL, tuple(failed), checks)
    return Comparison(task, celery, saq, PASS, tuple(passed), checks)


def render_text(rows: list[Comparison], *, since: str, baseline: str | None = None) -> str:
    """The side-by-side table ``route compare`` prints."""
    if not rows:
        return f"no outcomes recorded in the last {since} (are the workers wired? docs/cockpit.md)"
    head = f"last {since}" + (f" (celery baseline: last {baseline})" if baseline and baseline != since else "")
    lines = [head,
             f"{'task':<40} {'backend':<7} {'runs':>7} {'fail%':>8} {'p50':>10} {'p95':>10} {'wait p95':>10}  verdict"]
    for r in rows:
        for i, (name, side) in enumerate((("celery", r.celery), ("saq", r.saq))):
            verdict = r.verdict.upper() if i == 0 else ""
            lines.append(f"{(inert_text(r.task) if i == 0 else ''):<40} {name:<7} {side.runs:>7} "
                         f"{_pct(side.failure_rate):>8} "
                         f"{_secs(side.p50):>10} {_secs(side.p95):>10} {_secs(side.wait_p95):>10}  {verdict}")
        for reason in r.reasons:
            lines.append(f"{'':<40} - {inert_text(reason)}")
    return "\n".join(lines)
