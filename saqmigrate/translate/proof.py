"""The schedule-equivalence proof: Celery's own schedule classes versus croniter as SAQ calls it.

For one entry, both sides are enumerated over a horizon (default: 366 days from
2028-01-01 00:00 in the schedule's time zone — a leap year, so Feb 29 is inside, and
both DST changes of any northern or southern zone):

* **Celery side (the oracle is Celery itself).** A ``celery.schedules.crontab`` built
  from the same arguments, bound to an app whose ``timezone`` is the schedule's, with a
  fixed ``nowfun``; the next fire after ``t`` is ``now + crontab.remaining_estimate(t)``
  — exactly what beat computes (``is_due`` fires when that is ≤ 0, then sets
  ``last_run_at`` to the run time). Intervals use ``celery.schedules.schedule`` the same
  way, anchored on beat's start.
* **SAQ side.** ``croniter(cron, datetime.fromtimestamp(t, tz)).get_next()`` — a fresh
  croniter from the current instant, no ``day_or`` argument, as ``saq.Worker.schedule``
  calls it — then filtered by our guard (``saqmigrate.runtime.cronguard.guard_allows``,
  the code the generated job runs).

**Speed: hierarchical walk.** An every-minute crontab fires 527,040 times in a leap
year, and one Celery step costs ~20 µs and one fresh croniter ~100 µs, so instant-by-
instant enumeration takes ~60 s. Both libraries compute fires as a product of field sets
(seconds × minutes × hours on each matching day), so each side is walked once with
skipping: the first fire day is walked to learn its within-day pattern (seconds,
minutes, hours — and the first fire hour is enumerated instant by instant when it has
≤ 720 fires); after that, on a *plain* day (no UTC-offset change within two hours) whose
first fire is the pattern's first instant, the walk records the day as one block and
jumps straight to the pattern's last instant of that day, then asks the library for its
next fire. Around each DST change (±2 h) every instant is enumerated. The result is a
compact event list per side (day blocks, hour blocks, minute blocks, single instants)
and the two lists are compared; the first differing instants are then found by
expanding only from the first differing event. Cost: about one library call per fire
*day* plus the DST windows — see docs/schedules.md for measured times. ``method="full"``
enumerates every instant (used by the tests to check the fast method).
"""

from __future__ import annotations

import copy
import math
import time as _time
from dataclasses import asdict, dataclass, field
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any, overload

from croniter import croniter

from saqmigrate.runtime.cronguard import guard_allows, next_interval_run

UTC = timezone.utc
DEFAULT_START = (2028, 1, 1)
DEFAULT_DAYS = 366
WINDOW = 2 * 3600  # seconds either side of a UTC-offset change enumerated instant by instant
_NOW = datetime(2000, 1, 1, tzinfo=UTC)  # fixed "now" handed to Celery (only differences are used)
FULL_HOUR_CHECK = 720  # enumerate the sample hour fully when it has at most this many fires


@dataclass(frozen=True)
class ProofResult:
    exact: bool
    kind: str  # crontab | interval
    method: str  # fast | full
    tz: str
    start: str
    end: str
    celery_fires: int | None = None
    saq_fires: int | None = None
    differences: tuple[
        tuple[str | None, str | None], ...
    ] = ()  # ((celery_iso|None, saq_iso|None), ...) first few, in time order
    dst_only: bool = False  # every difference found lies on a UTC-offset change (±WINDOW)
    phase_seconds: float | None = None  # intervals: SAQ fire − Celery fire (mod interval)
    saq_gaps: tuple[tuple[float, int], ...] = ()  # intervals: ((gap_seconds, count), ...) between SAQ fires
    celery_gaps: tuple[tuple[float, int], ...] = ()  # intervals: gaps seen in Celery's own schedule
    detail: str = ""
    elapsed_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------ time zones


