"""Celery beat schedulers that skip the entries SAQ owns.

``celery -A proj beat -S saqmigrate.runtime.beat:RoutedScheduler`` (or
``beat_scheduler = "saqmigrate.runtime.beat:RoutedScheduler"``). For another scheduler
(django-celery-beat's ``DatabaseScheduler`` ...) mix ``OwnershipMixin`` in first::

    class Scheduler(OwnershipMixin, DatabaseScheduler): pass

Beat keeps its own bookkeeping (the entry is reserved and re-heaped as usual), so a
skipped fire is not retried; only the publish is skipped. Ownership comes from
``saqmigrate.runtime.ownership`` (flag snapshot + a claim per nominal fire time).
"""

from __future__ import annotations

import logging

from celery.beat import PersistentScheduler, Scheduler

from saqmigrate.runtime.ownership import Ownership, get_ownership

log = logging.getLogger("saqmigrate.beat")


class OwnershipMixin:
    #: set per instance/class in tests or apps; None means ``get_ownership()``.
    saqmigrate_ownership: Ownership | None = None

    def apply_entry(self, entry, producer=None):
        o = self.saqmigrate_ownership or get_ownership()
        if o is None:
            return super().apply_entry(entry, producer=producer)
        try:
            fire = o.beat_should_fire(entry.name, entry.task, self.app.now())
        except Exception:  # ownership must never stop beat; beat is the default owner
            log.exception("saqmigrate: ownership check failed for %r; firing on Celery", entry.name)
            fire = True
        if not fire:
            log.info("saqmigrate: beat entry %r is owned by SAQ (or already fired); skipped", entry.name)
            return None
        return super().apply_entry(entry, producer=producer)


class RoutedScheduler(OwnershipMixin, PersistentScheduler):
    """``PersistentScheduler`` (celerybeat-schedule file) that skips SAQ-owned entries."""


class RoutedMemoryScheduler(OwnershipMixin, Scheduler):
    """In-memory ``Scheduler`` variant (no shelve file)."""
