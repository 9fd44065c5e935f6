"""The equivalence proof: correctness of the fast walk, mutation detection, speed."""

from __future__ import annotations

import random
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import HealthCheck, given, settings

from saqmigrate.translate.cron import crontab_to_cron, parse_celery_crontab
from saqmigrate.translate.proof import (
    horizon,
    offset_changes,
    prove_crontab,
    prove_interval,
    saq_cron_next,
)

from .specs import crontab_specs

# short windows that contain a leap day and both EU/US DST changes
WINDOWS = [
    ("UTC", (2028, 2, 28), 3),
    ("Europe/Berlin", (2028, 3, 25), 3),
    ("Europe/Berlin", (2028, 10, 28), 3),
    ("America/New_York", (2028, 3, 11), 3),
    ("Australia/Sydney", (2028, 4, 1), 3),
]


def translate(spec):
    ct = parse_celery_crontab(spec)
    cron, guard, _ = crontab_to_cron(ct)
    return cron, guard


def test_horizon_spans_leap_day_and_dst():
    begin, end = horizon("Europe/Berlin")
    assert (end - begin) / 86400 == pytest.approx(366, abs=0.1)
    assert len(offset_changes("Europe/Berlin", begin, end)) == 2
    assert offset_changes("UTC", begin, end) == ()
    r = prove_crontab({"minute": 0, "hour": 0, "day_of_month": 29, "month_of_year": 2}, "0 0 29 2 *")
    assert r.exact and r.celery_fires == 1  # 2028-02-29


@pytest.mark.parametrize("tz,start,days", WINDOWS)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=crontab_specs())
def test_fast_walk_agrees_with_full_enumeration(tz, start, days, spec):
    """The skipping walk gives the same verdict and first difference as instant-by-instant."""
    try:
        cron, guard = translate(spec)
    except ValueError:
        return
    for c, g in ((cron, guard), (_or_instead_of_and(cron, spec), None)):
        fast = prove_crontab(spec, c, g, tz=tz, start=start, days=days)
        full = prove_crontab(spec, c, g, tz=tz, start=start, days=days, method="full")
        assert fast.exact == full.exact, (spec, c)
        assert fast.celery_fires == full.celery_fires and fast.saq_fires == full.saq_fires
        assert fast.differences[:1] == full.differences[:1]


def _or_instead_of_and(cron: str, spec: dict) -> str:
    ct = parse_celery_crontab(spec)
    parts = cron.split()
    if not ct.is_full("day_of_month") and not ct.is_full("day_of_week"):
        parts[2] = ",".join(map(str, ct.sets["day_of_month"]))
        parts[4] = ",".join(map(str, ct.sets["day_of_week"]))
    return " ".join(parts)


def test_reused_parse_equals_fresh_croniter():
    """The proof copies a parsed croniter instead of re-parsing: same answers as SAQ's fresh one."""
    rnd = random.Random(7)
    crons = [
        "* * * * *",
        "*/7 2-5 * * *",
        "0 0 1 * 1",
        "30 2 * * *",
        "* * * * * */15",
        "0 9 * jan,jul sun",
        "5 4 29 2 *",
    ]
    for tzname in ("UTC", "Europe/Berlin", "America/New_York"):
        tz = ZoneInfo(tzname)
        for cron in crons:
            reuse, fresh = saq_cron_next(cron, tzname), saq_cron_next(cron, tzname, reuse_parse=False)
            for _ in range(40):
                t = datetime(2028, 1, 1, tzinfo=tz).timestamp() + rnd.randrange(366 * 86400)
                assert reuse(t) == fresh(t), (cron, tzname, t)


# --------------------------------------------------------------- mutation tests

BASES = [
    {"minute": 0, "hour": 3},
    {"minute": "*/15"},
    {"hour": "*/6"},
    {"minute": 30, "hour": "9-17", "day_of_week": "mon-fri"},
    {"minute": 0, "hour": 0, "day_of_month": "1-7", "day_of_week": "mon"},
    {"minute": 0, "hour": 12, "day_of_month": 29, "month_of_year": 2},
    {"minute": 10, "hour": 23, "day_of_week": "fri-mon"},
    {"minute": 5, "hour": 4, "day_of_month": "*/10", "month_of_year": "*/3"},
]


