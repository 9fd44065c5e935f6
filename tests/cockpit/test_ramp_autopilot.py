"""Ramp plans and the autopilot on a real Redis, fed with outcomes written by the real recorder."""

from __future__ import annotations

import json
import threading
import time

import pytest

from saqmigrate.cockpit import ramp as R
from saqmigrate.cockpit.analysis import Thresholds
from saqmigrate.cockpit.autopilot import Autopilot, lock_key
from saqmigrate.runtime import flags as F
from saqmigrate.runtime import outcomes as O

T = Thresholds(min_runs=20, baseline_seconds=3600)
TASK = "proj.tasks.t"


def feed(ns, backend, n, failures=0, *, at=None, task=TASK, duration=0.05):
    rec = O.OutcomeRecorder(ns.url, ns.name, bucket_seconds=1, flush_interval=0, metrics=None)
    at = time.time() if at is None else at
    for i in range(n):
        rec.record(task, backend, O.FAILURE if i < failures else O.SUCCESS, duration=duration, now=at)
    assert rec.flush()


def pilot(ns, clock=None, **kw):
    kw.setdefault("worker_check", lambda task: [])  # no SAQ fleet here: the live-worker check has its own tests
    return Autopilot(ns.store, O.OutcomeStore(ns.url, ns.name), T, lock_ttl=5, clock=clock or time.time, **kw)


def rule(ns, task=TASK):
    return ns.store.snapshot().rules.get(task)


def test_start_sets_the_first_step_in_one_audited_write(ns):
    plan, v = R.start(ns.store, TASK, "1,5,25,50,100", 1800, reason="week 3: ramp")
    assert plan.steps == [1, 5, 25, 50, 100] and plan.index == 0 and plan.state == R.ACTIVE
    assert rule(ns)["target"] == "saq" and rule(ns)["percent_bp"] == 100
    h = ns.store.history(5)
    assert len(h) == 1 and h[0]["target"] == f"ramp:{TASK}" and h[0]["reason"] == "week 3: ramp"
    assert h[0]["new"]["rule"]["percent_bp"] == 100 and h[0]["new"]["plan"]["steps"] == [1, 5, 25, 50, 100]
    assert h[0]["version"] == str(v)


@pytest.mark.parametrize("steps", ["", "0,10", "5,5", "50,10", "1,x", "101", [], "nan", "0.001,100", "0.004"])
def test_bad_steps_are_refused(ns, steps):
    with pytest.raises(R.RampError):
        R.start(ns.store, TASK, steps, 60, reason="x")


def test_a_glob_cannot_be_ramped_and_the_kill_switch_refuses_a_start(ns):
    with pytest.raises(R.RampError, match="one exact task name"):
        R.start(ns.store, "proj.*", "1,100", 60, reason="x")
    ns.store.set_mode("force-celery", reason="incident")
    with pytest.raises(R.RampError, match="kill switch"):
        R.start(ns.store, TASK, "1,100", 60, reason="x")


def test_autopilot_holds_without_runs_then_advances_after_the_interval(ns):
    now = [1_000_000.0]
    R.start(ns.store, TASK, "10,50,100", 60, reason="ramp", now=now[0])
    ap = pilot(ns, clock=lambda: now[0])
    acts = ap.tick()
    assert [a.action for a in acts] == ["hold"] and acts[0].verdict == "insufficient"
    feed(ns, "celery", 50, at=now[0] - 100)
    feed(ns, "saq", 30, at=now[0] + 10)
    now[0] += 30
    acts = ap.tick()
    assert acts[0].action == "hold" and acts[0].verdict == "pass" and "next step after 1m" in acts[0].reason
    now[0] += 31
    acts = ap.tick()
    assert acts[0].action == "advance" and acts[0].percent == 50
    assert rule(ns)["percent_bp"] == 5000
    assert "autopilot step 1/3 (10%" in ns.store.history(1)[0]["reason"]
    assert ns.store.history(1)[0]["actor"].startswith("autopilot@")
    status = R.load_status(ns.store)[TASK]
    assert status["verdict"] == "pass"


def test_autopilot_rolls_back_a_failing_task_at_once(ns):
    now = time.time()
    R.start(ns.store, TASK, "10,100", 3600, reason="ramp", now=now - 5)
    feed(ns, "celery", 200, at=now - 60)
    feed(ns, "saq", 40, failures=12, at=now - 2)  # 30 % vs 0 %: significant against 200 Celery runs
    acts = pilot(ns).tick()
    assert acts[0].action == "rollback" and acts[0].verdict == "fail"
    assert rule(ns)["target"] == "celery"
    plan = R.load_plans(ns.store)[TASK]
    assert plan.state == R.PAUSED and plan.rolled_back
    h = ns.store.history(1)[0]
    assert "failure rate saq 30.00% vs celery 0.00%" in h["reason"] and h["new"]["rule"]["target"] == "celery"
    # resume after a roll back starts again from the first step
    plan, _v = R.resume(ns.store, TASK, reason="fixed the bug")
    assert plan.index == 0 and plan.state == R.ACTIVE and rule(ns)["percent_bp"] == 1000


