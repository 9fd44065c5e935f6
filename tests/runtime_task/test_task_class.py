"""A Celery task class on SAQ: hooks and ``__call__`` on a real SAQ worker, Celery as the oracle.

Each scenario defines ONE Celery task whose ``base=`` records every hook call, runs it eagerly
with ``task.apply()`` (Celery's own tracer: hooks, retries), and runs the same task through the
generated-style twin (``run_sync(celery_impl(task), ...)``) on a real SAQ worker on the real
Redis. The two call logs (hook, state, exception type, args, kwargs, einfo type, thread) match.
"""

from __future__ import annotations

import asyncio
import builtins
import contextvars
import threading

import pytest
from celery import Celery, Task
from saq.job import Job, Status

from runtime_task_harness import running_worker, wait_done
from saqmigrate.runtime.task import celery_impl, run_sync, saq_task, task_self
from saqmigrate.runtime.task_class import TaskClassError, check_functions, class_info, task_object
from saqmigrate.translate.options import translate_task_options

LOGS: dict[str, list] = {}
ATTEMPT: dict[str, int] = {}


def _exc(e):
    return None if e is None else type(e).__name__


class Recording(Task):
    """A project's base class overriding every hook; logs what Celery passes."""

    def _log(self, *entry):
        token = self.request.kwargs["token"]
        LOGS.setdefault(token, []).append(entry + (self.request.id == self._first_id(token),))

    def _first_id(self, token):
        return FIRST_ID.setdefault(token, self.request.id)

    def before_start(self, task_id, args, kwargs):
        self._log("before_start", task_id == self.request.id, tuple(args), dict(kwargs))

    def on_success(self, retval, task_id, args, kwargs):
        self._log("on_success", retval, task_id == self.request.id, tuple(args), dict(kwargs))

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        self._log(
            "on_failure",
            _exc(exc),
            task_id == self.request.id,
            tuple(args),
            dict(kwargs),
            type(einfo).__name__,
            _exc(einfo.exception),
            einfo.type.__name__,
            "Traceback" in str(einfo.traceback),
        )

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        self._log(
            "on_retry",
            _exc(exc),
            task_id == self.request.id,
            tuple(args),
            dict(kwargs),
            type(einfo).__name__,
            _exc(einfo.exception),
        )

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        shown = retval if status == "SUCCESS" else _exc(retval)
        self._log("after_return", status, shown, task_id == self.request.id, tuple(args), dict(kwargs), einfo)


FIRST_ID: dict[str, str] = {}


class BadStart(Recording):
    def before_start(self, task_id, args, kwargs):
        super().before_start(task_id, args, kwargs)
        raise KeyError("before_start says no")


def _step(token, plan, self=None):
    ATTEMPT[token] = ATTEMPT.get(token, 0) + 1
    action = plan[min(ATTEMPT[token], len(plan)) - 1]
    kind, _, arg = action.partition(":")
    LOGS.setdefault(token, []).append(("body", kind, threading.current_thread().name.startswith("saqmigrate-bridge")))
    if kind == "ok":
        return f"done-{ATTEMPT[token]}"
    if kind == "raise":
        raise getattr(builtins, arg)(f"boom {arg}")
    if kind == "retry":
        raise self.retry(countdown=0)
    if kind == "retry_exc":
        raise self.retry(exc=getattr(builtins, arg)("boom"), countdown=0)
    raise AssertionError(action)


def plain_body(token, plan):
    return _step(token, plan)


def bound_body(self, token, plan):
    return _step(token, plan, self)


