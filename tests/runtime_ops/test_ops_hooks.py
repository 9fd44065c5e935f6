"""Hook composition: order, isolation, sync hooks, and a real worker running merged hooks."""

from __future__ import annotations

import asyncio
import threading

import pytest
from saq import Job

from saqmigrate.runtime.hooks import chain, merge_hooks

from .conftest import make_queue, run_burst


def test_chain_runs_in_order_sync_in_threads_and_stops_at_first_error():
    seen = []

    async def a(ctx):
        seen.append("a")

    def b(ctx):
        seen.append(("b", threading.current_thread() is threading.main_thread()))

    async def boom(ctx):
        raise RuntimeError("x")

    async def c(ctx):
        seen.append("c")

    asyncio.run(chain(a, None, [b], c)({}))
    assert seen == ["a", ("b", False), "c"]
    seen.clear()
    with pytest.raises(RuntimeError):
        asyncio.run(chain(a, boom, c)({}))
    assert seen == ["a"]


def test_run_all_isolates_failures_and_reraises_the_first():
    seen = []

    async def boom(ctx):
        raise RuntimeError("first")

    async def boom2(ctx):
        raise KeyError("second")

    async def c(ctx):
        seen.append("c")

    with pytest.raises(RuntimeError, match="first"):
        asyncio.run(chain(boom, boom2, c, run_all=True)({}))
    assert seen == ["c"]


def test_chain_of_nothing_is_none_and_single_async_is_itself():
    async def a(ctx):
        pass

    assert chain(None, []) is None
    assert chain(a) is a


def test_merge_hooks_order_and_shutdown_reversed():
    order = []

    def rec(name):
        async def h(ctx):
            order.append(name)

        return h

    settings = {"functions": [], "startup": rec("app-start"), "shutdown": rec("app-stop")}
    merged = merge_hooks(
        settings,
        {"startup": rec("dlq-start"), "shutdown": rec("dlq-stop")},
        {"startup": rec("m-start"), "shutdown": rec("m-stop"), "after_process": rec("m-after")},
        None,
    )
    assert "before_process" not in merged and merged["functions"] == []
    asyncio.run(merged["startup"]({}))
    asyncio.run(merged["shutdown"]({}))
    asyncio.run(merged["after_process"]({}))
    assert order == ["app-start", "dlq-start", "m-start", "m-stop", "dlq-stop", "app-stop", "m-after"]
    with pytest.raises(ValueError, match="unknown worker hook"):
        merge_hooks({}, {"on_start": rec("x")})
    with pytest.raises(TypeError):
        chain(42)


SEEN: dict[str, list] = {}


async def ok(ctx):
    return 1


@pytest.mark.slow
@pytest.mark.usefixtures("cleanup")
def test_merged_hooks_run_in_a_real_worker_even_when_one_after_hook_fails(redis_url, unique_name):
    log = SEEN.setdefault(unique_name, [])

    async def startup(ctx):
        ctx["db"] = "conn"
        log.append("startup")

    def before(ctx):  # sync, SAQ-style
        log.append(("before", ctx["db"]))

    async def broken_after(ctx):
        raise RuntimeError("metrics bug")

    async def after(ctx):
        log.append(("after", ctx["job"].status.value))

    async def main():
        queue = make_queue(redis_url, unique_name)
        try:
            await queue.enqueue(Job("ok"))
            settings = merge_hooks(
                {"startup": startup, "after_process": broken_after}, {"before_process": before, "after_process": after}
            )
            await run_burst(queue, [ok], dequeue_timeout=0.3, **settings)
        finally:
            await queue.disconnect()

    asyncio.run(main())
    assert log == ["startup", ("before", "conn"), ("after", "complete")]
