"""Pure routing logic: bucketing, evaluation order, option mapping, window. No I/O."""

from __future__ import annotations

import datetime as dt
import math
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.registry import Registry, RegistryError
from saqmigrate.runtime.router import canvas_options, plan_dispatch
from saqmigrate.runtime.window import Window, WindowError

REG = Registry.from_dicts(
    {
        "app.add": {
            "saq_function": "app.add",
            "queue": "q",
            "params": ["a", "b"],
            "job": {"retries": 4, "retry_delay": 180.0, "timeout": 0, "ttl": 600},
        },
        "app.order": {"saq_function": "app.order", "params": ["order_id", "timeout", "key"], "routing_key": "order_id"},
        "app.limited": {"saq_function": "app.limited", "params": [], "unsupported": ["rate_limit"]},
    },
    queues={"celery": "q"},
)


def snap(rules=None, mode="normal", version=7):
    return F.Snapshot.from_json({"version": version, "mode": mode, "rules": rules or {}}, "redis")


ALL_SAQ = snap({"app.*": {"target": "saq", "percent_bp": 10000}})


def test_bucket_is_crc32_of_task_and_key_and_stable():
    assert F.bucket("app.add", "k1") == zlib.crc32(b"app.add:k1") % 10000
    assert F.bucket("app.add", "k1") == F.bucket("app.add", "k1")
    assert F.bucket("app.add", "k1") != F.bucket("app.other", "k1") or F.bucket("x", "k2") != F.bucket("y", "k2")


@settings(max_examples=60, deadline=None)
@given(
    task=st.text(min_size=1, max_size=30),
    keys=st.lists(st.text(max_size=20), min_size=1, max_size=40),
    p1=st.integers(0, 10000),
    p2=st.integers(0, 10000),
)
def test_raising_the_percentage_only_moves_keys_celery_to_saq(task, keys, p1, p2):
    lo, hi = sorted((p1, p2))
    s_lo = snap({task: {"target": "saq", "percent_bp": lo}})
    s_hi = snap({task: {"target": "saq", "percent_bp": hi}})
    for k in keys:
        a = F.evaluate(s_lo, task, k)[0]
        b = F.evaluate(s_hi, task, k)[0]
        assert not (a == "saq" and b == "celery"), (task, k, lo, hi)
    if lo == 0:
        assert all(F.evaluate(s_lo, task, k)[0] == "celery" for k in keys)
    if hi == 10000:
        assert all(F.evaluate(s_hi, task, k)[0] == "saq" for k in keys)


def test_percentage_split_is_near_the_asked_share():
    s = snap({"app.add": {"target": "saq", "percent_bp": 3000}})
    n = sum(F.evaluate(s, "app.add", f"id-{i}")[0] == "saq" for i in range(20000))
    assert 0.28 < n / 20000 < 0.32


def test_evaluation_order_kill_switch_exact_pattern_default():
    rules = {"app.*": {"target": "saq", "percent_bp": 10000}, "app.add": {"target": "celery", "percent_bp": 10000}}
    assert F.evaluate(snap(rules), "app.add", "k") == ("celery", F.R_OVERRIDE)
    assert F.evaluate(snap(rules), "app.order", "k") == ("saq", F.R_PATTERN)
    assert F.evaluate(snap(rules), "other.x", "k") == ("celery", F.R_DEFAULT)
    assert F.evaluate(snap(rules, mode="force-celery"), "app.order", "k") == ("celery", F.R_KILL)
    assert F.evaluate(snap({}, mode="force-saq"), "other.x", "k") == ("saq", F.R_KILL)
    # longest glob wins
    r2 = {"app.*": {"target": "saq", "percent_bp": 10000}, "app.o*": {"target": "celery", "percent_bp": 10000}}
    assert F.evaluate(snap(r2), "app.order", "k") == ("celery", F.R_PATTERN)
    # no flags at all (store never reached, no bootstrap)
    assert F.evaluate(F.DEFAULT_SNAPSHOT, "app.add", "k") == ("celery", F.R_UNAVAILABLE)


def test_evaluate_never_raises_on_corrupt_rules():
    bad = F.Snapshot(rules={"app.add": {"target": "saq", "percent_bp": "lots"}}, source="redis")
    assert F.evaluate(bad, "app.add", "k") == ("celery", F.R_UNAVAILABLE)


def test_bad_flag_values_are_one_line_errors():
    for fn, arg in ((F.parse_percent, "abc"), (F.parse_percent, 101), (F.parse_percent, -1)):
        with pytest.raises(F.FlagError) as ei:
            fn(arg)
        assert "\n" not in str(ei.value)
    with pytest.raises(F.FlagError):
        F.make_rule("rabbit")
    with pytest.raises(F.FlagError):
        F.make_rule("celery", 5000)
    assert F.parse_percent("12.5") == 1250


