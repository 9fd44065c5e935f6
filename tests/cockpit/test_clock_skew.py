"""Clock skew between hosts (found by the cockpit's fresh attack): the recorders bucket outcomes in the Redis
server's time, ramps stamp their steps in it, the autopilot warns when its host is off. Real Redis; the
host clock is shifted by replacing the ``time`` module the code under test sees."""

from __future__ import annotations

import logging
import time
import types

from saqmigrate.cockpit import ramp as R
from saqmigrate.cockpit.analysis import Thresholds
from saqmigrate.cockpit.autopilot import Autopilot
from saqmigrate.runtime import outcomes as O

TASK = "proj.tasks.skewed"


def shifted(seconds: float) -> types.SimpleNamespace:
    """A ``time`` module whose wall clock is ``seconds`` off (monotonic and perf_counter untouched)."""
    return types.SimpleNamespace(
        time=lambda: time.time() + seconds, monotonic=time.monotonic, perf_counter=time.perf_counter, sleep=time.sleep
    )


def test_a_recorder_on_a_skewed_host_writes_its_buckets_in_redis_time(ns, monkeypatch, caplog):
    monkeypatch.setattr(O, "time", shifted(3600))  # this "worker" host is an hour ahead
    rec = O.OutcomeRecorder(ns.url, ns.name, bucket_seconds=60, flush_interval=0, metrics=None)
    with caplog.at_level(logging.WARNING, "saqmigrate.outcomes"):
        for _ in range(5):
            rec.record(TASK, "saq", O.SUCCESS, duration=0.01)
        assert rec.flush()
    monkeypatch.undo()
    assert -3602 < rec.skew < -3598
    assert "clock is +3600.0 s off the Redis server's" in caplog.text
    store = O.OutcomeStore(ns.url, ns.name)
    now = O.redis_time(store.client)
    assert store.window([TASK], now - 120, now)[(TASK, "saq")].runs == 5  # where the cockpit looks
    assert store.window([TASK], now + 3000, now + 4000)[(TASK, "saq")].runs == 0  # not an hour ahead
    assert store.tasks(now - 120)[TASK] == {"saq"}


def test_in_sync_hosts_are_not_shifted(ns):
    rec = O.OutcomeRecorder(ns.url, ns.name, bucket_seconds=1, flush_interval=0, metrics=None)
    at = time.time() - 30
    rec.record(TASK, "celery", O.SUCCESS, now=at)
    assert rec.flush() and abs(rec.skew) < 1
    store = O.OutcomeStore(ns.url, ns.name)
    assert store.window([TASK], at - 0.5, at + 0.5)[(TASK, "celery")].runs == 1  # the very second it was recorded


def test_ramps_use_redis_time_and_the_autopilot_warns_about_its_skewed_host(ns, caplog):
    plan, _v = R.start(ns.store, TASK, "10,100", 60, reason="ramp")
    assert abs(plan.step_started_at - O.redis_time(ns.store.client)) < 2
    pilot = Autopilot(
        ns.store,
        O.OutcomeStore(ns.url, ns.name),
        Thresholds(min_runs=10),
        lock_ttl=5,
        worker_check=lambda task: [],
        local_clock=lambda: time.time() - 45,
    )  # this autopilot's host is 45 s behind
    with caplog.at_level(logging.WARNING, "saqmigrate.autopilot"):
        acts = pilot.tick()
    warn = [a for a in acts if a.action == "warning"]
    assert len(warn) == 1 and "clock is -45.0 s off the Redis server's" in warn[0].reason, [a.text() for a in acts]
    assert "clock skew" in caplog.text
    # the plan is judged on Redis time: 0 s into its step, not 45 s
    hold = next(a for a in acts if a.task == TASK)
    assert hold.action == "hold" and ("(10%, 0s in)" in hold.reason or "(10%, 1s in)" in hold.reason), hold.reason
    assert not [a for a in pilot.tick() if a.action == "warning"]  # at most once a minute
    in_sync = Autopilot(
        ns.store, O.OutcomeStore(ns.url, ns.name), Thresholds(min_runs=10), lock_ttl=5, worker_check=lambda task: []
    )
    in_sync.release()
    pilot.release()
    assert not [a for a in in_sync.tick() if a.action == "warning"] and abs(in_sync.skew) < 1
    in_sync.release()


def test_a_failing_step_is_rolled_back_while_the_redis_clock_is_behind(ns):
    """Attack 16 M5: the Redis clock goes back 1 h (a failover to a server whose clock is behind) during a step
    whose SAQ side fails half its runs: the windows ended at that "now", saw no runs and held the step."""
    now = time.time()
    R.start(ns.store, TASK, "10,50", 60, reason="start", now=now - 120)
    rec = O.OutcomeRecorder(ns.url, ns.name, bucket_seconds=1, flush_interval=0, metrics=None)
    for _ in range(300):
        rec.record(TASK, "celery", O.SUCCESS, duration=0.01, now=now - 100)
    for i in range(60):
        rec.record(TASK, "saq", O.FAILURE if i % 2 else O.SUCCESS, duration=0.01, now=now - 30)
    assert rec.flush()
    pilot = Autopilot(
        ns.store,
        O.OutcomeStore(ns.url, ns.name),
        Thresholds(min_runs=30),
        lock_ttl=5,
        clock=lambda: now - 3600,
        local_clock=lambda: time.time() - 3600,
        worker_check=lambda task: [],
    )
    acts = pilot.tick()
    assert any(a.action == "warning" and "went back" in a.reason for a in acts), [a.text() for a in acts]
    moves = [a for a in acts if a.task == TASK]
    assert [a.action for a in moves] == ["rollback"], [a.text() for a in acts]
    assert "failure rate saq 50.00%" in moves[0].reason
    assert ns.store.snapshot().rules[TASK]["target"] == "celery"


def test_format_duration_of_a_negative_span():
    from saqmigrate.cockpit.analysis import format_duration

    assert format_duration(-58 * 60) == "-58m" and format_duration(90) == "1m30s"
