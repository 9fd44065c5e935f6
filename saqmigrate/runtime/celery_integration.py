"""Celery hooks that send every dispatch through the router, without rewriting call sites.

Two pieces, use either or both (they never route a call twice):

* ``RoutedTask`` - a base Task class: ``Celery(..., task_cls="saqmigrate.runtime.celery_integration:RoutedTask")``
  or ``app.Task = RoutedTask``-style subclassing. Its ``apply_async`` consults the router,
  so ``.delay()``, ``.apply_async()``, ``delay_on_commit`` and beat route unchanged.
* ``install_send_task_hook(app)`` - wraps ``app.send_task`` on that app instance, so
  name-based ``app.send_task("proj.tasks.x", ...)`` routes too (and, as a by-product, also
  ``.delay()`` of tasks whose base is not ``RoutedTask``).

A Celery retry (``Task.retry`` re-enters ``apply_async`` with ``retries>0`` and the same
task id) always stays on Celery. With no router installed (``set_router`` never called)
everything is plain Celery.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Task

from saqmigrate.runtime.router import Router, bypassing, get_router


class RoutedTask(Task):
    """Celery base task whose ``apply_async`` asks the router where to send the call."""

    #: Router to use for this task class; None means the process-wide ``get_router()``.
    saqmigrate_router: Router | None = None

    def apply_async(
        self,
        args: Any = None,
        kwargs: Any = None,
        task_id: str | None = None,
        producer: Any = None,
        link: Any = None,
        link_error: Any = None,
        shadow: str | None = None,
        **options: Any,
    ) -> Any:
        router = self.saqmigrate_router or get_router()
        if router is None or bypassing() or self.app.conf.task_always_eager:
            return super().apply_async(
                args,
                kwargs,
                task_id=task_id,
                producer=producer,
                link=link,
                link_error=link_error,
                shadow=shadow,
                **options,
            )
        base_apply = super().apply_async

        def celery_call(a: Any, k: Any, **opts: Any) -> Any:
            return base_apply(a, k, **opts)

        call_opts = dict(options)
        if task_id is not None:
            call_opts["task_id"] = task_id
        if producer is not None:
            call_opts["producer"] = producer
        if link is not None:
            call_opts["link"] = link
        if link_error is not None:
            call_opts["link_error"] = link_error
        if shadow is not None:
            call_opts["shadow"] = shadow
        # Options fixed on the task class (expires, queue, soft_time_limit ...) count too.
        for opt in ("expires", "soft_time_limit", "time_limit", "priority"):
            val = getattr(self, opt, None)
            if val is not None and opt not in call_opts:
                call_opts[opt] = val
        return router.apply_async(self.name, args, kwargs, celery_call=celery_call, **call_opts)


def install_routed_task_class(app: Any) -> Any:
    """Put ``RoutedTask`` in front of the task class the app already uses, keeping that class.

    Celery picks the app's task class itself: ``celery.app.task:Task``, Django's ``DjangoTask``
    (``delay_on_commit``) when ``DJANGO_SETTINGS_MODULE`` is set before ``Celery()``, or the project's
    own ``task_cls=`` / ``app.Task = ...``. Replacing it (``task_cls=RoutedTask``) would drop what it
    adds; mixing in keeps it: ``RoutedX(RoutedTask, X)``. Called by the generated ``install(app)`` right
    after the app is created, before tasks are bound; tasks bound earlier keep their class (logged).
    Idempotent; returns the app.
    """
    import logging

    from celery.utils.imports import symbol_by_name

    created = app.__dict__.get("Task")  # app.Task is a cached property: already built?
    base = created if created is not None else symbol_by_name(app.task_cls)
    if isinstance(base, type) and issubclass(base, RoutedTask):
        return app
    routed = type(
        f"Routed{base.__name__}",
        (RoutedTask, base),
        {"__module__": base.__module__, "__qualname__": f"Routed{base.__qualname__}"},
    )
    bound = [n for n in getattr(app, "_tasks", {}) if not str(n).startswith("celery.")] + list(
        getattr(app, "_pending", ())
    )  # tasks bound already (finalized, or still pending)
    if created is not None and bound:
        logging.getLogger("saqmigrate.routing").warning(
            "saqmigrate: app %s built its Task class before install(app); tasks bound before it do not consult "
            "the router (call install(app) right after Celery(...))",
            getattr(app, "main", app),
        )
    if created is not None:  # app.Task was set or built already (Flask's celery.Task = ContextTask): route it
        app.__dict__["Task"] = routed
    else:
        app.task_cls = routed
    return app


def install_send_task_hook(app: Any, router: Router | None = None) -> Any:
    """Make ``app.send_task`` route by name. Idempotent; returns the app.

    Also connects the outcome recording (runtime/outcomes.py: runs, failures, retries, run time and
    queue wait per task on Celery, for ``saqmigrate route compare``; ``SAQMIGRATE_OUTCOMES=0`` off)."""
    install_result_lookup(app, router)
    from saqmigrate.runtime.outcomes import install_celery

    install_celery(app)
    if getattr(app.send_task, "_saqmigrate_hook", False):
        return app
    original = app.send_task

    def send_task(name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        r = router or get_router()
        if r is None or bypassing():
            return original(name, args, kwargs, **options)

        def celery_call(a: Any, k: Any, **opts: Any) -> Any:
            return original(name, a, k, **opts)

        return r.apply_async(name, args, kwargs, celery_call=celery_call, **options)

    send_task._saqmigrate_hook = True  # type: ignore[attr-defined]
    send_task.__wrapped__ = original  # type: ignore[attr-defined]
    app.send_task = send_task
    return app


_UNSET = object()


def install_result_lookup(app: Any, router: Router | None = None) -> Any:
    """Make ``app.AsyncResult(id)``, ``task.AsyncResult(id)`` and ``celery.result.AsyncResult(id)`` find
    jobs the router sent to SAQ.

    Celery's result class (``celery.result.AsyncResult``, which every app's ``AsyncResult`` and
    ``task.AsyncResult`` subclass, and which status endpoints often build directly) is patched once per
    process; a result asks the router installed for its app (``router``), else the process-wide one.
    Nothing is looked up when a result is created: the first call of ``state``/``status``, ``ready()``, ``successful()``, ``failed()``,
    ``result``/``info``, ``traceback``, ``date_done``, ``get()``/``wait()``, ``forget()`` or ``revoke()``
    asks the router whether SAQ keeps a job with that id (the router uses the task id as the SAQ job key;
    one Redis round trip, remembered by the instance; after a failed lookup none for
    ``Router.lookup_backoff`` seconds). Found: the call is answered by a
    :class:`~saqmigrate.runtime.router.SaqResult`; not found (or no router, or SAQ's Redis
    unreachable): by Celery, unchanged.

    ``app.control.revoke(ids, terminate=...)`` (and ``app.control.terminate``) revokes the ids SAQ keeps
    through :meth:`SaqResult.revoke` and broadcasts the others to Celery's workers as before.
    Called by ``install_send_task_hook``. Idempotent.
    """
    from celery.result import AsyncResult

    if not AsyncResult.__dict__.get("_saqmigrate_lookup", False):  # once per process: every app's results
        for name, value in _lookup_namespace(AsyncResult).items():
            setattr(AsyncResult, name, value)
    if router is not None:
        app._saqmigrate_router = router  # results of this app ask it; others the process-wide router
    _hook_control_revoke(app, router)
    return app


_RESULT_PROPERTIES = ("state", "status", "result", "info", "traceback", "date_done")
_RESULT_METHODS = ("ready", "successful", "failed", "get", "wait", "forget", "revoke")


def _hook_control_revoke(app: Any, router: Router | None) -> None:
    """Wrap ``app.control.revoke`` on this app's Control: ids SAQ keeps are revoked there."""
    import logging

    try:
        control = app.control
        original = control.revoke
    except Exception:  # noqa: BLE001 - an app without a control object: nothing to hook
        return
    if getattr(original, "_saqmigrate_hook", False):
        return
    log = logging.getLogger("saqmigrate.routing")

    def revoke(
        task_id: Any, destination: Any = None, terminate: bool = False, signal: Any = "SIGTERM", **kwargs: Any
    ) -> Any:
        r = router or get_router()
        ids = [task_id] if isinstance(task_id, str) else list(task_id or ())
        rest = ids
        if r is not None and ids:
            rest = []
            for tid in ids:
                try:
                    found = r.saq_result(str(tid))
                except Exception as exc:  # noqa: BLE001 - SAQ's Redis unreachable: Celery's broadcast only
                    log.warning("saqmigrate: cannot look up task id %s in SAQ (%s); revoking on Celery only", tid, exc)
                    found = None
                if found is None:
                    rest.append(tid)
                else:
                    found.revoke(terminate=terminate, signal=signal)
            if not rest:  # every id was a SAQ job: no Celery worker holds any of them
                return [] if kwargs.get("reply") else None
            if len(rest) < len(ids):
                task_id = rest[0] if isinstance(task_id, str) else rest
        return original(task_id, destination=destination, terminate=terminate, signal=signal, **kwargs)

    revoke._saqmigrate_hook = True  # type: ignore[attr-defined]
    revoke.__wrapped__ = original  # type: ignore[attr-defined]
    control.revoke = revoke


