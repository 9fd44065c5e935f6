"""`route compare`, `route ramp`, `route autopilot --once` and `route kill` pausing ramps, on a real Redis."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from saqmigrate.cli.commands.route import command
from saqmigrate.cockpit import ramp as R
from saqmigrate.runtime import outcomes as O

GOOD, BAD = "shop.tasks.good", "shop.tasks.bad"


def run(ns, *args, config=None):
    base = ["--redis-url", ns.url, "--namespace", ns.name]
    if config:
        base += ["--config", str(config)]
    return CliRunner().invoke(command, base + list(args), catch_exceptions=False)


def feed(ns):
    rec = O.OutcomeRecorder(ns.url, ns.name, bucket_seconds=60, flush_interval=0, metrics=None)
    now = time.time()
    for i in range(60):
        for task in (GOOD, BAD):
            for _ in range(10):  # a Celery baseline of 600 clean runs each
                rec.record(task, "celery", O.SUCCESS, duration=0.1, wait=0.02, now=now - 300)
        rec.record(GOOD, "saq", O.SUCCESS, duration=0.1, wait=0.005, now=now - 60)
        rec.record(BAD, "saq", O.FAILURE if i % 10 < 3 else O.SUCCESS, duration=0.1, now=now - 60)
    assert rec.flush()


def test_compare_text_and_json_with_thresholds_from_pyproject(ns, tmp_path):
    feed(ns)
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text("[tool.saqmigrate.analysis]\nmin_runs = 50\n", encoding="utf-8")
    r = run(ns, "compare", "--since", "30m", config=cfg)
    assert r.exit_code == 0, r.output
    assert "last 30m" in r.output and GOOD in r.output and "PASS" in r.output and "FAIL" in r.output
    assert "failure rate saq 30.00% vs celery 0.00% (+30.00 pp, max 0.5 pp; at least +" in r.output
    r = run(ns, "compare", "shop.tasks.g*", "--format", "json", config=cfg)
    data = json.loads(r.output)
    assert [t["task"] for t in data["tasks"]] == [GOOD] and data["tasks"][0]["verdict"] == "pass"
    assert data["thresholds"]["min_runs"] == 50 and data["since"] == "1h"
    assert data["tasks"][0]["saq"]["runs"] == 60 and data["tasks"][0]["celery"]["wait_p95"] > 0.015
    # with the defaults (min_runs = 100) the healthy task has no verdict yet; the faulty one fails early
    # (18 failures in 60 runs, at least EARLY_FAILURES and significant)
    data = json.loads(run(ns, "--format", "json", "compare").output)
    verdicts = {t["task"]: t for t in data["tasks"]}
    assert verdicts[GOOD]["verdict"] == "insufficient" and verdicts[BAD]["verdict"] == "fail"
    assert "18 failures before min_runs" in verdicts[BAD]["reasons"][0]


def test_compare_errors_are_one_line(ns, tmp_path):
    r = run(ns, "compare", "--since", "soon")
    assert r.exit_code == 2 and "--since must be a duration like 30m" in r.output
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text("[tool.saqmigrate.analysis]\nmax_p95_ratio = 0.2\n", encoding="utf-8")
    r = run(ns, "compare", config=cfg)
    assert r.exit_code == 2 and "max_p95_ratio must be a number >= 1" in r.output
    r = run(ns, "compare")
    assert r.exit_code == 0 and "no outcomes recorded in the last 1h" in r.output


def test_ramp_lifecycle_autopilot_once_and_kill(ns, tmp_path):
    feed(ns)
    r = run(ns, "ramp", BAD, "--steps", "10,100", "--every", "1s", "--reason", "try it")
    assert r.exit_code == 2 and "refusing to ramp to SAQ" in r.output  # no registry / worker: refused
    r = run(ns, "ramp", BAD, "--steps", "10,100", "--every", "1s", "--reason", "try it", "--force")
    assert r.exit_code == 0 and "at step 1/2 (10% to SAQ)" in r.output, r.output
    run(ns, "ramp", GOOD, "--steps", "10,100", "--every", "1s", "--reason", "try it too", "--force")
    assert "active" in run(ns, "ramp").output
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text('[tool.saqmigrate.analysis]\nmin_runs = 50\nbaseline = "1h"\n', encoding="utf-8")
    # the plan started now: SAQ outcomes since the step started are needed; those fed a minute ago count
    # only in the bucket of the step's start, so move the step start back
    for task in (BAD, GOOD):
        plan = R.load_plans(ns.store)[task]
        plan.step_started_at -= 120
        ns.redis.hset(R.ramps_key(ns.store), task, json.dumps(plan.to_json()))
    r = run(ns, "--format", "json", "autopilot", "--once", config=cfg)
    acts = {a["task"]: a for a in map(json.loads, r.output.splitlines())}
    assert acts[BAD]["action"] == "rollback" and acts[GOOD]["action"] == "advance", r.output
    assert ns.store.snapshot().rules[BAD]["target"] == "celery"
    assert ns.store.snapshot().rules[GOOD]["percent_bp"] == 10000
    r = run(ns, "ramp", GOOD, "--pause", "--reason", "hold on")
    assert r.exit_code == 0 and "paused" in r.output
    r = run(ns, "ramp", GOOD, "--resume", "--reason", "go on")
    assert r.exit_code == 2 and "refusing to resume" in r.output  # no live worker is proven: as `set` (attack)
    r = run(ns, "ramp", GOOD, "--resume", "--force", "--reason", "go on")
    assert "resumed" in r.output
    r = run(ns, "kill", "--reason", "incident")
    assert r.exit_code == 0 and f"ramp plans paused: {GOOD}" in r.output
    assert R.load_plans(ns.store)[GOOD].state == R.PAUSED
    r = run(ns, "ramp", GOOD, "--resume", "--force", "--reason", "too early")
    assert r.exit_code == 2 and "kill switch is on" in r.output
    r = run(ns, "ramp", GOOD, "--cancel", "--reason", "done by hand")
    assert r.exit_code == 0 and GOOD not in R.load_plans(ns.store)
    r = run(ns, "ramp", GOOD, "--pause")
    assert r.exit_code == 2 and "--reason is required" in r.output
    history = run(ns, "history").output
    assert "ramp:shop.tasks.bad" in history and "autopilot" in history


def test_names_and_reasons_cannot_forge_lines_on_a_terminal():
    """A reason or task name with a newline or an escape sequence is shown escaped (found by the attack)."""
    from saqmigrate.cockpit.analysis import inert_text

    assert inert_text("a\nv999  admin@evil  kill switch OFF") == "a\\nv999  admin@evil  kill switch OFF"
    assert inert_text("\x1b]0;pwned\x07") == "\\x1b]0;pwned\\x07"
    assert inert_text("caf\u00e9 \u202e") == "caf\u00e9 \\u202e"
    assert len(inert_text("x" * 5000)) == 300