def get_tz(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def horizon(
    tz_name: str, start: tuple[int, int, int] | date | None = None, days: int = DEFAULT_DAYS
) -> tuple[float, float]:
    tz = get_tz(tz_name)
    d = start or DEFAULT_START
    if isinstance(d, tuple):
        d = date(*d)
    begin = datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()
    end_d = d + timedelta(days=days)
    end = datetime(end_d.year, end_d.month, end_d.day, tzinfo=tz).timestamp()
    return begin, end


@lru_cache(maxsize=64)
def offset_changes(tz_name: str, begin: float, end: float) -> tuple[float, ...]:
    """UTC instants (epoch s) where the zone's UTC offset changes, in [begin, end]."""
    tz = get_tz(tz_name)
    if tz is UTC:
        return ()

    def off(t: float) -> timedelta | None:
        return datetime.fromtimestamp(t, tz).utcoffset()

    out: list[float] = []
    step = 6 * 3600
    t = begin - WINDOW
    o = off(t)
    while t < end + WINDOW:
        n = t + step
        on = off(n)
        if on != o:
            lo, hi = t, n
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if off(mid) == o:
                    lo = mid
                else:
                    hi = mid
            out.append(float(hi))
        t, o = n, on
    return tuple(out)


# ------------------------------------------------------------------ the two sides


@lru_cache(maxsize=32)
def _celery_app(tz_name: str) -> Any:  # a celery.Celery
    from celery import Celery

    app = Celery("saqmigrate-proof", set_as_current=False)
    app.conf.timezone = tz_name
    app.conf.enable_utc = True
    return app


def celery_crontab_next(celery: dict[str, Any], tz_name: str) -> Callable[[float], float]:
    """Celery beat's next-fire function for a crontab (epoch s → epoch s)."""
    from celery.schedules import crontab

    if "from_string" in celery:
        ct = crontab.from_string(celery["from_string"])
    else:
        ct = crontab(**celery)
    ct.app = _celery_app(tz_name)
    ct.nowfun = lambda: _NOW

    def nxt(t: float) -> float:
        last = datetime.fromtimestamp(t, UTC)
        n = (_NOW + ct.remaining_estimate(last)).timestamp()
        if n <= t:
            # beat treats a non-positive remaining time as due at once: it fires on its
            # next tick (modelled as one second later) and continues from there.
            return t + 1.0
        return float(n)

    return nxt


def celery_interval_next(seconds: float, relative: bool, tz_name: str) -> Callable[[float], float]:
    from celery.schedules import schedule

    sch = schedule(
        run_every=timedelta(seconds=seconds), relative=relative, app=_celery_app(tz_name), nowfun=lambda: _NOW
    )

    def nxt(t: float) -> float:
        n = (_NOW + sch.remaining_estimate(datetime.fromtimestamp(t, UTC))).timestamp()
        return n if n > t else t + max(seconds, 1.0)

    return nxt


def saq_cron_next(
    cron: str, tz_name: str, guard: dict[str, Any] | None = None, *, reuse_parse: bool = True
) -> Callable[[float], float]:
    """SAQ's next run: ``croniter(cron, now_in_cron_tz).get_next()``, filtered by the guard.

    A guard rejects whole local days, so a rejected fire jumps to the end of its day
    (croniter is asked again from there; every fire it skips would also be rejected).

    ``reuse_parse``: parsing the expression is ~80% of a fresh croniter's cost and does
    not depend on the start time, so the parsed instance is copied and re-started with
    ``set_current(start, force=True)`` — the same attribute state ``__init__`` leaves
    (tests/translate_schedules check it against truly fresh instances).
    """
    tz = get_tz(tz_name)
    template = croniter(cron, datetime.fromtimestamp(0, tz))

    def fresh(start: datetime) -> croniter:
        if not reuse_parse:
            return croniter(cron, start)
        c = copy.copy(template)
        c.set_current(start, force=True)
        return c

    def nxt(t: float) -> float:
        while True:
            f = float(int(fresh(datetime.fromtimestamp(t, tz)).get_next()))
            if guard is None or guard_allows(guard, f, tz):
                return f
            d = datetime.fromtimestamp(f, tz).date() + timedelta(days=1)
            t = datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() - 1

    return nxt


def self_rescheduling_next(seconds: float, anchor: float) -> Callable[[float], float]:
    def nxt(t: float) -> float:
        if t < anchor:
            return anchor
        return next_interval_run(anchor, seconds, t) if t >= anchor else anchor

    return nxt


# ------------------------------------------------------------------ walking


@dataclass
class _Pattern:
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]


@dataclass
class _Walk:
    pattern: _Pattern | None
    events: list[tuple[str, float]] = field(
        default_factory=list
    )  # ("D", ts_first) | ("H", ts_first) | ("M", ts_first) | ("I", ts)
    fires: int = 0
    calls: int = 0


