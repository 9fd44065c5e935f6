"""Celery vs SAQ for one task: the numbers side by side and a verdict. Pure: no I/O.

The failure-rate check is a statistical decision, not a comparison of raw rates (which, looked at on
every autopilot tick, rolls back healthy ports on noise alone: docs/cockpit.md has the Monte Carlo).
With d = SAQ's failure rate - Celery's, delta = ``max_failure_rate_diff_pp`` / 100 and z =
``confidence_z`` (one-sided; the default 4.0 ~ 99.997 %), :func:`diff_bounds` gives a confidence interval
[lower, upper] for d (Newcombe's hybrid score interval: Wilson score bounds of each rate, combined).

A verdict is one of:

* ``fail``: ``lower > delta`` (SAQ is worse than Celery by more than the threshold *with confidence*)
  and either both sides have ``min_runs`` finished runs or SAQ has at least :data:`EARLY_FAILURES`
  failures (a clear failure rolls back before ``min_runs``); or, with ``min_runs`` run times on both
  sides, SAQ's p95 is *significantly* above ``max_p95_ratio`` times Celery's: the one-sided Wilson bound
  of the share of SAQ runs slower than that limit is above 5 %. Every failing check is named.
* ``pass``: both sides have ``min_runs`` runs, ``lower <= delta`` and the point estimate
  ``d <= delta``, and the p95 check (when judged) holds on the observed p95s;
* ``insufficient``: not enough evidence either way: fewer than ``min_runs`` runs on a side, or SAQ's
  observed rate or p95 is above its threshold but not significantly (more runs decide).

SAQ doing *better* than Celery never fails a check. The p95 ratio is judged only with ``min_runs``
run times on each side (a p95 of a handful of runs is its maximum), and a p95 below
``p95_floor_seconds`` counts as the floor (at a few milliseconds the ratio measures timers, not the
task). Queue wait is reported, never judged (it is a property of the fleet's size, not of the port).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from saqmigrate.errors import SaqmigrateError

PASS, FAIL, INSUFFICIENT = "pass", "fail", "insufficient"

DEFAULTS: dict[str, Any] = {
    "max_failure_rate_diff_pp": 0.5,
    "max_p95_ratio": 1.5,
    "min_runs": 100,
    "p95_floor_seconds": 0.01,
    "confidence_z": 4.0,
    "baseline": "24h",
}

#: SAQ failures that, with the confidence bound over the threshold, fail a step before ``min_runs``
#: (e.g. SAQ 10 of 10 failed while Celery ran 500 without one). Below it, Wilson bounds of a few runs are
#: too optimistic (3 of 3 failing at a true 20 % happens 0.8 % of the time) to act on.
EARLY_FAILURES = 10


class AnalysisConfigError(SaqmigrateError, ValueError):
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
    if seconds < 0:
        return "-" + format_duration(-seconds)
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
    confidence_z: float = DEFAULTS["confidence_z"]
    baseline_seconds: float = 86400.0  # the Celery window the autopilot compares a step against

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None, source: str = "[tool.saqmigrate.analysis]") -> "Thresholds":
        """From the ``[tool.saqmigrate.analysis]`` table; unknown keys and bad values raise."""
        section = dict(section or {})
        unknown = sorted(set(section) - set(DEFAULTS))
        if unknown:
            raise AnalysisConfigError(f"{source}: unknown key(s) {', '.join(unknown)} (known: {', '.join(DEFAULTS)})")

        def number(key: str, low: float, integer: bool = False, high: float | None = None) -> Any:
            v = section.get(key, DEFAULTS[key])
            ok = isinstance(v, int) if integer else isinstance(v, (int, float))
            if (
                isinstance(v, bool)
                or not ok
                or v != v
                or v < low
                or not math.isfinite(v)
                or (high is not None and v > high)
            ):
                kind = "a whole number" if integer else "a number"
                upto = f" and <= {high:g}" if high is not None else ""
                raise AnalysisConfigError(f"{source}: {key} must be {kind} >= {low:g}{upto}, got {v!r}")
            return v

        return cls(
            max_failure_rate_diff_pp=float(number("max_failure_rate_diff_pp", 0)),
            max_p95_ratio=float(number("max_p95_ratio", 1)),
            min_runs=int(number("min_runs", 1, integer=True)),
            p95_floor_seconds=float(number("p95_floor_seconds", 0)),
            confidence_z=float(number("confidence_z", 0, high=10)),
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
    duration_samples: int | None = None  # run times recorded (None: as many as runs)
    durations: tuple[tuple[int, int], ...] | None = None  # the run-time histogram (bin, count), when known

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.runs if self.runs else None

    @classmethod
    def from_stats(cls, st: Any) -> "Side":
        return cls(
            runs=st.runs,
            failures=st.failures,
            retries=st.retries,
            dead_letters=st.dead,
            p50=st.duration_q(0.5),
            p95=st.duration_q(0.95),
            wait_p95=st.wait_q(0.95),
            duration_samples=sum(c for c in st.duration.values() if c > 0),
            durations=tuple(sorted((b, c) for b, c in st.duration.items() if c > 0)),
        )

    def slower_than(self, seconds: float) -> float:
        """How many recorded run times are above ``seconds`` (the bin holding it counted in proportion,
        geometrically, as :func:`saqmigrate.runtime.outcomes.quantile` interpolates)."""
        from saqmigrate.runtime.outcomes import bin_bounds

        out = 0.0
        for b, c in self.durations or ():
            lo, hi = bin_bounds(b)
            if lo >= seconds:
                out += c
            elif hi > seconds > lo:
                out += c * math.log(hi / seconds) / math.log(hi / lo)
        return out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("durations")
        return {**data, "failure_rate": self.failure_rate}


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
        return {
            "task": self.task,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "celery": self.celery.to_json(),
            "saq": self.saq.to_json(),
            "checks": dict(self.checks),
        }


def inert_text(value: Any, limit: int = 300) -> str:
    """A name or reason from the store or a job, safe on a terminal: control and format characters (newlines,
    escape sequences, RTL overrides) shown as escapes, so a value cannot forge a row or retitle the window."""
    import unicodedata

    text = str(value)
    out = "".join(
        ch if unicodedata.category(ch)[0] != "C" else ch.encode("unicode_escape").decode("ascii") for ch in text
    )
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f}%"


def _secs(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"


def wilson(failures: float, runs: int, z: float) -> tuple[float, float]:
    """Wilson score bounds (lower, upper) of a rate ``failures / runs`` at one-sided ``z``; (0, 1) for no runs."""
    if runs <= 0:
        return 0.0, 1.0
    p = failures / runs
    z2 = z * z
    denom = 1 + z2 / runs
    centre = (p + z2 / (2 * runs)) / denom
    half = z * math.sqrt(max(0.0, p * (1 - p) / runs + z2 / (4 * runs * runs))) / denom
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    return (0.0 if failures <= 0 else lo), (1.0 if failures >= runs else hi)


def diff_bounds(
    saq_failures: int, saq_runs: int, celery_failures: int, celery_runs: int, z: float
) -> tuple[float, float]:
    """Confidence bounds (lower, upper), each one-sided at ``z``, of SAQ's failure rate minus Celery's:
    Newcombe's hybrid score interval (Statistics in Medicine 17, 1998, method 10), Wilson bounds of
    each rate combined. Without runs on a side its rate is anywhere in [0, 1]."""
    ps = saq_failures / saq_runs if saq_runs else 0.0
    pc = celery_failures / celery_runs if celery_runs else 0.0
    ls, us = wilson(saq_failures, saq_runs, z)
    lc, uc = wilson(celery_failures, celery_runs, z)
    d = ps - pc
    return d - math.hypot(ps - ls, uc - pc), d + math.hypot(us - ps, pc - lc)


def failure_rate_decision(
    celery_failures: int, celery_runs: int, saq_failures: int, saq_runs: int, t: Thresholds
) -> tuple[str, float, float]:
    """The failure-rate check alone: (``fail`` | ``pass`` | ``insufficient``, lower, upper bound of the
    difference as a rate). What :func:`compare` decides on, and what the Monte Carlo of
    tests/cockpit/montecarlo.py exercises:

    * ``fail``: the lower bound is above the threshold, and both sides have ``min_runs`` runs or SAQ has
      :data:`EARLY_FAILURES` failures;
    * ``pass``: both sides have ``min_runs`` runs, the lower bound is not above the threshold and the
      observed difference is at most the threshold;
    * ``insufficient``: anything else (too few runs, or worse than the threshold but not significantly).
    """
    delta = t.max_failure_rate_diff_pp / 100.0
    lower, upper = diff_bounds(saq_failures, saq_runs, celery_failures, celery_runs, t.confidence_z)
    enough = celery_runs >= t.min_runs and saq_runs >= t.min_runs
    if lower > delta + 1e-12 and (enough or saq_failures >= EARLY_FAILURES):
        return FAIL, lower, upper
    if not enough:
        return INSUFFICIENT, lower, upper
    ps = saq_failures / saq_runs
    pc = celery_failures / celery_runs
    return (PASS if (ps - pc) * 100 <= t.max_failure_rate_diff_pp + 1e-9 else INSUFFICIENT), lower, upper


def _confidence(z: float) -> str:
    """One-sided confidence of ``z`` as a percentage, with the digits that tell it from 100 (4 -> "99.997 %")."""
    miss = 100 * 0.5 * math.erfc(z / math.sqrt(2))
    digits = 2 if miss >= 0.01 else min(8, math.ceil(-math.log10(miss)) + 1)
    return f"{100 - miss:.{digits}f} %"


def compare(task: str, celery: Side, saq: Side, t: Thresholds = Thresholds()) -> Comparison:
    """The verdict for ``task`` (see the module docstring)."""
    checks: dict[str, Any] = {"min_runs": t.min_runs}
    failed: list[str] = []
    passed: list[str] = []
    held: list[str] = []
    enough = celery.runs >= t.min_runs and saq.runs >= t.min_runs
    # -- failure rate: a one-sided confidence bound of the difference against the threshold
    c_rate, s_rate = celery.failure_rate or 0.0, saq.failure_rate or 0.0
    diff_pp = (s_rate - c_rate) * 100
    rate, lower, upper = failure_rate_decision(celery.failures, celery.runs, saq.failures, saq.runs, t)
    early = rate == FAIL and not enough
    rate_ok = {FAIL: False, PASS: True}.get(rate)
    checks["failure_rate_diff_pp"] = {
        "value": round(diff_pp, 4),
        "lower": round(lower * 100, 4),
        "upper": round(upper * 100, 4),
        "max": t.max_failure_rate_diff_pp,
        "z": t.confidence_z,
        "ok": rate_ok,
    }
    text = (
        f"failure rate saq {_pct(s_rate)} vs celery {_pct(c_rate)} ({diff_pp:+.2f} pp, max "
        f"{t.max_failure_rate_diff_pp:g} pp"
    )
    bound = f"at least {lower * 100:+.2f} pp at {_confidence(t.confidence_z)} confidence"
    if rate_ok is False:
        failed.append(f"{text}; {bound}" + (f", {saq.failures} failures before min_runs)" if early else ")"))
    elif rate_ok is True:
        passed.append(f"{text}; {bound})")
    elif enough:
        held.append(f"{text}; above the threshold but not significantly: {bound}; more runs decide)")
    # -- p95 run time: only with min_runs run times on each side (a p95 of a few runs is their maximum)
    samples = [s.runs if s.duration_samples is None else s.duration_samples for s in (celery, saq)]
    if celery.p95 is not None and saq.p95 is not None and min(samples) >= t.min_runs:
        base = max(celery.p95, t.p95_floor_seconds)
        ratio = max(saq.p95, t.p95_floor_seconds) / base if base > 0 else 1.0
        within_p95 = ratio <= t.max_p95_ratio + 1e-9
        text = f"p95 saq {_secs(saq.p95)} vs celery {_secs(celery.p95)} (x{ratio:.2f}, max x{t.max_p95_ratio:g})"
        check: dict[str, Any] = {
            "value": round(ratio, 4),
            "max": t.max_p95_ratio,
            "floor_seconds": t.p95_floor_seconds,
            "samples": min(samples),
        }
        if saq.durations is None:  # numbers without a histogram: the ratio alone
            ok_p95: bool | None = within_p95
        else:
            # SAQ's p95 is above the limit when more than 5 % of its runs are slower than it: judged with
            # the same one-sided bound as the failure rate (one slow warm-up run in 20 is no verdict)
            limit = t.max_p95_ratio * base
            n = samples[1]
            slow = saq.slower_than(limit)
            lower = wilson(slow, n, t.confidence_z)[0] if n else 0.0
            check.update(
                {"slower_than_limit": round(slow, 1), "limit_seconds": limit, "slow_share_lower": round(lower, 4)}
            )
            ok_p95 = False if lower > 0.05 else (True if within_p95 else None)
            if ok_p95 is False:
                text += f"; {slow:.0f} of {n} saq runs slower than {_secs(limit)}: at least {lower * 100:.1f} %"
            elif ok_p95 is None:
                text += (
                    f"; above the threshold but not significantly: {slow:.0f} of {n} saq runs slower than "
                    f"{_secs(limit)} (at least {lower * 100:.1f} %, a p95 over it needs more than 5 %); "
                    "more runs decide"
                )
        check["ok"] = ok_p95
        checks["p95_ratio"] = check
        (passed if ok_p95 else failed if ok_p95 is False else held).append(text)
    else:
        checks["p95_ratio"] = {"value": None, "max": t.max_p95_ratio, "ok": None, "samples": min(samples)}
        if enough:
            passed.append(
                "p95 not compared ("
                + (
                    "no run times recorded on one side)"
                    if celery.p95 is None or saq.p95 is None
                    else f"fewer than min_runs={t.min_runs} run times on one side)"
                )
            )
    if failed:
        return Comparison(task, celery, saq, FAIL, tuple(failed), checks)
    if not enough:
        short = [
            f"{name} has {side.runs} run(s), fewer than min_runs={t.min_runs}"
            for name, side in (("celery", celery), ("saq", saq))
            if side.runs < t.min_runs
        ]
        return Comparison(task, celery, saq, INSUFFICIENT, tuple(short), checks)
    if held:
        return Comparison(task, celery, saq, INSUFFICIENT, tuple(held + passed), checks)
    return Comparison(task, celery, saq, PASS, tuple(passed), checks)


def render_text(rows: list[Comparison], *, since: str, baseline: str | None = None) -> str:
    """The side-by-side table ``route compare`` prints."""
    if not rows:
        return f"no outcomes recorded in the last {since} (are the workers wired? docs/cockpit.md)"
    head = f"last {since}" + (f" (celery baseline: last {baseline})" if baseline and baseline != since else "")
    lines = [
        head,
        f"{'task':<40} {'backend':<7} {'runs':>7} {'fail%':>8} {'p50':>10} {'p95':>10} {'wait p95':>10}  verdict",
    ]
    for r in rows:
        for i, (name, side) in enumerate((("celery", r.celery), ("saq", r.saq))):
            verdict = r.verdict.upper() if i == 0 else ""
            lines.append(
                f"{(inert_text(r.task) if i == 0 else ''):<40} {name:<7} {side.runs:>7} "
                f"{_pct(side.failure_rate):>8} "
                f"{_secs(side.p50):>10} {_secs(side.p95):>10} {_secs(side.wait_p95):>10}  {verdict}"
            )
        for reason in r.reasons:
            lines.append(f"{'':<40} - {inert_text(reason)}")
    return "\n".join(lines)
