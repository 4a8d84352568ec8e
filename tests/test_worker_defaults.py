"""Default concurrency (issue #19): async tasks get 100 jobs in flight, def tasks 10 threads, and
a worker never claims more def-task jobs than it has free threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from conveyor import Conveyor
from conveyor.worker import DEFAULT_ASYNC_SLOTS, DEFAULT_THREADS, Worker
from tests.conftest import WorkerThread, wait_for


@pytest.fixture
def fresh_app(settings):
    app = Conveyor(settings=settings)
    app.migrate()
    yield app
    app.close()


def _running(app: Conveyor) -> int:
    return sum(1 for j in app.list_jobs(limit=500) if j.state.value == "running")


def test_an_explicit_concurrency_sets_both_limits(fresh_app):
    assert (Worker(fresh_app).concurrency, Worker(fresh_app).threads) == (DEFAULT_ASYNC_SLOTS, DEFAULT_THREADS)
    assert (Worker(fresh_app, concurrency=4).concurrency, Worker(fresh_app, concurrency=4).threads) == (4, 4)


def test_async_jobs_run_beyond_the_thread_count_by_default(fresh_app):
    release = threading.Event()
    inside: list[int] = []

    @fresh_app.task(name="d.hold_async")
    async def hold_async(i: int) -> None:
        inside.append(i)
        while not release.is_set():
            await asyncio.sleep(0.01)

    fresh_app.enqueue_many([hold_async.new_job(i) for i in range(40)], policy="accept")
    worker = WorkerThread(fresh_app, ["default"], None).start()  # type: ignore[arg-type]
    try:
        wait_for(lambda: len(inside) == 40, timeout=20, message="all 40 async jobs in flight at once")
    finally:
        release.set()
        worker.stop()


def test_def_task_jobs_are_claimed_only_for_free_threads(fresh_app):
    release = threading.Event()
    inside: list[int] = []

    @fresh_app.task(name="d.hold_sync")
    def hold_sync(i: int) -> None:
        inside.append(i)
        release.wait(30)

    fresh_app.enqueue_many([hold_sync.new_job(i) for i in range(30)], policy="accept")
    worker = WorkerThread(fresh_app, ["default"], None).start()  # type: ignore[arg-type]
    try:
        wait_for(lambda: len(inside) == DEFAULT_THREADS, timeout=20, message="every thread busy")
        assert _running(fresh_app) == DEFAULT_THREADS  # the other 20 stay queued for other workers
        release.set()
        wait_for(lambda: len(inside) == 30, timeout=20, message="the rest run as threads free up")
    finally:
        release.set()
        worker.stop()