class _Walker:
    def __init__(self, nxt: Callable[[float], float], tz_name: str, begin: float, end: float):
        self.nxt = nxt
        self.tz = get_tz(tz_name)
        self.begin, self.end = begin, end
        self.changes = offset_changes(tz_name, begin, end)
        self.calls = 0

    def next(self, t: float) -> float:
        self.calls += 1
        return self.nxt(t)

    def local(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, self.tz)

    def ts(self, d: date, h: int, m: int, s: int) -> float:
        return datetime(d.year, d.month, d.day, h, m, s, tzinfo=self.tz).timestamp()

    def near_change(self, a: float, b: float, margin: float = WINDOW) -> bool:
        return any(a - margin <= c <= b + margin for c in self.changes)

    def day_span(self, d: date) -> tuple[float, float]:
        n = d + timedelta(days=1)
        return self.ts(d, 0, 0, 0), datetime(n.year, n.month, n.day, tzinfo=self.tz).timestamp()

    # -- the within-day pattern, learned on the first plain fire day
    def sample(self) -> _Pattern | None:
        f = self.next(self.begin - 1)
        while f < self.end:
            d = self.local(f).date()
            a, b = self.day_span(d)
            if not self.near_change(a, b):
                break
            f = self.next(b - 1)
        else:
            return None
        lf = self.local(f)
        if lf.date() != d:
            return None
        # seconds of the first fire minute
        secs = [lf.second]
        g = self.next(f)
        while True:
            lg = self.local(g)
            if (lg.date(), lg.hour, lg.minute) != (lf.date(), lf.hour, lf.minute):
                break
            secs.append(lg.second)
            g = self.next(g)
        # minutes of the first fire hour (skipping minute by minute via the seconds pattern)
        mins = [lf.minute]
        cur = self.ts(d, lf.hour, lf.minute, secs[-1])
        while True:
            g = self.next(cur)
            lg = self.local(g)
            if (lg.date(), lg.hour) != (lf.date(), lf.hour):
                break
            if lg.second != secs[0]:
                return None
            mins.append(lg.minute)
            cur = self.ts(d, lg.hour, lg.minute, secs[-1])
        # hours of the day
        hours = [lf.hour]
        cur = self.ts(d, lf.hour, mins[-1], secs[-1])
        while True:
            g = self.next(cur)
            lg = self.local(g)
            if lg.date() != d:
                break
            if (lg.minute, lg.second) != (mins[0], secs[0]):
                return None
            hours.append(lg.hour)
            cur = self.ts(d, lg.hour, mins[-1], secs[-1])
        pat = _Pattern(tuple(secs), tuple(mins), tuple(hours))
        # the first fire hour is enumerated instant by instant when that is affordable (with a
        # single second per minute the minute walk above already visited every instant)
        if len(secs) > 1 and len(secs) * len(mins) <= FULL_HOUR_CHECK:
            t = self.ts(d, lf.hour, 0, 0) - 1
            seen = []
            while True:
                g = self.next(t)
                lg = self.local(g)
                if (lg.date(), lg.hour) != (d, lf.hour):
                    break
                seen.append((lg.minute, lg.second))
                t = g
            if seen != [(m, s) for m in mins for s in secs]:
                return None
        return pat

    def walk(self) -> _Walk:
        pat = self.sample()
        out = _Walk(pat)
        if pat is None:
            return self.walk_full()
        S, M, H = pat.seconds, pat.minutes, pat.hours
        per_hour = len(S) * len(M)
        prev = None  # local datetime of the previous fire
        f = self.next(self.begin - 1)
        while f < self.end:
            lf = self.local(f)
            d = lf.date()
            new_day = prev is None or prev.date() != d
            new_hour = new_day or (prev is not None and prev.hour != lf.hour)
            new_minute = new_hour or (prev is not None and prev.minute != lf.minute)
            if new_day and (lf.hour, lf.minute, lf.second) == (H[0], M[0], S[0]):
                a, b = self.day_span(d)
                if not self.near_change(a, b):
                    out.events.append(("D", f))
                    out.fires += per_hour * len(H)
                    last = self.ts(d, H[-1], M[-1], S[-1])
                    prev = self.local(last)
                    f = self.next(last)
                    continue
            if new_hour and (lf.minute, lf.second) == (M[0], S[0]):
                a = self.ts(d, lf.hour, 0, 0)
                if not self.near_change(a, a + 3600):
                    out.events.append(("H", f))
                    out.fires += per_hour
                    last = self.ts(d, lf.hour, M[-1], S[-1])
                    prev = self.local(last)
                    f = self.next(last)
                    continue
            if len(S) > 1 and new_minute and lf.second == S[0]:
                a = f - lf.second
                if not self.near_change(a, a + 60, margin=60):
                    out.events.append(("M", f))
                    out.fires += len(S)
                    last = a + S[-1]
                    prev = self.local(last)
                    f = self.next(last)
                    continue
            out.events.append(("I", f))
            out.fires += 1
            prev = lf
            f = self.next(f)
        out.calls = self.calls
        return out

    def walk_full(self) -> _Walk:
        out = _Walk(None)
        f = self.next(self.begin - 1)
        while f < self.end:
            out.events.append(("I", f))
            out.fires += 1
            f = self.next(f)
        out.calls = self.calls
        return out


