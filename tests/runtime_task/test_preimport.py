"""A ported body's function-level imports run when the worker starts, not on the loop during its first
job (runtime/preimport.py).

Real SAQ worker from ``worker_settings`` on the real Redis. The task module's body imports, inside the
function, a module whose top-level code takes 300 ms (a client built at import, a heavy library), and an
optional dependency that is not installed (``try: import ... / except ImportError``). A heartbeat
coroutine on the worker's loop measures the longest stall during the first job: under 50 ms with the
pre-import, the module's 300 ms without it (``SAQMIGRATE_PREIMPORT=0``: the control, so the test can fail).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from pathlib import Path

import pytest
from saq.job import Status

from saqmigrate.runtime import preimport
from saqmigrate.runtime.worker import worker_settings

from tests.runtime_task.loopwatch import LoopGap, run_job, running_worker

SLOW = 0.3

TASKS = """from saqmigrate.runtime.task import TaskOptions, saq_task


@saq_task("{pkg}.tasks.lookup", TaskOptions())
async def lookup(ctx, *, n):
    from . import slow
    from .sub import helper

    try:
        import saqmigrate_not_installed_xyz  # noqa: F401
    except ImportError:
        pass
    return slow.VALUE + helper.VALUE + n
"""


def _package(root: Path, pkg: str) -> None:
    (root / pkg / "sub").mkdir(parents=True)
    (root / pkg / "__init__.py").write_text("")
    (root / pkg / "slow.py").write_text(f"import time\n\ntime.sleep({SLOW})\nVALUE = 10\n")
    (root / pkg / "sub" / "__init__.py").write_text("")
    (root / pkg / "sub" / "helper.py").write_text("VALUE = 100\n")
    (root / pkg / "tasks.py").write_text(TASKS.format(pkg=pkg))


def _first_job_gap(tmp_path: Path, unique_name: str, monkeypatch) -> tuple[float, int, Status]:
    pkg = f"preimp_{unique_name}"
    _package(tmp_path, pkg)
    monkeypatch.syspath_prepend(str(tmp_path))
    tasks = importlib.import_module(f"{pkg}.tasks")

    async def main() -> tuple[float, int, Status]:
        settings = worker_settings(unique_name, [tasks.lookup.registration], dead_letters=False, metrics=False)
        async with running_worker(settings) as queue:
            await asyncio.sleep(SLOW * 2)  # the worker's start-up (where the pre-import runs) is not measured
            async with LoopGap() as watch:
                job = await run_job(queue, f"{pkg}.tasks.lookup", n=1)
                await asyncio.sleep(0.05)
        return watch.gap, job.result, job.status

    try:
        return asyncio.run(main())
    finally:
        for name in [m for m in sys.modules if m == pkg or m.startswith(pkg + ".")]:
            del sys.modules[name]
        preimport._IMPORTS.pop(f"{pkg}.tasks.lookup", None)


@pytest.mark.slow
def test_a_body_import_runs_at_start_up_not_on_the_loop(tmp_path, unique_name, monkeypatch, caplog):
    monkeypatch.delenv(preimport.ENV, raising=False)
    with caplog.at_level(logging.WARNING, logger="saqmigrate.runtime.preimport"):
        gap, result, status = _first_job_gap(tmp_path, unique_name, monkeypatch)
    assert status == Status.COMPLETE and result == 111
    assert gap < 0.05, f"the loop stalled {gap * 1000:.0f} ms"
    # the optional dependency is named once, and the job still ran its except branch
    assert [r.getMessage() for r in caplog.records if "saqmigrate_not_installed_xyz" in r.getMessage()]


@pytest.mark.slow
def test_control_without_pre_import_the_first_job_stalls_the_loop(tmp_path, unique_name, monkeypatch):
    monkeypatch.setenv(preimport.ENV, "0")
    gap, result, status = _first_job_gap(tmp_path, unique_name, monkeypatch)
    assert status == Status.COMPLETE and result == 111
    assert gap >= SLOW * 0.8, f"the control did not stall ({gap * 1000:.0f} ms): the test above proves nothing"


def test_local_imports_reads_nested_code_relative_levels_and_from_lists():
    def body():
        import json  # noqa: F401
        from os import path  # noqa: F401

        def _blocking_1():
            from ..pkg import mod  # noqa: F401

        return [__import__ for _ in ()]

    found = preimport.local_imports(body.__code__)
    assert ("json", 0, ()) in found
    assert ("os", 0, ("path",)) in found
    assert ("pkg", 2, ("mod",)) in found
