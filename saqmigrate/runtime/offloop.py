"""What SAQ does with a task's outcome after the body, kept off the event loop.

When a task function returns, SAQ serialises the result on the loop (``job.finish(result=...)``); when it
raises, SAQ formats the traceback on the loop (``traceback.format_exc()``). Both run the application's
code for objects that are not plain data: a dict subclass's ``items()`` (the JSON encoder calls it), an
exception's ``__str__``, or the ``__str__`` of a model instance given as an exception's argument
(``raise ValueError(book)``: Django refuses the query on the loop, so the job's error read
``<exception str() failed>`` where Celery's says ``<Book: T1 by Ann>``). That holds every job of the worker
and happens even for a task bridged to a thread, outside the loop guard's view.

:func:`saqmigrate.runtime.task.saq_task` uses this module so the loop only sees plain values:

* a result that is not plain JSON data (:func:`plain`) is encoded and decoded with the queue's
  serializer in a bridge thread; SAQ then stores what it would have stored (the decoded value encodes
  to the same text). An encoding error is raised from there, as SAQ's would have been;
* an exception whose text runs code (:func:`needs_text`: a ``__str__`` written in Python, or arguments
  that are not plain) has its text computed in a bridge thread, for it and the exceptions chained to it;
  :func:`freeze` then makes ``str()`` return that text: the arguments become the text when the class uses
  ``BaseException.__str__``, otherwise the instance's class becomes a subclass with the same name, module
  and bases whose ``__str__`` returns it (``isinstance`` and retry rules are unchanged). A ``__str__`` that
  raises gives the text ``<exception str() failed>``, as the traceback module would print.

Imports nothing but the standard library and the runtime's serializer.
"""

from __future__ import annotations

from typing import Any

from saqmigrate.runtime import serializer

_PLAIN = (str, int, float, bool, type(None))
_BUDGET = 100_000  # values checked before a result counts as not plain (the check runs on the loop)


def plain(value: Any) -> bool:
    """True when ``value`` is built of exact ``dict`` (str keys), ``list``, ``tuple``, ``str``, numbers,
    ``bool`` and ``None``: the JSON encoder runs no code of the application on it."""
    stack = [value]
    seen = 0
    while stack:
        v = stack.pop()
        seen += 1
        if seen > _BUDGET:
            return False
        t = type(v)
        if t in _PLAIN:
            continue
        if t is dict:
            for k, x in v.items():
                if type(k) is not str:
                    return False
                stack.append(x)
        elif t is list or t is tuple:
            stack.extend(v)
        else:
            return False
    return True


def normalize(value: Any) -> Any:
    """The value SAQ will store, decoded: runs the application's code (``items()``, ``__json__``) here."""
    return serializer.load(serializer.dump(value))


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen and len(out) < 32:
        out.append(e)
        seen.add(id(e))
        e = e.__cause__ if e.__cause__ is not None else (None if e.__suppress_context__ else e.__context__)
    return out


def _python_str(t: type) -> bool:
    """``str()`` of an instance of ``t`` runs a ``__str__`` written in Python."""
    for klass in t.__mro__:
        if "__str__" in klass.__dict__:
            return hasattr(klass.__dict__["__str__"], "__code__")
    return False


def needs_text(exc: BaseException) -> list[BaseException]:
    """The exceptions of ``exc``'s chain whose ``str()`` may run the application's code."""
    return [e for e in _chain(exc) if _python_str(type(e)) or not all(type(a) in _PLAIN for a in e.args)]


def safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return "<exception str() failed>"


_FROZEN: dict[type, type] = {}


def _frozen_class(t: type) -> type:
    cls = _FROZEN.get(t)
    if cls is None:
        base_str: Any = t.__str__

        def __str__(self: BaseException) -> str:
            text = self.__dict__.get("_saqmigrate_text")
            return text if isinstance(text, str) else str(base_str(self))

        cls = type(t.__name__, (t,), {"__str__": __str__, "__module__": t.__module__, "__qualname__": t.__qualname__})
        _FROZEN[t] = cls
    return cls


def freeze(exc: BaseException, text: str) -> bool:
    """Make ``str(exc)`` return ``text`` without running the application's code; False when it cannot
    (a builtin exception class with its own ``__str__``, such as ``KeyError``, given a non-plain argument)."""
    t = type(exc)
    if t.__str__ is BaseException.__str__:
        exc.args = (text,)
        return True
    if not t.__flags__ & (1 << 9):  # Py_TPFLAGS_HEAPTYPE: a class written in Python (its instances can move)
        return False
    try:
        exc.__class__ = _frozen_class(t)
        exc.__dict__["_saqmigrate_text"] = text
    except (TypeError, AttributeError):
        return False
    return True