def _expand(events: list[tuple[str, float]], pat: _Pattern | None, tz: tzinfo, from_index: int = 0) -> Iterator[float]:
    for kind, t in events[from_index:]:
        if kind == "I":
            yield t
            continue
        assert pat is not None, "block events come from a pattern walk"
        S, M, H = pat.seconds, pat.minutes, pat.hours
        lt = datetime.fromtimestamp(t, tz)
        if kind == "M":
            base = t - lt.second
            for s in S:
                yield base + s
        elif kind == "H":
            base = t - lt.minute * 60 - lt.second
            for m in M:
                for s in S:
                    yield base + m * 60 + s
        else:  # D: a plain day, so local wall-clock offsets map linearly
            base = t - (lt.hour * 3600 + lt.minute * 60 + lt.second)
            for h in H:
                for m in M:
                    for s in S:
                        yield base + h * 3600 + m * 60 + s


@overload
def _iso(t: float, tz: tzinfo) -> str: ...
@overload
def _iso(t: float | None, tz: tzinfo) -> str | None: ...
def _iso(t: float | None, tz: tzinfo) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, tz).isoformat()


def _first_differences(
    a: _Walk, b: _Walk, tz: tzinfo, limit: int = 3, end: float = math.inf
) -> list[tuple[float | None, float | None]]:
    """Earliest instants fired by one side only, as (celery_ts|None, saq_ts|None)."""
    start = 0
    if a.pattern == b.pattern:
        while start < min(len(a.events), len(b.events)) and a.events[start] == b.events[start]:
            start += 1
    ia = _expand(a.events, a.pattern, tz, start)
    ib = _expand(b.events, b.pattern, tz, start)
    out: list[tuple[float | None, float | None]] = []
    x, y = next(ia, None), next(ib, None)
    while (x is not None or y is not None) and len(out) < limit:
        if x is not None and x >= end:
            x = None
        if y is not None and y >= end:
            y = None
        if x is None and y is None:
            break
        if x == y:
            x, y = next(ia, None), next(ib, None)
        elif y is None or (x is not None and x < y):
            out.append((x, None))
            x = next(ia, None)
        else:
            out.append((None, y))
            y = next(ib, None)
    return out


def _compare(
    celery_next: Callable[[float], float],
    saq_next: Callable[[float], float],
    *,
    kind: str,
    tz_name: str,
    begin: float,
    end: float,
    method: str,
    t0: float,
) -> ProofResult:
    tz = get_tz(tz_name)
    wa = _Walker(celery_next, tz_name, begin, end)
    wb = _Walker(saq_next, tz_name, begin, end)
    a = wa.walk() if method == "fast" else wa.walk_full()
    b = wb.walk() if method == "fast" else wb.walk_full()
    exact = a.pattern == b.pattern and a.events == b.events
    diffs: list[tuple[float | None, float | None]] = []
    if not exact:
        diffs = _first_differences(a, b, tz, end=end)
        exact = not diffs  # identical instants reached through different walks
    changes = offset_changes(tz_name, begin, end)
    dst_only = bool(diffs) and all(
        any(abs(t - c) <= WINDOW for c in changes) for pair in diffs for t in pair if t is not None
    )
    detail = f"celery calls={a.calls}, saq calls={b.calls}, events={len(a.events)}/{len(b.events)}"
    return ProofResult(
        exact=exact,
        kind=kind,
        method=method,
        tz=tz_name,
        start=_iso(begin, tz),
        end=_iso(end, tz),
        celery_fires=a.fires,
        saq_fires=b.fires,
        differences=tuple((_iso(x, tz), _iso(y, tz)) for x, y in diffs),
        dst_only=dst_only,
        detail=detail,
        elapsed_s=round(_time.perf_counter() - t0, 6),
    )


