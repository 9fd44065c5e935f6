"""Beat ownership wired by `rewrite`, on real services: a real `celery beat` (Celery's default
scheduler, and django-celery-beat's DatabaseScheduler on the machine's PostgreSQL via `-S django`),
a real Celery worker and a real SAQ worker started from the generated settings, on the real
Redis. The schedule owner is flipped between them; each due time must fire exactly once.

How fires are counted: the task appends one record per execution to a Redis list
(backend, task id, SAQ's scheduled instant). Beat's publishes are recorded by a
`before_task_publish` handler in the beat process (task id, time), so each Celery execution
is tied to the due time beat fired it for. Both sides claim each due time in the flag store
(`claim:tick:<due>` = owner); the test checks every execution against those claims.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import missing

from saqmigrate.runtime.flags import FlagStore
from saqmigrate.runtime.ownership import interval_due

pytestmark = pytest.mark.slow

INTERVAL = 2
TASK_BODY = """import json
import os
import time

from celery import shared_task


@shared_task(bind=True)
def tick(self):
    import redis

    scheduled = None
    try:  # on SAQ: the cron job's scheduled instant (the due time it runs for)
        from saqmigrate.runtime.task import _CURRENT

        current = _CURRENT.get()
        scheduled = getattr(current.ctx.get("job"), "scheduled", None) if current is not None else None
    except Exception:
        pass
    r = redis.Redis.from_url(os.environ["REDIS_URL"])
    r.rpush(os.environ["BEAT_TEST_KEY"] + ":runs", json.dumps({
        "backend": os.environ.get("BEAT_TEST_BACKEND"), "t": time.time(), "id": self.request.id,
        "scheduled": scheduled}))
"""
RECORD_PUBLISH = """
import json as _json
import time as _time

from celery.signals import before_task_publish


@before_task_publish.connect
def _record_publish(sender=None, headers=None, **kwargs):
    if os.environ.get("BEAT_TEST_BACKEND") == "beat":
        import redis as _redis

        _redis.Redis.from_url(os.environ["REDIS_URL"]).rpush(
            os.environ["BEAT_TEST_KEY"] + ":published", _json.dumps({"id": headers["id"], "t": _time.time()}))
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def default_project(root: Path, ns: str) -> str:
    _write(root / "beatproj/__init__.py", "")
    _write(root / "beatproj/tasks.py", TASK_BODY)
    _write(
        root / "beatproj/celery.py",
        f'''import os

from celery import Celery
from celery.schedules import schedule

app = Celery("beatproj", broker=os.environ["REDIS_URL"])
app.conf.task_default_queue = "{ns}"
app.conf.timezone = "UTC"
app.conf.imports = ("beatproj.tasks",)
app.conf.beat_schedule = {{
    "tick": {{"task": "beatproj.tasks.tick", "schedule": schedule(run_every={INTERVAL})}},
}}
'''
        + RECORD_PUBLISH,
    )
    return "beatproj"


def django_project(root: Path, ns: str) -> str:
    _write(root / "dbproj/__init__.py", "")
    _write(root / "dbproj/tasks.py", TASK_BODY)
    _write(
        root / "dbproj/settings.py",
        f'''import os

SECRET_KEY = "beat-ownership-test"
INSTALLED_APPS = ["django_celery_beat"]
USE_TZ = True
TIME_ZONE = "UTC"
DATABASES = {{
    "default": {{
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BEAT_TEST_DB", "test"),
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": 5432,
    }}
}}
CELERY_BROKER_URL = os.environ.get("REDIS_URL")
CELERY_TASK_DEFAULT_QUEUE = "{ns}"
CELERY_TIMEZONE = "UTC"
CELERY_IMPORTS = ("dbproj.tasks",)
CELERY_BEAT_SCHEDULE = {{
    "tick": {{"task": "dbproj.tasks.tick", "schedule": {float(INTERVAL)!r}}},
}}
''',
    )
    _write(
        root / "dbproj/celery.py",
        """import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dbproj.settings")

app = Celery("dbproj")
app.config_from_object("django.conf:settings", namespace="CELERY")
"""
        + RECORD_PUBLISH,
    )
    return "dbproj"