def test_positional_args_become_named_kwargs_and_job_options_come_from_registry():
    p = plan_dispatch(REG, ALL_SAQ, "app.add", (1,), {"b": 2}, {})
    assert p.decision.backend == "saq" and p.decision.reason == F.R_PATTERN
    f = p.job_fields
    assert f["kwargs"] == {"a": 1, "b": 2}
    assert f["function"] == "app.add" and f["key"] == p.task_id
    assert (f["retries"], f["retry_delay"], f["timeout"], f["ttl"]) == (4, 180.0, 0, 600)
    assert f["meta"]["saqmigrate"] == {"task": "app.add", "v": 7, "reason": F.R_PATTERN}


def test_user_kwargs_named_like_job_fields_stay_kwargs():
    p = plan_dispatch(REG, ALL_SAQ, "app.order", (5,), {"timeout": 99, "key": "mine"}, {"task_id": "tid-1"})
    assert p.job_fields["kwargs"] == {"order_id": 5, "timeout": 99, "key": "mine"}
    assert p.job_fields["key"] == "tid-1"
    assert "timeout" not in p.job_fields or p.job_fields.get("timeout") != 99
    from saq.job import Job

    job = Job(**p.job_fields)
    assert job.kwargs["timeout"] == 99 and job.timeout == 10  # SAQ default untouched: registry sets none


def test_countdown_and_eta_become_scheduled_epoch_seconds():
    now = 1_700_000_000.2
    p = plan_dispatch(REG, ALL_SAQ, "app.add", (1, 2), None, {"countdown": 10}, now=now)
    assert p.job_fields["scheduled"] == math.ceil(now + 10) == 1_700_000_011
    naive = dt.datetime(2030, 1, 1, 12, 0, 0, 500000)
    p = plan_dispatch(REG, ALL_SAQ, "app.add", (1, 2), None, {"eta": naive})
    assert p.job_fields["scheduled"] == math.ceil(naive.replace(tzinfo=dt.timezone.utc).timestamp())
    aware = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=4)))
    p = plan_dispatch(REG, ALL_SAQ, "app.add", (1, 2), None, {"eta": aware})
    assert p.job_fields["scheduled"] == int(aware.timestamp())
    p = plan_dispatch(REG, ALL_SAQ, "app.add", (1, 2), None, {"time_limit": 2.5})
    assert p.job_fields["timeout"] == 3


@pytest.mark.parametrize(
    "opts",
    [
        {"expires": 60},
        {"soft_time_limit": 5},
        {"priority": 3},
        {"queue": "elsewhere"},
        {"serializer": "pickle"},
        {"headers": {"x": 1}},
    ],
)
def test_options_saq_cannot_honour_keep_the_dispatch_on_celery(opts):
    p = plan_dispatch(REG, ALL_SAQ, "app.add", (1, 2), None, opts)
    assert (p.decision.backend, p.decision.reason) == ("celery", F.R_UNSUPPORTED)
    assert set(p.decision.unsupported) == set(opts)


# What Celery 5.7's canvas machinery passes to Task.apply_async, recorded with a real worker
# (docs/routing.md, "Canvases stay on Celery"); the values are placeholders of the same shape.
CANVAS_DISPATCHES = {
    "chain, first link": {"chain": [object()], "task_id": "t1", "reply_to": "r"},
    "chain, middle link": {"chain": [object()], "parent_id": "p", "root_id": "r0", "task_id": "t2", "reply_to": "r"},
    "chain, last link": {"chain": [], "parent_id": "p", "root_id": "r0", "task_id": "t3", "reply_to": "r"},
    "group member": {
        "add_to_parent": False,
        "group_id": "g",
        "group_index": 0,
        "producer": object(),
        "task_id": "t4",
        "reply_to": "r",
    },
    "chord header": {
        "add_to_parent": False,
        "chord": object(),
        "group_id": "g",
        "group_index": 1,
        "producer": object(),
        "task_id": "t5",
        "reply_to": "r",
    },
    "chord body": {"group_id": "g", "task_id": "t6", "reply_to": "r"},
    "link callback": {"parent_id": "p", "root_id": "r0"},
    "asks for a callback": {"link": object()},
    "asks for an errback": {"link_error": [object()]},
    "replaced task": {"replaced_task_nesting": 1, "task_id": "t7"},
}


@pytest.mark.parametrize("what", sorted(CANVAS_DISPATCHES))
def test_a_canvas_continuation_stays_on_celery_whatever_the_flags(what):
    opts = CANVAS_DISPATCHES[what]
    for snapshot in (ALL_SAQ, snap({}, mode="force-saq")):
        p = plan_dispatch(REG, snapshot, "app.add", (1, 2), None, opts)
        assert (p.decision.backend, p.decision.reason) == ("celery", F.R_CANVAS), what
        assert p.decision.unsupported and set(p.decision.unsupported) <= set(opts)


