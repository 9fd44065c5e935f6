"""Issue 12 item 3: the flag store tolerates bad data key by key (real Redis, raw corrupting writes).

A value that cannot be read affects only its own key: the kill switch is always writable and
always obeyed, running routers keep applying the other keys (the bad one routes to Celery with
a warning), read commands show it as bad in one line, and backups (`route export` / `import`)
and the bootstrap file restore routing without the store.
"""

from __future__ import annotations

import json
import logging

import pytest
from click.testing import CliRunner

from saqmigrate.cli.commands.route import command as route
from saqmigrate.runtime import flags as F
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import Router

from .conftest import wait_for

pytestmark = pytest.mark.slow

DEEP = "[" * 100_000 + "]" * 100_000  # json.loads -> RecursionError


def run(rt, *args, input=None):
    return CliRunner().invoke(route, ["--redis-url", rt.url, "--namespace", rt.ns, *args], input=input)


def one_line_error(r) -> str:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit), r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    return lines[0]


def corrupt(rt):
    """Good rules for good.*, and every kind of bad value next to them."""
    rt.store.set_rule("good.saq", "saq", reason="week 2")
    rt.store.set_rule("good.celery", "celery", reason="stay")
    k = rt.store.keys
    rt.redis.hset(k.rules, "bad.deep", DEEP)
    rt.redis.hset(k.rules, "bad.percent", json.dumps({"target": "saq", "percent_bp": "half"}))
    rt.redis.hset(k.rules, "bad.json", "{not json")
    rt.redis.hset(k.rules, "bad.*", json.dumps({"target": "saq", "percent_bp": 99999}))
    rt.redis.hset(k.sched, "nightly", json.dumps({"owner": "nobody"}))
    rt.redis.set(k.version, "not-a-number")


def test_a_bad_value_affects_only_its_own_key(rt):
    corrupt(rt)
    snap = rt.store.snapshot()
    assert snap.version == F.BAD_VERSION and snap.mode == "normal"
    assert set(snap.bad) == {
        "rule:bad.deep",
        "rule:bad.percent",
        "rule:bad.json",
        "rule:bad.*",
        "schedule:nightly",
        "version",
    }
    assert "nested too deeply" in snap.bad["rule:bad.deep"]
    assert F.evaluate(snap, "good.saq", 1) == (F.SAQ, F.R_OVERRIDE)
    assert F.evaluate(snap, "good.celery", 1) == (F.CELERY, F.R_OVERRIDE)
    for task in ("bad.deep", "bad.percent", "bad.json", "bad.other"):  # bad.other: the bad glob
        assert F.evaluate(snap, task, 1) == (F.CELERY, F.R_BAD), task
    assert F.schedule_owner(snap, "nightly", "good.saq") == (F.CELERY, F.R_BAD)


def test_a_running_router_keeps_applying_the_other_keys(rt, caplog):
    registry = Registry.from_dicts(
        {n: {"saq_function": n, "queue": rt.ns, "params": ["x"]} for n in ("good.saq", "good.celery", "bad.deep")}
    )
    rt.store.set_rule("good.saq", "celery", reason="start on celery")
    flags = F.FlagClient(rt.url, namespace=rt.ns, poll_interval=0.2)
    router = Router(registry, flags, saq_url=rt.url)
    try:
        assert router.decide("good.saq", (1,)).backend == F.CELERY
        caplog.set_level(logging.WARNING, logger="saqmigrate.flags")
        corrupt(rt)  # good.saq -> saq, bad.deep garbage, version garbage: all at once
        assert wait_for(lambda: "version" in flags.snapshot().bad, timeout=3)  # the last raw write
        assert router.decide("good.saq", (1,)).backend == F.SAQ
        d = router.decide("bad.deep", (1,))
        assert (d.backend, d.reason) == (F.CELERY, F.R_BAD)
        # the poller thread publishes the snapshot, then logs what it cannot read: wait for the line too
        assert wait_for(lambda: any("rule:bad.deep" in r.getMessage() for r in caplog.records), timeout=3)
        # and it keeps following later writes, the kill switch first
        run_kill = run(rt, "kill", "--reason", "incident")
        assert run_kill.exit_code == 0, run_kill.output
        assert wait_for(lambda: router.decide("good.saq", (1,)).reason == F.R_KILL, timeout=3)
    finally:
        flags.close()


