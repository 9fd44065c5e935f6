"""Project decorator factories that wrap Celery's decorator (``@retryable_task(...)``, ``@project_task(...)``,
``@periodic``): every function decorated with one is a task, and the factory's wrapper is not."""

from __future__ import annotations

import ast

from saqmigrate.config import Config
from saqmigrate.rewrite import compute_changes
from tests.scan.helpers import scan, tasks_by_name, write_tree

CELERY_APP = """
from celery import Celery
app = Celery("proj")
"""

RETRYABLE = """
from functools import wraps
from celery import shared_task

class retryable_task:
    def __init__(self, *args, **kwargs):
        self.task_args = args
        self.task_kwargs = kwargs

    def __call__(self, f):
        @wraps(f)
        def inner(*args, **kwargs):
            try:
                return f(*args, **kwargs)
            except Exception:
                raise
        return shared_task(*self.task_args, **self.task_kwargs)(inner)
"""

# no Celery trigger word at all: found because it uses a factory another module defines
LOG_PARSER = """
from proj.workers.task import retryable_task

@retryable_task(name="log-parser", max_retries=10)
def parse_logs(job_id, priority):
    return job_id

@retryable_task(soft_time_limit=60)
def crossreference(job_id):
    return job_id
"""


def class_project(tmp_path):
    return write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": CELERY_APP,
            "proj/workers/__init__.py": "",
            "proj/workers/task.py": RETRYABLE,
            "proj/log_parser/__init__.py": "",
            "proj/log_parser/tasks.py": LOG_PARSER,
        },
    )


def test_class_factory_with_wraps(tmp_path):
    idx = scan(class_project(tmp_path))
    t = tasks_by_name(idx)
    assert set(t) == {"log-parser", "proj.log_parser.tasks.crossreference"}  # no proj.workers.task.inner
    p = t["log-parser"]
    assert (p.kind, p.module, p.function, p.file, p.line, p.decorator_line) == (
        "factory",
        "proj.log_parser.tasks",
        "parse_logs",
        "proj/log_parser/tasks.py",
        4,
        3,
    )
    assert p.options == {"name": "log-parser", "max_retries": 10}
    assert p.decorator == "retryable_task" and p.features["factory"] == "proj.workers.task.retryable_task"
    assert [x.name for x in p.params] == ["job_id", "priority"]
    assert "SM101" not in p.rules
    c = t["proj.log_parser.tasks.crossreference"]  # wraps copies __module__/__name__: Celery's default name
    assert c.options == {"soft_time_limit": 60} and not c.nested
    assert not any(f.rule == "SM101" for f in idx.findings)


def test_function_factory_merges_its_own_options_under_the_call(tmp_path):
    write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": CELERY_APP,
            "proj/factory.py": """
            from celery import shared_task

            def project_task(queue="low", **options):
                def decorate(fn):
                    return shared_task(bind=True, acks_late=True, queue=queue, **options)(fn)
                return decorate
        """,
            "proj/jobs.py": """
            from proj.factory import project_task

            @project_task(acks_late=False, max_retries=2)
            def sync(self, account):
                return account

            @project_task("high", name="jobs.flush")
            def flush(self):
                pass

            @project_task(queue="mid")
            def mid(self):
                pass
        """,
        },
    )
    t = tasks_by_name(scan(tmp_path))
    assert set(t) == {"proj.jobs.sync", "jobs.flush", "proj.jobs.mid"}
    s = t["proj.jobs.sync"]
    assert s.kind == "factory" and s.bind and [p.name for p in s.params] == ["account"]
    assert s.options == {"bind": True, "acks_late": False, "queue": "low", "max_retries": 2}
    # shared_task(acks_late=True, **options) with acks_late in options: Python raises TypeError, never guessed
    assert "TypeError" in s.features["unresolved"]["acks_late"]
    assert "unresolved" not in t["proj.jobs.mid"].features
    assert t["jobs.flush"].options == {"bind": True, "acks_late": True, "queue": "high", "name": "jobs.flush"}
    assert t["proj.jobs.mid"].options["queue"] == "mid"


