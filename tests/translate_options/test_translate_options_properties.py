"""Property tests: Celery's own functions are the oracle for the translated options."""

from __future__ import annotations

import random

import pytest
from celery import Celery
from celery.utils.time import get_exponential_backoff_interval
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from saq.job import Job
from saq.utils import exponential_backoff

from saqmigrate.runtime import task as runtime
from saqmigrate.translate.options import translate_task_options

backoff_values = st.one_of(st.just(True), st.integers(1, 64), st.floats(0.01, 64, allow_nan=False))
caps = st.integers(0, 5000)
limits = st.integers(0, 12)


def _saq_attempts(retries: int) -> int:
    """How many times a real saq Job runs when every attempt fails (Worker.process logic)."""
    job, runs = Job("f", retries=retries), 0
    while True:
        job.attempts += 1
        runs += 1
        if not job.retryable:
            return runs


@settings(max_examples=200, deadline=None)
@given(backoff=backoff_values, cap=caps, max_retries=limits)
def test_pre_jitter_delays_equal_celery(backoff, cap, max_retries):
    r = translate_task_options(
        {"autoretry_for": ["IOError"], "retry_backoff": backoff, "retry_backoff_max": cap, "max_retries": max_retries},
        uses_self_retry=False,
    )
    factor = int(max(1.0, float(backoff)))
    for retries in range(max_retries):  # Celery request.retries is 0-based; SAQ attempts 1-based
        celery = get_exponential_backoff_interval(factor=factor, retries=retries, maximum=cap, full_jitter=False)
        saq = exponential_backoff(
            attempts=retries + 1, base_delay=r.retry_delay, max_delay=r.retry_backoff, jitter=False
        )
        assert saq == celery
        # and the runtime's exact countdown with jitter off
        no_jitter = r.task.__class__(**{**r.task.__dict__, "retry_jitter": False})
        assert no_jitter.autoretry_countdown(retries) == celery
    assert _saq_attempts(r.retries) == max_retries + 1


@settings(max_examples=100, deadline=None)
@given(backoff=backoff_values, cap=caps, retries=st.integers(0, 15), seed=st.integers(0, 2**32))
def test_runtime_jitter_is_celerys_distribution(backoff, cap, retries, seed):
    """retry_jitter=True: the runtime draws exactly what Celery draws for the same random state."""
    r = translate_task_options(
        {"autoretry_for": ["IOError"], "retry_backoff": backoff, "retry_backoff_max": cap}, uses_self_retry=False
    )
    random.seed(seed)
    celery = get_exponential_backoff_interval(
        factor=int(max(1.0, float(backoff))), retries=retries, maximum=cap, full_jitter=True
    )
    random.seed(seed)
    assert r.task.autoretry_countdown(retries) == celery


APP = Celery("props", set_as_current=False)
APP.conf.task_eager_propagates = False
_RUNS: list[int] = [0]


def _always_ioerror():
    _RUNS[0] += 1
    raise OSError("boom")


def _self_retry(self):
    _RUNS[0] += 1
    raise self.retry(exc=OSError("boom"), countdown=0)


_counter = [0]


def _celery_attempts(options: dict, bind: bool) -> int:
    _counter[0] += 1
    task = APP.task(name=f"props.t{_counter[0]}", bind=bind, **options)(_self_retry if bind else _always_ioerror)
    _RUNS[0] = 0
    task.apply()
    return _RUNS[0]


def _runtime_attempts(options, uses_self_retry: bool) -> int:
    """Drive the runtime's retry decision on a real saq Job as Worker.process would."""
    opts = translate_task_options(options, uses_self_retry=uses_self_retry).task
    job, runs = Job("f", **opts.job_kwargs()), 0
    retry_cls = runtime._exceptions()["Retry"]
    while True:
        job.attempts += 1
        runs += 1
        if uses_self_retry:  # the real TaskSelf.retry decides; the decorator acts on what it raises
            me = runtime.TaskSelf({"job": job, "worker": None}, "f", opts, None)
            try:
                me.retry(exc=OSError("boom"), countdown=0)
            except Exception as raised:  # noqa: BLE001
                exc: BaseException = raised
            assert isinstance(exc, (retry_cls, OSError))
        else:
            exc = OSError("boom")
        runtime._decide(job, opts, (), exc)
        if not job.retryable:
            return runs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(max_retries=limits, rk=st.one_of(st.none(), limits), bind=st.booleans())
def test_attempt_counts_equal_celery_eager(max_retries, rk, bind):
    if bind:
        options, celery_options = {"max_retries": max_retries}, {"max_retries": max_retries}
    else:
        extra = {} if rk is None else {"retry_kwargs": {"max_retries": rk, "countdown": 0}}
        celery_options = {"autoretry_for": (OSError,), "max_retries": max_retries, "default_retry_delay": 0, **extra}
        options = {**celery_options, "autoretry_for": ["OSError"]}
    celery = _celery_attempts(celery_options, bind)
    assert _runtime_attempts(options, bind) == celery
    translated = translate_task_options(options, uses_self_retry=bind)
    assert _saq_attempts(translated.retries) == celery  # the Job's own retries field agrees too


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_unlisted_exception_never_retried(max_retries):
    opts = translate_task_options(
        {"autoretry_for": ["OSError"], "max_retries": max_retries}, uses_self_retry=False
    ).task
    job = Job("f", **opts.job_kwargs())
    job.attempts = 1
    runtime._decide(job, opts, (), KeyError("x"))
    assert not job.retryable
