"""Noise must not roll back healthy ports: the autopilot's failure-rate decision over whole simulated ramps
(tests/cockpit/montecarlo.py, seeded, so a run is reproducible). Looks on every tick, five steps."""

from __future__ import annotations

import random

import pytest

from saqmigrate.cockpit.analysis import FAIL, Thresholds

from . import montecarlo as M

# a busy task (2 runs/s) with ticks of 30 s and steps of 10 min: 20 looks per step at least, up to 200
SCENARIO = M.Scenario("test", runs_per_tick=60, every_ticks=20, baseline_runs=57_600)
REPS = 300


@pytest.mark.parametrize("rate", [0.001, 0.01, 0.05, 0.20])
def test_equal_true_rates_rarely_roll_back_a_ramp(rate):
    res = M.run(SCENARIO, rate, rate, Thresholds(), M.decide_after, reps=REPS)
    assert res.rollback_rate <= 0.01, (rate, res.rolled_back, res.rollback_step)
    # the others complete, or hold: at 20 % a step advances only once SAQ's observed rate is within 0.5 pp of
    # Celery's, which at equal rates is about every other look (docs/cockpit.md: stalls at high base rates)
    assert res.done >= REPS * (0.4 if rate >= 0.2 else 0.6)


@pytest.mark.parametrize("rate", [0.01, 0.20])
def test_the_raw_comparison_it_replaces_fails_the_same_bound(rate):
    """The test can fail: the raw rates compared on every tick roll back most healthy ramps."""
    res = M.run(SCENARIO, rate, rate, Thresholds(), M.decide_before, reps=100)
    assert res.rollback_rate > 0.3


def test_a_lower_confidence_would_fail_the_bound():
    """... and so would z = 2 (97.7 %) looked at on every tick: the default z = 4 is what keeps it under 1 %."""
    res = M.run(SCENARIO, 0.20, 0.20, Thresholds(confidence_z=2.0), M.decide_after, reps=100)
    assert res.rollback_rate > 0.02


def test_a_5pp_fault_is_rolled_back_in_its_first_step_at_the_acceptance_volumes():
    t = Thresholds(min_runs=20)  # the acceptance test's thresholds (and its volumes: montecarlo.ACCEPTANCE)
    res = M.run(M.ACCEPTANCE, 0.0, 0.05, t, M.decide_after, reps=500)
    # every faulty ramp is rolled back; in its first step but for a rare one whose first ~110 SAQ runs all
    # succeeded (0.95^110 = 0.4 %): it advanced to the next step and was rolled back there
    assert res.rolled_back == 500 and (res.rollback_step or []).count(0) >= 495
    ticks = sorted(res.rollback_ticks or [])
    assert ticks[len(ticks) // 2] <= M.ACCEPTANCE.every_ticks  # the median within one step interval
    # the deterministic 1-in-20 fault of the acceptance test: failures at SAQ's 20th, 40th, 60th run
    runs = fails = 0
    for tick in range(1, 1000):
        runs += 4  # ~25 % of 14 runs a tick
        fails = runs // 20
        if M.decide_after(0, 2000 + 10 * tick, fails, runs, t) == FAIL:
            break
    assert tick <= M.ACCEPTANCE.every_ticks and runs <= 64, (tick, runs, fails)


def test_a_5pp_fault_is_rolled_back_at_the_default_thresholds():
    # a 1 % step of a 2 runs/s task reaches min_runs = 100 SAQ runs after ~170 ticks: let it hold that long
    long = M.Scenario("test-long", runs_per_tick=60, every_ticks=20, baseline_runs=57_600, max_step_ticks=400)
    res = M.run(long, 0.0, 0.05, Thresholds(), M.decide_after, reps=200)
    # never completed; rolled back, in its first step but for the rare ramp whose first 100 SAQ runs were clean
    assert res.done == 0 and res.rollback_rate >= 0.98 and (res.rollback_step or []).count(0) >= 194


def test_binomial_sampler_is_unbiased():
    rng = random.Random(1)
    for n, p in ((10, 0.3), (200, 0.05), (300, 0.7), (1000, 0.001)):
        mean = sum(M.binomial(rng, n, p) for _ in range(4000)) / 4000
        assert mean == pytest.approx(n * p, rel=0.08, abs=0.05)