def test_factory_without_options_and_app_task(tmp_path):
    write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": CELERY_APP + "\ndef periodic(fn):\n    return app.task(fn, ignore_result=True)\n",
            "proj/beats.py": """
            from proj.celery import periodic

            @periodic
            def heartbeat():
                pass

            @periodic()
            def not_a_task():  # periodic() without the function: a TypeError, never a task
                pass
        """,
        },
    )
    idx = scan(tmp_path)
    t = tasks_by_name(idx)
    assert set(t) == {"proj.beats.heartbeat"}
    h = t["proj.beats.heartbeat"]
    assert (h.kind, h.app, h.options) == ("factory", "proj.celery.app", {"ignore_result": True})


def test_reexport_through_package_init_and_rebinding(tmp_path):
    write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": CELERY_APP,
            "proj/workers/__init__.py": "from .task import retryable_task, retry\n",
            "proj/workers/task.py": RETRYABLE + "\nretry = retryable_task\n",
            "proj/a.py": """
            from proj.workers import retryable_task

            @retryable_task(queue="a")
            def via_init(x):
                return x
        """,
            "proj/b.py": """
            from proj import workers
            from proj.workers import retry as rt

            @workers.retryable_task()
            def via_module(x):
                return x

            @rt(max_retries=1)
            def via_rebinding(x):
                return x
        """,
        },
    )
    t = tasks_by_name(scan(tmp_path))
    assert set(t) == {"proj.a.via_init", "proj.b.via_module", "proj.b.via_rebinding"}
    assert t["proj.a.via_init"].options == {"queue": "a"}
    assert t["proj.b.via_rebinding"].options == {"max_retries": 1}
    assert all(x.kind == "factory" for x in t.values())


NO_WRAPS = """
from celery import shared_task

def plain_task(**options):
    def decorate(f):
        def inner(*args, **kwargs):
            return f(*args, **kwargs)
        return shared_task(**options)(inner)
    return decorate
"""


def test_without_wraps_the_task_is_named_after_the_wrapper(tmp_path):
    write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": CELERY_APP,
            "proj/deco.py": NO_WRAPS,
            "proj/one.py": """
            from proj.deco import plain_task

            @plain_task(queue="q")
            def only(x):
                return x

            @plain_task(name="named.explicitly")
            def named(x):
                return x
        """,
        },
    )
    t = tasks_by_name(scan(tmp_path))
    assert set(t) == {"proj.deco.inner", "named.explicitly"}  # Celery names it after the wrapper
    assert (t["proj.deco.inner"].function, t["proj.deco.inner"].module) == ("only", "proj.one")


def test_without_wraps_several_tasks_collide_and_are_reported(tmp_path):
    write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": CELERY_APP,
            "proj/deco.py": NO_WRAPS,
            "proj/one.py": """
            from proj.deco import plain_task

            @plain_task()
            def first(x):
                return x

            @plain_task()
            def second(x):
                return x
        """,
        },
    )
    idx = scan(tmp_path)
    assert [(t.function, t.name, t.kind) for t in idx.tasks] == [
        ("first", None, "factory"),
        ("second", None, "factory"),
    ]
    sm103 = [f for f in idx.findings if f.rule == "SM103"]
    assert len(sm103) == 2
    assert all("proj.deco.inner" in f.message and "proj.one.first, proj.one.second" in f.message for f in sm103)


def test_wrapper_decorated_inside_the_factory(tmp_path):
    write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": CELERY_APP,
            "proj/deco.py": """
            import functools
            from proj.celery import app

            def logged_task(**options):
                def decorate(fn):
                    @app.task(**options)
                    @functools.wraps(fn)
                    def inner(*args, **kwargs):
                        return fn(*args, **kwargs)
                    return inner
                return decorate
        """,
            "proj/work.py": """
            from proj.deco import logged_task

            @logged_task(rate_limit="1/s")
            def crunch(n):
                return n
        """,
        },
    )
    idx = scan(tmp_path)
    t = tasks_by_name(idx)
    assert set(t) == {"proj.work.crunch"}  # not the nested proj.deco.inner (no SM101)
    assert (t["proj.work.crunch"].options, t["proj.work.crunch"].app) == ({"rate_limit": "1/s"}, "proj.celery.app")


