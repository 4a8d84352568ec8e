"""Async bodies that cannot wait run inline in the worker (conveyor/inline_jobs.py): the same
outcomes, context and lifecycle lines as a job with a task of its own."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
import logging
from typing import Any

from conveyor import Conveyor, JobContext, PermanentError, RetryPolicy
from conveyor.context import current_job
from conveyor.inline_jobs import never_waits
from conveyor.logs import configure_logging
from conveyor.model import JobState
from tests.conftest import WorkerThread, wait_for

SEEN: list[Any] = []
leaked: contextvars.ContextVar[str] = contextvars.ContextVar("leaked", default="unset")
inline_app = Conveyor(app_path="tests.test_inline_jobs:inline_app")


@inline_app.task(name="inline.ctx")
async def with_ctx(ctx: JobContext, n: int) -> dict[str, Any]:
    leaked.set(f"job-{n}")  # a body's context variables stay in its own context
    job = current_job()
    assert job is ctx
    SEEN.append((n, leaked.get()))
    return {"n": n, "job": ctx.job_id, "attempt": ctx.attempt}


@inline_app.task(name="inline.fail", max_attempts=2, retry=RetryPolicy(base=0.01, factor=1.0, cap=0.01))
async def fails(message: str) -> None:
    raise RuntimeError(message)


@inline_app.task(name="inline.permanent")
async def permanent() -> None:
    raise PermanentError("no")


@inline_app.task(name="inline.bad_result")
async def bad_result() -> object:
    return object()


@inline_app.task(name="inline.waits")
async def waits() -> str:
    await asyncio.sleep(0)
    return leaked.get()


def test_never_waits_reads_the_code():
    async def plain(x: int) -> int:
        return x + 1

    async def awaits() -> None:
        await asyncio.sleep(0)

    async def with_block(lock: Any) -> None:
        async with lock:
            pass

    async def loops(items: Any) -> None:
        async for _ in items:
            pass

    async def comprehension(items: Any) -> list[Any]:
        return [i async for i in items]

    def sync() -> None:
        return None

    @functools.wraps(plain)
    async def wrapper(x: int) -> int:
        return await plain(x)

    assert never_waits(plain)
    assert not any(never_waits(f) for f in (awaits, with_block, loops, comprehension, sync, wrapper))


def test_inline_jobs_complete_fail_and_log_like_any_job(settings):
    SEEN.clear()
    app = inline_app.with_database(settings.database_url)
    app.migrate()
    stream = io.StringIO()
    configure_logging("text", "INFO", stream)
    worker = WorkerThread(app, ["default"], 10).start()
    try:
        ok = [app.tasks["inline.ctx"].enqueue(n) for n in range(20)]
        failing = app.tasks["inline.fail"].enqueue("boom")
        refused = app.tasks["inline.permanent"].enqueue()
        unstorable = app.tasks["inline.bad_result"].enqueue()
        waiting = app.tasks["inline.waits"].enqueue()
        everything = [*ok, failing, refused, unstorable, waiting]
        wait_for(lambda: all(h.get().state in (JobState.COMPLETED, JobState.DEAD) for h in everything),
                 timeout=30, message="every job finished")
    finally:
        worker.stop()
        app.close()
    assert leaked.get() == "unset"
    assert sorted(SEEN) == [(n, f"job-{n}") for n in range(20)]
    for n, handle in enumerate(ok):
        job = handle.get()
        assert (job.state, job.result) == (JobState.COMPLETED, {"n": n, "job": handle.id, "attempt": 1})
    dead = failing.get()
    assert (dead.state, dead.attempts, dead.error) == (JobState.DEAD, 2, "RuntimeError: boom")
    assert refused.get().state == JobState.DEAD and len(refused.get().attempt_log) == 1
    assert unstorable.get().state == JobState.DEAD  # a result that cannot be stored fails the attempt
    assert waiting.get().result == "unset"  # a body that waits still gets a task (and a fresh context)

    logging.getLogger("conveyor").handlers[0].flush()
    events: dict[str, list[str]] = {}
    for line in stream.getvalue().splitlines():
        if " JOB_" in line:
            event = line.split("event=")[1].split()[0]
            events.setdefault(line.split(" job_id=")[1].split()[0], []).append(event)
    for handle in ok + [waiting]:
        assert events[handle.id] == ["JOB_START", "JOB_DONE"]
    assert events[failing.id] == ["JOB_START", "JOB_FAIL", "JOB_RETRY", "JOB_START", "JOB_FAIL", "JOB_DEAD"]
    assert events[refused.id] == ["JOB_START", "JOB_FAIL", "JOB_DEAD"]
