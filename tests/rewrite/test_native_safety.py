"""--mode native never puts a blocking call on the event loop: time.sleep through an alias or a local
import keeps the bridge (SM113); a file in a PEP 263 encoding is ported, not a crash."""

from __future__ import annotations

from pathlib import Path

from saqmigrate.config import Config
from saqmigrate.rewrite import compute_changes

APP = 'from celery import Celery\n\napp = Celery("proj")\n'
NAT = """from time import sleep

from proj.celery import app


@app.task
def b(n):
    sleep(n)


@app.task
def c(n):
    import time as t
    t.sleep(n)


@app.task(bind=True)
def s(self, n):
    import time
    time.sleep(n)


@app.task
def ok(n):
    return n * 2
"""


def _project(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in {"proj/__init__.py": b"", "proj/celery.py": APP.encode(), **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_sleep_through_an_alias_or_a_local_import_keeps_the_bridge(tmp_path: Path) -> None:
    root = _project(tmp_path, {"proj/nat.py": NAT.encode()})
    result = compute_changes(root, Config(), mode="native")
    kept = {m.split(":")[0].split()[-1] for m in result.messages if m.startswith("SM113")}
    assert kept == {"proj.nat.b", "proj.nat.c", "proj.nat.s"}
    twins = next(c.new for c in result.changes if c.rel == "proj/nat_saq.py")
    assert "# native port of proj.nat.ok" in twins
    assert "sleep(n)" not in twins.replace("asyncio.sleep", "")  # no blocking sleep in any port


def test_a_latin1_module_is_ported_not_a_crash(tmp_path: Path) -> None:
    src = '# -*- coding: latin-1 -*-\nfrom proj.celery import app\n\n\n@app.task\ndef f(x):\n    return "caf\xe9" + x\n'
    root = _project(tmp_path, {"proj/lat.py": src.encode("latin-1")})
    result = compute_changes(root, Config(), mode="native")
    assert not result.blocking
    twins = next(c.new for c in result.changes if c.rel == "proj/lat_saq.py")
    assert "# native port of proj.lat.f" in twins and '"café" + x' in twins


def test_a_task_taking_only_kwargs_is_ported_not_a_crash(tmp_path: Path) -> None:
    """Seen on Netflix/lemur: `def task(**kwargs)` made the port's signature `(ctx, *, **kwargs)`."""
    src = "from proj.celery import app\n\n\n@app.task\ndef sync(**kwargs):\n    return sorted(kwargs)\n"
    root = _project(tmp_path, {"proj/kw.py": src.encode()})
    result = compute_changes(root, Config(), mode="native")
    assert not result.blocking
    twins = next(c.new for c in result.changes if c.rel == "proj/kw_saq.py")
    assert "async def sync(ctx, **kwargs):" in twins
