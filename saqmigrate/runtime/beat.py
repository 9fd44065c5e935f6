"""Celery beat schedulers that skip the entries SAQ owns.

**Wired automatically.** The ``install(app)`` that ``saqmigrate rewrite`` generates calls
``install_ownership(app)``: whatever scheduler class ``celery beat`` (or ``celery worker -B``)
resolves for that app — Celery's default ``PersistentScheduler``, ``beat_scheduler`` /
``CELERY_BEAT_SCHEDULER`` from the settings, or ``-S`` on the command line (``-S django`` =
django-celery-beat's ``DatabaseScheduler``) — is built with ``OwnershipMixin`` in front. The hook
point is ``celery.beat.Service.get_scheduler``, the one place every beat flavour (standalone,
embedded thread, embedded process) turns the configured name into a scheduler instance.

By hand: ``celery -A proj beat -S saqmigrate.runtime.beat:RoutedScheduler`` (or
``beat_scheduler = "saqmigrate.runtime.beat:RoutedScheduler"``), or mix ``OwnershipMixin`` in
first::

    class Scheduler(OwnershipMixin, DatabaseScheduler): pass

Beat keeps its own bookkeeping (the entry is reserved and re-heaped as usual), so a
skipped fire is not retried; only the publish is skipped. Ownership comes from
``saqmigrate.runtime.ownership`` (flag snapshot + a claim per nominal fire time).
"""

from __future__ import annotations

import functools
import logging
import os
import threading

from typing import Any

from celery.beat import PersistentScheduler, Scheduler, Service

from saqmigrate.runtime.ownership import Ownership, get_ownership

log = logging.getLogger("saqmigrate.beat")

#: modules whose ``tick()`` is known to publish every due entry through ``apply_entry``
#: (where ownership is checked): Celery's own schedulers and django-celery-beat's.
TRUSTED_TICK_MODULES = ("celery.", "django_celery_beat.")
APP_FLAG = "_saqmigrate_beat_ownership"


class OwnershipMixin:
    #: set per instance/class in tests or apps; None means ``get_ownership()``.
    saqmigrate_ownership: Ownership | None = None

    def _saqmigrate_get_ownership(self) -> Ownership | None:
        if self.saqmigrate_ownership is not None:
            return self.saqmigrate_ownership
        try:
            tz = self.app.timezone  # crons are evaluated in the app's zone, as the SAQ worker's cron_tz
        except Exception:
            tz = None
        return get_ownership(cron_tz=tz)

    app: Any  # the Celery app (celery.beat.Scheduler sets it)

    def apply_entry(self, entry: Any, producer: Any = None) -> Any:
        o = self._saqmigrate_get_ownership()
        if o is None:
            return super().apply_entry(entry, producer=producer)  # type: ignore[misc]  # the scheduler after the mixin
        try:
            fire = o.beat_should_fire(entry.name, entry.task, self.app.now())
        except Exception:  # ownership must never stop beat; beat is the default owner
            log.exception("saqmigrate: ownership check failed for %r; firing on Celery", entry.name)
            fire = True
        if not fire:
            log.info("saqmigrate: beat entry %r is owned by SAQ (or already fired); skipped", entry.name)
            return None
        return super().apply_entry(entry, producer=producer)  # type: ignore[misc]


class RoutedScheduler(OwnershipMixin, PersistentScheduler):
    """``PersistentScheduler`` (celerybeat-schedule file) that skips SAQ-owned entries."""


class RoutedMemoryScheduler(OwnershipMixin, Scheduler):
    """In-memory ``Scheduler`` variant (no shelve file)."""


# automatic wiring


def _name(cls: Any) -> str:
    return f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', repr(cls))}"


def unsafe_reason(cls: Any) -> str | None:
    """Why ``OwnershipMixin`` in front of ``cls`` might not gate every fire (None: it does).

    The mixin checks ownership in ``apply_entry``; Celery's ``Scheduler.tick`` (and
    django-celery-beat's, which inherits it) publish every due entry through it. A class that
    is not a ``celery.beat.Scheduler``, or that overrides ``tick()`` outside those packages,
    may publish some other way.
    """
    if not (isinstance(cls, type) and issubclass(cls, Scheduler)):
        return f"{_name(cls)} is not a celery.beat.Scheduler subclass"
    for klass in cls.__mro__:
        if klass is Scheduler:
            break
        if "tick" in vars(klass) and not (klass.__module__ or "").startswith(TRUSTED_TICK_MODULES):
            return (
                f"{_name(klass)} overrides tick(), so saqmigrate cannot tell that every due entry goes "
                "through apply_entry(), where ownership is checked"
            )
    return None


