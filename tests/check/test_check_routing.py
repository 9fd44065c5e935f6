"""Routing checks against the real flag store (Redis from the `redis_url` fixture, keys namespaced
with `unique_name`) and against a bootstrap snapshot file."""

from __future__ import annotations

import json
import time

import pytest

from saqmigrate.runtime.flags import FlagStore
from tests.check.helpers import check, edit, line_of, project

pytestmark = pytest.mark.slow


@pytest.fixture
def store(redis_url, unique_name):
    s = FlagStore(redis_url, namespace=unique_name)
    yield s
    s.delete_all()


def routing(root, store, *args):
    return check(root, "--only", "routing", "--redis-url", store.url, "--namespace", store.keys.namespace, *args)


def test_consistent_flags_pass(tmp_path, store):
    root = project(tmp_path)
    store.set_rule("shop.orders.tasks.send_receipt", "saq", reason="week 2: simple tasks")
    store.set_rule("shop.reports.*", "saq", 2500, reason="week 3 ramp")
    store.set_schedule_owner("nightly-report", "saq", reason="week 3")
    code, rep = routing(root, store)
    assert code == 0, rep["findings"]
    [r] = [c for c in rep["checks"] if c["name"] == "routing"]
    assert r["status"] == "pass" and "version 3" in r["summary"]


def test_rule_for_unknown_task_then_cleared(tmp_path, store):
    root = project(tmp_path)
    store.set_rule("shop.order.tasks.send_receipt", "saq", reason="typo")
    store.set_rule("billing.*", "saq", reason="no such tasks")
    code, rep = routing(root, store)
    assert code == 1
    assert sorted((f["rule"], f["subject"]) for f in rep["findings"]) == [
        ("SM630", "rule:billing.*"),
        ("SM630", "rule:shop.order.tasks.send_receipt"),
    ]
    assert all(f["file"] == "shop/saq_worker/registry.py" for f in rep["findings"])
    store.set_rule("shop.order.tasks.send_receipt", None, reason="fix typo")
    store.set_rule("billing.*", None, reason="remove")
    assert routing(root, store)[0] == 0


def test_task_routed_to_saq_but_not_registered(tmp_path, store):
    root = project(tmp_path)
    tasks = root / "shop/orders/tasks.py"
    tasks.write_text(tasks.read_text() + "\n\n@shared_task\ndef refund(order_id):\n    return order_id\n")
    store.set_rule("shop.orders.*", "saq", reason="week 4")
    code, rep = routing(root, store)
    assert code == 1
    [f] = rep["findings"]
    assert (f["rule"], f["file"], f["line"]) == ("SM631", "shop/orders/tasks.py", line_of(tasks, "def refund") - 1)
    assert "shop.orders.*" in f["message"]
    # registered in the registry but missing from the worker's FUNCTIONS is caught too
    q = root / "shop/saq_worker/queue_celery.py"
    edit(q, '    ("shop.orders.tasks.send_receipt", _t0.send_receipt),\n', "")
    code, rep = routing(root, store)
    assert {f["subject"] for f in rep["findings"]} == {
        "task:shop.orders.tasks.refund",
        "task:shop.orders.tasks.send_receipt",
    }
    store.set_rule("shop.orders.*", None, reason="back")
    assert routing(root, store)[0] == 0


def test_kill_switch_to_saq_counts_every_task(tmp_path, store):
    root = project(tmp_path)
    store.set_mode("force-saq", reason="drill")
    assert routing(root, store)[0] == 0  # every fixture task has a registered twin
    reg = root / "shop/saq_worker/registry.py"
    edit(reg, "'saq_function': 'shop.reports.tasks.cleanup'", "'saq_function': 'cleanup'")
    code, rep = routing(root, store)
    [f] = rep["findings"]
    assert f["rule"] == "SM631" and "not under its Celery name" in f["message"] and f["file"] == "shop/reports/tasks.py"


