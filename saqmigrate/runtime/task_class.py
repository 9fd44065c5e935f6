"""A Celery task's class on SAQ: its hooks and its ``__call__``, the way Celery's tracer runs them.

Generated bridge twins call ``run_sync(celery_impl(_celery.f), ...)``. When the Celery task's
class (``base=``, the app's ``task_cls`` / ``app.Task``, ``celery.Task = ContextTask``)
overrides, relative to ``celery.app.task.Task`` (saqmigrate's own ``RoutedTask`` does not count):

* ``before_start`` / ``on_success`` / ``on_failure`` / ``on_retry`` / ``after_return`` — they are
  called with Celery's signatures and in Celery's order (celery/app/trace.py ``build_tracer``):
  ``before_start(task_id, args, kwargs)`` before the body; then on success
  ``on_success(retval, task_id, args, kwargs)``, on a retry ``on_retry(exc, task_id, args, kwargs,
  einfo)`` (``exc`` is the ``Retry``'s cause, ``None`` for a bare ``self.retry()``), on a final
  failure ``on_failure(exc, task_id, args, kwargs, einfo)`` (``einfo`` a
  ``billiard.einfo.ExceptionInfo``); then, after a success or a final failure only (a retry is
  one of Celery's ``IGNORE_STATES``), ``after_return(state, retval, task_id, args, kwargs, None)``
  with ``state`` ``SUCCESS`` / ``FAILURE`` (Celery passes ``einfo=None`` there too). Retry vs failure is the SAQ runtime's own decision (``self.retry``,
  ``autoretry_for`` and its limit), made once, before the hooks run.
* ``__call__`` — the body runs through ``type(task).__call__`` (Flask's ``ContextTask``, tenant or
  DB-routing wrappers), whose ``self.run(...)`` is the body and whose ``super().__call__`` is
  Celery's own (it pushes a request and calls ``self.run``).

Both run in the body's thread, with Celery's request stack set up (``self.request.id`` is the SAQ
job key, ``current_task`` is the task) on a per-call copy of the task instance whose ``run`` is the
body and whose ``retry`` / ``update_state`` are :class:`~saqmigrate.runtime.task.TaskSelf`'s
(SAQ semantics, never a publish to Celery's broker). ``task_id`` is the job key; ``args`` is
``()`` and ``kwargs`` every argument by name (SAQ jobs have no positional arguments).

As in a Celery worker: an exception in ``before_start`` fails the task (never autoretried: autoretry
wraps the body only); one in ``on_success`` or ``after_return`` is logged and changes nothing; one
in ``on_failure`` / ``on_retry`` becomes the job's error, ``after_return`` is skipped, and a retry
already decided still happens (Celery has sent the retry message by then). A Celery hard time
limit calls ``on_failure(TimeLimitExceeded(t), ...)`` and ``after_return`` from the parent
process; here a SAQ ``timeout`` does the same (from another thread, while the body's thread runs
on, its late outcome then running no hooks). An abort runs no hooks (Celery's revoke neither).

Overrides are found at run time from the Celery task object (``type(task).__mro__``), so the
generated code is the same for every task. What cannot be honoured (a native-mode port, an
``async def`` body under an overridden ``__call__``) is refused at worker start-up by
:func:`startup_check` with :class:`TaskClassError` naming the tasks.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import types
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from saqmigrate.errors import SaqmigrateError

logger = logging.getLogger("saqmigrate.runtime.task_class")

HOOKS = ("before_start", "on_success", "on_failure", "on_retry", "after_return")

__all__ = ["HOOKS", "TaskClassError", "TaskClassInfo", "class_info", "adapt", "check_functions", "startup_check"]


class TaskClassError(SaqmigrateError, RuntimeError):
    """A Celery task class whose hooks or ``__call__`` the SAQ twin cannot honour."""


@dataclass(frozen=True)
class TaskClassInfo:
    cls: type
    hooks: frozenset
    call: Callable | None  # the overriding __call__ (a plain function), None when not overridden
    problem: str | None = None

    @property
    def overridden(self) -> bool:
        return bool(self.hooks) or self.call is not None or self.problem is not None

    def describe(self) -> str:
        parts = sorted(self.hooks) + (["__call__"] if self.call is not None or self.problem else [])
        return f"{self.cls.__module__}.{self.cls.__qualname__} overrides {', '.join(parts)}"


def _celery_task_base() -> type | None:
    try:
        from celery.app.task import Task  # noqa: PLC0415
    except ImportError:
        return None
    return Task


def _is_routed_task(klass: type) -> bool:
    return klass.__module__ == "saqmigrate.runtime.celery_integration" and klass.__name__ == "RoutedTask"


def _override(cls: type, attr: str, base: type) -> Any:
    """What ``cls`` defines for ``attr`` below Celery's ``Task`` (celery's ``task_has_custom``)."""
    for klass in cls.__mro__:
        if klass is base or klass is object:
            return None
        if _is_routed_task(klass):
            continue
        if attr in klass.__dict__:
            value = klass.__dict__[attr]
            if getattr(value, "__module__", None) == "celery.app.task":  # monkey-patched by Celery
                continue
            return value
    return None


_INFO: dict[type, TaskClassInfo] = {}


def class_info(cls: type) -> TaskClassInfo:
    """Which Celery hooks and whether ``__call__`` ``cls`` overrides (cached per class)."""
    info = _INFO.get(cls)
    if info is not None:
        return info
    base = _celery_task_base()
    if base is None or not (isinstance(cls, type) and issubclass(cls, base)):
        info = TaskClassInfo(cls, frozenset(), None)
    else:
        hooks = frozenset(h for h in HOOKS if _override(cls, h, base) is not None)
        call = _override(cls, "__call__", base)
        problem = None
        if call is not None and not isinstance(call, types.FunctionType):
            problem = f"its __call__ is a {type(call).__name__}, not a plain method"
            call = None
        info = TaskClassInfo(cls, hooks, call, problem)
    _INFO[cls] = info
    return info


def task_object(task: Any) -> Any:
    """The Celery task instance behind ``task`` (a task, ``PromiseProxy`` or shared-task ``Proxy``).

    A shared task resolves in the *current* Celery app, as Celery itself resolves it.
    None for a plain function or when Celery is not installed.
    """
    base = _celery_task_base()
    if base is None or type(task) is types.FunctionType:
        return None
    from celery.local import Proxy  # noqa: PLC0415

    obj = task._get_current_object() if isinstance(type(task), type) and issubclass(type(task), Proxy) else task
    return obj if isinstance(obj, base) else None


_WARNED: set[str] = set()


def adapt(task: Any, fun: Callable, current: Any) -> Callable:
    """What ``celery_impl`` returns inside a SAQ task: ``fun`` itself, or ``fun`` run by the class."""
    try:
        obj = task_object(task)
    except Exception as exc:  # an app that cannot be finalized here: run the body as before, loudly
        if current.name not in _WARNED:
            _WARNED.add(current.name)
            logger.warning(
                "%s: cannot load the Celery task object (%s: %s); its task class's hooks and __call__ "
                "are not run on SAQ",
                current.name,
                type(exc).__name__,
                exc,
            )
        return fun
    if obj is None:
        return fun
    info = class_info(type(obj))
    if not info.overridden:
        return fun
    problem = _problem(info, fun, bridged=True)
    if problem:
        raise TaskClassError(f"{current.name}: {problem}")
    if inspect.iscoroutinefunction(fun):

        async def traced_async(*args: Any, **kwargs: Any) -> Any:
            return await _Call(obj, info, fun, current, args, kwargs, threaded=False).run_async()

        return traced_async

    def traced(*args: Any, **kwargs: Any) -> Any:
        return _Call(obj, info, fun, current, args, kwargs, threaded=True).run()

    functools.update_wrapper(traced, fun)
    return traced


def _problem(info: TaskClassInfo, fun: Callable | None, *, bridged: bool) -> str | None:
    if not info.overridden:
        return None
    if info.problem:
        return f"{info.describe()}, but {info.problem}: run the task on Celery or make __call__ a method"
    if not bridged:
        return (
            f"{info.describe()}, but its SAQ twin is a native-mode port that does not run through the task "
            "class: regenerate it in bridge mode (saqmigrate rewrite --mode bridge) or keep the task on Celery"
        )
    if info.call is not None and fun is not None and inspect.iscoroutinefunction(fun):
        return (
            f"{info.describe()}, but the task body is an async def that the synchronous __call__ cannot wrap: "
            "keep the task on Celery"
        )
    return None


class _Call:
    """One run of a task through its Celery class (the bridge thread's part of Celery's tracer)."""

    def __init__(
        self, task: Any, info: TaskClassInfo, fun: Callable, current: Any, args: tuple, kwargs: dict, *, threaded: bool
    ) -> None:
        from celery.app.task import Context  # noqa: PLC0415

        from saqmigrate.runtime.task import TaskSelf  # noqa: PLC0415

        self.info = info
        self.fun = fun
        self.current = current
        self.threaded = threaded
        self.bind = bool(args) and isinstance(args[0], TaskSelf)
        self.ts = (
            args[0] if self.bind else TaskSelf(current.ctx, current.name, current.options, current.loop, current.params)
        )
        self.body_args = tuple(args[1:] if self.bind else args)
        self.kwargs = dict(kwargs)
        self.task_id = current.ctx["job"].key
        shadow = object.__new__(type(task))  # per call: hooks may keep state on self between calls of one run
        shadow.__dict__.update(task.__dict__)
        shadow.run = self._run_body
        shadow.retry = self.ts.retry
        shadow.update_state = self.ts.update_state
        self.shadow = shadow
        self.request = Context({**vars(self.ts.request), "args": self.body_args, "kwargs": dict(self.kwargs)})
        self.body_exc: BaseException | None = None
        self._done = threading.Lock()
        self._finished = False
        current.call = self

    # -- Celery's request stack ----------------------------------------------------------------

    def _push(self) -> None:
        from celery._state import _task_stack  # noqa: PLC0415

        _task_stack.push(self.shadow)
        stack = getattr(self.shadow, "request_stack", None)
        if stack is not None:
            stack.push(self.request)

    def _pop(self) -> None:
        from celery._state import _task_stack  # noqa: PLC0415

        stack = getattr(self.shadow, "request_stack", None)
        if stack is not None:
            stack.pop()
        _task_stack.pop()

    def _hook(self, name: str, *args: Any) -> None:
        """Call hook ``name`` if the class overrides it (with the request pushed off the thread path)."""
        if name not in self.info.hooks:
            return
        if self.threaded:
            getattr(self.shadow, name)(*args)
            return
        self._push()  # on the event loop: pushed around the call only (no await inside)
        try:
            getattr(self.shadow, name)(*args)
        finally:
            self._pop()

    # -- the body ------------------------------------------------------------------------------

    def _run_body(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.fun(self.ts, *args, **kwargs) if self.bind else self.fun(*args, **kwargs)
        except BaseException as exc:
            self.body_exc = exc
            raise

    def run(self) -> Any:
        self._push()
        try:
            try:
                self._hook("before_start", self.task_id, self.body_args, self.kwargs)
                if self.info.call is not None:
                    retval = self.info.call(self.shadow, *self.body_args, **self.kwargs)
                else:
                    retval = self._run_body(*self.body_args, **self.kwargs)
            except Exception as exc:
                self._failed(exc)
                raise
            self._succeeded(retval)
            return retval
        finally:
            self._pop()

    async def run_async(self) -> Any:
        try:
            self._hook("before_start", self.task_id, self.body_args, self.kwargs)
            retval = await self._run_body(*self.body_args, **self.kwargs)
        except Exception as exc:
            self._failed(exc)
            raise
        self._succeeded(retval)
        return retval

    # -- outcomes ------------------------------------------------------------------------------

    def _claim(self) -> bool:
        """The outcome's hooks run once: not after SAQ cancelled the job (time limit, abort)."""
        with self._done:
            if self._finished or self.current.cancelled:
                return False
            self._finished = True
            return True

    def _succeeded(self, retval: Any) -> None:
        if not self._claim():
            return
        try:
            self._hook("on_success", retval, self.task_id, self.body_args, self.kwargs)
        except Exception as exc:  # Celery: logged, the task stays successful
            logger.exception("Task %s[%s] on_success handler raised: %r", self.current.name, self.task_id, exc)
        self._after_return("SUCCESS", retval)

    def _failed(self, exc: Exception) -> None:
        from saqmigrate.runtime.task import _decide, _exceptions  # noqa: PLC0415

        exc_types = _exceptions()
        skip = tuple(exc_types[k] for k in ("Ignore",) if k in exc_types) + _reject()
        if skip and isinstance(exc, skip):
            return  # Celery: IGNORED / REJECTED, no hooks
        if not self._claim():
            return
        current = self.current
        job = current.ctx["job"]
        retry = _decide(job, current.options, current.params, exc, from_body=exc is self.body_exc)
        current.decided = exc
        if retry:
            retry_cls = exc_types["Retry"]
            reason = exc if isinstance(exc, retry_cls) else retry_cls(exc=exc, when=job.retry_delay)
            state, retval, hook, cause = "RETRY", reason, "on_retry", reason.exc
        else:
            reason = exc
            state, retval, hook, cause = "FAILURE", exc, "on_failure", exc
        try:
            self._hook(hook, cause, self.task_id, self.body_args, self.kwargs, _einfo(reason, exc.__traceback__))
        except Exception as hook_exc:
            # Celery: an internal error; the task is recorded as failed with the handler's error and
            # after_return is skipped. A retry already decided still happens (its message is sent).
            logger.exception("Task %s[%s] %s handler raised: %r", current.name, self.task_id, hook, hook_exc)
            if hook == "on_retry":
                try:
                    self._hook(
                        "on_failure",
                        hook_exc,
                        self.task_id,
                        self.body_args,
                        self.kwargs,
                        _einfo(hook_exc, hook_exc.__traceback__),
                    )
                except Exception:
                    logger.exception("Task %s[%s] on_failure handler raised", current.name, self.task_id)
            current.decided = hook_exc
            raise hook_exc from exc
        if not retry:  # Celery: RETRY is one of the IGNORE_STATES, which get no after_return
            self._after_return(state, retval)

    def _after_return(self, state: str, retval: Any) -> None:
        try:
            self._hook("after_return", state, retval, self.task_id, self.body_args, self.kwargs, None)
        except Exception as exc:  # Celery: logged, the outcome is already recorded
            logger.exception("Task %s[%s] after_return handler raised: %r", self.current.name, self.task_id, exc)

    def time_limit_exceeded(self, timeout: float) -> None:
        """SAQ's ``timeout`` cancelled the job: Celery's hard-time-limit hooks (from another thread)."""
        if not ({"on_failure", "after_return"} & self.info.hooks):
            return
        with self._done:
            if self._finished:
                return
            self._finished = True
        from saqmigrate.runtime.task import _executor  # noqa: PLC0415

        try:
            from celery.exceptions import TimeLimitExceeded  # noqa: PLC0415
        except ImportError:  # pragma: no cover - hooks imply Celery
            return
        exc = TimeLimitExceeded(timeout)

        def hooks() -> None:
            threaded, self.threaded = self.threaded, False  # push the request around each hook here
            try:
                try:
                    raise exc
                except TimeLimitExceeded:
                    einfo = _einfo(exc, exc.__traceback__)
                self._hook("on_failure", exc, self.task_id, self.body_args, self.kwargs, einfo)
                self._hook("after_return", "FAILURE", exc, self.task_id, self.body_args, self.kwargs, None)
            except Exception:
                logger.exception("Task %s[%s]: a handler raised after the time limit", self.current.name, self.task_id)
            finally:
                self.threaded = threaded

        _executor().submit(hooks)


