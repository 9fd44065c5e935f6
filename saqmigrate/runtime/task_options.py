"""``TaskOptions``: the per-task record that generated SAQ tasks pass to the runtime.

Pure data, no I/O and no third-party imports. ``saqmigrate.translate.options`` builds it
from a Celery task's decorator options; generated code spells it out literally, e.g.::

    TaskOptions(retries=6, retry_delay=1, retry_backoff=600, max_retries=5,
                autoretry_for=("IOError",))

Two groups of fields:

* the SAQ ``Job`` fields (``retries``, ``retry_delay``, ``retry_backoff``, ``timeout``,
  ``heartbeat``, ``ttl``): what SAQ itself is told (``job_kwargs()`` / ``cron_kwargs()``),
  already translated (``retries`` counts *attempts*, ``retry_backoff`` is the cap in
  seconds, never ``True``);
* the Celery retry semantics that the runtime wrapper enforces on top
  (``max_retries``, ``default_retry_delay``, ``autoretry_for``, ``dont_autoretry_for``,
  ``retry_kwargs``, ``retry_jitter``, ``expires``, ``rate_limit``).

Defaults are Celery's defaults already translated, so a plain ``@shared_task`` becomes
``TaskOptions()``: one attempt, 180 s retry delay, no time limit (``timeout=0`` kept alive
by a 60 s heartbeat) and results kept for Celery's ``result_expires`` of one day.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: Heartbeat (seconds) used when a task has no time limit: SAQ sweeps a job whose worker
#: stopped touching it for this long. The runtime touches it every ``heartbeat / 3`` s.
DEFAULT_HEARTBEAT = 60
#: Celery's ``result_expires`` default (1 day), used as SAQ ``ttl``.
DEFAULT_TTL = 86400
#: Celery ``Task.default_retry_delay``.
CELERY_DEFAULT_RETRY_DELAY = 180
#: Celery ``Task.max_retries``.
CELERY_DEFAULT_MAX_RETRIES = 3
#: SAQ has no "retry forever": ``max_retries=None`` becomes this many attempts (SM150).
UNBOUNDED_ATTEMPTS = 1_000_000

JOB_FIELDS = ("retries", "retry_delay", "retry_backoff", "timeout", "heartbeat", "ttl")
CRON_FIELDS = ("timeout", "heartbeat", "retries", "ttl")


@dataclass(frozen=True)
class TaskOptions:
    # saq.Job fields
    retries: int = 1
    retry_delay: float = CELERY_DEFAULT_RETRY_DELAY
    retry_backoff: float | bool = False
    timeout: int = 0
    heartbeat: int = DEFAULT_HEARTBEAT
    ttl: int = DEFAULT_TTL
    # Celery semantics enforced by saqmigrate.runtime.task
    max_retries: int | None = CELERY_DEFAULT_MAX_RETRIES
    default_retry_delay: float = CELERY_DEFAULT_RETRY_DELAY
    autoretry_for: tuple = ()  # exception classes, or names resolved against ``module``
    dont_autoretry_for: tuple = ()
    retry_kwargs: dict = field(default_factory=dict, hash=False)  # {"countdown": c, "max_retries": m}
    retry_jitter: bool = True
    expires: float | None = None  # seconds after enqueue; the job fails (expired) after that
    module: str | None = None  # the Celery task's module: resolves names in autoretry_for
    #: Celery ``rate_limit`` ("10/s", "100/m", "1000/h", a number per second): a token bucket
    #: per worker process and task name (saqmigrate.runtime.ratelimit); a job over the rate waits.
    rate_limit: str | float | None = None

    def __post_init__(self) -> None:
        if self.retry_backoff is True:
            raise ValueError(
                "TaskOptions(retry_backoff=True) has no cap in SAQ; pass the cap in seconds "
                "(Celery's retry_backoff_max, default 600)"
            )
        if not isinstance(self.retries, int) or self.retries < 1:
            raise ValueError(f"TaskOptions(retries={self.retries!r}): SAQ counts attempts, use an int >= 1")
        for name in ("timeout", "heartbeat", "ttl"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"TaskOptions({name}={value!r}): SAQ needs whole seconds (an int)")
        object.__setattr__(self, "autoretry_for", _as_tuple(self.autoretry_for, "autoretry_for"))
        object.__setattr__(self, "dont_autoretry_for", _as_tuple(self.dont_autoretry_for, "dont_autoretry_for"))
        if self.rate_limit is not None:
            from saqmigrate.runtime.ratelimit import parse_rate

            parse_rate(self.rate_limit)  # ValueError at import for a value Celery would not accept
        unknown = set(self.retry_kwargs) - {"countdown", "max_retries", "eta"}
        if unknown:
            raise ValueError(f"TaskOptions(retry_kwargs=...): unsupported keys {sorted(unknown)}")

    # derived
    @property
    def backoff(self) -> bool:
        """Celery ``retry_backoff`` is on (``retry_delay`` is the factor, ``retry_backoff`` the cap)."""
        return self.retry_backoff is not False

    @property
    def retries_at_all(self) -> bool:
        return self.retries > 1

    def autoretry_countdown(self, retries: int, rand: Any = None) -> float:
        """Celery's autoretry countdown for the retry after ``retries`` earlier retries.

        Mirrors celery/app/autoretry.py: exponential backoff (integer arithmetic, optional
        full jitter drawn as an int in ``[0, d]``) when backoff is on, else
        ``retry_kwargs['countdown']``, else ``default_retry_delay``.
        """
        if self.backoff:
            d = min(int(self.retry_backoff), int(self.retry_delay) * 2**retries)
            if self.retry_jitter:
                import random

                d = (rand or random).randrange(d + 1)
            return max(0, d)
        if "countdown" in self.retry_kwargs:
            return self.retry_kwargs["countdown"]
        return self.default_retry_delay

    def job_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``saq.Job(...)`` / ``queue.enqueue(...)``."""
        return {name: getattr(self, name) for name in JOB_FIELDS}

    def cron_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``saq.CronJob(...)`` (it has no retry_delay/backoff: the
        runtime wrapper sets those on the live job when it retries)."""
        return {name: getattr(self, name) for name in CRON_FIELDS}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["autoretry_for"] = [_exc_name(e) for e in self.autoretry_for]
        data["dont_autoretry_for"] = [_exc_name(e) for e in self.dont_autoretry_for]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskOptions:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"TaskOptions: unknown keys {sorted(unknown)}")
        return cls(**data)

    def to_source(self, *, name: str = "TaskOptions") -> str:
        """A Python expression for generated code: only fields that differ from the defaults."""
        parts = []
        default = TaskOptions()
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name) and type(value) is type(getattr(default, f.name)):
                continue
            if f.name in ("autoretry_for", "dont_autoretry_for"):
                value = tuple(_exc_name(e) for e in value)
            parts.append(f"{f.name}={_literal(value)}")
        return f"{name}({', '.join(parts)})"


def _literal(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, float) and value.is_integer() and not math.isinf(value):
        return repr(int(value)) if abs(value) < 2**53 else repr(value)
    return repr(value)


def _as_tuple(value: Any, what: str) -> tuple:
    if isinstance(value, (str, type)):
        value = (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"TaskOptions({what}=...): give a tuple of exception classes or dotted names") from None
    for item in items:
        if not (isinstance(item, str) or (isinstance(item, type) and issubclass(item, BaseException))):
            raise ValueError(f"TaskOptions({what}=...): {item!r} is neither an exception class nor a name")
    return items


def _exc_name(exc: Any) -> str:
    if isinstance(exc, str):
        return exc
    if exc.__module__ == "builtins":
        return exc.__qualname__
    return f"{exc.__module__}.{exc.__qualname__}"