def test_route_kill_writes_whatever_else_is_in_the_store(rt):
    corrupt(rt)
    k = rt.store.keys
    rt.redis.delete(k.global_, k.audit)
    rt.redis.rpush(k.global_, "not", "a", "hash")  # wrong Redis types
    rt.redis.set(k.audit, "not a stream")
    r = run(rt, "kill", "--reason", "incident 7")
    assert r.exit_code == 0, r.output
    snap = rt.store.snapshot()
    assert snap.mode == "force-celery" and "mode" not in snap.bad and "version" not in snap.bad
    assert snap.version >= 1
    assert F.evaluate(snap, "good.saq", 1) == (F.CELERY, F.R_KILL)
    hist = rt.store.history()
    assert hist[0]["target"] == "mode" and hist[0]["new"] == "force-celery"
    assert set(hist[0]["repaired"]["set_aside"]) == {k.global_, k.audit}
    # the garbage is kept aside for inspection, not deleted
    assert [key for key in rt.redis.scan_iter(f"{k.audit}:corrupt:*")]
    # unkill works too, and a second kill is a no-op
    assert run(rt, "unkill", "--reason", "over").exit_code == 0
    assert rt.store.snapshot().mode == "normal"


def test_a_bad_mode_is_celery_and_kill_still_writes(rt):
    rt.store.set_rule("good.saq", "saq", reason="week 2")
    rt.redis.hset(rt.store.keys.global_, "mode", "force-sqa")
    snap = rt.store.snapshot()
    assert snap.mode == "force-celery" and "mode" in snap.bad
    assert F.evaluate(snap, "good.saq", 1) == (F.CELERY, F.R_BAD)
    r = run(rt, "kill", "--reason", "make it explicit")
    assert r.exit_code == 0 and "nothing written" not in r.output, r.output
    assert rt.store.snapshot().bad == {}


@pytest.mark.parametrize("cmd", [["show"], ["status"], ["--format", "json", "show"], ["history"]])
def test_read_commands_show_a_bad_key_as_bad_in_one_line(rt, cmd):
    corrupt(rt)
    r = run(rt, *cmd)
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    if cmd[0] == "--format":
        data = json.loads(r.output)
        assert data["version"] == F.BAD_VERSION and "rule:bad.deep" in data["bad"]
        assert data["rules"]["bad.percent"]["target"] == "celery"
    elif cmd[0] != "history":
        lines = [ln for ln in r.output.splitlines() if ln.startswith("BAD rule:bad.deep")]
        assert len(lines) == 1 and "treated as Celery" in lines[0], r.output
        assert "flag version BAD" in r.output


def test_set_and_clear_rewrite_a_bad_key(rt):
    corrupt(rt)
    assert run(rt, "set", "bad.deep", "celery", "--reason", "fix it").exit_code == 0
    assert run(rt, "clear", "bad.json", "--reason", "fix it").exit_code == 0
    snap = rt.store.snapshot()
    assert "rule:bad.deep" not in snap.bad and "rule:bad.json" not in snap.bad
    old = rt.store.history()[1]["old"]  # the set: old was unreadable, recorded as such
    assert old["unreadable"] == "JSON nested too deeply"