def test_schedule_owners(tmp_path, store):
    root = project(tmp_path)
    celery = root / "shop/celery.py"
    store.set_schedule_owner("sync-stock", "saq", reason="no CronJob: nobody fires it")
    store.set_schedule_owner("sync-stok", "saq", reason="typo")
    code, rep = routing(root, store)
    assert code == 1
    got = sorted((f["rule"], f["file"], f["line"]) for f in rep["findings"])
    assert got == [
        ("SM632", "shop/celery.py", line_of(celery, '"sync-stock"')),
        ("SM632", "shop/saq_worker/registry.py", 1),
    ]
    store.set_schedule_owner("sync-stock", None, reason="back to auto")
    store.set_schedule_owner("sync-stok", None, reason="remove")
    assert routing(root, store)[0] == 0
    # SAQ owns an entry; the routing hook wires ownership into whatever scheduler beat runs
    edit(
        celery,
        'app.conf.timezone = "UTC"\n',
        'app.conf.timezone = "UTC"\napp.conf.beat_scheduler = "django_celery_beat.schedulers:DatabaseScheduler"\n',
    )
    store.set_schedule_owner("nightly-report", "saq", reason="week 3")
    assert routing(root, store)[0] == 0
    # ... but without the hook, beat ignores ownership: both would fire it (SM638, at the setting)
    wired = celery.read_text()
    hook = "".join(line for line in wired.splitlines(keepends=True) if "_saqmigrate_" in line)  # the two hook lines
    assert hook.count("\n") == 2
    edit(celery, hook, "")
    code, rep = routing(root, store)
    [f] = rep["findings"]
    assert (f["rule"], f["file"], f["line"]) == ("SM638", "shop/celery.py", line_of(celery, "beat_scheduler"))
    assert "does not call the routing hook" in f["message"] and "rewrite --write" in f["message"]
    edit(celery, "django_celery_beat.schedulers:DatabaseScheduler", "saqmigrate.runtime.beat:RoutedScheduler")
    assert routing(root, store)[0] == 0
    celery.write_text(
        wired.replace("django_celery_beat.schedulers:DatabaseScheduler", "saqmigrate.runtime.beat:RoutedScheduler")
    )
    # a custom scheduler whose tick() may bypass apply_entry: say exactly what to add
    (root / "shop/beat.py").write_text(
        "from celery.beat import PersistentScheduler\n\n\n"
        "class Scheduler(PersistentScheduler):\n"
        "    def tick(self, *a, **kw):\n        return 5.0\n"
    )
    edit(celery, "saqmigrate.runtime.beat:RoutedScheduler", "shop.beat:Scheduler")
    code, rep = routing(root, store)
    [f] = rep["findings"]
    assert f["rule"] == "SM638" and "overrides tick()" in f["message"]
    assert "class Scheduler(OwnershipMixin, PersistentScheduler)" in f["message"]
    edit(
        root / "shop/beat.py",
        "from celery.beat import PersistentScheduler\n",
        "from celery.beat import PersistentScheduler\n\nfrom saqmigrate.runtime.beat import OwnershipMixin\n",
    )
    edit(
        root / "shop/beat.py",
        "class Scheduler(PersistentScheduler):",
        "class Scheduler(OwnershipMixin, PersistentScheduler):",
    )
    assert routing(root, store)[0] == 0
    edit(celery, "shop.beat:Scheduler", "django_celery_beat.schedulers:DatabaseScheduler")
    # an entry deleted from beat while its CronJob stays, owned by Celery: nobody fires it
    edit(
        celery,
        """    "cleanup-every-5m": {
        "task": "shop.reports.tasks.cleanup",
        "schedule": timedelta(minutes=5),
    },
""",
        "",
    )
    code, rep = routing(root, store)
    [f] = rep["findings"]
    reg = root / "shop/saq_worker/registry.py"
    assert (f["rule"], f["file"], f["line"]) == (
        "SM632",
        "shop/saq_worker/registry.py",
        line_of(reg, "'cleanup-every-5m': {"),
    )
    assert "nothing fires it" in f["message"]


