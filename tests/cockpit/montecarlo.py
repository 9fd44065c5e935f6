"""Monte Carlo of the autopilot's failure-rate decision over a whole ramp (pure Python, seeded).

A task runs ``runs_per_tick`` times per autopilot tick; each run goes to SAQ with the step's
percentage, else to Celery. Celery starts with ``baseline_runs`` runs (its 24 h baseline window) and
keeps the runs it still gets; SAQ's counts start at zero at every step (the autopilot's window starts
at the step). Every tick the decision is taken on the counts so far, as the autopilot does:

* ``fail`` -> rolled back (the replicate ends);
* ``pass`` and the step has lasted ``every_ticks`` -> next step (after the last one: done);
* otherwise hold; a step still undecided after ``max_step_ticks`` (default 10 x ``every_ticks``) ends the replicate as "stalled".

``python -m tests.cockpit.montecarlo`` prints the table in docs/cockpit.md: false roll-backs at equal
true failure rates on both backends, before (raw rates compared) and after (the confidence bound of
:func:`saqmigrate.cockpit.analysis.failure_rate_decision`), and the detection of an injected fault.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable

from saqmigrate.cockpit.analysis import FAIL, INSUFFICIENT, PASS, Thresholds, failure_rate_decision

Decide = Callable[[int, int, int, int, Thresholds], str]


def binomial(rng: random.Random, n: int, p: float) -> int:
    """A Binomial(n, p) draw (exact: Bernoulli trials for small n, geometric gaps otherwise)."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - binomial(rng, n, 1.0 - p)
    if n < 25:
        return sum(1 for _ in range(n) if rng.random() < p)
    log_q = math.log1p(-p)
    x, i = 0, 0
    while True:
        i += int(math.log(1.0 - rng.random()) / log_q) + 1  # trials up to and including the next success
        if i > n:
            return x
        x += 1


def decide_after(cf: int, cn: int, sf: int, sn: int, t: Thresholds) -> str:
    """The decision the autopilot takes now."""
    return failure_rate_decision(cf, cn, sf, sn, t)[0]


def decide_before(cf: int, cn: int, sf: int, sn: int, t: Thresholds) -> str:
    """The decision before the confidence bound (commit 39ca938): the raw rates compared."""
    if cn < t.min_runs or sn < t.min_runs:
        return INSUFFICIENT
    return PASS if (sf / sn - cf / cn) * 100 <= t.max_failure_rate_diff_pp + 1e-9 else FAIL


@dataclass
class Scenario:
    name: str
    runs_per_tick: int
    every_ticks: int
    baseline_runs: int
    steps: tuple[float, ...] = (1, 5, 25, 50, 100)
    max_step_ticks: int = 0  # 0: 10 x every_ticks

    @property
    def cap(self) -> int:
        return self.max_step_ticks or 10 * self.every_ticks


@dataclass
class Result:
    reps: int
    rolled_back: int = 0
    done: int = 0
    stalled: int = 0
    rollback_step: list[int] | None = None
    rollback_ticks: list[int] | None = None  # ticks into the step the roll back happened

    @property
    def rollback_rate(self) -> float:
        return self.rolled_back / self.reps


def ramp(
    rng: random.Random, sc: Scenario, celery_rate: float, saq_rate: float, t: Thresholds, decide: Decide
) -> tuple[str, int, int]:
    """One replicate: ("rollback" | "done" | "stalled", step index, ticks into that step)."""
    cn = sc.baseline_runs
    cf = binomial(rng, cn, celery_rate)
    for i, pct in enumerate(sc.steps):
        sn = sf = 0
        tick = 0
        while True:
            tick += 1
            to_saq = binomial(rng, sc.runs_per_tick, pct / 100.0)
            to_celery = sc.runs_per_tick - to_saq
            sn += to_saq
            sf += binomial(rng, to_saq, saq_rate)
            cn += to_celery
            cf += binomial(rng, to_celery, celery_rate)
            v = decide(cf, cn, sf, sn, t)
            if v == FAIL:
                return "rollback", i, tick
            if v == PASS and tick >= sc.every_ticks:
                break
            if tick >= sc.cap:
                return "stalled", i, tick
    return "done", len(sc.steps) - 1, 0


def run(
    sc: Scenario,
    celery_rate: float,
    saq_rate: float,
    t: Thresholds,
    decide: Decide = decide_after,
    *,
    reps: int = 1000,
    seed: int = 16,
) -> Result:
    rng = random.Random(f"{seed}:{sc.name}:{celery_rate}:{saq_rate}")
    res = Result(reps, rollback_step=[], rollback_ticks=[])
    for _ in range(reps):
        what, step, tick = ramp(rng, sc, celery_rate, saq_rate, t, decide)
        if what == "rollback":
            res.rolled_back += 1
            res.rollback_step.append(step)
            res.rollback_ticks.append(tick)
        elif what == "done":
            res.done += 1
        else:
            res.stalled += 1
    return res


