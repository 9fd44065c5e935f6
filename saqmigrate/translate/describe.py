"""Plain-English descriptions of when Celery fires a schedule (from Celery's own value sets)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from saqmigrate.translate.cron import CELERY_RANGES, human_seconds

DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTHS = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _join(items: list[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _runs(values: tuple[int, ...]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for v in sorted(values):
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def _step(values: tuple[int, ...], lo: int, size: int) -> int | None:
    """k when values are exactly lo, lo+k, ... filling the field ('*/k'), else None."""
    vals = sorted(values)
    if len(vals) < 2 or vals[0] != lo:
        return None
    k = vals[1] - vals[0]
    if all(b - a == k for a, b in zip(vals, vals[1:])) and vals[-1] + k >= lo + size:
        return k
    return None


def _list(values: tuple[int, ...], name: Callable[[int], str] = str, words: bool = False) -> str:
    parts = []
    for a, b in _runs(values):
        if a == b:
            parts.append(name(a))
        elif b == a + 1:
            parts += [name(a), name(b)]
        else:
            parts.append(f"{name(a)} to {name(b)}" if words else f"{name(a)}–{name(b)}")
    return _join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def describe_sets(sets: dict[str, Any], tz: str = "UTC") -> str:
    M, H = tuple(sets["minute"]), tuple(sets["hour"])
    dom, dow, moy = tuple(sets["day_of_month"]), tuple(sets["day_of_week"]), tuple(sets["month_of_year"])
    full = {f: len(sets[f]) == CELERY_RANGES[f][0] for f in sets}

    # time of day
    if full["minute"] and full["hour"]:
        when = "every minute"
    elif full["minute"]:
        when = f"every minute of hour{'s' if len(H) > 1 else ''} {_list(H, lambda h: f'{h:02d}:00')} ({_plural(60, 'run')} in each)"
    elif full["hour"]:
        k = _step(M, 0, 60)
        if k:
            when = f"every {_plural(k, 'minute')}" if k > 1 else "every minute"
        elif len(M) == 1:
            when = f"every hour at minute {M[0]}"
        else:
            when = f"every hour at minutes {_list(M)}"
    else:
        if len(H) * len(M) <= 6:
            when = "at " + _join([f"{h:02d}:{m:02d}" for h in H for m in M])
        else:
            k = _step(M, 0, 60)
            mins = f"every {_plural(k, 'minute')}" if k else f"at minute{'s' if len(M) > 1 else ''} {_list(M)}"
            kh = _step(H, 0, 24)
            hours = (
                f"every {_plural(kh, 'hour')} (hours {_list(H)})"
                if kh
                else f"during hour{'s' if len(H) > 1 else ''} {_list(H)}"
            )
            when = f"{mins} {hours}"

    # days
    day_parts = []
    if not full["day_of_month"] and not full["day_of_week"]:
        day_parts.append(
            f"on day{'s' if len(dom) > 1 else ''} {_list(dom)} of the month, but only when that day is a "
            f"{_list(dow, lambda d: DAYS[d], words=True)}"
        )
    elif not full["day_of_month"]:
        day_parts.append(f"on day{'s' if len(dom) > 1 else ''} {_list(dom)} of the month")
    elif not full["day_of_week"]:
        day_parts.append(f"on {_list(dow, lambda d: DAYS[d], words=True)}")
    else:
        day_parts.append("every day")
    if not full["month_of_year"]:
        day_parts.append(f"in {_list(moy, lambda m: MONTHS[m], words=True)}")
    return f"{when}, {' '.join(day_parts)} ({tz})"


def describe_interval(seconds: float, relative: bool = False) -> str:
    base = f"every {human_seconds(seconds)}"
    if relative:
        return f"{base}, rounded to the interval's unit of the clock (relative=True)"
    return f"{base}, counted from when beat started (or last ran the entry)"