def test_export_import_round_trip_is_audited(rt, tmp_path):
    rt.store.set_rule("a.x", "saq", 2500, reason="ramp")
    rt.store.set_rule("a.*", "celery", reason="rest")
    rt.store.set_schedule_owner("nightly", "celery", reason="pin")
    rt.store.set_mode("force-celery", reason="incident")
    rt.redis.hset(rt.store.keys.rules, "bad.deep", DEEP)
    backup = tmp_path / "flags.json"
    r = run(rt, "export", "-o", str(backup))
    assert r.exit_code == 0 and "1 unreadable value(s)" in r.output, r.output
    assert (backup.stat().st_mode & 0o777) == 0o600
    data = json.loads(backup.read_text())
    assert data["format"] == F.EXPORT_FORMAT and data["mode"] == "force-celery"
    assert set(data["rules"]) == {"a.x", "a.*"} and "rule:bad.deep" in data["unreadable"]
    rt.store.delete_all()  # the store lost its data
    r = run(rt, "import", str(backup), "--reason", "restore after data loss")
    assert r.exit_code == 2 and "no --registry given" in r.output  # a.x goes to SAQ: workers are checked
    r = run(rt, "import", str(backup), "--reason", "restore after data loss", "--force")
    assert r.exit_code == 0, r.output
    snap = rt.store.snapshot()
    assert snap.mode == "force-celery" and snap.rules["a.x"]["percent_bp"] == 2500
    assert snap.schedules["nightly"]["owner"] == "celery" and snap.bad == {}
    h = rt.store.history()[0]
    assert h["target"] == "import" and h["reason"] == "restore after data loss" and h["new"]["rules"] == 2
    # an export is a bootstrap file too
    boot = F.Snapshot.from_json(data, source="bootstrap")
    assert F.evaluate(boot, "a.x", 1)[1] == F.R_KILL


def test_import_refuses_a_bad_file_and_writes_nothing(rt, tmp_path):
    rt.store.set_rule("a.x", "celery", reason="start")
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {"format": F.EXPORT_FORMAT, "mode": "normal", "rules": {"a.x": {"target": "saq", "percent_bp": 123456}}}
        )
    )
    line = one_line_error(run(rt, "import", str(bad), "--reason", "x", "--force"))
    assert "a.x" in line and "nothing was imported" in line
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP)
    assert "nested too deeply" in one_line_error(run(rt, "import", str(deep), "--reason", "x"))
    assert rt.store.snapshot().version == 1


def test_bootstrap_file_serves_the_last_flags_when_the_store_is_down(rt, tmp_path, monkeypatch):
    boot = tmp_path / "boot.json"
    monkeypatch.setenv("SAQMIGRATE_BOOTSTRAP", str(boot))
    rt.store.set_rule("a.x", "saq", reason="week 2")
    rt.redis.hset(rt.store.keys.rules, "bad.deep", DEEP)
    live = F.FlagClient.with_bootstrap(rt.url, namespace=rt.ns, poll_interval=0.2)
    try:
        assert live.snapshot().source == "redis"
        assert wait_for(boot.exists, timeout=3)
    finally:
        live.close()
    down = F.FlagClient.with_bootstrap("redis://127.0.0.1:1/0", namespace=rt.ns, socket_timeout=0.1)
    try:
        snap = down.snapshot()
        assert snap.source == "bootstrap"
        assert F.evaluate(snap, "a.x", 1) == (F.SAQ, F.R_OVERRIDE)
        assert F.evaluate(snap, "bad.deep", 1) == (F.CELERY, F.R_BAD)
    finally:
        down.close()
    monkeypatch.setenv("SAQMIGRATE_BOOTSTRAP", "off")
    assert F.FlagClient.with_bootstrap(rt.url, namespace=rt.ns).bootstrap_path is None
    monkeypatch.delenv("SAQMIGRATE_BOOTSTRAP")
    assert F.FlagClient.with_bootstrap(rt.url, namespace=rt.ns).bootstrap_path == F.default_bootstrap_path(rt.ns)


def test_default_bootstrap_file_is_ignored_unless_private(rt):
    path = F.default_bootstrap_path(rt.ns)
    path.write_text(json.dumps({"version": 3, "rules": {"a.x": {"target": "saq"}}}))
    try:
        path.chmod(0o666)
        client = F.FlagClient("redis://127.0.0.1:1/0", namespace=rt.ns, bootstrap_path=path, socket_timeout=0.1)
        assert client.snapshot().source == "default"
        client.close()
        path.chmod(0o600)
        client = F.FlagClient("redis://127.0.0.1:1/0", namespace=rt.ns, bootstrap_path=path, socket_timeout=0.1)
        assert client.snapshot().source == "bootstrap"
        client.close()
    finally:
        path.unlink()