# ------------------------------------------------------------------ public entry points


def prove_crontab(
    celery: dict[str, Any],
    cron: str,
    guard: dict[str, Any] | None = None,
    *,
    tz: str = "UTC",
    start: tuple[Any, ...] | date | None = None,
    days: int = DEFAULT_DAYS,
    method: str = "fast",
) -> ProofResult:
    """Compare Celery's crontab(**celery) with SAQ's croniter(cron) + guard over the horizon."""
    t0 = _time.perf_counter()
    begin, end = horizon(tz, start, days)
    return _compare(
        celery_crontab_next(celery, tz),
        saq_cron_next(cron, tz, guard),
        kind="crontab",
        tz_name=tz,
        begin=begin,
        end=end,
        method=method,
        t0=t0,
    )


def _gap_counts(times: list[float]) -> tuple[tuple[float, int], ...]:
    counts: dict[float, int] = {}
    for x, y in zip(times, times[1:]):
        g = round(y - x, 6)
        counts[g] = counts.get(g, 0) + 1
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def prove_interval(
    seconds: float,
    *,
    cron: str | None = None,
    self_rescheduling: bool = False,
    relative: bool = False,
    tz: str = "UTC",
    beat_start: float | None = None,
    start: tuple[Any, ...] | date | None = None,
    days: int = DEFAULT_DAYS,
) -> ProofResult:
    """Compare Celery's ``schedule(run_every=seconds)`` (anchored on beat's start) with
    SAQ's cron (or a self-rescheduling job).

    Intervals are elapsed time, so "exact" here means *same gaps*: every gap between
    consecutive SAQ runs equals the Celery interval across the horizon (DST changes
    included); the phase — where in the interval the runs fall — depends on when beat
    started, and is reported in ``phase_seconds`` for ``beat_start``.
    """
    t0 = _time.perf_counter()
    begin, end = horizon(tz, start, days)
    zone = get_tz(tz)
    if beat_start is None:
        beat_start = begin + 17.25  # an arbitrary, unaligned beat start
    # Celery side: sample beat's own chain at the start, around each offset change and at
    # the end; between samples Celery adds elapsed seconds (celery.utils.time.remaining).
    cnext = celery_interval_next(seconds, relative, tz)
    samples: list[list[float]] = []
    chain = [cnext(beat_start)]
    for _ in range(20):
        chain.append(cnext(chain[-1]))
    samples.append(chain)
    for c in list(offset_changes(tz, begin, end)) + [end - 30 * seconds]:
        k = math.floor((c - chain[0]) / seconds) - 3
        t = chain[0] + max(k, 0) * seconds
        seq = [cnext(t)]
        while seq[-1] < c + 3 * seconds and len(seq) < 2000:
            seq.append(cnext(seq[-1]))
        samples.append(seq)
    celery_gaps: dict[float, int] = {}
    for seq in samples:
        for g, n in _gap_counts(seq):
            celery_gaps[g] = celery_gaps.get(g, 0) + n
    celery_arith = set(celery_gaps) == {round(float(seconds), 6)}
    first_celery = chain[0]

    # SAQ side
    if self_rescheduling:
        anchor = beat_start + 0.0
        snext = self_rescheduling_next(seconds, anchor)
        # exactly anchor + k*seconds by construction of next_interval_run; check a sample
        seq = [snext(begin)]
        for _ in range(50):
            seq.append(snext(seq[-1]))
        saq_gaps = _gap_counts(seq)
        first_saq: float | None = seq[0]
        saq_fires = int((end - seq[0]) // seconds) + 1
    else:
        assert cron is not None, "prove_interval needs cron= or self_rescheduling=True"
        w = _Walker(saq_cron_next(cron, tz), tz, begin, end)
        walk = w.walk()
        saq_gaps = _walk_gaps(walk, zone)
        first_saq = next(_expand(walk.events[:1], walk.pattern, zone), None)
        saq_fires = walk.fires
    exact = celery_arith and set(g for g, _ in saq_gaps) == {round(float(seconds), 6)}
    phase = None
    if first_saq is not None:
        phase = round((first_saq - first_celery) % seconds, 6)
    diffs: tuple[tuple[str | None, str | None], ...] = ()
    dst_only = False
    if not exact and not self_rescheduling and cron:
        raw = _first_gap_differences(walk, zone, seconds)
        diffs = tuple((_iso(x, zone), _iso(y, zone)) for x, y in raw)
        changes = offset_changes(tz, begin, end)
        # a gap is DST-made when an offset change falls inside it (or within WINDOW of it)
        dst_only = bool(raw) and all(any(x - seconds - WINDOW <= c <= y + WINDOW for c in changes) for x, y in raw)
    return ProofResult(
        exact=exact,
        kind="interval",
        method="fast",
        tz=tz,
        start=_iso(begin, zone),
        end=_iso(end, zone),
        celery_fires=int((end - first_celery) // seconds) + 1 if celery_arith else None,
        saq_fires=saq_fires,
        differences=diffs,
        dst_only=dst_only,
        phase_seconds=phase,
        saq_gaps=tuple(saq_gaps),
        celery_gaps=tuple(sorted(celery_gaps.items())),
        detail=f"beat start {_iso(beat_start, zone)}; Celery first fire {_iso(first_celery, zone)}; SAQ first fire {_iso(first_saq, zone)}",
        elapsed_s=round(_time.perf_counter() - t0, 6),
    )


def _walk_gaps(walk: _Walk, tz: tzinfo) -> tuple[tuple[float, int], ...]:
    """Gap counts between consecutive SAQ fires, from the compact walk (no full expansion)."""
    counts: dict[float, int] = {}

    def add(g: float, n: int = 1) -> None:
        g = round(g, 6)
        counts[g] = counts.get(g, 0) + n

    pat = walk.pattern
    inner: dict[
        str, tuple[tuple[tuple[float, int], ...], float]
    ] = {}  # block kind -> (gap counts inside one block, span)
    if pat is not None:
        for kind in ("M", "H", "D"):
            offs = _block_offsets(kind, pat)
            inner[kind] = (_gap_counts(offs), offs[-1] - offs[0])
    blocks: dict[str, int] = {}
    last = None
    for kind, t in walk.events:
        if kind == "I":
            first = lastt = t
        else:
            blocks[kind] = blocks.get(kind, 0) + 1
            first = t
            lastt = t + inner[kind][1]
        if last is not None:
            add(first - last)
        last = lastt
    for kind, n in blocks.items():
        for g, c in inner[kind][0]:
            add(g, c * n)
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _block_offsets(kind: str, pat: _Pattern) -> list[float]:
    S, M, H = pat.seconds, pat.minutes, pat.hours
    if kind == "M":
        return [s for s in S]
    if kind == "H":
        return [m * 60 + s for m in M for s in S]
    return [h * 3600 + m * 60 + s for h in H for m in M for s in S]


def _first_gap_differences(walk: _Walk, tz: tzinfo, seconds: float, limit: int = 3) -> list[tuple[float, float]]:
    """The first SAQ fires that do not follow the previous one by exactly ``seconds``:
    (where Celery's next run would be, where SAQ's is)."""
    out: list[tuple[float, float]] = []
    prev = None
    for t in _expand(walk.events, walk.pattern, tz):
        if prev is not None and round(t - prev, 6) != round(seconds, 6):
            out.append((prev + seconds, t))
            if len(out) >= limit:
                break
        prev = t
    return out


def cron_gaps(
    cron: str, tz: str = "UTC", cycle_seconds: int = 86400, start: tuple[int, int, int] | date | None = None
) -> tuple[tuple[float, int], ...]:
    """Gaps between consecutive fires of ``cron`` over one cycle, measured with croniter."""
    begin, _ = horizon(tz, start, 1)
    nxt = saq_cron_next(cron, tz)
    times = [nxt(begin - 1)]
    while times[-1] < times[0] + cycle_seconds:
        times.append(nxt(times[-1]))
    return _gap_counts(times)