_OWNED: dict[type, type] = {}
_OWNED_LOCK = threading.Lock()


def with_ownership(cls: type) -> type:
    """``cls`` with ``OwnershipMixin`` in front (``cls`` itself if it already has it).

    A class that is not a ``celery.beat.Scheduler`` is returned unchanged (nothing to mix
    into). The subclass is made once per class and named ``Routed<Name>`` in this module, so
    beat's banner shows ``scheduler -> saqmigrate.runtime.beat.RoutedDatabaseScheduler``.
    """
    if not isinstance(cls, type) or issubclass(cls, OwnershipMixin) or not issubclass(cls, Scheduler):
        return cls
    with _OWNED_LOCK:
        owned = _OWNED.get(cls)
        if owned is None:
            name = cls.__name__ if cls.__name__.startswith("Routed") else f"Routed{cls.__name__}"
            owned = type(
                name,
                (OwnershipMixin, cls),
                {
                    "__module__": __name__,
                    "__qualname__": name,
                    "__doc__": f"{_name(cls)} that skips the beat entries SAQ owns (saqmigrate).",
                    "saqmigrate_base": cls,
                },
            )
            _OWNED[cls] = owned
        return owned


def _routing_off() -> bool:
    return os.environ.get("SAQMIGRATE_ROUTING", "1") == "0"


def _patch_service() -> None:
    """Wrap ``celery.beat.Service.get_scheduler`` once per process (idempotent)."""
    current = Service.get_scheduler
    if getattr(current, "_saqmigrate", False):
        return
    original = current

    @functools.wraps(original)
    def get_scheduler(self: Any, lazy: bool = False, extension_namespace: str = "celery.beat_schedulers") -> Any:
        if not getattr(self.app, APP_FLAG, False) or _routing_off():
            return original(self, lazy=lazy, extension_namespace=extension_namespace)
        resolved = resolve_scheduler(self.scheduler_cls, extension_namespace)
        owned = with_ownership(resolved) if resolved is not None else None
        if owned is None or owned is resolved:
            if resolved is not None and not issubclass(resolved, OwnershipMixin):
                log.warning(
                    "saqmigrate: beat scheduler %s cannot consult schedule ownership (%s): entries "
                    "owned by SAQ will fire on both sides; use a celery.beat.Scheduler subclass with "
                    "saqmigrate.runtime.beat.OwnershipMixin first in its bases",
                    _name(resolved),
                    unsafe_reason(resolved),
                )
            return original(self, lazy=lazy, extension_namespace=extension_namespace)
        why = unsafe_reason(resolved)
        if why:
            log.warning(
                "saqmigrate: beat scheduler %s: OwnershipMixin mixed in, but %s; make sure it does, "
                "or entries owned by SAQ may also fire on Celery (saqmigrate check reports SM638)",
                _name(resolved),
                why,
            )
        else:
            log.info("saqmigrate: beat scheduler %s consults schedule ownership (%s)", _name(resolved), _name(owned))
        configured = self.scheduler_cls
        self.scheduler_cls = owned  # symbol_by_name returns a class unchanged
        try:
            return original(self, lazy=lazy, extension_namespace=extension_namespace)
        finally:
            self.scheduler_cls = configured

    get_scheduler._saqmigrate = True  # type: ignore[attr-defined]
    Service.get_scheduler = get_scheduler


def resolve_scheduler(name: Any, extension_namespace: str = "celery.beat_schedulers") -> Any:
    """The class ``celery beat`` builds for ``name`` (``-S``/``beat_scheduler``), as Celery resolves it:
    ``symbol_by_name`` with the ``celery.beat_schedulers`` entry-point aliases (``django``).
    None when it cannot be imported (Celery then raises its own error)."""
    from celery.utils.imports import load_extension_class_names, symbol_by_name

    try:
        aliases = dict(load_extension_class_names(extension_namespace))
        return symbol_by_name(name, aliases=aliases)
    except Exception:
        return None


def install_ownership(app: Any) -> Any:
    """Make every beat of ``app`` consult schedule ownership, whatever scheduler it runs.

    Called by the generated ``install(app)``. Idempotent, cheap (no import of the scheduler,
    no I/O) and a no-op when ``SAQMIGRATE_ROUTING=0``. Only apps passed here are affected.
    """
    if _routing_off():
        return app
    setattr(app, APP_FLAG, True)
    _patch_service()
    return app
