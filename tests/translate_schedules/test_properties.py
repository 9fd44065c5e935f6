"""Property tests: every crontab spec / interval is proven exact or flagged, never silently wrong."""

from __future__ import annotations

import os
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saqmigrate.translate.schedule import translate_schedule

from .specs import random_spec, crontab_specs

DST_ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney")
ZONES = ("UTC", "Asia/Kolkata") + DST_ZONES
FLAGS = {"SM203", "SM211"}  # rejected by Celery / differs only on DST changes


def check_crontab_plan(spec: dict, tz: str, **kw) -> str:
    plan = translate_schedule("crontab", spec, timezone=tz, **kw)
    assert "SM212" not in plan.codes, (spec, tz, plan.cron, plan.notes)  # a real mismatch is a bug of ours
    if plan.exact is True:
        assert plan.strategy in ("cron", "cron+guard") and plan.cron
        return "exact"
    assert FLAGS & set(plan.codes), (spec, tz, plan)
    if "SM211" in plan.codes:
        assert tz in DST_ZONES and plan.proof["dst_only"]
        return "dst"
    assert plan.strategy == "manual"
    return "invalid"


@settings(max_examples=25, deadline=None)
@given(spec=crontab_specs(allow_invalid=True), tz=st.sampled_from(ZONES))
def test_crontab_specs_exact_or_flagged(spec, tz):
    verdict = check_crontab_plan(spec, tz)
    if tz in ("UTC", "Asia/Kolkata"):
        assert verdict in ("exact", "invalid")


@settings(max_examples=25, deadline=None)
@given(
    seconds=st.one_of(
        st.integers(1, 2 * 86400),
        st.sampled_from(
            [
                1,
                5,
                10,
                15,
                20,
                30,
                45,
                60,
                90,
                120,
                300,
                420,
                600,
                900,
                1800,
                3600,
                5400,
                7200,
                10800,
                21600,
                43200,
                86400,
                604800,
            ]
        ),
        st.floats(0.1, 100),
    ),
    relative=st.booleans(),
    tz=st.sampled_from(ZONES),
)
def test_intervals_exact_or_flagged(seconds, relative, tz):
    plan = translate_schedule("interval", {"seconds": float(seconds)}, relative=relative, timezone=tz)
    codes = set(plan.codes)
    if plan.strategy == "cron":
        assert "SM204" in codes  # the phase difference is always stated
        if plan.exact is not True:
            assert codes & {"SM211", "SM212"}
            if "SM212" in codes:
                assert relative  # only Celery's own relative rounding can break a divisor interval
    elif plan.strategy == "self_rescheduling":
        assert "SM205" in codes and plan.interval == float(seconds) and plan.cron is None
        assert plan.exact is True or (relative and "SM212" in codes)
    else:
        assert plan.strategy == "manual" and "SM205" in codes and float(seconds) != int(seconds)


def _random_run(n: int, seed: int) -> dict:
    """n random specs, each proven over a 35-day window starting on the first day of a month
    Celery fires in (random among them; 2028, so February has the 29th), in a random zone."""
    rnd = random.Random(seed)
    verdicts: dict[str, int] = {}
    for _ in range(n):
        spec = random_spec(rnd, allow_invalid=True)
        tz = rnd.choice(ZONES)
        month = rnd.randint(1, 12)
        try:
            from saqmigrate.translate.cron import parse_celery_crontab

            month = rnd.choice(parse_celery_crontab(spec).sets["month_of_year"])
        except ValueError:
            pass
        v = check_crontab_plan(spec, tz, proof_start=(2028, month, 1), proof_days=35)
        verdicts[v] = verdicts.get(v, 0) + 1
    return verdicts


def test_random_specs_quick():
    verdicts = _random_run(40, seed=1)
    assert verdicts.get("exact", 0) > 25


CHUNKS = 5  # 10,000 specs in 5 chunks of 2,000 so pytest-xdist can spread them over both cores


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_ten_thousand_random_specs(chunk):
    n = int(os.environ.get("SAQMIGRATE_RANDOM_SPECS", "10000")) // CHUNKS
    t = time.perf_counter()
    verdicts = _random_run(n, seed=20280229 + chunk)
    elapsed = time.perf_counter() - t
    print(f"\nchunk {chunk}: {n} random crontab specs in {elapsed:.1f} s: {verdicts}")
    assert sum(verdicts.values()) == n
    assert verdicts["exact"] > n * 0.7