#: A busy task (2 runs/s) under `route autopilot --interval 30s`, `route ramp --every 30m`, and the
#: defaults of [tool.saqmigrate.analysis]; and a very busy one (10 runs/s).
SCENARIOS = (
    Scenario("2 runs/s, --every 30m, --interval 30s", runs_per_tick=60, every_ticks=60, baseline_runs=172_800),
    Scenario("10 runs/s, --every 30m, --interval 30s", runs_per_tick=300, every_ticks=60, baseline_runs=864_000),
)
#: tests/cockpit/test_autopilot_acceptance.py: ~55 runs/s of the task, ticks of 0.25 s, steps of 8 s, a
#: Celery baseline of 2,000 runs, min_runs = 20
ACCEPTANCE = Scenario("acceptance test", runs_per_tick=14, every_ticks=32, baseline_runs=2000, steps=(25, 60, 100))
RATES = (0.001, 0.01, 0.05, 0.20)


def main(reps: int = 2000, faults_only: bool = False) -> None:  # pragma: no cover - the table in docs/cockpit.md
    import time

    t = Thresholds()
    for sc in SCENARIOS:
        if faults_only:
            print(f"\n{sc.name}")
            rates: tuple[float, ...] = ()
        else:
            rates = RATES
            print(f"\n{sc.name} (steps {','.join(f'{s:g}' for s in sc.steps)}, {reps} ramps per cell)")
            print(
                f"{'true rate (both)':>16}  {'before: rolled back':>20}  {'after: rolled back':>19}  "
                f"{'after: done':>11}  {'after: stalled':>14}"
            )
        for rate in rates:
            t0 = time.time()
            before = run(sc, rate, rate, t, decide_before, reps=reps)
            after = run(sc, rate, rate, t, decide_after, reps=reps)
            print(
                f"{rate * 100:>15g}%  {before.rollback_rate * 100:>19.2f}%  {after.rollback_rate * 100:>18.2f}%  "
                f"{after.done / reps * 100:>10.1f}%  {after.stalled / reps * 100:>13.1f}%   ({time.time() - t0:.0f} s)"
            )
        for base, fault in ((0.0, 0.05), (0.01, 0.06), (0.01, 0.02)):
            after = run(sc, base, fault, t, decide_after, reps=max(200, reps // 5))
            ticks = sorted(after.rollback_ticks or [0])
            steps = sorted(after.rollback_step or [0])
            print(
                f"fault: celery {base * 100:g}% vs saq {fault * 100:g}%: rolled back in "
                f"{after.rollback_rate * 100:.1f}% of ramps (completed {after.done / after.reps * 100:.1f}%, "
                f"held {after.stalled / after.reps * 100:.1f}%), at step {steps[len(steps) // 2] + 1} (median), "
                f"tick {ticks[len(ticks) // 2]} of the step (median), {ticks[int(len(ticks) * 0.95)]} (95th pct)"
            )


def acceptance(reps: int = 2000) -> None:  # pragma: no cover
    t = Thresholds(min_runs=20)
    for z in (4.0, 3.0):
        tz = Thresholds(min_runs=20, confidence_z=z)
        res = run(ACCEPTANCE, 0.0, 0.05, tz, decide_after, reps=reps)
        first = [k for s_, k in zip(res.rollback_step or [], res.rollback_ticks or []) if s_ == 0]
        ticks = sorted(first or [0])
        print(
            f"acceptance volumes, z={z:g}: a 5 pp fault (random, 1 run in 20 on average) rolled back in "
            f"{res.rollback_rate * 100:.1f}% of ramps, within the first step in {len(first) / reps * 100:.1f}%; "
            f"tick {ticks[len(ticks) // 2]} (median), {ticks[int(len(ticks) * 0.95)]} (95th pct) of "
            f"{ACCEPTANCE.every_ticks}"
        )
    for rate in (0.0, 0.05):
        res = run(ACCEPTANCE, rate, rate, t, decide_after, reps=reps)
        print(f"acceptance volumes, equal rates {rate * 100:g}%: rolled back in {res.rollback_rate * 100:.2f}%")


if __name__ == "__main__":  # pragma: no cover
    import sys

    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    if "acceptance" in sys.argv:
        acceptance(reps)
    else:
        main(reps, faults_only="faults" in sys.argv)
