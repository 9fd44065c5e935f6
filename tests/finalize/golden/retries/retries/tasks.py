from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions

from .effects import record


class Flaky(Exception):
    """A temporary failure worth retrying."""


@saq_job(
    "retries.tasks.always_retry",
    TaskOptions(retries=3, retry_delay=1, max_retries=2, default_retry_delay=1),
    queue="celery",
    bind=True,
)
def always_retry(self, n):
    record("always_retry", attempt=self.request.retries, n=n)
    raise self.retry(exc=Flaky(f"attempt {self.request.retries}"), countdown=1)


@saq_job(
    "retries.tasks.succeed_on_third", TaskOptions(retries=4), queue="celery", bind=True
)
def succeed_on_third(self, key):
    record("succeed_on_third", attempt=self.request.retries, key=key)
    if self.request.retries < 2:
        raise self.retry(countdown=1)
    return f"{key} done after {self.request.retries} retries"


@saq_job(
    "retries.tasks.autoretry_backoff",
    TaskOptions(
        retries=3,
        retry_delay=1,
        retry_backoff=2,
        max_retries=2,
        autoretry_for=("retries.tasks.Flaky",),
        retry_jitter=False,
        module="retries.tasks",
    ),
    queue="celery",
)
def autoretry_backoff(tag):
    record("autoretry_backoff", tag=tag)
    raise Flaky(tag)


@saq_job(
    "retries.tasks.not_listed_exception",
    TaskOptions(
        retries=6,
        retry_delay=1,
        max_retries=5,
        default_retry_delay=1,
        autoretry_for=("retries.tasks.Flaky",),
        module="retries.tasks",
    ),
    queue="celery",
)
def not_listed_exception(tag):
    record("not_listed_exception", tag=tag)
    raise ValueError(tag)  # not in autoretry_for: Celery fails it at once, without a retry


@saq_job("retries.tasks.request_info", TaskOptions(), queue="celery", bind=True)
def request_info(self, x, y=2):
    record("request_info", retries=self.request.retries, args=list(self.request.args or ()),
           kwargs=dict(self.request.kwargs or {}))
    return {"sum": x + y, "retries": self.request.retries}


@saq_job(
    "retries.tasks.too_slow",
    TaskOptions(
        retries=4,
        retry_delay=1,
        timeout=1,
        heartbeat=0,
        default_retry_delay=1,
        autoretry_for=("retries.tasks.Flaky",),
        module="retries.tasks",
    ),
    queue="celery",
)
def too_slow(seconds):
    """A hard time limit: Celery's worker kills it at 1 s and fails it without a retry."""
    import time

    record("too_slow", seconds=seconds)
    time.sleep(seconds)
    return "finished"
