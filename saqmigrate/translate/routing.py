"""The queue a Celery dispatch uses, decided the way Celery's router decides it (pure, no I/O).

From celery/app/routes.py (5.x) and Task.apply_async:

* ``Task.apply_async`` passes the task's own ``queue`` attribute in the options; the router merges a
  matching route *under* the options (``lpmerge(route, options)``), so the task's ``queue=`` (or its
  base class's) wins over ``task_routes``;
* ``task_routes`` is one router or a list of routers, tried in order, the first match wins; a dict (or
  a list of ``(pattern, route)`` pairs) is a ``MapRoute``: an exact task name first, then the keys
  containing ``*`` (``fnmatch.translate``, anchored) and compiled regexes, in declaration order; a
  route is a queue name or a dict with ``queue``; a string or callable is a router function, known
  only at run time;
* with no queue from either, ``task_default_queue`` (default ``"celery"``).

Anything this cannot decide exactly raises ``RouteUnknown`` with the reason: the caller reports it and
keeps the task on Celery instead of guessing.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

DEFAULT_QUEUE = "celery"


class RouteUnknown(Exception):
    pass


def _is_dynamic(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"dynamic"}


def _queue_of_route(route: Any, where: str) -> str | None:
    if isinstance(route, str):
        return route
    if isinstance(route, dict) and not _is_dynamic(route):
        q = route.get("queue")
        if isinstance(q, str):
            return q
        if q is None:
            raise RouteUnknown(f"{where} routes without a queue ({route!r}): the broker's bindings decide")
        raise RouteUnknown(f"{where} gives queue {_src(q)}, which is not a literal")
    raise RouteUnknown(f"{where} is {_src(route)}, not a queue name or a route dict")


def _src(value: Any) -> str:
    return value["dynamic"] if _is_dynamic(value) else repr(value)


def _map_route(name: str, pairs: list[tuple[Any, Any]], where: str) -> str | None:
    exact: dict[Any, Any] = {}
    patterns: list[tuple[Any, Any]] = []
    for key, route in pairs:
        if _is_dynamic(key) or not isinstance(key, str):
            # re.compile(...) keys are kept as source text by the scan
            src = key["dynamic"] if _is_dynamic(key) else repr(key)
            m = re.fullmatch(r"\s*(?:re\.)?compile\(\s*[rRbB]?(['\"])(.*)\1\s*\)\s*", src)
            if not m:
                raise RouteUnknown(f"{where} has a key computed at run time ({src})")
            patterns.append((re.compile(m.group(2)), route))
        elif "*" in key:
            patterns.append((re.compile(fnmatch.translate(key)), route))
        else:
            exact.setdefault(key, route)
    if name in exact:
        return _queue_of_route(exact[name], f"{where}[{name!r}]")
    for regex, route in patterns:
        if regex.match(name):
            return _queue_of_route(route, f"{where}[{regex.pattern!r}]")
    return None


def routed_queue(name: str, routes: Any) -> str | None:
    """The queue ``task_routes`` gives ``name``, None when no router matches."""
    if routes is None:
        return None
    if _is_dynamic(routes):
        raise RouteUnknown(f"task_routes is {routes['dynamic']}, known only at run time")
    routers = routes if isinstance(routes, list) else [routes]
    for i, router in enumerate(routers):
        where = "task_routes" if routers is not routes else f"task_routes[{i}]"
        if isinstance(router, dict) and not _is_dynamic(router):
            q = _map_route(name, list(router.items()), where)
        elif isinstance(router, list) and all(isinstance(p, list) and len(p) == 2 for p in router):
            q = _map_route(name, [(p[0], p[1]) for p in router], where)
        elif isinstance(router, str):
            raise RouteUnknown(f"{where} is the router function {router!r}, which decides at run time")
        else:
            raise RouteUnknown(f"{where} is {_src(router)}, a router known only at run time")
        if q is not None:
            return q
    return None


def task_queue(name: str | None, own_queue: Any, routes: Any, default_queue: Any) -> str:
    """The queue ``name``'s ``.delay()`` goes to (no per-call options), or RouteUnknown."""
    if own_queue is not None:
        if isinstance(own_queue, str):
            return own_queue
        raise RouteUnknown(f"queue={_src(own_queue)} is not resolvable statically")
    if routes is not None:
        if name is None:
            raise RouteUnknown("the task name is not known, so task_routes cannot be applied")
        q = routed_queue(name, routes)
        if q is not None:
            return q
    if default_queue is None:
        return DEFAULT_QUEUE
    if isinstance(default_queue, str):
        return default_queue
    raise RouteUnknown(f"task_default_queue is {_src(default_queue)}, not resolvable statically")