def rewrite(root: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "saqmigrate", "rewrite", str(root), "--write"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr


class Procs:
    def __init__(self, root: Path, env: dict):
        self.root, self.env, self.procs, self.logs = root, env, {}, {}

    def start(self, name: str, argv: list[str], **extra_env) -> None:
        log = open(self.root / f"{name}.log", "w")
        self.logs[name] = log
        self.procs[name] = subprocess.Popen(
            [sys.executable, *argv],
            cwd=self.root,
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, name: str) -> None:
        p = self.procs.get(name)
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)

    def alive(self) -> None:
        for name, p in self.procs.items():
            assert p.poll() is None, f"{name} exited early:\n{self.log(name)}"

    def log(self, name: str) -> str:
        self.logs[name].flush()
        return (self.root / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)
        for log in self.logs.values():
            log.close()


def wait_until(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def run_flips(
    tmp_path: Path, rt, make_project, beat_args: list[str], extra_env: dict | None = None, before_beat=None
) -> dict:
    root = tmp_path / "proj"
    pkg = make_project(root, rt.ns)
    rewrite(root)
    assert "install_ownership(app)" in (root / pkg / "saq_worker/routing.py").read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAQMIGRATE_", "DJANGO_SETTINGS"))}
    env.update(
        {
            "PYTHONPATH": str(root),
            "REDIS_URL": rt.url,
            "SAQ_REDIS_URL": rt.url,
            "SAQMIGRATE_REDIS_URL": rt.url,
            "SAQMIGRATE_NAMESPACE": rt.ns,
            "SAQMIGRATE_BOOTSTRAP": "off",
            "BEAT_TEST_KEY": rt.ns,
            "SAQMIGRATE_METRICS": "0",
            **(extra_env or {}),
        }
    )
    if before_beat is not None:
        before_beat(root, env)
    store = FlagStore(rt.url, rt.ns)
    store.set_schedule_owner("tick", "celery", reason="start on Celery")
    procs = Procs(root, env)
    runs_key, pub_key = f"{rt.ns}:runs", f"{rt.ns}:published"
    flips = []
    try:
        procs.start(
            "celery-worker",
            [
                "-m",
                "celery",
                "-A",
                f"{pkg}.celery",
                "worker",
                "-P",
                "solo",
                "-Q",
                rt.ns,
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "INFO",
            ],
            BEAT_TEST_BACKEND="celery",
        )
        procs.start(
            "saq-worker", ["-m", "saq", f"{pkg}.saq_worker.queue_{rt.ns}.settings", "-v"], BEAT_TEST_BACKEND="saq"
        )
        procs.start(
            "beat",
            [
                "-m",
                "celery",
                "-A",
                f"{pkg}.celery",
                "beat",
                "-s",
                str(root / "beat-schedule"),
                "-l",
                "INFO",
                *beat_args,
            ],
            BEAT_TEST_BACKEND="beat",
        )
        assert wait_until(lambda: rt.redis.llen(runs_key) >= 1, 25), "no fire on Celery:\n" + "\n".join(
            f"--- {n}\n{procs.log(n)}" for n in procs.procs
        )
        procs.alive()
        for owner, hold in (("celery", 5), ("saq", 7), ("celery", 7), ("saq", 6)):
            if owner != "celery" or flips:
                store.set_schedule_owner("tick", owner, reason=f"flip to {owner}")
            flips.append((time.time(), owner))
            time.sleep(hold)
        procs.alive()
        banner = procs.log("beat")
        procs.stop("beat")
        procs.stop("saq-worker")
        end = time.time()
        time.sleep(1.5)  # the Celery worker runs what beat published last
    finally:
        procs.stop_all()
    runs = [json.loads(x) for x in rt.redis.lrange(runs_key, 0, -1)]
    published = {d["id"]: d["t"] for d in map(json.loads, rt.redis.lrange(pub_key, 0, -1))}
    prefix = store.keys.claim("tick", 0)[:-1]
    claims = {
        int(k[len(prefix) :]): v
        for k in rt.redis.scan_iter(prefix + "*", count=1000)
        if (v := rt.redis.get(k)) is not None
    }
    return {"runs": runs, "published": published, "claims": claims, "flips": flips, "end": end, "banner": banner}


def check_exactly_once(r: dict, scheduler_name: str) -> dict:
    runs, published, claims = r["runs"], r["published"], r["claims"]
    fired: Counter = Counter()
    for run in runs:
        if run["backend"] == "celery":
            assert run["id"] in published, f"a Celery run beat did not publish: {run}"
            due = interval_due(INTERVAL, published[run["id"]])
        else:
            assert run["backend"] == "saq" and run["scheduled"], run
            due = int(run["scheduled"])
        assert claims.get(due) == run["backend"], (
            f"{run['backend']} ran the due time {due} whose claim says {claims.get(due)!r}"
        )
        fired[due] += 1
    twice = {d: n for d, n in fired.items() if n > 1}
    assert not twice, f"due times fired more than once: {twice}"
    # every due time SAQ owned (and that ended before the workers stopped) ran on SAQ exactly once
    settled = [d for d, owner in claims.items() if owner == "saq" and d + 1.5 < r["end"]]
    missing = sorted(d for d in settled if fired[d] != 1)
    assert not missing, f"due times owned by SAQ that never ran: {missing}"
    # beat fired every due it published, and each publish ran once
    assert len({run["id"] for run in runs if run["backend"] == "celery"}) == sum(
        1 for run in runs if run["backend"] == "celery"
    )
    per_backend = Counter(run["backend"] for run in runs)
    assert per_backend["celery"] >= 4 and per_backend["saq"] >= 4, per_backend
    # beat's banner names the scheduler it built: the configured one with OwnershipMixin in front
    assert f"saqmigrate.runtime.beat.Routed{scheduler_name}" in r["banner"], r["banner"]
    return {"fires": dict(per_backend), "due_times": len(fired), "claims": Counter(claims.values())}


def test_default_scheduler_flips_fire_each_due_time_once(tmp_path, rt):
    r = run_flips(tmp_path, rt, default_project, [])
    summary = check_exactly_once(r, "PersistentScheduler")
    print("default scheduler:", summary)


PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def _pg_available() -> bool:
    try:
        import django  # noqa: F401
        import django_celery_beat  # noqa: F401
        import psycopg

        psycopg.connect(dbname="test", connect_timeout=2, **PG).close()
        return True
    except Exception:
        return False


@pytest.fixture
def pg_database(unique_name):
    if not _pg_available():
        missing("needs django, django-celery-beat, psycopg and PostgreSQL on 127.0.0.1:5432 (database test)")
    import psycopg

    name = f"saqmigrate_beat_{unique_name}"
    with psycopg.connect(dbname="test", autocommit=True, **PG) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(dbname="test", autocommit=True, **PG) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_database_scheduler_flips_fire_each_due_time_once(tmp_path, rt, pg_database):
    def migrate(root, env):
        out = subprocess.run(
            [sys.executable, "-m", "django", "migrate", "--settings", "dbproj.settings", "-v", "0"],
            cwd=root,
            env={**env, "DJANGO_SETTINGS_MODULE": "dbproj.settings"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stdout + out.stderr

    r = run_flips(tmp_path, rt, django_project, ["-S", "django"], {"BEAT_TEST_DB": pg_database}, before_beat=migrate)
    summary = check_exactly_once(r, "DatabaseScheduler")
    # the entries beat ran are the PeriodicTask rows django-celery-beat synced from the settings
    import psycopg

    with psycopg.connect(dbname=pg_database, **PG) as conn:
        rows = conn.execute("SELECT name, task FROM django_celery_beat_periodictask WHERE name = 'tick'").fetchall()
    assert rows == [("tick", "dbproj.tasks.tick")]
    print("DatabaseScheduler:", summary)
