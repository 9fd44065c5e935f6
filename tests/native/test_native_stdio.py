"""``print()`` on the loop: to stdout or stderr it is ported (the SAQ worker queues both streams,
runtime/logqueue.py, tested on a real worker in tests/runtime_task/test_log_queue.py); to any other
stream its ``write()`` is file or socket I/O (or code the prover never read), so the task is bridged."""

from __future__ import annotations

from pathlib import Path

import pytest

from saqmigrate.transform.blocking import Prover

TASKS = """import sys

from celery import shared_task


@shared_task
def to_stdout(x):
    print(x)
    print(x, file=sys.stdout, flush=True)
    print(x, file=sys.stderr)
    print(x, file=None)


@shared_task
def to_param(x, stream):
    print(x, file=stream)


@shared_task
def to_file(x):
    with open("/tmp/out.txt", "a") as f:
        print(x, file=f)
"""


@pytest.fixture(scope="module")
def prover(tmp_path_factory) -> Prover:
    root: Path = tmp_path_factory.mktemp("stdio")
    (root / "proj").mkdir()
    (root / "proj/__init__.py").write_text("")
    (root / "proj/tasks.py").write_text(TASKS)
    return Prover(root)


def test_print_to_the_standard_streams_is_ported(prover: Prover) -> None:
    plan = prover.plan_task("proj.tasks", "to_stdout", bind=False)
    assert plan.verdict == "ported", plan.reason()


@pytest.mark.parametrize(("task", "why"), [("to_param", "print() to stream"), ("to_file", "open")])
def test_print_to_another_stream_is_not_ported_whole(prover: Prover, task: str, why: str) -> None:
    plan = prover.plan_task("proj.tasks", task, bind=False)
    assert plan.verdict != "ported", plan.summary()
    assert why in plan.reason(), plan.reason()
