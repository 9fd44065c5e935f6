"""``self`` of a bound body on SAQ reaches its ``base=`` class's helpers and attributes (real worker)."""

from __future__ import annotations

import asyncio

from celery import Celery, Task
from saq.job import Job, Status

from runtime_task_harness import running_worker, wait_done
from saqmigrate.runtime.task import celery_impl, run_sync, saq_task, task_self
from saqmigrate.runtime.task_options import TaskOptions


class WithHelpers(Task):
    """A project's base class: a helper method and a class attribute the body uses through self."""

    tenant = "acme"

    def audit(self, message):
        return f"{self.tenant}:{self.request.id == self.request.id}:{message}"


def test_bound_body_calls_base_class_helpers_on_saq(redis_url, unique_name):
    app = Celery(f"d{unique_name}", broker=redis_url, backend=None, set_as_current=False)
    name = f"proj.tasks.{unique_name}"

    def body(self, x):
        return [self.audit(f"x={x}"), self.tenant, self.name]

    celery_task = app.task(name=name, bind=True, base=WithHelpers)(body)
    expected = celery_task.apply(kwargs={"x": 2}).get()

    @saq_task(name, TaskOptions())
    async def twin(ctx, *, x):
        return await run_sync(celery_impl(celery_task), task_self(ctx), x=x)

    async def main():
        async with running_worker(redis_url, unique_name, [twin]) as (queue, _):
            job = Job(function=name, kwargs={"x": 2})
            await queue.enqueue(job)
            return await wait_done(job, timeout=20)

    done = asyncio.run(main())
    assert done.status == Status.COMPLETE, done.error
    assert done.result == expected == ["acme:True:x=2", "acme", name]
