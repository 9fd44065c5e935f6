"""Celery-compatible JSON for SAQ queues.

``Queue.from_url(url, dump=dump, load=load)`` makes an SAQ queue carry the same typed
values as Celery's default ``json`` serializer (kombu ``kombu/utils/json.py``). SAQ's
default ``json.dumps`` raises ``TypeError`` on ``datetime``, ``Decimal`` and ``UUID``.

Wire format: the very markers kombu writes, so a payload means the same thing on both
backends and a value captured from one can be replayed on the other::

    datetime  {"__type__": "datetime", "__value__": dt.isoformat()}     (aware or naive)
    date      {"__type__": "date",     "__value__": d.isoformat()}
    time      {"__type__": "time",     "__value__": t.isoformat()}
    Decimal   {"__type__": "decimal",  "__value__": str(d)}
    UUID      {"__type__": "uuid",     "__value__": {"hex": u.hex}}
    bytes     {"__type__": "bytes",    "__value__": b.decode("utf-8")}  (valid UTF-8)
              {"__type__": "base64",   "__value__": base64(b)}          (otherwise)

Like kombu: ``datetime`` is checked before ``date`` (a datetime is a date); an object with
a ``__json__()`` method is encoded as what it returns; Django lazy strings become ``str``;
tuples become lists; sets and other objects raise ``TypeError``; a dict with exactly the
keys ``__type__``/``__value__`` and an unknown type raises ``ValueError`` on load. An aware
datetime comes back with a fixed-offset ``timezone`` (a ``ZoneInfo`` name is not carried
by ISO 8601): equal as an instant and as a wall time, as under kombu.

Plain JSON in gives plain JSON out (compact separators); a payload without the
``__type__`` marker is decoded by the C parser with no Python hook at all.
"""

from __future__ import annotations

import base64
import json
import sys
import uuid
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

__all__ = ["dump", "load", "dumps", "loads", "MARKER_TYPE", "MARKER_VALUE"]

MARKER_TYPE = "__type__"
MARKER_VALUE = "__value__"
_MARKER_TYPE_B = MARKER_TYPE.encode()

_promise_type: Any = None  # django.utils.functional.Promise once django is imported


def _textual(o: Any) -> bool:
    global _promise_type
    if _promise_type is None:
        mod = sys.modules.get("django.utils.functional")
        if mod is None:
            return False
        _promise_type = getattr(mod, "Promise", False)
    return bool(_promise_type) and isinstance(o, _promise_type)


def _as(marker: str, value: Any) -> dict:
    return {MARKER_TYPE: marker, MARKER_VALUE: value}


def _default(o: Any) -> Any:
    # Order and formats mirror kombu.utils.json.JSONEncoder.default.
    reducer = getattr(o, "__json__", None)
    if reducer is not None:
        return reducer()
    if isinstance(o, datetime):
        return _as("datetime", o.isoformat())
    if isinstance(o, date):
        return _as("date", o.isoformat())
    if isinstance(o, time):
        return _as("time", o.isoformat())
    if isinstance(o, Decimal):
        return _as("decimal", str(o))
    if isinstance(o, uuid.UUID):
        return _as("uuid", {"hex": o.hex})
    if isinstance(o, bytes):
        try:
            return _as("bytes", o.decode("utf-8"))
        except UnicodeDecodeError:
            return _as("base64", base64.b64encode(o).decode("ascii"))
    if _textual(o):
        return str(o)
    raise TypeError(
        f"Object of type {type(o).__name__} is not JSON serializable by "
        "saqmigrate.runtime.serializer (carried: datetime, date, time, Decimal, UUID, bytes, "
        "objects with __json__); convert it first (a task's arguments before the enqueue, its result "
        "before it returns)"
    )


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_default)
_encode = _ENCODER.encode


def _decode_date(v: str) -> date:
    return datetime.fromisoformat(v).date()


def _decode_uuid(v: Any) -> uuid.UUID:
    if isinstance(v, dict):
        return uuid.UUID(**v)
    return uuid.UUID(v)


_DECODERS = {
    "datetime": datetime.fromisoformat,
    "date": _decode_date,
    "time": time.fromisoformat,
    "decimal": Decimal,
    "uuid": _decode_uuid,
    "bytes": lambda v: v.encode("utf-8"),
    "base64": lambda v: base64.b64decode(v.encode("ascii")),
}


def _object_hook(o: dict) -> Any:
    if len(o) == 2 and MARKER_TYPE in o and MARKER_VALUE in o:
        decoder = _DECODERS.get(o[MARKER_TYPE])
        if decoder is None:
            raise ValueError(f"unsupported {MARKER_TYPE} {o[MARKER_TYPE]!r} in JSON payload")
        return decoder(o[MARKER_VALUE])
    return o


def dump(obj: Any) -> str:
    """Encode ``obj`` (an SAQ ``Job.to_dict()`` or any value) as Celery-compatible JSON."""
    return _encode(obj)


def load(s: str | bytes | bytearray | memoryview) -> Any:
    """Decode what :func:`dump` (or kombu's ``json`` serializer) produced."""
    if isinstance(s, memoryview):
        s = s.tobytes()
    elif isinstance(s, bytearray):
        s = bytes(s)
    if isinstance(s, bytes):
        if _MARKER_TYPE_B not in s:
            return json.loads(s)
    elif MARKER_TYPE not in s:
        return json.loads(s)
    return json.loads(s, object_hook=_object_hook)


# kombu-style aliases
dumps = dump
loads = load
