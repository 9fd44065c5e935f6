"""Celery crontab fields and intervals → cron strings as croniter (and so SAQ) reads them.

Pure functions, no I/O. The Celery side is always parsed by Celery's own parser
(``celery.schedules.crontab``), so the value sets we translate are exactly the ones Celery
fires on; the cron side is checked against ``croniter``'s own expansion before it is
returned. The semantics and their findings: docs/schedules.md; the decision: docs/adr/0007-exact-or-flagged.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from croniter import croniter

# Celery's field names in cron (m h dom mon dow) order, with their value ranges.
FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
# (max_, min_) as Celery's crontab._expand_cronspec takes them.
CELERY_RANGES = {
    "minute": (60, 0),
    "hour": (24, 0),
    "day_of_week": (7, 0),
    "day_of_month": (31, 1),
    "month_of_year": (12, 1),
}
_NAME = re.compile(r"[A-Za-z]+")


class CrontabError(ValueError):
    """Celery itself would reject this crontab (the beat entry never loads)."""


@dataclass(frozen=True)
class CeleryCrontab:
    """A crontab as Celery expands it: field → sorted tuple of values; plus what was written."""

    sets: dict[str, tuple[int, ...]]  # field -> tuple[int, ...]
    given: dict[str, Any]  # field -> the value as written (only fields present in source)
    full_names: tuple[str, ...]  # full day/month names that had to be shortened for croniter

    def is_full(self, field: str) -> bool:
        hi, lo = CELERY_RANGES[field]
        return len(self.sets[field]) == hi

    def cron_fields(self) -> dict[str, str]:
        return {f: field_to_cron(f, self.given.get(f, "*"), self.sets[f]) for f in FIELDS}


def _celery_crontab_class() -> Any:  # celery.schedules.crontab
    from celery.schedules import crontab

    return crontab


def parse_celery_crontab(celery: dict[str, Any]) -> CeleryCrontab:
    """Expand a scanner ``celery`` dict (kind ``crontab``) with Celery's own parser.

    Raises ``CrontabError`` with Celery's message when Celery would reject it, and
    ``ValueError`` for dynamic fields (the caller turns those into a manual plan).
    """
    crontab = _celery_crontab_class()
    if "from_string" in celery:
        text = celery["from_string"]
        if not isinstance(text, str):
            raise ValueError(f"crontab.from_string argument is not a literal: {text!r}")
        try:
            ct = crontab.from_string(text)
        except Exception as exc:  # Celery raises ValueError / ParseException / unpack errors
            raise CrontabError(f"crontab.from_string({text!r}) is rejected by Celery: {exc}") from exc
        parts = text.split(" ")
        given = dict(zip(("minute", "hour", "day_of_month", "month_of_year", "day_of_week"), parts))
    else:
        given = {}
        for key, value in celery.items():
            if key not in CELERY_RANGES:
                raise CrontabError(f"crontab() got an unexpected argument {key!r}")
            if isinstance(value, dict):
                raise ValueError(f"crontab field {key} is not a literal: {value.get('dynamic', value)!r}")
            given[key] = value
        try:
            ct = crontab(**{k: (set(v) if isinstance(v, list) else v) for k, v in given.items()})
        except Exception as exc:
            raise CrontabError(f"{format_crontab(given)} is rejected by Celery: {exc}") from exc
    sets = {
        "minute": tuple(sorted(ct.minute)),
        "hour": tuple(sorted(ct.hour)),
        "day_of_week": tuple(sorted(ct.day_of_week)),
        "day_of_month": tuple(sorted(ct.day_of_month)),
        "month_of_year": tuple(sorted(ct.month_of_year)),
    }
    full_names = []
    for value in given.values():
        if isinstance(value, str):
            full_names += [w for w in _NAME.findall(value) if len(w) > 3]
        elif isinstance(value, list):
            full_names += [w for w in value if isinstance(w, str) and len(w) > 3]
    return CeleryCrontab(sets=sets, given=given, full_names=tuple(full_names))


def format_crontab(given: dict[str, Any]) -> str:
    """``crontab(minute=0, hour='*/6')`` as written (fields in Celery's keyword order)."""
    order = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
    parts = [f"{k}={given[k]!r}" for k in order if k in given]
    return f"crontab({', '.join(parts)})"


def _croniter_set(field: str, text: str) -> tuple[int, ...] | None:
    """How croniter expands ``text`` in ``field`` (None if croniter rejects it)."""
    index = FIELDS.index(field)
    fields = ["*"] * 5
    fields[index] = text
    expr = " ".join(fields)
    if not croniter.is_valid(expr):
        return None
    values = croniter(expr).expanded[index]
    if values == ["*"]:
        hi, lo = CELERY_RANGES[field]
        return tuple(range(lo, lo + hi))
    out = sorted({0 if (field == "day_of_week" and v == 7) else int(v) for v in values})
    return tuple(out)


def compress(values: tuple[int, ...], lo: int, hi: int) -> str:
    """A short cron field for a set of ints in [lo, hi] (both inclusive)."""
    vals = sorted(set(values))
    if vals == list(range(lo, hi + 1)):
        return "*"
    if len(vals) >= 3:
        step = vals[1] - vals[0]
        if step > 1 and all(b - a == step for a, b in zip(vals, vals[1:])):
            # a progression: '*/k' when it starts at the field minimum and runs to the end
            if vals[0] == lo and vals[-1] + step > hi:
                return f"*/{step}"
            return f"{vals[0]}-{vals[-1]}/{step}"
    parts: list[str] = []
    run: list[int] = []
    for v in vals + [None]:
        if run and (v is None or v != run[-1] + 1):
            if len(run) >= 3:
                parts.append(f"{run[0]}-{run[-1]}")
            else:
                parts.extend(str(x) for x in run)
            run = []
        if v is not None:
            run.append(v)
    return ",".join(parts)


def field_to_cron(field: str, written: Any, celery_set: tuple[int, ...]) -> str:
    """One cron field with the same value set as Celery's, as close to the source as possible.

    Strings are kept (lower-cased, full names cut to their first three letters, which is
    what Celery itself reads) when croniter expands them to the same set; otherwise —
    wrapping ranges croniter reads differently, lists, sets, ranges — the set is
    written out canonically.
    """
    hi, lo = CELERY_RANGES[field]
    if len(celery_set) == hi:
        return "*"
    if isinstance(written, int) and not isinstance(written, bool):
        return str(written)
    if isinstance(written, str):
        text = _NAME.sub(lambda m: m.group(0)[:3].lower(), written.strip())
        if _croniter_set(field, text) == tuple(celery_set):
            return text
    elif isinstance(written, (list, tuple, set)):
        text = ",".join(str(v) for v in sorted(celery_set))  # lists and sets: comma-joined
        if _croniter_set(field, text) == tuple(celery_set):
            return text
    return compress(tuple(celery_set), lo, lo + hi - 1)


def crontab_to_cron(ct: CeleryCrontab, *, swap: str | None = None) -> tuple[str, dict[str, Any] | None, str | None]:
    """The 5-field cron and, when Celery ANDs a restricted day-of-month with a restricted
    day-of-week, a guard for the day field left out of the cron.

    Returns ``(cron, guard, cron_day_field)``. ``guard`` is pure data:
    ``{"field": "day_of_month"|"day_of_week", "values": [...]}`` (day_of_week: Sunday=0).
    """
    fields = ct.cron_fields()
    guard = None
    kept = None
    if not ct.is_full("day_of_month") and not ct.is_full("day_of_week"):
        kept = swap or choose_cron_day_field(ct)
        other = "day_of_week" if kept == "day_of_month" else "day_of_month"
        guard = {"field": other, "values": list(ct.sets[other])}
        fields[other] = "*"
    cron = " ".join(fields[f] for f in FIELDS)
    return cron, guard, kept


def choose_cron_day_field(ct: CeleryCrontab) -> str:
    """Put the rarer day condition in the cron (fewer no-op runs for the guard to drop)."""
    dow_share = len(ct.sets["day_of_week"]) / 7
    dom_share = len(ct.sets["day_of_month"]) / 30.44
    return "day_of_week" if dow_share <= dom_share else "day_of_month"


# ---------------------------------------------------------------- intervals


@dataclass(frozen=True)
class IntervalCron:
    cron: str | None  # exact-period cron, or the nearest one when not exact
    exact_period: bool  # every gap of the cron equals the interval (away from DST changes)
    gaps: tuple[tuple[float, int], ...]  # ((gap_seconds, count_per_cycle), ...) of `cron` over one cycle
    cycle: str  # the cycle the gaps are counted over ("minute", "hour", "day", "week")


def interval_to_cron(seconds: float) -> IntervalCron:
    """A cron with the same period as a Celery interval, when one exists.

    Exact periods: seconds dividing 60 (6-field form, seconds LAST — SAQ's croniter reads
    the 6th field as seconds), whole minutes dividing 60, whole hours dividing 24, one
    day, one week. Otherwise the nearest cron and the gaps it would really have.
    """
    s = float(seconds)
    if s <= 0:
        return IntervalCron(None, False, (), "")
    if s != int(s):
        return IntervalCron(None, False, (), "")
    n = int(s)
    if n < 60:
        cron = "* * * * * *" if n == 1 else f"* * * * * */{n}"
        return IntervalCron(cron, 60 % n == 0, _gaps(n, 60), "minute")
    if n < 3600:
        if n % 60 == 0:
            m = n // 60
            cron = "* * * * *" if m == 1 else f"*/{m} * * * *"
            return IntervalCron(cron, 60 % m == 0, tuple((g * 60, c) for g, c in _gaps(m, 60)), "hour")
        return IntervalCron(None, False, (), "")
    if n < 86400:
        if n % 3600 == 0:
            h = n // 3600
            cron = "0 * * * *" if h == 1 else f"0 */{h} * * *"
            return IntervalCron(cron, 24 % h == 0, tuple((g * 3600, c) for g, c in _gaps(h, 24)), "day")
        return IntervalCron(None, False, (), "")
    if n == 86400:
        return IntervalCron("0 0 * * *", True, ((86400, 1),), "day")
    if n == 7 * 86400:
        return IntervalCron("0 0 * * 0", True, ((7 * 86400, 1),), "week")
    return IntervalCron(None, False, (), "")


def _gaps(step: int, cycle: int) -> tuple[Any, ...]:
    """Gaps of a '*/step' field over one cycle of ``cycle`` units, as ((gap, count), ...)."""
    points = list(range(0, cycle, step))
    gaps = [b - a for a, b in zip(points, points[1:])] + [cycle - points[-1] + points[0]]
    counts: dict[int, int] = {}
    for g in gaps:
        counts[g] = counts.get(g, 0) + 1
    return tuple(sorted(counts.items(), reverse=True))


def human_seconds(seconds: float) -> str:
    s = float(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if s >= size and s % size == 0:
            n = int(s // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    if s == int(s):
        n = int(s)
        return f"{n} second{'s' if n != 1 else ''}"
    return f"{s:g} seconds"