SCENARIOS = {
    # id: (base, options, bind, uses_self_retry, plan)
    "success": (Recording, {}, False, False, ["ok"]),
    "failure": (Recording, {}, False, False, ["raise:ValueError"]),
    "autoretry-exhausted": (
        Recording,
        {"autoretry_for": (IOError,), "max_retries": 2, "retry_kwargs": {"countdown": 0}},
        False,
        False,
        ["raise:IOError"],
    ),
    "autoretry-recovers": (
        Recording,
        {"autoretry_for": (IOError,), "max_retries": 3, "retry_kwargs": {"countdown": 0}},
        False,
        False,
        ["raise:IOError", "ok"],
    ),
    "bind-retry-recovers": (Recording, {"max_retries": 2}, True, True, ["retry", "ok"]),
    "bind-retry-exc-exhausted": (Recording, {"max_retries": 1}, True, True, ["retry_exc:IOError"]),
    "before-start-raises": (
        BadStart,
        {"autoretry_for": (KeyError,), "max_retries": 3, "retry_kwargs": {"countdown": 0}},
        False,
        False,
        ["ok"],
    ),
}


def _names(options):
    out = dict(options)
    for key in ("autoretry_for", "dont_autoretry_for"):
        if key in out:
            out[key] = [c.__name__ for c in out[key]]
    return out


def _normalise(log):
    # the body runs in the bridge thread on SAQ and in the caller's thread under eager Celery
    return [e[:2] if e[0] == "body" else e for e in log]


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_hooks_called_as_celery_calls_them(scenario, redis_url, unique_name):
    base, options, bind, uses_self_retry, plan = SCENARIOS[scenario]
    app = Celery(f"h{unique_name}", broker=redis_url, backend=None, set_as_current=False)
    name = f"proj.tasks.{unique_name}"
    celery_task = app.task(name=name, bind=bind, base=base, **options)(bound_body if bind else plain_body)
    opts = translate_task_options(_names(options), uses_self_retry=uses_self_retry).task

    if bind:

        @saq_task(name, opts)
        async def twin(ctx, *, token, plan):
            return await run_sync(celery_impl(celery_task), task_self(ctx), token=token, plan=plan)
    else:

        @saq_task(name, opts)
        async def twin(ctx, *, token, plan):
            return await run_sync(celery_impl(celery_task), token=token, plan=plan)

    token_c, token_s = f"{unique_name}-c", f"{unique_name}-s"
    celery_task.apply(kwargs={"token": token_c, "plan": plan})

    async def main():
        async with running_worker(redis_url, unique_name, [twin]) as (queue, _):
            job = Job(function=name, kwargs={"token": token_s, "plan": plan}, **opts.job_kwargs())
            await queue.enqueue(job)
            return await wait_done(job, timeout=20)

    done = asyncio.run(main())
    assert done.status in (Status.COMPLETE, Status.FAILED)

    def strip(log, token):
        return [
            tuple(("TOKEN" if x == token else x) for x in e) if e[0] != "body" else e
            for e in (tuple({**v, "token": "TOKEN"} if isinstance(v, dict) else v for v in e) for e in log)
        ]

    celery_log = strip(_normalise(LOGS[token_c]), token_c)
    saq_log = strip(_normalise(LOGS[token_s]), token_s)
    assert saq_log == celery_log, scenario
    assert all(e[2] for e in LOGS[token_s] if e[0] == "body"), "the body runs in the bridge thread"


HOOK_THREADS: dict[str, set] = {}
RAISING: dict[str, list] = {}


class RaisingSuccess(Task):
    def on_success(self, retval, task_id, args, kwargs):
        RAISING.setdefault(kwargs["token"], []).append(("on_success", threading.current_thread().name))
        raise RuntimeError("on_success handler bug")

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        RAISING.setdefault(kwargs["token"], []).append(("after_return", status, threading.current_thread().name))


