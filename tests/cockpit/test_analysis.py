"""The pure Celery-vs-SAQ analysis: every verdict path, every threshold edge, the config table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saqmigrate.cockpit import analysis as A
from saqmigrate.cockpit.analysis import FAIL, INSUFFICIENT, PASS, Side, Thresholds, compare
from saqmigrate.runtime import outcomes as O

T = Thresholds(min_runs=100)


def side(runs=1000, failures=0, p95=0.1, p50=0.05, wait=0.01, retries=0, dead=0):
    return Side(runs=runs, failures=failures, retries=retries, dead_letters=dead, p50=p50, p95=p95, wait_p95=wait)


def test_defaults_are_the_documented_ones():
    t = Thresholds()
    assert (
        t.max_failure_rate_diff_pp,
        t.max_p95_ratio,
        t.min_runs,
        t.p95_floor_seconds,
        t.baseline_seconds,
        t.confidence_z,
    ) == (0.5, 1.5, 100, 0.01, 86400.0, 4.0)
    assert Thresholds.from_config({}) == t
    assert t.to_json()["baseline"] == "1d"


def test_equal_backends_pass():
    c = compare("t", side(), side())
    assert c.verdict == PASS and c.checks["failure_rate_diff_pp"]["ok"] and c.checks["p95_ratio"]["ok"]
    assert c.summary.startswith("pass: failure rate saq 0.00% vs celery 0.00%")


@pytest.mark.parametrize("celery_runs,saq_runs", [(99, 1000), (1000, 99), (0, 0), (99, 99)])
def test_too_few_runs_on_either_side_gives_no_verdict(celery_runs, saq_runs):
    c = compare("t", side(runs=celery_runs, failures=0), side(runs=saq_runs, failures=min(saq_runs, 9)))
    assert c.verdict == INSUFFICIENT
    assert any("fewer than min_runs=100" in r for r in c.reasons)


def test_exactly_min_runs_is_enough():
    assert compare("t", side(runs=100), side(runs=100)).verdict == PASS


@pytest.mark.parametrize(
    "celery,saq,verdict",
    [
        # (failures, runs) on each side; default z = 4, max 0.5 pp, min_runs = 100
        ((0, 1000), (5, 1000), PASS),  # +0.5 pp observed: at the threshold
        ((0, 1000), (6, 1000), INSUFFICIENT),  # +0.6 pp observed, not significant: hold, more runs decide
        ((0, 1000), (20, 1000), INSUFFICIENT),  # +2 pp, lower bound still under 0.5 pp against 1,000 Celery runs
        ((0, 100_000), (20, 1000), FAIL),  # ... and over it against a large Celery baseline
        ((0, 1000), (50, 1000), FAIL),  # the injected 5 % fault
        ((0, 100_000), (5, 100), FAIL),  # 5 % at min_runs against a clean baseline
        ((10, 1000), (15, 1000), PASS),  # 1.0 % -> 1.5 %
        ((10, 1000), (16, 1000), INSUFFICIENT),
        ((200, 1000), (230, 1000), INSUFFICIENT),  # 20 % -> 23 %: within the noise of 1,000 runs at 20 %
        ((2000, 10_000), (2600, 10_000), FAIL),  # 20 % -> 26 % over 10,000 runs
        ((50, 1000), (0, 1000), PASS),  # SAQ better: never a failure
        ((0, 1000), (1000, 1000), FAIL),
    ],
)
def test_failure_rate_decision_table(celery, saq, verdict):
    c = compare("t", side(failures=celery[0], runs=celery[1]), side(failures=saq[0], runs=saq[1]), T)
    assert c.verdict == verdict, c.reasons
    check = c.checks["failure_rate_diff_pp"]
    assert check["ok"] is {PASS: True, FAIL: False, INSUFFICIENT: None}[verdict]
    assert check["lower"] <= check["value"] <= check["upper"]
    if verdict == FAIL:
        assert c.reasons[0].startswith("failure rate saq") and "at 100.00 % confidence" not in c.reasons[0]
        assert check["lower"] > 0.5
    if verdict == INSUFFICIENT:
        assert "not significantly" in c.reasons[0] and check["value"] > 0.5 >= check["lower"]


@pytest.mark.parametrize(
    "saq_failures,saq_runs,verdict",
    [
        (10, 10, FAIL),  # the brief's clear failure: 10 of 10 while Celery ran 500 clean
        (9, 9, INSUFFICIENT),  # fewer than EARLY_FAILURES: Wilson bounds of a few runs are too optimistic
        (3, 3, INSUFFICIENT),
        (10, 99, FAIL),  # 10 % over 99 runs against 0 of 500
        (10, 60, FAIL),
        (1, 1, INSUFFICIENT),
    ],
)
def test_a_clear_failure_fails_before_min_runs(saq_failures, saq_runs, verdict):
    c = compare("t", side(runs=500, failures=0), side(runs=saq_runs, failures=saq_failures), T)
    assert c.verdict == verdict, c.reasons
    if verdict == FAIL:
        assert f"{saq_failures} failures before min_runs" in c.reasons[0]
    assert A.EARLY_FAILURES == 10


def test_wilson_and_the_difference_bounds():
    assert A.wilson(0, 0, 3) == (0.0, 1.0)
    lo, hi = A.wilson(0, 100, 3)
    assert lo == 0.0 and hi == pytest.approx(9 / 109)
    lo, hi = A.wilson(100, 100, 3)
    assert hi == 1.0 and lo == pytest.approx(100 / 109)
    lo, hi = A.wilson(50, 100, 1.959964)  # the textbook 95 % Wilson interval of 50/100
    assert (round(lo, 4), round(hi, 4)) == (0.4038, 0.5962)
    # Newcombe (1998) table II, example (a): 56/70 vs 48/80, method 10 (95 %): 0.0524 to 0.3339
    lo, hi = A.diff_bounds(56, 70, 48, 80, 1.959964)
    assert (round(lo, 4), round(hi, 4)) == (0.0524, 0.3339)
    # (e): 5/56 vs 0/29: -0.0381 to 0.1926
    lo, hi = A.diff_bounds(5, 56, 0, 29, 1.959964)
    assert (round(lo, 4), round(hi, 4)) == (-0.0381, 0.1926)


@given(
    cf=st.integers(0, 2000),
    cn=st.integers(0, 2000),
    sf=st.integers(0, 2000),
    sn=st.integers(0, 2000),
    z=st.floats(0.5, 6),
    more=st.integers(1, 50),
)
@settings(max_examples=400, deadline=None)
def test_decision_properties(cf, cn, sf, sn, z, more):
    cf, sf = min(cf, cn), min(sf, sn)
    t = Thresholds(confidence_z=z, min_runs=50)
    verdict, lo, hi = A.failure_rate_decision(cf, cn, sf, sn, t)
    d = (sf / sn if sn else 0.0) - (cf / cn if cn else 0.0)
    assert -1.0 - 1e-9 <= lo <= d + 1e-9 and d - 1e-9 <= hi <= 1.0 + 1e-9
    if verdict == FAIL:
        assert lo > 0.005
    if verdict == PASS:
        assert cn >= 50 and sn >= 50 and d <= 0.005 + 1e-9 and lo <= 0.005
    # more SAQ failures (same runs) never turn a fail into anything else, nor anything into a pass
    if sf + more <= sn:
        v2 = A.failure_rate_decision(cf, cn, sf + more, sn, t)[0]
        assert not (verdict == FAIL and v2 != FAIL)
        assert not (verdict != PASS and v2 == PASS)
    # a higher confidence never fails what a lower one passes
    if verdict != FAIL:
        assert A.failure_rate_decision(cf, cn, sf, sn, Thresholds(confidence_z=z + 1, min_runs=50))[0] != FAIL


@pytest.mark.parametrize(
    "celery_p95,saq_p95,verdict",
    [
        (0.1, 0.15, PASS),
        (0.1, 0.151, FAIL),
        (0.1, 0.05, PASS),
        (1.0, 3.0, FAIL),
        (0.001, 0.014, PASS),  # both under / near the 10 ms floor: 14 ms vs the floor is x1.4
        (0.001, 0.016, FAIL),  # x1.6 over the floor
        (0.0001, 0.0009, PASS),  # x9 but both sub-millisecond: timer noise, not the task
    ],
)
def test_p95_ratio_threshold_with_a_floor(celery_p95, saq_p95, verdict):
    c = compare("t", side(p95=celery_p95), side(p95=saq_p95), T)
    assert c.verdict == verdict, c.reasons


def test_every_failing_check_is_named():
    c = compare("t", side(), side(failures=200, p95=1.0), T)
    assert c.verdict == FAIL and len(c.reasons) == 2
    assert c.reasons[0].startswith("failure rate") and c.reasons[1].startswith("p95 saq")


def test_missing_run_times_are_not_judged():
    c = compare("t", side(p95=None), side(), T)
    assert c.verdict == PASS and c.checks["p95_ratio"]["ok"] is None
    assert "p95 not compared" in c.reasons[-1]


def test_custom_thresholds_change_the_verdict():
    strict = Thresholds(max_failure_rate_diff_pp=0.0, max_p95_ratio=1.0, min_runs=10, confidence_z=1)
    assert compare("t", side(runs=100), side(runs=100, failures=5), strict).verdict == FAIL
    assert compare("t", side(runs=100), side(runs=100, failures=5), Thresholds(min_runs=10)).verdict == INSUFFICIENT
    loose = Thresholds(max_failure_rate_diff_pp=20, max_p95_ratio=5, min_runs=10)
    assert compare("t", side(runs=10), side(runs=10, failures=1, p95=0.4), loose).verdict == PASS


def recorded(runs, times):
    """A Side from recorded run times: ``times`` is [(seconds, count), ...]."""
    st = O.Stats(successes=runs)
    for sec, n in times:
        st.duration[O.bin_of(sec)] = st.duration.get(O.bin_of(sec), 0) + n
    return Side.from_stats(st)


@pytest.mark.parametrize(
    "saq_times,verdict",
    [
        # the acceptance run that rolled a healthy task back on the ratio alone: 2 slow warm-up runs in 20
        ([(0.025, 18), (0.109, 2)], INSUFFICIENT),
        ([(0.025, 185), (0.109, 15)], INSUFFICIENT),  # 7.5 % slow: p95 above, not significantly
        ([(0.025, 150), (0.109, 50)], FAIL),  # a quarter of SAQ's runs 4x slower
        ([(0.025, 199), (0.109, 1)], PASS),
        ([(0.030, 200)], PASS),
    ],
)
def test_p95_is_judged_on_the_share_of_slow_runs(saq_times, verdict):
    t = Thresholds(min_runs=20, max_p95_ratio=3)
    celery = recorded(1000, [(0.025, 950), (0.0267, 50)])
    saq = recorded(sum(n for _s, n in saq_times), saq_times)
    c = compare("t", celery, saq, t)
    assert c.verdict == verdict, c.reasons
    check = c.checks["p95_ratio"]
    assert check["ok"] is {PASS: True, FAIL: False, INSUFFICIENT: None}[verdict]
    if verdict == FAIL:
        assert check["slow_share_lower"] > 0.05 and "saq runs slower than" in c.reasons[-1]
    if verdict == INSUFFICIENT:
        assert check["value"] > 3 and any(r.startswith("p95 saq") and "not significantly" in r for r in c.reasons)


def test_slower_than_counts_a_bin_in_proportion():
    s = recorded(100, [(0.1, 100)])
    lo, hi = O.bin_bounds(O.bin_of(0.1))
    assert s.slower_than(lo) == 100 and s.slower_than(hi) == 0
    assert 0 < s.slower_than((lo * hi) ** 0.5) == pytest.approx(50)
    assert "durations" not in s.to_json()


def test_p95_needs_min_runs_run_times_on_each_side():
    few = Side(runs=1000, failures=0, p95=1.0, duration_samples=99)
    c = compare("t", side(p95=0.1), few, T)
    assert (
        c.verdict == PASS
        and c.checks["p95_ratio"]["ok"] is None
        and "fewer than min_runs=100 run times" in c.reasons[-1]
    )
    enough = Side(runs=1000, failures=0, p95=1.0, duration_samples=100)
    assert compare("t", side(p95=0.1), enough, T).verdict == FAIL


def test_side_from_recorded_stats():
    st = O.Stats(successes=95, failures=5, retries=3, dead=5)
    for _ in range(90):
        st.duration[O.bin_of(0.1)] = st.duration.get(O.bin_of(0.1), 0) + 1
    for _ in range(10):
        st.duration[O.bin_of(1.0)] = st.duration.get(O.bin_of(1.0), 0) + 1
    st.wait[O.bin_of(0.02)] = 100
    s = Side.from_stats(st)
    assert (s.runs, s.failures, s.retries, s.dead_letters) == (100, 5, 3, 5)
    assert s.failure_rate == pytest.approx(0.05)
    assert 0.09 < s.p50 < 0.12 and 0.9 < s.p95 < 1.2 and 0.018 < s.wait_p95 < 0.024
    assert s.to_json()["failure_rate"] == pytest.approx(0.05)


def test_json_shape():
    data = compare("proj.t", side(), side(failures=200), T).to_json()
    assert data["task"] == "proj.t" and data["verdict"] == FAIL
    assert set(data["celery"]) >= {"runs", "failures", "failure_rate", "p50", "p95", "wait_p95", "dead_letters"}


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("90s", 90),
        ("30m", 1800),
        ("1h", 3600),
        ("2d", 172800),
        ("1h30m", 5400),
        (" 45S ", 45),
        ("0.5h", 1800),
        ("120", 120),
        (7, 7.0),
    ],
)
def test_parse_duration(text, seconds):
    assert A.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "1x", "h", "-1h", "0s", "1h 30m", True, 0, -5, "1h30"])
def test_parse_duration_refuses(bad):
    with pytest.raises(A.AnalysisConfigError):
        A.parse_duration(bad)


def test_format_duration():
    assert [A.format_duration(s) for s in (0, 45, 1800, 5400, 86400, 90061)] == [
        "0s",
        "45s",
        "30m",
        "1h30m",
        "1d",
        "1d1h1m1s",
    ]


@pytest.mark.parametrize(
    "section,message",
    [
        ({"max_p95_ratio": 0.5}, "max_p95_ratio must be a number >= 1"),
        ({"min_runs": 0}, "min_runs must be a whole number >= 1"),
        ({"min_runs": 2.5}, "min_runs must be a whole number"),
        ({"max_failure_rate_diff_pp": -1}, "max_failure_rate_diff_pp must be a number >= 0"),
        ({"max_failure_rate_diff_pp": "0.5"}, "max_failure_rate_diff_pp must be a number"),
        ({"min_runs": True}, "min_runs must be a whole number"),
        ({"baseline": "yesterday"}, "baseline must be a duration"),
        ({"max_p95": 2}, "unknown key(s) max_p95"),
        ({"confidence_z": 11}, "confidence_z must be a number >= 0 and <= 10"),
        ({"confidence_z": -1}, "confidence_z must be a number >= 0"),
    ],
)
def test_config_errors_are_one_line(section, message):
    with pytest.raises(A.AnalysisConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Thresholds.from_config(section)


def test_config_values():
    t = Thresholds.from_config(
        {"max_failure_rate_diff_pp": 1, "max_p95_ratio": 2, "min_runs": 20, "p95_floor_seconds": 0, "baseline": "6h"}
    )
    assert (t.max_failure_rate_diff_pp, t.max_p95_ratio, t.min_runs, t.p95_floor_seconds, t.baseline_seconds) == (
        1.0,
        2.0,
        20,
        0.0,
        21600.0,
    )


def test_pyproject_analysis_table_is_checked(tmp_path):
    from saqmigrate.config import ConfigError, load_config

    (tmp_path / "pyproject.toml").write_text("[tool.saqmigrate.analysis]\nmin_runs = 30\n", encoding="utf-8")
    assert load_config(tmp_path).analysis == {"min_runs": 30}
    (tmp_path / "pyproject.toml").write_text("[tool.saqmigrate.analysis]\nmin_runs = -3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="min_runs must be a whole number >= 1"):
        load_config(tmp_path)


def test_render_text_table():
    out = A.render_text([compare("proj.t", side(), side(failures=100), T)], since="1h", baseline="1d")
    assert "last 1h (celery baseline: last 1d)" in out and "FAIL" in out and "failure rate saq 10.00%" in out
    assert "no outcomes recorded" in A.render_text([], since="1h")
