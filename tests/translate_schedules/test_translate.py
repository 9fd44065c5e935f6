"""Translation of beat entries → CronPlans: golden plans and field-by-field units."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from croniter import croniter

from saqmigrate.index.model import Param, Schedule
from saqmigrate.translate.cron import compress, interval_to_cron, parse_celery_crontab
from saqmigrate.translate.schedule import (
    DEFAULT_CRON_TIMEOUT,
    CronPlan,
    plan_for_schedule,
    render_rows,
    render_table_rows,
    translate_schedule,
)

from .cases import CASES

GOLDEN = Path(__file__).with_name("expected_plans.json")
KEYS = (
    "cron",
    "guard",
    "exact",
    "strategy",
    "kwargs",
    "queue",
    "cron_tz",
    "timeout",
    "retries",
    "ttl",
    "unique",
    "interval",
    "migratability",
    "description",
)


def _plan(case: dict) -> CronPlan:
    c = dict(case)
    return translate_schedule(c.pop("kind"), c.pop("celery"), **c)


def _summary(plan: CronPlan) -> dict:
    data = {k: plan.to_json()[k] for k in KEYS}
    data["codes"] = plan.codes
    return data


def test_golden_plans():
    got = {name: _summary(_plan(case)) for name, case in CASES.items()}
    if os.environ.get("SAQMIGRATE_REGEN"):
        GOLDEN.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert set(got) == set(expected), "cases changed: regenerate with SAQMIGRATE_REGEN=1 and review the diff"
    for name in CASES:
        assert got[name] == expected[name], name


def test_hour_step_is_faithful_and_warned():
    plan = translate_schedule("crontab", {"hour": "*/6"})
    assert plan.cron == "* */6 * * *"  # Celery fills minute with '*': every minute
    assert plan.exact is True
    (note,) = [n for n in plan.notes if n.code == "SM200"]
    assert "0 */6 * * *" in note.message and "60 times" in note.message
    assert plan.proof["celery_fires"] == 366 * 4 * 60


def test_explicit_star_minute_is_not_warned():
    assert "SM200" not in translate_schedule("crontab", {"minute": "*", "hour": 3}, prove=False).codes
    assert "SM200" not in translate_schedule("crontab", {}, prove=False).codes  # crontab(): every minute, on purpose


def test_minute_omitted_with_only_day_restricted_suggests_midnight():
    plan = translate_schedule("crontab", {"day_of_week": "mon"}, prove=False)
    (note,) = [n for n in plan.notes if n.code == "SM200"]
    assert "'0 0 * * mon'" in note.message


@pytest.mark.parametrize(
    "written,expected",
    [
        ("fri-mon", "fri-mon"),
        ("friday-monday", "fri-mon"),
        ("Sunday", "sun"),
        ("MON-FRI", "mon-fri"),
        ("*/2", "*/2"),
        ("0-6", "*"),
        ([1, 3, 5], "1,3,5"),
        ([0, 1, 2, 3, 4, 5, 6], "*"),
        (2, "2"),
        ("sat,sun", "sat,sun"),
    ],
)
def test_day_of_week_fields(written, expected):
    ct = parse_celery_crontab({"day_of_week": written, "minute": 0, "hour": 0})
    got = ct.cron_fields()["day_of_week"]
    assert got == expected
    # croniter reads the cron field as the same set Celery does
    values = croniter(f"0 0 * * {got}").expanded[4]
    assert (values == ["*"] and len(ct.sets["day_of_week"]) == 7) or sorted({v % 7 for v in values}) == list(
        ct.sets["day_of_week"]
    )


@pytest.mark.parametrize(
    "field,written",
    [
        ("minute", "50-10"),  # Celery wraps numeric ranges on every field
        ("hour", "22-2"),
        ("day_of_month", "28-3"),
        ("month_of_year", "nov-feb"),
        ("month_of_year", "december-february"),
        ("minute", "5-59/20"),
        ("hour", "*/5"),
        ("day_of_month", "*/10"),
        ("month_of_year", "*/4"),
        ("minute", [0, 59]),
        ("hour", list(range(0, 24, 6))),
    ],
)
def test_every_field_form_matches_croniter(field, written):
    ct = parse_celery_crontab({field: written})
    cron = " ".join(ct.cron_fields()[f] for f in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week"))
    idx = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week").index(field)
    values = croniter(cron).expanded[idx]
    assert values != ["*"]
    assert sorted(values) == list(ct.sets[field]), cron


def test_compress():
    assert compress((0, 15, 30, 45), 0, 59) == "*/15"
    assert compress((5, 25, 45), 0, 59) == "5-45/20"
    assert compress((1, 2, 3, 7, 9, 10), 1, 31) == "1-3,7,9,10"
    assert compress(tuple(range(24)), 0, 23) == "*"


def test_dom_and_dow_never_or():
    plan = translate_schedule("crontab", {"minute": 0, "hour": 9, "day_of_month": "1-7", "day_of_week": "mon"})
    assert plan.strategy == "cron+guard" and plan.exact is True
    # the cron has exactly one restricted day field; the other is the guard
    dom, dow = plan.cron.split()[2], plan.cron.split()[4]
    assert (dom == "*") != (dow == "*")
    assert plan.guard["field"] == ("day_of_month" if dom == "*" else "day_of_week")
    assert plan.proof["celery_fires"] == 12  # first Monday of each month of 2028


def test_dow_7_is_invalid():
    plan = translate_schedule("crontab", {"minute": 0, "day_of_week": 7})
    assert plan.strategy == "manual" and plan.cron is None and plan.codes[0] == "SM203"
    assert "Sunday is 0" in plan.notes[0].message


@pytest.mark.parametrize(
    "seconds,cron,exact_period",
    [
        (1, "* * * * * *", True),
        (5, "* * * * * */5", True),
        (30, "* * * * * */30", True),
        (45, "* * * * * */45", False),
        (60, "* * * * *", True),
        (300, "*/5 * * * *", True),
        (420, "*/7 * * * *", False),
        (3600, "0 * * * *", True),
        (6 * 3600, "0 */6 * * *", True),
        (5 * 3600, "0 */5 * * *", False),
        (86400, "0 0 * * *", True),
        (7 * 86400, "0 0 * * 0", True),
        (5400, None, False),
        (2 * 86400, None, False),
    ],
)
def test_interval_crons(seconds, cron, exact_period):
    ic = interval_to_cron(seconds)
    assert (ic.cron, ic.exact_period) == (cron, exact_period)
    if cron and len(cron.split()) == 6:
        # SAQ's croniter reads the 6th field as seconds: the cron must not be Quartz order
        assert cron.split()[0] == "*" and croniter.is_valid(cron)


def test_interval_exact_cron_has_phase_note():
    plan = translate_schedule("interval", {"seconds": 30.0})
    assert plan.cron == "* * * * * */30" and plan.exact is True and plan.strategy == "cron"
    (note,) = [n for n in plan.notes if n.code == "SM204"]
    assert "beat starts" in note.message and "clock" in note.message
    assert 0 <= plan.proof["phase_seconds"] < 30


def test_interval_not_dividing_is_self_rescheduling_with_gaps():
    plan = translate_schedule("interval", {"seconds": 45.0})
    assert plan.strategy == "self_rescheduling" and plan.interval == 45.0 and plan.cron is None
    (note,) = [n for n in plan.notes if n.code == "SM205"]
    assert "45 seconds (1 per minute)" in note.message and "15 seconds (1 per minute)" in note.message
    assert plan.migratability == "assisted"


def test_interval_in_dst_zone_reports_gap_change():
    plan = translate_schedule("interval", {"seconds": 6 * 3600.0}, timezone="Europe/Berlin")
    assert plan.exact is False and "SM211" in plan.codes
    gaps = dict((g, n) for g, n in plan.proof["saq_gaps"])
    assert gaps[18000.0] == 1 and gaps[25200.0] == 1  # 5 h in spring, 7 h in autumn


def test_zero_and_fractional_intervals_are_manual():
    for s in (0.0, 2.5):
        plan = translate_schedule("interval", {"seconds": s})
        assert plan.strategy == "manual" and "SM205" in plan.codes


def test_args_mapping():
    params = [Param("x", "positional"), Param("y", "positional"), Param("z", "keyword_only", 0, True)]
    plan = translate_schedule("crontab", {"minute": 0}, args=[1, 2], kwargs={"z": 3}, task_params=params, prove=False)
    assert plan.kwargs == {"x": 1, "y": 2, "z": 3} and "SM208" not in plan.codes
    plan = translate_schedule("crontab", {"minute": 0}, args=[1], kwargs={"x": 3}, task_params=params, prove=False)
    assert "SM208" in plan.codes  # x given twice: Celery raises TypeError
    plan = translate_schedule(
        "crontab",
        {"minute": 0},
        args=[1, 2],
        task_params=[Param("a", "positional"), Param("rest", "var_positional")],
        prove=False,
    )
    assert plan.kwargs == {"a": 1} and "SM208" in plan.codes
    plan = translate_schedule("crontab", {"minute": 0}, args={"dynamic": "ARGS"}, prove=False)
    assert "SM208" in plan.codes
    plan = translate_schedule(
        "crontab", {"minute": 0}, args=[1], task_params=[Param("a", "positional_only")], prove=False
    )
    assert plan.kwargs == {"a": 1} and "SM208" in plan.codes


def test_options_and_job_options():
    plan = translate_schedule(
        "crontab", {"minute": 0}, options={"queue": "q1", "expires": 30, "time_limit": 12.5}, prove=False
    )
    assert plan.queue == "q1" and plan.timeout == 13
    assert [n.code for n in plan.notes] == ["SM209"]
    plan = translate_schedule(
        "crontab", {"minute": 0}, job_options={"timeout": 60, "retries": 3, "ttl": -1}, prove=False
    )
    assert (plan.timeout, plan.retries, plan.ttl, plan.unique) == (60, 3, -1, True) and plan.notes == ()
    plan = translate_schedule("crontab", {"minute": 0}, prove=False)
    assert plan.timeout == DEFAULT_CRON_TIMEOUT and plan.codes == ["SM210"] and plan.queue == "default"
    assert plan.cron_tz == "UTC"
    assert translate_schedule("crontab", {"minute": 0}, timezone="Asia/Kolkata", prove=False).cron_tz == "Asia/Kolkata"


def test_plan_json_roundtrip():
    plan = translate_schedule("crontab", {"minute": 0, "hour": 0, "day_of_month": 1, "day_of_week": 1})
    data = json.loads(json.dumps(plan.to_json()))
    assert data["guard"] == plan.guard and data["notes"][0]["code"] == "SM201"


def test_render_rows_from_index_schedules():
    schedules = [
        Schedule(
            entry="feeds",
            task="blogs.tasks.update_feeds",
            file="settings.py",
            line=10,
            module="settings",
            source="CELERY_BEAT_SCHEDULE",
            kind="crontab",
            celery={"hour": "*/6"},
        ),
        Schedule(
            entry="poll",
            task="jobs.tasks.poll",
            file="settings.py",
            line=14,
            module="settings",
            source="CELERY_BEAT_SCHEDULE",
            kind="interval",
            celery={"seconds": 300.0},
            args=[5],
        ),
        Schedule(
            entry="sun",
            task={"dynamic": "name"},
            file="settings.py",
            line=18,
            module="settings",
            source="CELERY_BEAT_SCHEDULE",
            kind="solar",
            celery={"expr": "solar('sunset', 1, 2)"},
        ),
    ]
    from saqmigrate.index.model import Task

    tasks = {
        "jobs.tasks.poll": Task(
            name="jobs.tasks.poll",
            function="poll",
            file="t.py",
            line=1,
            decorator_line=1,
            module="jobs.tasks",
            kind="shared_task",
            params=[Param("limit", "positional")],
        )
    }
    rows = render_rows(schedules, tasks=tasks, timezone="UTC")
    assert [r["cron"] for r in rows] == ["* */6 * * *", "*/5 * * * *", "—"]
    assert [r["exact"] for r in rows] == ["yes", "yes", "n/a"]
    assert rows[1]["plan"].kwargs == {"limit": 5}
    table = render_table_rows(rows)
    assert table[0][:4] == ("feeds", "crontab(hour='*/6')", "* */6 * * *", "yes")
    assert plan_for_schedule(schedules[0], prove=False).cron == "* */6 * * *"