def test_plain_dispatches_are_not_taken_for_canvases():
    # .delay(), sig.delay(), explicit task_id, empty/None callback options: still routed by the flags
    for opts in (
        {},
        {"task_id": "x"},
        {"link": None, "link_error": [], "parent_id": None, "chain": None},
        {"countdown": 3, "queue": "celery"},
    ):
        assert plan_dispatch(REG, ALL_SAQ, "app.add", (1, 2), None, opts).decision.backend == "saq", opts
    assert canvas_options({"chain": []}) == ("chain",)
    assert canvas_options({"group_index": 0, "group_id": "g"}) == ("group_id", "group_index")
    assert canvas_options(None) == ()


def test_ignored_and_mapped_options_do_not_block_saq():
    p = plan_dispatch(
        REG,
        ALL_SAQ,
        "app.add",
        (1, 2),
        None,
        {
            "queue": "celery",
            "retry": True,
            "retry_policy": {},
            "routing_key": "x",
            "serializer": "json",
            "link": None,
            "expires": None,
            "headers": {},
        },
    )
    assert p.decision.backend == "saq", p.decision


def test_structural_pins():
    assert plan_dispatch(REG, ALL_SAQ, "app.add", (1, 2), None, {"retries": 1}).decision.reason == F.R_RETRY
    assert plan_dispatch(REG, ALL_SAQ, "nope.x", (), None, {}).decision.reason == F.R_NOT_REGISTERED
    assert plan_dispatch(REG, ALL_SAQ, "app.limited", (), None, {}).decision.reason == F.R_UNSUPPORTED
    assert plan_dispatch(REG, ALL_SAQ, "app.add", (1, 2, 3), None, {}).decision.reason == F.R_UNSUPPORTED
    assert plan_dispatch(REG, ALL_SAQ, "app.add", (1,), {"a": 1}, {}).decision.reason == F.R_UNSUPPORTED
    force = snap({}, mode="force-saq")
    assert plan_dispatch(REG, force, "app.add", (1, 2), None, {"retries": 2}).decision.backend == "celery"


def test_routing_key_kwarg_makes_the_split_sticky_per_entity():
    half = snap({"app.order": {"target": "saq", "percent_bp": 5000}})
    for oid in range(50):
        backends = {plan_dispatch(REG, half, "app.order", (oid, 1, 2), None, {}).decision.backend for _ in range(5)}
        assert len(backends) == 1
        assert backends == {F.evaluate(half, "app.order", oid)[0]}


def test_schedule_owner_order():
    s = F.Snapshot.from_json(
        {
            "mode": "normal",
            "rules": {"t": {"target": "saq", "percent_bp": 10000}},
            "schedules": {"e2": {"owner": "celery"}},
        },
        "redis",
    )
    assert F.schedule_owner(s, "e1", "t") == ("saq", F.R_OVERRIDE)
    assert F.schedule_owner(s, "e2", "t") == ("celery", F.R_OVERRIDE)
    killed = F.Snapshot.from_json({**s.to_json(), "mode": "force-celery"}, "redis")
    assert F.schedule_owner(killed, "e1", "t") == ("celery", F.R_KILL)


def test_registry_rejects_unknown_job_options():
    with pytest.raises(RegistryError, match="priority"):
        Registry.from_dicts({"x": {"job": {"priority": 1}}})


def test_window_days_left():
    w = Window(dt.date(2026, 1, 1))
    assert w.end == dt.date(2026, 3, 2)
    assert w.days_left(dt.date(2026, 1, 1)) == 60 and w.day_number(dt.date(2026, 1, 1)) == 1
    assert not w.expired(dt.date(2026, 3, 1)) and w.expired(dt.date(2026, 3, 2))
    assert Window.from_config({"window_start": "2026-01-01", "window_days": 30}).days == 30
    assert Window.from_config({}) is None
    with pytest.raises(WindowError, match="window_start"):
        Window.from_config({"window_start": "soon"})
    with pytest.raises(WindowError, match="window_days"):
        Window.from_config({"window_start": "2026-01-01", "window_days": 0})


def test_runtime_imports_without_cli_packages():
    import subprocess
    import sys

    base = "import sys; sys.modules['libcst']=None; sys.modules['rich']=None;"
    core = (
        "sys.modules['click']=None; import saqmigrate.runtime.router, saqmigrate.runtime.flags,"
        "saqmigrate.runtime.bridge, saqmigrate.runtime.ownership, saqmigrate.runtime.window,"
        "saqmigrate.runtime.router_metrics, saqmigrate.runtime.registry;"
    )
    # celery itself imports click, so the Celery hooks are checked without libcst/rich only
    hooks = "import saqmigrate.runtime.celery_integration, saqmigrate.runtime.beat;"
    for body in (core, hooks):
        code = (
            base
            + body
            + "assert 'saqmigrate.index' not in sys.modules and 'libcst' not in [m for m in sys.modules if sys.modules[m]]"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