class RaisingFailure(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        RAISING.setdefault(kwargs["token"], []).append(("on_failure", type(exc).__name__))
        raise RuntimeError("on_failure handler bug")

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        RAISING.setdefault(kwargs["token"], []).append(("after_return", status))


@pytest.mark.slow
def test_a_raising_handler_does_what_a_celery_worker_does(redis_url, unique_name):
    """celery/app/trace.py (non-eager): on_success errors are logged, after_return still runs, the task
    succeeds; an on_failure error becomes the failure and after_return is skipped."""
    app = Celery(f"r{unique_name}", broker=redis_url, backend=None, set_as_current=False)

    def fine(token):
        return "fine"

    def broken(token):
        return 1 / 0

    ok_task = app.task(name=f"p.ok{unique_name}", base=RaisingSuccess)(fine)
    bad_task = app.task(name=f"p.bad{unique_name}", base=RaisingFailure)(broken)

    @saq_task(ok_task.name)
    async def ok_twin(ctx, *, token):
        return await run_sync(celery_impl(ok_task), token=token)

    @saq_task(bad_task.name)
    async def bad_twin(ctx, *, token):
        return await run_sync(celery_impl(bad_task), token=token)

    async def main():
        async with running_worker(redis_url, unique_name, [ok_twin, bad_twin]) as (queue, _):
            a = Job(function=ok_task.name, kwargs={"token": "ok" + unique_name}, **ok_twin.saq_options.job_kwargs())
            b = Job(function=bad_task.name, kwargs={"token": "bad" + unique_name}, **bad_twin.saq_options.job_kwargs())
            await queue.enqueue(a)
            await queue.enqueue(b)
            return await wait_done(a), await wait_done(b)

    a, b = asyncio.run(main())
    assert a.status == Status.COMPLETE and a.result == "fine"
    (h1, t1), (h2, status, t2) = RAISING["ok" + unique_name]
    assert (h1, h2, status) == ("on_success", "after_return", "SUCCESS")
    assert t1 == t2 and t1.startswith("saqmigrate-bridge")
    assert b.status == Status.FAILED and "on_failure handler bug" in b.error
    assert RAISING["bad" + unique_name] == [("on_failure", "ZeroDivisionError")]  # after_return skipped


# --- __call__ -----------------------------------------------------------------------------------

TENANT: contextvars.ContextVar[str | None] = contextvars.ContextVar("tenant", default=None)


def _flask_app():
    flask = pytest.importorskip("flask")
    web = flask.Flask("saqmigrate_test_app")
    web.config["GREETING"] = "hello"
    return flask, web


@pytest.mark.slow
@pytest.mark.parametrize("style", ["super", "run", "task_cls"])
def test_flask_context_task_runs_in_app_context_on_saq(style, redis_url, unique_name):
    flask, web = _flask_app()

    if style == "run":

        class ContextTask(Task):  # Flask's docs, older style
            def __call__(self, *args, **kwargs):
                with web.app_context():
                    return self.run(*args, **kwargs)
    else:

        class ContextTask(Task):  # Flask's docs: celery_init_app
            def __call__(self, *args, **kwargs):
                with web.app_context():
                    return super().__call__(*args, **kwargs)

    if style == "task_cls":
        app = Celery(f"f{unique_name}", broker=redis_url, backend=None, set_as_current=False, task_cls=ContextTask)
        deco = app.task(name=f"p.greet{unique_name}", bind=True)
    else:
        app = Celery(f"f{unique_name}", broker=redis_url, backend=None, set_as_current=False)
        app.Task = ContextTask if style == "run" else app.Task  # celery.Task = ContextTask
        deco = app.task(name=f"p.greet{unique_name}", bind=True, base=ContextTask if style == "super" else None)

    @deco
    def greet(self, who):
        return f"{flask.current_app.config['GREETING']} {who} {self.request.id} {self.request.retries}"

    assert class_info(type(task_object(greet))).call is not None
    name = greet.name

    @saq_task(name)
    async def twin(ctx, *, who):
        return await run_sync(celery_impl(greet), task_self(ctx), who=who)

    oracle = greet.apply(kwargs={"who": "bob"}, task_id="celery-id").get()
    assert oracle == "hello bob celery-id 0"
    with pytest.raises(RuntimeError, match="application context"):
        run_plain = celery_impl(greet)  # outside SAQ: the plain body, no context
        run_plain(None, "bob")

    async def main():
        async with running_worker(redis_url, unique_name, [twin]) as (queue, _):
            job = Job(function=name, kwargs={"who": "bob"}, **twin.saq_options.job_kwargs())
            await queue.enqueue(job)
            return await wait_done(job)

    done = asyncio.run(main())
    assert done.status == Status.COMPLETE, done.error
    assert done.result == f"hello bob {done.key} 0"


CALL_LOG: dict[str, list] = {}


class TenantTask(Recording):
    """A tenant wrapper with hooks: Celery runs before_start before __call__."""

    def __call__(self, *args, **kwargs):
        token = kwargs["token"]
        CALL_LOG.setdefault(token, []).append(
            (
                "__call__ enter",
                self.request.id == FIRST_ID.get(token),
                threading.current_thread().name.startswith("saqmigrate-bridge"),
            )
        )
        reset = TENANT.set("acme")
        try:
            return super().__call__(*args, **kwargs)
        finally:
            TENANT.reset(reset)
            CALL_LOG[token].append(("__call__ exit",))


def tenant_body(token):
    LOGS.setdefault(token, []).append(("body", TENANT.get()))
    return TENANT.get()


@pytest.mark.slow
def test_call_and_hooks_together_in_celerys_order(redis_url, unique_name):
    app = Celery(f"t{unique_name}", broker=redis_url, backend=None, set_as_current=False)
    task = app.task(name=f"p.tenant{unique_name}", base=TenantTask)(tenant_body)

    @saq_task(task.name)
    async def twin(ctx, *, token):
        return await run_sync(celery_impl(task), token=token)

    tc, ts = unique_name + "c", unique_name + "s"
    assert task.apply(kwargs={"token": tc}).get() == "acme"

    async def main():
        async with running_worker(redis_url, unique_name, [twin]) as (queue, _):
            job = Job(function=task.name, kwargs={"token": ts}, **twin.saq_options.job_kwargs())
            await queue.enqueue(job)
            return await wait_done(job)

    done = asyncio.run(main())
    assert done.status == Status.COMPLETE and done.result == "acme"
    norm = lambda log, t: [tuple("T" if x == {"token": t} else x for x in e) for e in log]  # noqa: E731
    assert norm(LOGS[ts], ts) == norm(LOGS[tc], tc)
    assert [e[0] for e in LOGS[ts]] == ["before_start", "body", "on_success", "after_return"]
    assert CALL_LOG[ts][0][:2] == ("__call__ enter", True) and CALL_LOG[ts][0][2] is True
    assert [e[0] for e in CALL_LOG[ts]] == [e[0] for e in CALL_LOG[tc]]


def test_routed_task_and_celery_base_do_not_count():
    from saqmigrate.runtime.celery_integration import RoutedTask

    def one():
        return 1

    app = Celery("plain", set_as_current=False, task_cls=RoutedTask)
    t = app.task(name="p.plain")(one)
    info = class_info(type(task_object(t)))
    assert not info.overridden
    assert celery_impl(t)() == 1
    assert class_info(type(task_object(app.task(name="p.rec", base=Recording)(one)))).hooks == {
        "before_start",
        "on_success",
        "on_failure",
        "on_retry",
        "after_return",
    }


def test_startup_check_refuses_what_cannot_be_honoured():
    import types as _types

    class Ctx(Task):
        def __call__(self, *args, **kwargs):
            return super().__call__(*args, **kwargs)

    app = Celery("chk", set_as_current=False)

    async def abody(x):
        return x

    mod = _types.ModuleType("chk_tasks")
    mod.aio = app.task(name="chk.aio", base=Ctx)(abody)

    def ident(x):
        return x

    mod.native = app.task(name="chk.native", base=Recording)(ident)
    mod.fine = app.task(name="chk.fine", base=Ctx)(ident)
    g = {"_celery": mod, "celery_impl": celery_impl, "run_sync": run_sync}
    src = """
async def aio(ctx, *, x):
    return await celery_impl(_celery.aio)(x=x)

async def native(ctx, *, x):
    return x

async def fine(ctx, *, x):
    return await run_sync(celery_impl(_celery.fine), x=x)
"""
    exec(compile(src, "chk_tasks_saq.py", "exec"), g)
    fns = [saq_task(n)(g[n.split(".")[1]]) for n in ("chk.aio", "chk.native", "chk.fine")]
    problems = check_functions(fns)
    assert len(problems) == 2
    assert problems[0].startswith("chk.aio:") and "async def" in problems[0]
    assert problems[1].startswith("chk.native:") and "native-mode" in problems[1]
    from saqmigrate.runtime.task_class import startup_check

    with pytest.raises(TaskClassError, match="chk.aio"):
        asyncio.run(startup_check(fns)({}))


TL_LOG: dict[str, list] = {}


class TimeLimitHooks(Task):
    def on_success(self, retval, task_id, args, kwargs):
        TL_LOG.setdefault(kwargs["token"], []).append(("on_success",))

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        TL_LOG.setdefault(kwargs["token"], []).append(("on_failure", type(exc).__name__, task_id == self.request.id))

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        TL_LOG.setdefault(kwargs["token"], []).append(("after_return", status, type(retval).__name__))


@pytest.mark.slow
def test_time_limit_calls_on_failure_with_time_limit_exceeded(redis_url, unique_name):
    """Celery 5.7 (worker/request.py on_timeout): a hard time limit calls on_failure(TimeLimitExceeded)
    and after_return(FAILURE); the thread's late success calls no hooks."""
    import time as _time

    app = Celery(f"tl{unique_name}", broker=redis_url, backend=None, set_as_current=False)

    def sleepy(token):
        _time.sleep(1.6)
        return "late"

    task = app.task(name=f"p.sleepy{unique_name}", base=TimeLimitHooks, time_limit=1)(sleepy)
    opts = translate_task_options({"time_limit": 1}, uses_self_retry=False).task

    @saq_task(task.name, opts)
    async def twin(ctx, *, token):
        return await run_sync(celery_impl(task), token=token)

    async def main():
        async with running_worker(redis_url, unique_name, [twin]) as (queue, _):
            job = Job(function=task.name, kwargs={"token": unique_name}, **opts.job_kwargs())
            await queue.enqueue(job)
            done = await wait_done(job)
            await asyncio.sleep(1.2)  # the thread finishes meanwhile
            return done

    done = asyncio.run(main())
    assert done.status == Status.FAILED and done.attempts == 1
    assert TL_LOG[unique_name] == [
        ("on_failure", "TimeLimitExceeded", True),
        ("after_return", "FAILURE", "TimeLimitExceeded"),
    ]


FALLBACK_SCRIPT = """
import sys
from celery import shared_task
from saqmigrate.runtime.task import celery_impl, run_sync, saq_task
from saqmigrate.runtime.task_class import check_functions


@shared_task(name="p.orphan")
def orphan():
    return 1


_celery = sys.modules[__name__]  # as generated twins reach their Celery module


@saq_task("p.orphan")
async def twin(ctx):
    return await run_sync(celery_impl(_celery.orphan))


if sys.argv[1] == "app":  # the project's app exists (what import_celery_app provides): no problem
    from celery import Celery

    Celery("proj", set_as_current=True)
print(check_functions([("p.orphan", twin)], require_app=True))
print(check_functions([("p.orphan", twin)], require_app=False))
"""


@pytest.mark.parametrize("app", ["app", "none"])
def test_a_task_left_in_celerys_fallback_app_stops_a_worker_that_named_an_app(app):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", FALLBACK_SCRIPT, app], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    required, optional = out.stdout.strip().splitlines()
    if app == "app":
        assert required == optional == "[]"
    else:
        assert "p.orphan: resolves in Celery's fallback app" in required and "SAQMIGRATE_CELERY_APP" in required
        assert optional == "[]" and "fallback app" in out.stderr  # only logged when no app module is known
