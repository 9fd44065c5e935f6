"""The pure Celery-vs-SAQ analysis: every verdict path, every threshold edge, the config table."""

from __future__ import annotations

import pytest

from saqmigrate.cockpit import analysis as A
from saqmigrate.cockpit.analysis import FAIL, INSUFFICIENT, PASS, Side, Thresholds, compare
from saqmigrate.runtime import outcomes as O

T = Thresholds(min_runs=100)


def side(runs=1000, failures=0, p95=0.1, p50=0.05, wait=0.01, retries=0, dead=0):
    return Side(runs=runs, failures=failures, retries=retries, dead_letters=dead, p50=p50, p95=p95, wait_p95=wait)


def test_defaults_are_the_documented_ones():
    t = Thresholds()
    assert (t.max_failure_rate_diff_pp, t.max_p95_ratio, t.min_runs, t.p95_floor_seconds, t.baseline_seconds) == \
        (0.5, 1.5, 100, 0.01, 86400.0)
    assert Thresholds.from_config({}) == t
    assert t.to_json()["baseline"] == "1d"


def test_equal_backends_pass():
    c = compare("t", side(), side())
    assert c.verdict == PASS and c.checks["failure_rate_diff_pp"]["ok"] and c.checks["p95_ratio"]["ok"]
    assert c.summary.startswith("pass: failure rate saq 0.00% vs celery 0.00%")


@pytest.mark.parametrize("celery_runs,saq_runs", [(99, 1000), (1000, 99), (0, 0), (99, 99)])
def test_too_few_runs_on_either_side_gives_no_verdict(celery_runs, saq_runs):
    c = compare("t", side(runs=celery_runs, failures=0), side(runs=saq_runs, failures=saq_runs))
    assert c.verdict == INSUFFICIENT
    assert any("fewer than min_runs=100" in r for r in c.reasons)


def test_exactly_min_runs_is_enough():
    assert compare("t", side(runs=100), side(runs=100)).verdict == PASS


@pytest.mark.parametrize("celery_f,saq_f,verdict", [
    (0, 5, PASS),      # +0.5 pp: at the threshold
    (0, 6, FAIL),      # +0.6 pp
    (10, 15, PASS),    # 1.0% -> 1.5%
    (10, 16, FAIL),
    (50, 0, PASS),     # SAQ better: never a failure
    (0, 50, FAIL),     # the injected 5 % fault
])
def test_failure_rate_difference_threshold(celery_f, saq_f, verdict):
    c = compare("t", side(failures=celery_f), side(failures=saq_f), T)
    assert c.verdict == verdict
    assert c.checks["failure_rate_diff_pp"]["ok"] is (verdict == PASS)
    if verdict == FAIL:
        assert c.reasons[0].startswith("failure rate saq")


@pytest.mark.parametrize("celery_p95,saq_p95,verdict", [
    (0.1, 0.15, PASS), (0.1, 0.151, FAIL), (0.1, 0.05, PASS), (1.0, 3.0, FAIL),
    (0.001, 0.014, PASS),  # both under / near the 10 ms floor: 14 ms vs the floor is x1.4
    (0.001, 0.016, FAIL),  # x1.6 over the floor
    (0.0001, 0.0009, PASS),  # x9 but both sub-millisecond: timer noise, not the task
])
def test_p95_ratio_threshold_with_a_floor(celery_p95, saq_p95, verdict):
    c = compare("t", side(p95=celery_p95), side(p95=saq_p95), T)
    assert c.verdict == verdict, c.reasons


def test_every_failing_check_is_named():
    c = compare("t", side(), side(failures=100, p95=1.0), T)
    assert c.verdict == FAIL and len(c.reasons) == 2
    assert c.reasons[0].startswith("failure rate") and c.reasons[1].startswith("p95 saq")


def test_missing_run_times_are_not_judged():
    c = compare("t", side(p95=None), side(), T)
    assert c.verdict == PASS and c.checks["p95_ratio"]["ok"] is None
    assert "p95 not compared" in c.reasons[-1]


def test_custom_thresholds_change_the_verdict():
    strict = Thresholds(max_failure_rate_diff_pp=0.0, max_p95_ratio=1.0, min_runs=10)
    assert compare("t", side(runs=10), side(runs=10, failures=1), strict).verdict == FAIL
    loose = Thresholds(max_failure_rate_diff_pp=20, max_p95_ratio=5, min_runs=10)
    assert compare("t", side(runs=10), side(runs=10, failures=1, p95=0.4), loose).verdict == PASS


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
    data = compare("proj.t", side(), side(failures=100), T).to_json()
    assert data["task"] == "proj.t" and data["verdict"] == FAIL
    assert set(data["celery"]) >= {"runs", "failures", "failure_rate", "p50", "p95", "wait_p95", "dead_letters"}


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172800),
                                          ("1h30m", 5400), (" 45S ", 45), ("0.5h", 1800), ("120", 120), (7, 7.0)])
def test_parse_duration(text, seconds):
    assert A.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "1x", "h", "-1h", "0s", "1h 30m", True, 0, -5, "1h30"])
def test_parse_duration_refuses(bad):
    with pytest.raises(A.AnalysisConfigError):
        A.parse_duration(bad)


def test_format_duration():
    assert [A.format_duration(s) for s in (0, 45, 1800, 5400, 86400, 90061)] == ["0s", "45s", "30m", "1h30m", "1d",
                                                                              "1d1h1m1s"]


@pytest.mark.parametrize("section,message", [
    ({"max_p95_ratio": 0.5}, "max_p95_ratio must be a number >= 1"),
    ({"min_runs": 0}, "min_runs must be a whole number >= 1"),
    ({"min_runs": 2.5}, "min_runs must be a whole number"),
    ({"max_failure_rate_diff_pp": -1}, "max_failure_rate_diff_pp must be a number >= 0"),
    ({"max_failure_rate_diff_pp": "0.5"}, "max_failure_rate_diff_pp must be a number"),
    ({"min_runs": True}, "min_runs must be a whole number"),
    ({"baseline": "yesterday"}, "baseline must be a duration"),
    ({"max_p95": 2}, "unknown key(s) max_p95"),
])
def test_config_errors_are_one_line(section, message):
    with pytest.raises(A.AnalysisConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Thresholds.from_config(section)


def test_config_values():
    t = Thresholds.from_config({"max_failure_rate_diff_pp": 1, "max_p95_ratio": 2, "min_runs": 20,
                                "p95_floor_seconds": 0, "baseline": "6h"})
    assert (t.max_failure_rate_diff_pp, t.max_p95_ratio, t.min_runs, t.p95_floor_seconds, t.baseline_seconds) == \
        (1.0, 2.0, 20, 0.0, 21600.0)


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