def test_expired_rule(tmp_path, store):
    root = project(tmp_path)
    name = "shop.orders.tasks.send_receipt"

    def put(expires_at):
        rule = {"target": "saq", "percent_bp": 1000, "expires_at": expires_at}
        store._write(
            f"rule:{name}",
            None,
            rule,
            lambda p: p.hset(store.keys.rules, name, json.dumps(rule)),
            reason="10% ramp until Dec 1",
            expected_version=None,
        )

    put("2026-11-30T00:00:00+00:00")
    code, rep = routing(root, store)  # judged at 2026-12-01
    assert code == 1
    [f] = rep["findings"]
    assert (f["rule"], f["file"]) == ("SM634", "shop/orders/tasks.py") and "2026-11-30" in f["message"]
    put(time.time() + 86400 * 365)  # epoch seconds work too; judged at 2026-12-01 it is in the future
    assert routing(root, store)[0] == 0
    # the operator's way: `saqmigrate route set ... --expires DATE`
    store.set_rule(name, "saq", 1000, reason="10% ramp until Nov 30", expires_at="2026-11-30")
    code, rep = routing(root, store)
    assert code == 1 and [f["rule"] for f in rep["findings"]] == ["SM634"]


def test_writes_outside_the_cli_break_the_audit(tmp_path, store):
    root = project(tmp_path)
    store.set_rule("shop.orders.tasks.send_receipt", "saq", reason="week 2")
    assert routing(root, store)[0] == 0
    # a raw write that bumps the version without an audit entry
    store.client.hset(
        store.keys.rules, "shop.reports.tasks.cleanup", json.dumps({"target": "saq", "percent_bp": 10000})
    )
    store.client.incr(store.keys.version)
    code, rep = routing(root, store)
    assert code == 1
    [f] = rep["findings"]
    assert f["rule"] == "SM635" and "version(s) 2" in f["message"] and f["file"] == "pyproject.toml"
    # re-applying through the CLI path does not erase the gap: history stays honest
    store.set_rule("shop.reports.tasks.cleanup", "saq", reason="re-applied with a reason")
    assert routing(root, store)[0] == 1


def test_flag_store_from_environment_variable(tmp_path, store, monkeypatch):
    root = project(tmp_path)
    edit(root / "pyproject.toml", "[tool.saqmigrate]\n", '[tool.saqmigrate]\nflag_store_env = "SHOP_FLAGS_URL"\n')
    store.set_rule("nope.task", "celery", reason="x")
    monkeypatch.setenv("SHOP_FLAGS_URL", store.url)
    code, rep = check(root, "--only", "routing", "--namespace", store.keys.namespace)
    assert code == 1 and [f["rule"] for f in rep["findings"]] == ["SM630"]
    monkeypatch.delenv("SHOP_FLAGS_URL")
    code, rep = check(root, "--only", "routing")
    assert code == 0 and rep["checks"][3]["status"] == "skipped"


def test_unreachable_flag_store_is_a_usage_error(tmp_path):
    root = project(tmp_path)
    code, rep = check(root, "--only", "routing", "--redis-url", "redis://127.0.0.1:1/0")
    assert code == 2 and "does not answer" in rep["stderr"]


def test_bootstrap_snapshot(tmp_path):
    root = project(tmp_path)
    boot = tmp_path / "flags.json"
    boot.write_text(
        json.dumps(
            {
                "version": 4,
                "mode": "normal",
                "rules": {
                    "shop.orders.tasks.send_receipt": {"target": "saq", "percent_bp": 10000},
                    "shop.gone.task": {"target": "saq", "percent_bp": 10000},
                },
                "schedules": {},
            }
        )
    )
    code, rep = check(root, "--only", "routing", "--bootstrap", boot)
    assert code == 1 and [f["subject"] for f in rep["findings"]] == ["rule:shop.gone.task"]
    boot.write_text("{")
    assert check(root, "--only", "routing", "--bootstrap", boot)[0] == 2
