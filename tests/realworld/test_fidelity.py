"""Rewrite fidelity on real projects: every option of every task is translated exactly or carries a
finding, and where Celery's own run-time truth was recorded (``celery_truth`` in the project's JSON,
read with ``saqmigrate verify``'s probe in the project's own environment), the generated queue and job
options equal what Celery resolves.

Trees live in /tmp/realworld/<name> (tests/realworld/README.md); absent trees are skipped.
"""

from __future__ import annotations

import pytest

from tests.conftest import missing

from saqmigrate.config import Config
from saqmigrate.index.model import is_dynamic
from saqmigrate.plan import build_plan
from saqmigrate.scan import run_scan
from saqmigrate.translate.options import translate_task_options
from tests.realworld.compare import CORPUS, HERE, load

NAMES = sorted(p.stem for p in HERE.glob("*.json"))
# options that are not translated into the twin's behaviour (they select the function or its binding)
from saqmigrate.translate.options import DROPPED_INFO  # noqa: E402

NOT_OPTIONS = {
    "run_every",  # a periodic_task schedule: a beat entry (index.schedules)
    "bind",
    "base",
    "name",
    "**",
    "typing",
    "shared",
    "filter",
    "lazy",
    "pydantic",
    "serializer_kwargs",
}
TRUTH_OPTIONS = (
    "max_retries",
    "default_retry_delay",
    "autoretry_for",
    "dont_autoretry_for",
    "retry_kwargs",
    "retry_backoff",
    "retry_backoff_max",
    "retry_jitter",
    "time_limit",
    "soft_time_limit",
    "rate_limit",
    "acks_late",
    "ignore_result",
    "serializer",
    "expires",
)


def _roots(name: str, truth: dict) -> list:
    return [CORPUS / name / r if r else CORPUS / name for r in (truth.get("source_roots") or [""])]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_option_is_translated_exactly_or_reported(name: str) -> None:
    if not (CORPUS / name).is_dir():
        missing(f"/tmp/realworld/{name} absent; see tests/realworld/README.md to fetch it", "SAQMIGRATE_REQUIRE_CORPUS")
    truth = load(name)
    problems: list[str] = []
    for root in _roots(name, truth):
        index, _ = run_scan(root, Config(), use_cache=False)
        plan = build_plan(index)
        twins = {tw.celery_name: tw for m in plan.modules for tw in m.twins}
        skipped = {what for what, _ in plan.skipped}
        subjects = {(f.subject, f.rule) for f in index.findings}
        for t in index.tasks:
            if t.name is None or t.name not in twins:
                if (t.name or f"{t.file}:{t.line}") not in skipped:
                    problems.append(f"{t.name or t.function}: no twin and no reason")
                continue
            tw = twins[t.name]
            merged = {**t.inherited_options, **t.options}
            for key, value in merged.items():
                if key in NOT_OPTIONS or key in DROPPED_INFO:  # dropped with an info note: its value changes nothing
                    continue
                if is_dynamic(value) and key not in tw.pinned:
                    problems.append(f"{t.name}: {key}={value['dynamic']} neither resolved nor pinned")
                if is_dynamic(value) and (t.name, "SM115") not in subjects:
                    problems.append(f"{t.name}: {key} pinned without an SM115 finding")
            celery = (truth.get("celery_truth") or {}).get("tasks", {}).get(t.name)
            if not celery:
                continue
            if celery.get("queue") is not None and celery["queue"] != tw.queue:
                problems.append(f"{t.name}: queue {tw.queue!r}, Celery says {celery['queue']!r}")
            options = {k: celery[k] for k in TRUTH_OPTIONS if k in celery and celery[k] is not None}
            expected = translate_task_options(
                options, uses_self_retry=bool(t.features.get("self_retry")), module=t.module
            )
            if expected.job_kwargs() != tw.job and not tw.pinned:
                problems.append(f"{t.name}: job {tw.job}, from Celery's values {expected.job_kwargs()}")
    assert not problems, "\n".join(problems[:40])