def _lookup_namespace(base: type) -> dict[str, Any]:
    """Attributes that answer from SAQ when it keeps the id, else from ``base``'s own (captured now)."""
    import logging

    log = logging.getLogger("saqmigrate.routing")

    def _saq(self: Any) -> Any:
        found = self.__dict__.get("_saqmigrate_saq", _UNSET)
        if found is not _UNSET:
            return found
        r = getattr(self.app, "_saqmigrate_router", None) or get_router()
        if r is None:
            return None  # not remembered: a router installed later still gets asked
        try:
            found = r.saq_result(self.id)
        except Exception as exc:  # noqa: BLE001 - SAQ's Redis unreachable: answer from Celery, ask again next time
            # the router logs once per outage (and skips lookups for a few seconds); per result: debug
            log.debug("saqmigrate: cannot look up task id %s in SAQ (%s); answering from Celery", self.id, exc)
            return None
        self.__dict__["_saqmigrate_saq"] = found
        return found

    def _prop(name: str) -> property:
        parent = getattr(base, name)

        def fget(self: Any) -> Any:
            s = _saq(self)
            return getattr(s, name) if s is not None else parent.__get__(self, type(self))

        return property(fget, doc=getattr(parent, "__doc__", None))

    def _method(name: str) -> Callable[..., Any]:
        parent = getattr(base, name)

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            s = _saq(self)
            if s is not None:
                return getattr(s, name)(*args, **kwargs)
            return parent(self, *args, **kwargs)

        method.__name__ = name
        method.__doc__ = parent.__doc__
        return method

    ns: dict[str, Any] = {"_saqmigrate_lookup": True, "saqmigrate_saq_result": property(_saq)}
    for name in _RESULT_PROPERTIES:
        ns[name] = _prop(name)
    for name in _RESULT_METHODS:
        ns[name] = _method(name)
    return ns


def route_send_task(name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
    """Explicit helper for name-based dispatch: ``route_send_task("proj.tasks.x", (1,))``."""
    r = get_router()
    if r is None:
        raise RuntimeError(
            "saqmigrate: no router installed; call saqmigrate.runtime.router.set_router(Router(...)) at startup"
        )
    return r.apply_async(name, args, kwargs, **options)
