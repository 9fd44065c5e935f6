"""Attack 16 C3: an operator's pause or a kill written between two moves of one autopilot tick is never
overwritten with the plan the tick read at its start (real Redis, the real recorder)."""

from __future__ import annotations

import time

import pytest

from saqmigrate.cockpit import actions as A
from saqmigrate.cockpit import ramp as R
from saqmigrate.cockpit.analysis import Thresholds
from saqmigrate.cockpit.autopilot import Autopilot
from saqmigrate.runtime import outcomes as O

T = Thresholds(min_runs=30, baseline_seconds=3600)


def _setup(ns):
    now = time.time()
    R.start(ns.store, "app.a", "10,50", 60, reason="start a", now=now - 120)
    R.start(ns.store, "app.b", "10,50", 60, reason="start b", now=now - 120)
    rec = O.OutcomeRecorder(ns.url, ns.name, bucket_seconds=1, flush_interval=0, metrics=None)
    for _ in range(300):
        for t in ("app.a", "app.b"):
            rec.record(t, "celery", O.SUCCESS, duration=0.01, now=now - 100)
    for i in range(60):  # app.a fails half its SAQ runs (rolled back first), app.b is healthy (advances)
        rec.record("app.a", "saq", O.FAILURE if i % 2 else O.SUCCESS, duration=0.01, now=now - 30)
        rec.record("app.b", "saq", O.SUCCESS, duration=0.01, now=now - 30)
    assert rec.flush()
    return Autopilot(
        ns.store, O.OutcomeStore(ns.url, ns.name), T, lock_ttl=10, clock=time.time, worker_check=lambda task: []
    )


@pytest.mark.parametrize("operator", ["pause", "kill"])
def test_a_write_between_two_moves_of_a_tick_wins(ns, monkeypatch, operator):
    ap = _setup(ns)
    orig = R.rollback

    def rollback_then_operator(*a, **kw):
        res = orig(*a, **kw)
        if operator == "pause":
            R.pause(ns.store, "app.b", reason="operator: hold b", actor="operator")
        else:
            A.kill(ns.store, "incident", actor="operator", argv=[])
        return res

    monkeypatch.setattr(R, "rollback", rollback_then_operator)
    actions = ap.tick()
    assert [a.action for a in actions if a.task == "app.a"] == ["rollback"]
    assert not [a for a in actions if a.action == "advance"], [a.text() for a in actions]
    plan_b = R.load_plans(ns.store)["app.b"]
    assert plan_b.state == R.PAUSED and plan_b.percent == 10
    snap = ns.store.snapshot()
    assert snap.rules["app.b"]["percent_bp"] == 1000  # still the step the operator froze
    if operator == "kill":
        assert snap.mode == "force-celery"
        monkeypatch.setattr(R, "rollback", orig)
        assert all(a.action not in ("advance", "done") for a in ap.tick())
        assert R.load_plans(ns.store)["app.b"].percent == 10


def test_pause_all_never_writes_an_older_plan_than_the_stored_one(ns, monkeypatch):
    """The kill's pause_all read the plans, then the version: a move in between was overwritten."""
    now = time.time()
    R.start(ns.store, "app.b", "10,50", 60, reason="start b", now=now - 120)
    orig_load, calls = R.load_plans, []

    def load_then_autopilot_advances(store):
        plans = orig_load(store)
        if not calls:
            calls.append(1)
            p = plans["app.b"]
            R.advance(store, p, reason="autopilot advance", expected_version=store.snapshot().version)
        return plans

    monkeypatch.setattr(R, "load_plans", load_then_autopilot_advances)
    assert R.pause_all(ns.store, reason="kill") == ["app.b"]
    monkeypatch.setattr(R, "load_plans", orig_load)
    p = R.load_plans(ns.store)["app.b"]
    assert p.state == R.PAUSED and p.index == 1 and p.percent == 50
    assert ns.store.snapshot().rules["app.b"]["percent_bp"] == 5000


def test_a_percentage_that_rounds_to_zero_is_refused(ns):
    """Attack 16 m1: 1e-9 % to SAQ was stored as 0 bp and reported as "saq 0%"; 0.001 % steps as a ramp."""
    with pytest.raises(A.ActionError, match="rounds to 0 %"):
        A.set_route(ns.store, "app.x", "saq", "1e-9", "tiny", actor="t", argv=[])
    with pytest.raises(R.RampError, match="at least 0.01 %"):
        R.start(ns.store, "app.x", "0.001,100", 60, reason="tiny")
    assert A.set_route(ns.store, "app.x", "saq", "0", "explicitly 0 % to SAQ", actor="t", argv=[])["ok"]
    assert ns.store.snapshot().rules["app.x"]["percent_bp"] == 0