def _reject() -> tuple:
    try:
        from celery.exceptions import Reject  # noqa: PLC0415
    except ImportError:
        return ()
    return (Reject,)


def _einfo(exc: BaseException, tb: Any) -> Any:
    from billiard.einfo import ExceptionInfo  # noqa: PLC0415 (a Celery dependency)

    return ExceptionInfo((type(exc), exc, tb))


# worker start-up


def _twin_task(twin: Any) -> tuple[Any, bool] | None:
    """The Celery task object a generated twin runs, and whether the twin is a bridge (celery_impl)."""
    fn = inspect.unwrap(twin)
    code = getattr(fn, "__code__", None)
    mod = getattr(fn, "__globals__", {}).get("_celery")
    if code is None or mod is None:
        return None
    from celery.local import Proxy  # noqa: PLC0415

    base = _celery_task_base()
    for attr in (fn.__name__, *code.co_names):
        obj = inspect.getattr_static(mod, attr, None) if isinstance(mod, types.ModuleType) else None
        if obj is None:
            continue
        # type(obj), never isinstance(obj, ...) first: isinstance() evaluates a @shared_task proxy, which
        # finalizes the project's app here (Django settings, ...); task_object() below does it guarded
        if issubclass(type(obj), Proxy) or (base is not None and issubclass(type(obj), base)):
            return obj, "celery_impl" in code.co_names
    return None