def mutations(spec):
    cron, guard = translate(spec)
    m, h, dom, mon, dow = cron.split()
    out = {}
    if m != h:
        out["swap minute/hour"] = (f"{h} {m} {dom} {mon} {dow}", guard)
    if dom != mon and "29" not in dom:
        out["swap dom/month"] = (f"{m} {h} {mon} {dom} {dow}", guard)
    if guard:
        vals = ",".join(map(str, guard["values"]))
        field_or = f"{m} {h} {vals} {mon} {dow}" if guard["field"] == "day_of_month" else f"{m} {h} {dom} {mon} {vals}"
        out["OR instead of AND"] = (field_or, None)
        out["guard dropped"] = (cron, None)
        out["guard off by one"] = (cron, {"field": guard["field"], "values": [v + 1 for v in guard["values"]]})
    if "*/" in m:
        k = int(m.split("/")[1])
        out["off-by-one step"] = (f"*/{k - 1} {h} {dom} {mon} {dow}", guard)
    if m.isdigit():
        out["minute +1"] = (f"{int(m) + 1} {h} {dom} {mon} {dow}", guard)
    if m == "*":
        out["ADR minute=0"] = (f"0 {h} {dom} {mon} {dow}", guard)
    if dow not in ("*",) and dow[0].isalpha():
        out["dow numbering +1"] = (f"{m} {h} {dom} {mon} {_shift_dow(dow)}", guard)
    if h.isdigit() or "-" in h:
        out["hour off by one"] = (f"{m} {_shift(h, 23)} {dom} {mon} {dow}", guard)
    return out


def _shift_dow(dow):
    names = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
    for i, n in enumerate(names):
        dow = dow.replace(n, str((i + 1) % 7) if n != "sat" else "0")
    return dow


def _shift(field, hi):
    if "-" in field:
        a, b = field.split("-")
        return f"{a}-{int(b) - 1}"
    return str((int(field) + 1) % (hi + 1))


@pytest.mark.parametrize("spec", BASES, ids=[str(b) for b in BASES])
def test_mutations_are_caught(spec):
    cron, guard = translate(spec)
    assert prove_crontab(spec, cron, guard).exact  # the real translation is proven
    muts = mutations(spec)
    assert muts
    for name, (bad_cron, bad_guard) in muts.items():
        if not croniter.is_valid(bad_cron):
            continue  # SAQ's Worker rejects it at start-up anyway
        r = prove_crontab(spec, bad_cron, bad_guard)
        assert not r.exact, f"mutation {name!r} ({bad_cron}, {bad_guard}) not caught"
        assert r.differences, name


def test_quartz_order_seconds_is_caught():
    good = prove_interval(30, cron="* * * * * */30")
    bad = prove_interval(30, cron="*/30 * * * * *")  # Quartz order: croniter reads minute=*/30, second=*
    assert good.exact and not bad.exact


def test_wrong_interval_cron_is_caught():
    assert not prove_interval(300, cron="*/6 * * * *").exact
    r = prove_interval(420, cron="*/7 * * * *")
    assert not r.exact
    assert dict(r.saq_gaps) == {420.0: 366 * 24 * 8, 240.0: 366 * 24 - 1}


def test_interval_phase_reported():
    r = prove_interval(300, cron="*/5 * * * *", beat_start=horizon("UTC")[0] + 61)
    assert r.exact and r.phase_seconds == 300 - 61


def test_dst_difference_is_reported_with_instants():
    r = prove_crontab({"minute": 30, "hour": 2}, "30 2 * * *", tz="Europe/Berlin")
    assert not r.exact and r.dst_only
    assert r.differences[0] == (None, "2028-03-26T03:00:00+02:00")  # croniter: 03:00; Celery: 03:30
    assert r.differences[1] == ("2028-03-26T03:30:00+02:00", None)


# --------------------------------------------------------------- speed

SPEED_CASES = [
    ({"hour": "*/6"}, "UTC"),
    ({"minute": 0, "hour": 3}, "UTC"),
    ({}, "UTC"),
    ({}, "Europe/Berlin"),
    ({"minute": "*/15"}, "America/New_York"),
    ({"minute": 0, "hour": 0, "day_of_month": "1-7", "day_of_week": "mon"}, "UTC"),
]


def test_proof_of_a_year_is_well_under_a_second():
    times = []
    for spec, tz in SPEED_CASES:
        cron, guard = translate(spec)
        t = time.perf_counter()
        prove_crontab(spec, cron, guard, tz=tz)
        times.append(time.perf_counter() - t)
    # generous bound for a shared, loaded CI machine; docs/schedules.md has measured numbers
    assert max(times) < 1.5, times
    assert sorted(times)[len(times) // 2] < 0.5, times