def test_look_alike_factories_are_not_tasks(tmp_path):
    write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": CELERY_APP,
            "proj/deco.py": """
            import functools
            from celery import shared_task

            def cached(fn):
                return functools.lru_cache(fn)

            class timer:
                def __call__(self, f):
                    return record(f)

            def record(f):
                return f
        """,
            "proj/use.py": """
            from celery import shared_task
            from proj.deco import cached, timer

            @cached
            def a():
                pass

            @timer()
            def b():
                pass
        """,
        },
    )
    assert scan(tmp_path).tasks == []


def test_rewrite_bridges_the_factory_task_through_its_module(tmp_path):
    root = class_project(tmp_path)
    result = compute_changes(root, Config(), use_cache=False)
    twins = {c.rel: c.new for c in result.changes if c.rel.endswith("_saq.py")}
    assert set(twins) == {"proj/log_parser/tasks_saq.py"}  # none for proj/workers/task.py
    code = twins["proj/log_parser/tasks_saq.py"]
    ast.parse(code)
    assert "from proj.log_parser import tasks as _celery" in code
    assert "_celery.parse_logs" in code and '@saq_task("log-parser"' in code
    assert "_celery.crossreference" in code and "inner" not in code
    native = compute_changes(root, Config(), use_cache=False, mode="native")
    assert any(
        m.startswith("SM113 log-parser: kept in bridge mode: factory tasks are bridged") for m in native.messages
    )


PASS_THROUGH = """
from proj.celery import app


class RetryableError(Exception):
    pass


def task(*args, **kwargs):
    return app.task(*args, **kwargs, autoretry_for=(RetryableError,), retry_backoff=True)


def task_defaults(*args, **kwargs):
    kwargs.setdefault("queue", "low")
    kwargs["acks_late"] = True
    return app.task(*args, **kwargs)


def task_merged(*args, **kwargs):
    return app.task(*args, **{"queue": "q1", **kwargs, "ignore_result": True})
"""


def pass_through_project(tmp_path):
    return write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": CELERY_APP,
            "proj/base.py": PASS_THROUGH,
            "proj/ingest.py": """
            from proj import base

            INGEST = "ingest"

            def ingest(*args, **kwargs):
                return base.task(*args, **kwargs, queue=INGEST)
        """,
            "proj/chained.py": """
            from proj.ingest import ingest

            @ingest(shared=False)
            def chained(x):
                return x

            @ingest
            def chained_bare(x):
                return x

            @ingest(queue="other")
            def chained_clash(x):  # TypeError in ingest: queue given twice
                return x
        """,
            "proj/work.py": """
            from proj import base
            from proj.base import task

            @base.task(queue="special", shared=False)
            def upload(x):
                return x

            @task
            def bare(x):
                return x

            @task()
            def empty_call(x):
                return x

            @base.task(retry_backoff=False)
            def clash(x):  # TypeError in Python: retry_backoff given twice
                return x

            @base.task_defaults(acks_late=False)
            def defaults_given(x):
                return x

            @base.task_defaults(queue="high")
            def queue_given(x):
                return x

            @base.task_merged(queue="mine", ignore_result=False)
            def merged(x):
                return x

            @task("not-a-function")
            def not_a_task(x):  # Celery: argument 1 to @task() must be a callable
                return x
        """,
        },
    )