def check_functions(functions: Iterable[Any], *, require_app: bool = False) -> list[str]:
    """Problems (one line per task) with the Celery task classes of these SAQ functions.

    ``require_app``: the worker imported the module that creates the project's Celery app, so a task
    that still resolves in Celery's fallback app lost that app (its Task class and configuration):
    a problem. Without it (no app known to the scan) that is only logged."""
    if _celery_task_base() is None:
        return []
    from saqmigrate.runtime.task import _raw_impl  # noqa: PLC0415

    problems = []
    for f in functions:
        twin = f[1] if isinstance(f, tuple) else f
        name = getattr(twin, "saq_name", None)
        if name is None:
            continue
        found = _twin_task(twin)
        if found is None:
            continue
        task, bridged = found
        try:
            obj = task_object(task)
        except Exception as exc:
            logger.warning(
                "%s: cannot load the Celery task object at start-up (%s: %s); its task class's hooks "
                "and __call__ are checked when it first runs",
                name,
                type(exc).__name__,
                exc,
            )
            continue
        if obj is None:
            continue
        app = getattr(obj, "_app", None) or getattr(obj, "app", None)
        if app is not None and getattr(app, "main", None) == "default" and not getattr(app, "fixups", True):
            if not require_app:
                logger.warning(
                    "%s: resolves in Celery's fallback app (no project app was imported in this worker); "
                    "set SAQMIGRATE_CELERY_APP to the module you pass to `celery -A` if the app configures "
                    "its tasks",
                    name,
                )
                continue
            problems.append(
                f"{name}: resolves in Celery's fallback app, not the project's: the module that creates "
                "the app was not imported in this worker; set SAQMIGRATE_CELERY_APP to the module you pass "
                "to `celery -A` (its Task class, e.g. Flask's app context, and its configuration apply)"
            )
            continue
        info = class_info(type(obj))
        try:
            fun = _raw_impl(task)
        except TypeError:
            fun = None
        problem = _problem(info, fun, bridged=bridged)
        if problem:
            problems.append(f"{name}: {problem}")
    return problems


def startup_check(functions: Iterable[Any], *, require_app: bool = False) -> Callable:
    """A SAQ ``startup`` hook that refuses to start when a task's class cannot be honoured."""
    functions = list(functions)

    async def check_task_classes(ctx: dict) -> None:
        problems = check_functions(functions, require_app=require_app)
        if problems:
            raise TaskClassError(
                "saqmigrate: these tasks' Celery task classes cannot run on SAQ:\n  " + "\n  ".join(problems)
            )

    check_task_classes.__qualname__ = "saqmigrate_check_task_classes"
    return check_task_classes
