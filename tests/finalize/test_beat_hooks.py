"""Issue 17, stage 3 (Celery uninstalled): what used to keep Celery after ``finalize --force`` in real projects,
now converted. Our own project, modelled on a Django/Celery layout seen in the wild (wger): the app module is
imported by the package ``__init__`` and exists only to build the app; the task modules register beat entries
from ``@app.on_after_finalize.connect`` hooks whose crontabs are drawn at random when beat starts; a task fans
out with ``group(*sigs).apply_async()`` and a test mocks that ``group``."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from saqmigrate.config import Config
from saqmigrate.finalize import compute_finalize
from saqmigrate.rewrite import apply_changes, compute_changes

HERE = Path(__file__).resolve().parent

FILES = {
    "shop/__init__.py": """
        from shop.celery_setup import app
    """,
    "shop/celery_setup.py": '''
        """Celery's app, as the first-steps guide builds it."""

        import os

        from celery import Celery

        # set the default settings module for the 'celery' program (a comment the module is deleted with)
        os.environ.setdefault("SHOP_SETTINGS", "shop.settings")

        app = Celery("shop")

        app.config_from_object("shop.settings", namespace="CELERY")

        app.autodiscover_tasks()
    ''',
    "shop/settings.py": """
        import os

        CELERY_BROKER_URL = "redis://127.0.0.1:6379/10"
        CELERY_TIMEZONE = "UTC"
        SYNC_PRICES = os.environ.get("SHOP_SYNC_PRICES", "1") == "1"
        EFFECTS = os.environ.get("SHOP_EFFECTS", "/dev/null")
    """,
    "shop/tasks.py": '''
        import random

        from celery import group
        from celery.schedules import crontab

        from shop import settings
        from shop.celery_setup import app


        def _effect(text):
            with open(settings.EFFECTS, "a", encoding="utf-8") as fh:
                fh.write(text + "\\n")


        @app.task
        def purge_carts():
            _effect("purge_carts")
            return "purged"


        @app.task
        def sync_prices(first=0, last=100):
            _effect(f"sync_prices {first}-{last}")
            return last - first


        @app.task
        def sync_all_prices(total):
            """One job per range of 100 ids."""
            sigs = []
            for start in range(0, total, 100):
                sigs.append(sync_prices.s(start, start + 100))
            group(*sigs).apply_async()


        @app.task
        def weekly_report(shop_id):
            _effect(f"weekly_report {shop_id}")
            return shop_id


        @app.on_after_finalize.connect
        def setup_periodic_tasks(sender, **kwargs):
            # a random time per instance, so that instances do not all hit the price API at once
            sender.add_periodic_task(
                crontab(hour=str(random.randint(0, 23)), minute=str(random.randint(0, 59))),
                purge_carts.s(),
                name="Purge carts",
            )
            if settings.SYNC_PRICES:
                sender.add_periodic_task(
                    crontab(minute=random.randint(0, 59), day_of_week="monday-friday"),
                    sync_all_prices.s(1000),
                    name="Sync prices",
                )
            sender.add_periodic_task(crontab(minute=0, hour=6, day_of_week="mon", day_of_month="1-7"),
                                     weekly_report.si(shop_id=3), name="First Monday report")
    ''',
    "tests/__init__.py": "",
    "tests/test_tasks.py": """
        from unittest import mock

        from shop import tasks


        def test_sync_all_prices_fans_out():
            with mock.patch("shop.tasks.group") as mock_group:
                tasks.sync_all_prices(250)
            assert len(mock_group.call_args.args) == 3
            mock_group.return_value.apply_async.assert_called_once()
    """,
}


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    result = compute_changes(root, Config(), use_cache=False)
    assert apply_changes(root, result.changes) == []
    return root


@pytest.fixture
def finalized(tmp_path: Path) -> Path:
    root = _project(tmp_path)
    result = compute_finalize(root, Config())
    assert result.errors == []
    assert [b.text() for b in result.blockers] == []  # nothing left to Celery: no SM806, SM801 or SM803
    # the random crontabs: said, with what differs under several workers
    notes = [m for m in result.messages if "@beat_hook" in m]
    assert len(notes) == 1 and "'Purge carts', 'Sync prices'" in notes[0] and "several workers" in notes[0]
    assert apply_changes(root, result.changes) == []
    return root


def test_nothing_imports_celery_and_a_second_run_changes_nothing(finalized: Path) -> None:
    root = finalized
    left = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if re.search(r"^\s*(from|import) (celery|kombu)\b", p.read_text(), re.M)
    ]
    assert left == []
    assert not (root / "shop/celery_setup.py").exists()  # it only built the app
    assert "celery_setup" not in (root / "shop/__init__.py").read_text()
    tasks = (root / "shop/tasks.py").read_text()
    assert "@beat_hook\ndef setup_periodic_tasks(sender, **kwargs):" in tasks
    assert "from saqmigrate.runtime.jobs import beat_hook, crontab, group, saq_job" in tasks
    assert "group(*sigs).apply_async()" in tasks  # the runtime's group, the project's spelling (its test mocks it)
    assert "random.randint(0, 23)" in tasks  # the hook's body is the project's, as written
    queue = next((root / "shop/saq_worker").glob("queue_*.py")).read_text()
    assert "CRON_JOBS = beat_cron_jobs('celery', ['shop.tasks'], cron_tz='UTC')" in queue.replace('"', "'")
    again = compute_finalize(root, Config())
    assert [c.rel for c in again.changes] == [] and again.blockers == [] and again.errors == []
    from saqmigrate.check import run_checks

    finalized_check = next(r for r in run_checks(root, Config()).results if r.name == "finalized")
    assert finalized_check.status == "pass", finalized_check.findings  # the hook's entries are not beat's (SM805)
    compile_all = subprocess.run([sys.executable, "-m", "compileall", "-q", str(root)], capture_output=True)
    assert compile_all.returncode == 0, compile_all.stdout


HARNESS = r"""
import asyncio, importlib.abc, json, os, random, sys

class NoCelery(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("celery", "kombu", "billiard"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)

sys.meta_path.insert(0, NoCelery())
sys.path.insert(0, sys.argv[1])
random.seed(int(sys.argv[2]))
mod = importlib.import_module(sys.argv[3])
from saq import Job

FIRST_MONDAY, SECOND_MONDAY = 1772431200, 1773036000  # 2026-03-02 and 2026-03-09, 06:00 UTC

async def fire():
    out = {}
    for cj in mod.settings["cron_jobs"]:
        name = cj.function.__qualname__
        values = [await cj.function({"job": Job(function=name, scheduled=at), "worker": None})
                  for at in (FIRST_MONDAY, SECOND_MONDAY)]
        out[name] = [cj.cron, *values]
    return out

print(json.dumps({"crons": asyncio.run(fire()), "celery": [m for m in sys.modules if m.split(".")[0] == "celery"]}))
"""


def _run_worker_settings(root: Path, tmp_path: Path, seed: int, sync: str = "1") -> tuple[dict, list[str]]:
    effects = tmp_path / f"effects-{seed}-{sync}"
    module = next((root / "shop/saq_worker").glob("queue_*.py")).stem
    env = {
        "PATH": "/usr/bin:/bin",
        "SHOP_EFFECTS": str(effects),
        "SHOP_SYNC_PRICES": sync,
        "SAQMIGRATE_METRICS": "0",
        "SAQMIGRATE_EAGER": "1",
        "SAQ_REDIS_URL": "redis://127.0.0.1:6379/10",
        "PYTHONPATH": str(HERE.parents[1]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", HARNESS, str(root), str(seed), f"shop.saq_worker.{module}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["celery"] == []
    lines = effects.read_text().splitlines() if effects.exists() else []
    return out["crons"], lines


def test_the_hooks_entries_are_cron_jobs_of_the_worker_without_celery(finalized: Path, tmp_path: Path) -> None:
    """A worker's settings, with Celery blocked: every entry of the hook is a CronJob named as the window's
    (beat:<entry>), its schedule drawn when the worker starts, and firing it runs the task."""
    draws = redis.Redis.from_url("redis://127.0.0.1:6379/10")
    draws.delete("saqmigrate-beat-draw:celery:Purge carts", "saqmigrate-beat-draw:celery:Sync prices")
    crons, effects = _run_worker_settings(finalized, tmp_path, seed=1)
    random.seed(1)  # the same draws as the hook in the worker (the order the hook makes them)
    hour, minute, minute2 = random.randint(0, 23), random.randint(0, 59), random.randint(0, 59)
    assert crons["beat:Purge carts"] == [f"{minute} {hour} * * *", "purged", "purged"]
    assert crons["beat:Sync prices"][0] == f"{minute2} * * * mon-fri"  # Celery's `monday-friday`, in cron's words
    # day_of_month AND day_of_week (Celery ANDs them, cron ORs them): the cron keeps Monday and the guard drops
    # the Mondays after the 7th, as the window's CronJobs did
    assert crons["beat:First Monday report"] == ["0 6 * * mon", 3, None]
    assert "purge_carts" in effects and "weekly_report 3" in effects
    # sync_all_prices(1000), fired twice, fanned out through the runtime's group: ten jobs each, run inline
    # (eager mode)
    assert sorted(e for e in effects if e.startswith("sync_prices")) == sorted(
        2 * [f"sync_prices {s}-{s + 100}" for s in range(0, 1000, 100)]
    )
    # a second worker of the queue (another seed: its own draw would differ) uses the first one's draw, so the
    # entry fires once per day as under the one beat process, not once per worker
    other, _ = _run_worker_settings(finalized, tmp_path, seed=2)
    assert other["beat:Purge carts"][0] == crons["beat:Purge carts"][0]
    assert other["beat:Sync prices"][0] == crons["beat:Sync prices"][0]
    assert other["beat:First Monday report"][0] == "0 6 * * mon"  # a fixed schedule is not stored
    assert not draws.exists("saqmigrate-beat-draw:celery:First Monday report")
    draws.delete("saqmigrate-beat-draw:celery:Purge carts")  # every worker stopped: the next start draws again
    fresh, _ = _run_worker_settings(finalized, tmp_path, seed=2)
    assert fresh["beat:Purge carts"][0] != crons["beat:Purge carts"][0]
    draws.delete("saqmigrate-beat-draw:celery:Purge carts", "saqmigrate-beat-draw:celery:Sync prices")
    off, _ = _run_worker_settings(finalized, tmp_path, seed=1, sync="0")
    assert "beat:Sync prices" not in off  # the hook's own condition, evaluated when the worker starts


def test_the_projects_test_mocking_group_still_passes(finalized: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_tasks.py"],
        cwd=finalized,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{finalized}:{HERE.parents[1]}"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:]


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"minute": 0},
        {"hour": "*/6"},
        {"minute": "15,45", "hour": "9-17", "day_of_week": "monday-friday"},
        {"minute": 5, "day_of_month": "1,15"},
        {"minute": 0, "hour": 0, "month_of_year": "jan,july"},
        {"minute": [0, 30], "hour": {3, 4}},
        {"day_of_week": "sunday"},
        {"minute": 0, "hour": 6, "day_of_week": "fri-mon"},
    ],
)
def test_runtime_crontab_fires_when_celerys_crontab_does(fields: dict) -> None:
    """saqmigrate.runtime.jobs.crontab against Celery's own crontab: the same instants over two weeks."""
    from datetime import datetime, timedelta, timezone

    from celery.schedules import crontab as celery_crontab
    from croniter import croniter

    from saqmigrate.runtime.jobs import crontab

    ours = crontab(**fields)
    theirs = celery_crontab(**fields)
    start = datetime(2026, 3, 2, tzinfo=timezone.utc)
    t, fires = start, []
    it = croniter(ours.cron, start - timedelta(seconds=1))
    while t < start + timedelta(days=14) and len(fires) < 400:
        t = it.get_next(datetime)
        fires.append(t)
    for f in fires[:400]:
        assert f.minute in theirs.minute and f.hour in theirs.hour and f.day in theirs.day_of_month
        assert f.month in theirs.month_of_year and f.isoweekday() % 7 in theirs.day_of_week
    minutes = 0
    t = start
    while t < start + timedelta(days=14) and minutes <= len(fires):  # and no instant Celery fires is missed
        if (
            t.minute in theirs.minute
            and t.hour in theirs.hour
            and t.day in theirs.day_of_month
            and t.month in theirs.month_of_year
            and t.isoweekday() % 7 in theirs.day_of_week
        ):
            minutes += 1
            assert t in fires or len(fires) == 400, t
        t += timedelta(minutes=1)


def test_runtime_crontab_with_both_day_fields_guards_the_day_of_month() -> None:
    from saqmigrate.runtime.jobs import crontab

    ct = crontab(minute=0, hour=6, day_of_week="mon", day_of_month="1-7")
    assert ct.cron == "0 6 * * mon" and ct.guard == {"field": "day_of_month", "values": [1, 2, 3, 4, 5, 6, 7]}
    with pytest.raises(ValueError, match="croniter"):
        crontab(minute=61)
    with pytest.raises(TypeError):
        crontab(minute=1.5)


def test_a_hook_finalize_cannot_carry_stays_reported(tmp_path: Path) -> None:
    """A hook that uses its sender for anything else, or an interval schedule: SM806 as before, Celery stays."""
    files = dict(FILES)
    files["shop/tasks.py"] = FILES["shop/tasks.py"].replace(
        '                name="Purge carts",\n',
        '                name="Purge carts",\n            )\n'
        "            sender.add_periodic_task(\n                30.0,\n                purge_carts.s(),\n"
        '                name="Every 30 s",\n',
    )
    root = tmp_path / "p"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    assert apply_changes(root, compute_changes(root, Config(), use_cache=False).changes) == []
    result = compute_finalize(root, Config())
    assert result.errors == []
    tasks = next(c.new for c in result.changes if c.rel == "shop/tasks.py")
    assert "@app.on_after_finalize.connect" in tasks and "beat_hook" not in tasks
    assert any(b.code == "SM806" and "Purge carts" in b.message for b in result.blockers)


def test_apply_of_a_converted_task_is_left_and_of_a_celery_task_reported(tmp_path: Path) -> None:
    """``task.apply(...)`` (tests run a task inline with it) is SaqJob.apply after finalize: inline, retries, an
    eager result. Of a task that stays on Celery (a pickle serializer: SM804) it is still SM803."""
    root = tmp_path / "q"
    files = {
        "proj/__init__.py": "",
        "proj/tasks.py": """
            from celery import shared_task


            @shared_task
            def add(x, y):
                return x + y


            @shared_task(serializer="pickle")
            def pickled(obj):
                return obj


            def inline(x):
                return add.apply(args=(x, 1)).get()


            def legacy(x):
                return pickled.apply(args=(x,)).get()
        """,
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    assert apply_changes(root, compute_changes(root, Config(), use_cache=False).changes) == []
    result = compute_finalize(root, Config())
    assert result.errors == []
    apply_lines = [b for b in result.blockers if b.code == "SM803" and ".apply()" in b.message]
    assert [(b.file, b.line) for b in apply_lines] == [("proj/tasks.py", 19)]  # pickled.apply only
    new = next(c.new for c in result.changes if c.rel == "proj/tasks.py")
    assert "return add.apply(args=(x, 1)).get()" in new


def test_celery_s_django_apps_leave_installed_apps(tmp_path: Path) -> None:
    """Misago lists "celery" in INSTALLED_APPS (django_celery_beat/results are common too): with the packages
    uninstalled, Django's setup() fails on them, so they go when Celery leaves the requirements."""
    files = dict(FILES)
    files["shop/apps_settings.py"] = """
        INSTALLED_APPS = [
            "django.contrib.auth",
            "celery",
            "django_celery_results",
            "shop",
        ]
        INSTALLED_APPS += ("django_celery_beat",)
    """
    root = tmp_path / "p"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    assert apply_changes(root, compute_changes(root, Config(), use_cache=False).changes) == []
    result = compute_finalize(root, Config())
    assert result.errors == [] and result.blockers == []
    assert apply_changes(root, result.changes) == []
    ns: dict = {}
    exec((root / "shop/apps_settings.py").read_text(), ns)
    assert ns["INSTALLED_APPS"] == ["django.contrib.auth", "shop"]  # `INSTALLED_APPS += ("django_celery_beat",)` went
    assert '"shop",\n]' in (root / "shop/apps_settings.py").read_text()  # the trailing comma as it was