def test_pass_through_factory_called_and_bare(tmp_path):
    idx = scan(pass_through_project(tmp_path))
    t = tasks_by_name(idx)
    assert set(t) == {
        "proj.work.upload",
        "proj.work.bare",
        "proj.work.empty_call",
        "proj.work.clash",
        "proj.work.defaults_given",
        "proj.work.queue_given",
        "proj.work.merged",
        "proj.chained.chained",
        "proj.chained.chained_bare",
        "proj.chained.chained_clash",
    }  # no proj.base.task: the factory is not a task of its own
    up = t["proj.work.upload"]
    assert (up.kind, up.app, up.features["factory"]) == ("factory", "proj.celery.app", "proj.base.task")
    assert up.options["queue"] == "special" and up.options["shared"] is False
    assert up.options["retry_backoff"] is True and "autoretry_for" in up.options
    assert t["proj.work.bare"].options["retry_backoff"] is True and "queue" not in t["proj.work.bare"].options
    assert t["proj.work.empty_call"].options["retry_backoff"] is True
    # setdefault: the call wins; kwargs["k"] = v: the factory wins
    assert t["proj.work.defaults_given"].options == {"queue": "low", "acks_late": True}
    assert t["proj.work.queue_given"].options == {"queue": "high", "acks_late": True}
    # **{"queue": ..., **kwargs, "ignore_result": ...}: what comes later in the dict wins
    assert t["proj.work.merged"].options == {"queue": "mine", "ignore_result": True}
    # a pass-through factory forwarding to another: both's options, each resolved where it is written
    ch = t["proj.chained.chained"]
    assert (ch.kind, ch.app, ch.features["factory"]) == ("factory", "proj.celery.app", "proj.ingest.ingest")
    assert ch.options["queue"] == "ingest" and ch.options["shared"] is False and ch.options["retry_backoff"] is True
    assert ch.options["autoretry_for"] == ["proj.base.RetryableError"]
    assert t["proj.chained.chained_bare"].options["queue"] == "ingest"
    assert "TypeError" in t["proj.chained.chained_clash"].features["unresolved"]["queue"]
    # @task("not-a-function"): Celery raises TypeError; not a task, and listed (SM125), not silent
    assert [f.line for f in idx.findings if f.rule == "SM125" and "proj.work.not_a_task" in f.message] == [32]


def test_pass_through_duplicate_keyword_is_reported_and_pinned(tmp_path):
    idx = scan(pass_through_project(tmp_path))
    c = tasks_by_name(idx)["proj.work.clash"]
    assert "retry_backoff" in c.features["unresolved"] and "TypeError" in c.features["unresolved"]["retry_backoff"]
    assert any(f.rule == "SM115" and "TypeError" in f.message and f.line == c.decorator_line for f in idx.findings)
    assert not any(
        "unresolved" in t.features
        for n, t in tasks_by_name(idx).items()
        if n not in ("proj.work.clash", "proj.chained.chained_clash")
    )


def test_decorators_that_build_tasks_the_scan_cannot_follow_are_reported(tmp_path):
    write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": CELERY_APP,
            "proj/core.py": """
            from proj.celery import app

            class Dispatch(dict):
                def __call__(self, *keys, **kwargs):
                    def wrap(f):
                        f = app.task(ignore_result=True, **kwargs)(f)
                        for key in keys:
                            self.setdefault(key, []).append(f)
                        return f
                    return wrap

            def looped(*names):
                def wrap(f):
                    for n in names:
                        app.task(name=n)(f)
                    return f
                return wrap

            def timed(f):  # sends tasks, builds none
                app.send_task("x")
                return f
        """,
            "proj/alerts.py": """
            from proj.celery import app
            from proj.core import Dispatch

            class Alerts(Dispatch):
                pass

            handler = Alerts()
        """,
            "proj/quiet.py": """
            from proj.alerts import handler

            @handler("c")
            def quiet(payload):  # no Celery word in this file: read because it uses the registry instance
                return payload
        """,
            "proj/use.py": """
            from proj import alerts
            from proj.core import looped, timed
            from proj.celery import app

            @alerts.handler("a", "b", queue="x")
            def on_alert(payload):
                return payload

            @looped("one", "two")
            def many():
                pass

            @timed
            def plain():
                pass

            @timed
            @app.task
            def real():
                pass
        """,
        },
    )
    idx = scan(tmp_path)
    assert [t.function for t in idx.tasks if t.module == "proj.use"] == ["real"]
    got = sorted((f.line, f.message) for f in idx.findings if f.rule == "SM125" and f.file == "proj/use.py")
    assert [line for line, _ in got] == [5, 9]
    assert "@alerts.handler (proj.core.Dispatch)" in got[0][1] and "proj.use.on_alert is probably a task" in got[0][1]
    assert "proj.core.looped" in got[1][1] and "proj.use.many" in got[1][1]
    quiet = [f for f in idx.findings if f.rule == "SM125" and f.file == "proj/quiet.py"]
    assert len(quiet) == 1 and "proj.quiet.quiet is probably a task" in quiet[0].message