def test_done_after_the_last_step_passes(ns):
    now = time.time()
    R.start(ns.store, TASK, "100", 1, reason="all at once", now=now - 10)
    feed(ns, "celery", 30, at=now - 30)
    feed(ns, "saq", 30, at=now - 1)
    ap = pilot(ns)
    acts = ap.tick()
    ap.release()
    assert acts[0].action == "done"
    assert R.load_plans(ns.store)[TASK].state == R.DONE and rule(ns)["percent_bp"] == F.FULL_BP
    assert pilot(ns).tick() == []  # nothing active


def test_kill_switch_pauses_every_plan(ns):
    R.start(ns.store, TASK, "10,100", 60, reason="ramp")
    R.start(ns.store, TASK + "2", "10,100", 60, reason="ramp")
    ns.store.set_mode("force-celery", reason="incident")
    acts = pilot(ns).tick()
    assert sorted(a.task for a in acts if a.action == "pause") == [TASK, TASK + "2"]
    assert all(p.state == R.PAUSED for p in R.load_plans(ns.store).values())
    assert all("kill switch" in e["reason"] for e in ns.store.history(2))


def test_a_rule_changed_by_hand_pauses_the_plan(ns):
    R.start(ns.store, TASK, "10,100", 60, reason="ramp")
    ns.store.set_rule(TASK, "saq", 2500, reason="operator knows better")
    acts = pilot(ns).tick()
    assert acts[0].action == "pause" and "changed by hand" in acts[0].reason
    assert rule(ns)["percent_bp"] == 2500  # untouched


def test_pause_resume_cancel_are_audited_and_idempotent(ns):
    R.start(ns.store, TASK, "10,100", 60, reason="ramp")
    _p, v = R.pause(ns.store, TASK, reason="holiday")
    assert v is not None and R.pause(ns.store, TASK, reason="again")[1] is None
    _p, v = R.resume(ns.store, TASK, reason="back")
    assert v is not None and R.resume(ns.store, TASK, reason="again")[1] is None
    R.cancel(ns.store, TASK, reason="by hand from here")
    assert R.load_plans(ns.store) == {} and rule(ns)["percent_bp"] == 1000
    assert [e["reason"] for e in ns.store.history(4)] == ["by hand from here", "back", "holiday", "ramp"]
    with pytest.raises(R.RampError, match="no ramp plan"):
        R.pause(ns.store, TASK, reason="x")


def test_only_one_autopilot_acts(ns):
    R.start(ns.store, TASK, "10,100", 60, reason="ramp")
    a, b = pilot(ns), pilot(ns)
    assert a.tick()[0].action == "hold"
    assert b.tick()[0].action == "standby"
    assert ns.redis.get(lock_key(ns.store)) == a.holder
    a.release()
    assert b.tick()[0].action == "hold"
    b.release()


def test_the_lock_expires_when_its_holder_dies(ns):
    a, b = pilot(ns), pilot(ns)
    a.lock_ttl = 0.3
    assert a.acquire() and not b.acquire()
    time.sleep(0.4)
    assert b.acquire()
    b.release()


def test_a_lost_compare_and_set_is_retried_next_tick(ns):
    now = time.time()
    R.start(ns.store, TASK, "10,100", 1, reason="ramp", now=now - 10)
    feed(ns, "celery", 30, at=now - 30)
    feed(ns, "saq", 30, at=now - 1)
    ap = pilot(ns)
    real = ns.store.snapshot

    def stale():  # someone writes between our read and our write
        snap = real()
        ns.redis.incr(ns.store.keys.version)
        return snap

    ns.store.snapshot = stale
    try:
        acts = ap.tick()
    finally:
        ns.store.snapshot = real
    assert acts[0].action == "conflict"
    assert ap.tick()[0].action == "advance"


def test_run_loop_stops_and_releases(ns):
    ap = pilot(ns)
    stop = threading.Event()
    seen = []
    th = threading.Thread(target=ap.run, args=(0.05, stop, seen.append))
    th.start()
    time.sleep(0.3)
    stop.set()
    th.join(5)
    assert not th.is_alive() and seen and ns.redis.get(lock_key(ns.store)) is None
    json.dumps([a.to_json() for acts in seen for a in acts])
