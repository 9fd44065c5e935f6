"""Celery tasks whose eager runs (Celery's and saqmigrate's) tests/runtime_eager compares.

``CALLS`` records every attempt: (task, request.retries or None, kwargs seen).
"""

from celery import shared_task

CALLS: list = []
STATE: dict = {}


class Flaky(Exception):
    """A temporary failure worth retrying."""


def _seen(name, retries=None, **kwargs):
    CALLS.append((name, retries, kwargs))


@shared_task
def add(x, y=10):
    _seen("add", x=x, y=y)
    return x + y


@shared_task
def boom(tag):
    _seen("boom", tag=tag)
    raise KeyError(tag)


@shared_task(bind=True, max_retries=3, default_retry_delay=30)
def succeed_on_third(self, key):
    _seen("succeed_on_third", self.request.retries, key=key)
    if self.request.retries < 2:
        raise self.retry(countdown=60)
    return f"{key} done after {self.request.retries} retries"


@shared_task(bind=True, max_retries=2, default_retry_delay=1)
def retry_with_exc(self, n):
    _seen("retry_with_exc", self.request.retries, n=n)
    raise self.retry(exc=Flaky(f"attempt {self.request.retries}"), countdown=5)


@shared_task(bind=True, max_retries=2)
def retry_bare(self):
    _seen("retry_bare", self.request.retries)
    raise self.retry(countdown=5)


@shared_task(bind=True, max_retries=0)
def retry_no_budget(self, n):
    _seen("retry_no_budget", self.request.retries, n=n)
    raise self.retry(exc=Flaky("no budget"))


@shared_task(bind=True, max_retries=3)
def retry_new_kwargs(self, n):
    _seen("retry_new_kwargs", self.request.retries, n=n)
    if n < 3:
        raise self.retry(kwargs={"n": n + 1}, countdown=1)
    return n * 100


@shared_task(autoretry_for=(Flaky,), retry_kwargs={"max_retries": 2, "countdown": 50})
def auto_kwargs(tag):
    _seen("auto_kwargs", tag=tag)
    raise Flaky(tag)


@shared_task(autoretry_for=(Flaky,), retry_backoff=True, retry_jitter=False, max_retries=4)
def auto_then_ok(key):
    _seen("auto_then_ok", key=key)
    STATE[key] = STATE.get(key, 0) + 1
    if STATE[key] < 3:
        raise Flaky(f"{key} #{STATE[key]}")
    return {"key": key, "runs": STATE[key]}


@shared_task(autoretry_for=(Flaky,), max_retries=5, default_retry_delay=1)
def not_listed(tag):
    _seen("not_listed", tag=tag)
    raise ValueError(tag)


@shared_task(autoretry_for=(Flaky,), max_retries=2, dont_autoretry_for=(LookupError,))
def auto_excluded(tag):
    _seen("auto_excluded", tag=tag)
    raise LookupError(tag)
