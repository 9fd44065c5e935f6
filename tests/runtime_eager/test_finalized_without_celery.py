"""Eager mode for a finalized project (``@saq_job`` tasks) with Celery not importable, against a real Celery
eager run of the same bodies (issue 17 acceptance, tests/realworld/project_suites.py).

The bodies are the retry patterns met in real suites: pretalx's ``retryable_smtp`` (``with
suppress(self.MaxRetriesExceededError): self.retry(max_retries=5, countdown=...)`` then ``raise``) and a
task that asks for two retries and then succeeds. The jobs are bound where a module scan cannot see them
(a class attribute, a dict, a factory's return value): eager mode must find them through the
``@saq_job`` registry (it raised LookupError before).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BODIES = """
from contextlib import suppress

ATTEMPTS = []


def smtp_like(self, code):
    ATTEMPTS.append(self.request.retries)
    try:
        raise OSError(code)
    except OSError:
        with suppress(self.MaxRetriesExceededError):
            self.retry(max_retries=3, countdown=2 ** (self.request.retries * 2))
        raise


def ok_after_two(self, n):
    ATTEMPTS.append(self.request.retries)
    if self.request.retries < 2:
        raise self.retry(exc=ValueError("again"), countdown=1)
    return n * 2


CASES = [(smtp_like, {"code": 421}), (ok_after_two, {"n": 21})]
"""

CELERY_RUN = """
import json, sys
import bodies
from celery import Celery

app = Celery("p", set_as_current=True)
app.conf.update(task_always_eager=True, task_eager_propagates=sys.argv[1] == "1", result_backend=None)
out = []
for fn, kwargs in bodies.CASES:
    task = app.task(bind=True, name="p." + fn.__name__, max_retries=5)(fn)
    bodies.ATTEMPTS.clear()
    try:
        r = task.delay(**kwargs)
        out.append([r.state, type(r.result).__name__ if r.failed() else r.result, list(bodies.ATTEMPTS)])
    except Exception as exc:
        out.append(["raised", type(exc).__name__, list(bodies.ATTEMPTS)])
print(json.dumps(out))
"""

SAQ_RUN = """
import json, sys
for name in ("celery", "kombu", "billiard"):
    sys.modules[name] = None  # what `pip uninstall celery kombu billiard` leaves
import bodies
from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions
from saqmigrate.runtime.testing import eager


def make(fn):
    return saq_job("p." + fn.__name__, TaskOptions(max_retries=5), queue="celery", bind=True)(fn)


class Holder:  # a job as a class attribute: no module global names it
    smtp_like = make(bodies.smtp_like)


JOBS = {"ok_after_two": make(bodies.ok_after_two)}  # ... and one in a dict
tasks = [Holder.smtp_like, JOBS["ok_after_two"]]
out = []
with eager(propagate=sys.argv[1] == "1"):
    for task, (fn, kwargs) in zip(tasks, bodies.CASES):
        bodies.ATTEMPTS.clear()
        try:
            r = task.delay(**kwargs)
            out.append([r.state, type(r.result).__name__ if r.failed() else r.result, list(bodies.ATTEMPTS)])
        except Exception as exc:
            out.append(["raised", type(exc).__name__, list(bodies.ATTEMPTS)])
print(json.dumps(out))
"""


def _run(tmp_path: Path, script: str, propagate: str) -> list:
    (tmp_path / "bodies.py").write_text(BODIES)
    (tmp_path / "run.py").write_text(script)
    out = subprocess.run(
        [sys.executable, "run.py", propagate], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("propagate", ["0", "1"])
def test_finalized_jobs_eager_without_celery_match_celery_eager(tmp_path: Path, propagate: str) -> None:
    pytest.importorskip("celery")
    celery = _run(tmp_path, CELERY_RUN, propagate)
    saq = _run(tmp_path, SAQ_RUN, propagate)
    assert saq == celery
    if propagate == "0":  # the numbers, so that a change on both sides is seen too
        assert celery == [["FAILURE", "OSError", [0, 1, 2, 3]], ["SUCCESS", 42, [0, 1, 2]]]
    else:
        assert celery == [["raised", "Retry", [0]], ["raised", "Retry", [0]]]


def test_plugin_and_testing_import_without_celery(tmp_path: Path) -> None:
    """A finalized project's pytest run loads the plugin (entry point) with Celery uninstalled."""
    code = (
        "import sys\nfor n in ('celery', 'kombu', 'billiard'):\n    sys.modules[n] = None\n"
        "import saqmigrate.runtime.pytest_plugin, saqmigrate.runtime.testing, saqmigrate.runtime.jobs\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr[-3000:]
