"""A task with positional-only parameters (`def f(a, b=1, /, c=2)`): its twin takes them by name (a SAQ job
carries names) and passes them by position, up to the first one not given (its default applies). Found by the
finalize attack: the twin used to drop `a` altogether."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from saqmigrate.config import Config
from saqmigrate.rewrite import apply_changes, compute_changes
from saqmigrate.runtime.twin import UNSET, given_positional


def test_given_positional_stops_at_the_first_missing_and_refuses_a_gap():
    assert given_positional(a=1, b=2) == (1, 2)
    assert given_positional(a=1, b=UNSET) == (1,)
    assert given_positional(a=UNSET, b=UNSET) == ()
    with pytest.raises(TypeError, match="'b' given without 'a'"):
        given_positional(a=UNSET, b=2)


RUN = """
import json, sys
sys.path.insert(0, sys.argv[1])
from saqmigrate.runtime import testing
from proj import tasks, tasks_saq  # noqa: F401 - registers the twin
testing.set_eager(True)
out = []
# Celery: the caller's .delay(1, 5, c=3); SAQ: the same dispatch as the router names it
for args, kwargs in (((1,), {}), ((1, 5), {}), ((1,), {"c": 3}), ((1, 5), {"c": 3})):
    named = dict(zip("ab", args), **kwargs)
    out.append([testing.enqueue("proj.tasks.p", **named).get(), tasks.p.apply(args=args, kwargs=kwargs).get()])
print(json.dumps(out))
"""


def test_the_twin_passes_positional_only_parameters_by_position_like_celery(tmp_path: Path):
    root = tmp_path / "p"
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "__init__.py").write_text("")
    (root / "proj" / "tasks.py").write_text(
        textwrap.dedent("""
        from celery import shared_task


        @shared_task
        def p(a, b=1, /, c=2):
            return [a, b, c]
    """)
    )
    assert apply_changes(root, compute_changes(root, Config(), use_cache=False).changes) == []
    twin = (root / "proj" / "tasks_saq.py").read_text()
    assert "async def p(ctx, *, a, b=UNSET, c=UNSET):" in twin
    assert "*given_positional(a=a, b=b)" in twin
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, CELERY_TASK_ALWAYS_EAGER="1"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for saq, celery in json.loads(proc.stdout.splitlines()[-1]):
        assert saq == celery
