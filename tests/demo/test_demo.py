"""``saqmigrate demo``: end to end on real Redis, a real Celery worker and a real SAQ worker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from saqmigrate import demo as D
from saqmigrate.runtime import flags as F

ROOT = Path(__file__).resolve().parents[2]


def _expected_ramp_saq(task_ids, percent):
    """What the flags say, computed independently of the run: crc32 bucket < percent."""
    return sorted(t for t in task_ids if F.bucket(D.RAMP_TASK, t) < F.parse_percent(percent))


def _check(data: dict, percent: float = 30.0) -> None:
    """Assertions shared by the API and the CLI runs (``data`` is DemoResult.to_json())."""
    ds = data["dispatches"]
    assert ds, "no dispatches"
    by = lambda phase, task=None: [d for d in ds if d["phase"] == phase and (task is None or d["task"] == task)]  # noqa: E731
    # every dispatch executed exactly once, on the backend the router chose
    assert [d for d in ds if d["ran_on"] != [d["routed"]]] == []
    assert data["ok"] is True and data["problems"] == []
    # before the flip: everything on Celery
    before = by("before")
    assert before and {d["ran_on"][0] for d in before} == {"celery"}
    assert {d["reason"] for d in before if d["task"] != D.CONTROL_TASK} == {"default"}
    # after the flip: the flipped task ran on SAQ, the control stayed on Celery
    flipped = by("flipped", D.FLIP_TASK)
    assert len(flipped) == 3 and {d["ran_on"][0] for d in flipped} == {"saq"}
    assert {d["reason"] for d in flipped} == {"override"}
    assert {d["ran_on"][0] for d in by("flipped", D.CONTROL_TASK)} == {"celery"}
    # the ramp: deterministic for the routing keys, and a sane share
    ramp = by("flipped", D.RAMP_TASK)
    ids = [d["task_id"] for d in ramp]
    assert ids == D.ramp_task_ids(20)
    on_saq = sorted(d["task_id"] for d in ramp if d["ran_on"] == ["saq"])
    assert on_saq == _expected_ramp_saq(ids, percent)
    assert 2 <= len(on_saq) <= 12, on_saq  # 30% of 20 = 6, binomial sd ~2
    assert {d["reason"] for d in ramp} == {"percentage"}
    # after the kill: everything on Celery, including ramp keys that were on SAQ
    killed = by("killed")
    assert killed and {d["ran_on"][0] for d in killed} == {"celery"}
    assert {d["task_id"] for d in killed if d["task"] == D.RAMP_TASK} == set(on_saq[:4])
    assert {d["flag"] for d in killed} == {"kill switch"}
    # the operator's trail
    hist = data["history"]
    assert [h["version"] for h in hist] == ["1", "2", "3"]
    assert [h["target"] for h in hist] == [f"rule:{D.FLIP_TASK}", f"rule:{D.RAMP_TASK}", "mode"]
    assert hist[2]["new"] == "force-celery"
    assert "no live SAQ worker" in (data["refused"] or "")
    assert data["duration"] < 60


@pytest.mark.slow
def test_demo_end_to_end_api(redis_url, unique_name, tmp_path):
    work = tmp_path / "work"
    result = D.run_demo(redis_url, run_id=unique_name, workdir=work)
    _check(result.to_json())
    assert not result.embedded
    assert result.namespace.endswith(unique_name)
    # nothing left behind: the work dir and every key of the run
    assert not work.exists()
    r = redis.Redis.from_url(redis_url)
    try:
        assert list(r.scan_iter(match=f"*{unique_name}*", count=1000)) == []
    finally:
        r.close()
    print(f"demo (API, shared Redis) took {result.duration:.1f} s; steps {result.steps}")


def _port_answers(url: str) -> bool:
    hostport = url.split("://", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.slow
def test_demo_cli_embedded_fresh_laptop(tmp_path):
    """A fresh laptop: REDIS_URL unset, --embedded, and no `requests` (the fixture's blogs app
    imports it; saqmigrate does not depend on it). The CLI starts its own valkey, runs, stops
    it, exits 0."""
    shadow = tmp_path / "shadow" / "requests"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'requests'\")\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "SAQMIGRATE_REDIS_URL", "SAQ_REDIS_URL", "CELERY_BROKER_URL")
    }
    env["PYTHONPATH"] = os.pathsep.join([str(shadow.parent), str(ROOT)])
    p = subprocess.run(
        [sys.executable, "-m", "saqmigrate", "demo", "--embedded", "--format", "json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    data = json.loads(p.stdout)
    _check(data)
    assert data["embedded"] is True
    assert not data["redis_url"].endswith(":6379/0")
    assert not _port_answers(data["redis_url"]), "embedded server still running after the demo"
    assert not Path(data["workdir"]).exists()
    assert any(n.startswith("blogs.tasks does not import here") for n in data["notes"]), data["notes"]
    print(f"demo (CLI, embedded) took {data['duration']:.1f} s")


# ----------------------------------------------------------------------------- no services


def _d(n, routed, ran_on, phase="before", task=D.FLIP_TASK):
    return D.Dispatch(
        n=n,
        phase=phase,
        task=task,
        tag=f"t{n}",
        task_id=f"id{n}",
        flag="no rule",
        version=0,
        routed=routed,
        reason="default",
        ran_on=ran_on,
    )


def test_problems_name_missing_duplicate_and_misrouted_dispatches():
    r = D.DemoResult(redis_url="redis://x", embedded=True, namespace="ns", workdir="/w", kept=False, percent=30)
    r.dispatches = [_d(1, "celery", ["celery"]), _d(2, "saq", ["saq"])]
    assert r.ok and r.problems == []
    r.dispatches += [_d(3, "saq", []), _d(4, "celery", ["celery", "celery"]), _d(5, "saq", ["celery"])]
    assert not r.ok
    assert r.problems == [
        f"dispatch #3 ({D.FLIP_TASK}, routed to saq) never executed",
        f"dispatch #4 ({D.FLIP_TASK}) executed 2 times: celery, celery",
        f"dispatch #5 ({D.FLIP_TASK}) routed to saq but ran on celery",
    ]
    assert not D.DemoResult(redis_url="", embedded=False, namespace="", workdir="", kept=False, percent=0).ok


def test_read_effects_attributes_each_execution_to_its_worker(tmp_path):
    (tmp_path / "celery.jsonl").write_text(
        '{"event": "jobs.expire_jobs", "expired": ["a"]}\n'
        '{"event": "cms.rebuild", "key": "b"}\n'
        '{"event": "jobs.send_mail", "to": "x"}\n'
        '{"event": "events.import_calen',
        encoding="utf-8",
    )  # a line still being written
    (tmp_path / "saq.jsonl").write_text(
        '{"event": "events.import_calendar", "calendar_id": "c"}\n{"event": "jobs.expire_jobs", "expired": ["a"]}\n',
        encoding="utf-8",
    )
    assert D._read_effects(tmp_path) == {"a": ["celery", "saq"], "b": ["celery"], "c": ["saq"]}


def test_render_shows_every_dispatch_and_the_history():
    from rich.console import Console

    r = D.DemoResult(redis_url="redis://x", embedded=True, namespace="ns", workdir="/w", kept=False, percent=30)
    r.dispatches = [_d(1, "celery", ["celery"]), _d(2, "saq", [], phase="flipped", task=D.RAMP_TASK)]
    r.history = [
        {
            "version": "1",
            "target": f"rule:{D.RAMP_TASK}",
            "old": None,
            "new": {"target": "saq", "percent_bp": 3000},
            "reason": "ramp",
            "actor": "me@host",
        }
    ]
    con = Console(record=True, width=160)
    D.render(r, con)
    text = con.export_text()
    assert "events.import_events" in text and "jobs.expire_jobs" in text
    assert "- -> saq 30%" in text
    assert "PROBLEM" in text and "never executed" in text


def test_unreachable_redis_is_one_line_error_and_leaves_nothing(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = tmp_path / "w"
    with pytest.raises(D.DemoError) as ei:
        D.run_demo(f"redis://127.0.0.1:{port}/0", workdir=work)
    msg = str(ei.value)
    assert "\n" not in msg and f"127.0.0.1:{port}" in msg and "does not answer" in msg
    assert not work.exists()


def test_missing_fixture_is_one_line_error(tmp_path):
    with pytest.raises(D.DemoError, match="fixture not found"):
        D.run_demo("redis://127.0.0.1:1/0", fixture=tmp_path / "nope")


def test_cli_rejects_redis_url_with_embedded():
    from click.testing import CliRunner

    from saqmigrate.cli.main import cli

    res = CliRunner().invoke(cli, ["demo", "--embedded", "--redis-url", "redis://localhost:6379/0"])
    assert res.exit_code == 2
    assert "either --redis-url or --embedded" in res.output
