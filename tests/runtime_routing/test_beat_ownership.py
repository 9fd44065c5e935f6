"""install_ownership(app): whichever scheduler beat resolves for the app gets OwnershipMixin in
front (real Celery beat Service objects; claims on the real Redis). The end-to-end runs with
real beat, Celery and SAQ processes are in test_beat_ownership_services.py."""

from __future__ import annotations

import datetime as _dt
import logging
import subprocess
import sys

import pytest
from celery import Celery
from celery.beat import PersistentScheduler, Scheduler, Service

from saqmigrate.runtime.beat import OwnershipMixin, RoutedScheduler, install_ownership, unsafe_reason, with_ownership
from saqmigrate.runtime.flags import FlagClient
from saqmigrate.runtime.ownership import Ownership, interval_due
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.worker import IntervalJob


def _app(name="beat-ownership") -> Celery:
    return Celery(name, broker="memory://", set_as_current=False)


def _scheduler(app, tmp_path, scheduler_cls=None):
    return Service(app, scheduler_cls=scheduler_cls, schedule_filename=str(tmp_path / "schedule")).get_scheduler(
        lazy=True
    )


class TickingScheduler(Scheduler):
    def tick(self, *args, **kwargs):  # a custom tick: may publish without apply_entry
        return super().tick(*args, **kwargs)


class NotAScheduler:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


def test_default_and_named_schedulers_get_the_mixin(tmp_path, monkeypatch):
    monkeypatch.delenv("SAQMIGRATE_ROUTING", raising=False)
    app = install_ownership(_app())
    s = _scheduler(app, tmp_path)  # beat_scheduler unset: Service's default PersistentScheduler
    assert isinstance(s, OwnershipMixin) and isinstance(s, PersistentScheduler)
    assert type(s).__module__ == "saqmigrate.runtime.beat" and type(s).__name__ == "RoutedPersistentScheduler"
    s = _scheduler(app, tmp_path, "celery.beat:PersistentScheduler")  # what `celery beat` passes (app.conf)
    assert type(s) is with_ownership(PersistentScheduler)
    s = _scheduler(app, tmp_path, "celery.beat:Scheduler")  # `-S celery.beat:Scheduler`
    assert isinstance(s, OwnershipMixin) and type(s).__name__ == "RoutedScheduler"
    assert type(_scheduler(app, tmp_path, "saqmigrate.runtime.beat:RoutedScheduler")) is RoutedScheduler  # unchanged


def test_only_installed_apps_and_off_switch(tmp_path, monkeypatch):
    monkeypatch.delenv("SAQMIGRATE_ROUTING", raising=False)
    install_ownership(_app("other"))
    plain = _app("plain")
    assert type(_scheduler(plain, tmp_path)) is PersistentScheduler  # never installed: untouched
    monkeypatch.setenv("SAQMIGRATE_ROUTING", "0")
    off = install_ownership(_app("off"))
    assert type(_scheduler(off, tmp_path)) is PersistentScheduler
    monkeypatch.delenv("SAQMIGRATE_ROUTING")
    on = install_ownership(_app("on"))
    monkeypatch.setenv("SAQMIGRATE_ROUTING", "0")  # switched off after start: beat builds the plain class
    assert type(_scheduler(on, tmp_path)) is PersistentScheduler


def test_custom_schedulers(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("SAQMIGRATE_ROUTING", raising=False)
    app = install_ownership(_app())
    assert unsafe_reason(PersistentScheduler) is None and unsafe_reason(RoutedScheduler) is None
    assert "overrides tick()" in unsafe_reason(TickingScheduler)
    with caplog.at_level(logging.WARNING, logger="saqmigrate.beat"):
        s = _scheduler(app, tmp_path, f"{__name__}:TickingScheduler")
    assert isinstance(s, OwnershipMixin) and isinstance(s, TickingScheduler)  # mixed in anyway, and said so
    assert "overrides tick()" in caplog.text and "SM638" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="saqmigrate.beat"):
        s = _scheduler(app, tmp_path, f"{__name__}:NotAScheduler")
    assert type(s) is NotAScheduler and "not a celery.beat.Scheduler subclass" in caplog.text
    assert with_ownership(TickingScheduler) is with_ownership(TickingScheduler)  # one class per scheduler


def test_database_scheduler_resolves_through_the_django_alias():
    """`-S django` is an entry-point alias; resolving it imports Django models, so in a child process."""
    code = """
import django
from django.conf import settings
settings.configure(INSTALLED_APPS=["django_celery_beat"], USE_TZ=True,
                   DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}})
django.setup()
from django_celery_beat.schedulers import DatabaseScheduler
from saqmigrate.runtime.beat import OwnershipMixin, resolve_scheduler, unsafe_reason, with_ownership
for name in ("django", "django_celery_beat.schedulers:DatabaseScheduler"):
    cls = resolve_scheduler(name)
    assert cls is DatabaseScheduler, cls
    owned = with_ownership(cls)
    assert owned.__mro__[1:3] == (OwnershipMixin, DatabaseScheduler) and unsafe_reason(cls) is None
print("ok")
"""
    pytest.importorskip("django_celery_beat")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("interval", [2, 420, 7.5])
def test_interval_due_is_the_interval_job_slot(interval):
    job = IntervalJob("e", lambda ctx: None, interval)
    for t in (1_700_000_000.0, 1_700_000_001.3, 1_700_000_419.99, 1_700_000_421.0):
        due = interval_due(interval, t)
        assert due <= t < job.next_slot(due)  # the latest slot at or before t
        assert job.next_slot(t) == job.next_slot(due)


def test_beat_claims_interval_entries_like_the_saq_side(rt):
    """An interval entry (IntervalJob, no cron): beat claims the slot SAQ runs, so a flip between
    the two checks cannot make both fire."""
    reg = Registry.from_dicts(
        {"p.t": {"saq_function": "p.t", "queue": "q"}},
        {"every-7m": {"task": "p.t", "cron": None, "cron_function": "beat:every-7m", "interval": 420.0, "queue": "q"}},
    )
    assert reg.schedules["every-7m"].interval == 420.0
    o = Ownership(reg, FlagClient(rt.url, namespace=rt.ns))
    rt.store.set_schedule_owner("every-7m", "saq", reason="test")
    now = _dt.datetime(2026, 1, 5, 10, 3, 20, tzinfo=_dt.timezone.utc)
    slot = interval_due(420, now)
    assert o.saq_should_fire("every-7m", slot) is True  # SAQ asks first and records saq
    rt.store.set_schedule_owner("every-7m", "celery", reason="flip lands between the two checks")
    assert o.beat_should_fire("every-7m", "p.t", now) is False  # beat obeys the record: once
    assert rt.redis.get(rt.store.keys.claim("every-7m", slot)) == "saq"
    later = now + _dt.timedelta(seconds=420)
    assert o.beat_should_fire("every-7m", "p.t", later) is True  # next slot: Celery owns it now
    assert o.saq_should_fire("every-7m", interval_due(420, later)) is False


def test_check_sees_either_form_of_the_routing_hook():
    from saqmigrate.check.beat_wiring import _imports_routing

    pkg = "shop.saq_worker"
    assert _imports_routing("from shop.saq_worker.routing import install as _saqmigrate_install\n", pkg)
    assert _imports_routing("from shop.saq_worker import routing as _saqmigrate_routing  # noqa: E402\n", pkg)
    assert not _imports_routing("from shop.saq_worker import registry\nrouting = 1\n", pkg)
