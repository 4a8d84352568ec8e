"""Section 1, enqueue: one by one from one producer (sync and async API) and in bulk (enqueue_many)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.raw_sql import SINGLE_INSERT_MAX
from bench.stats import Results, Series
from bench.workload import NOOP, PhantomWorker, RunContext, noop_jobs, payload

SECTION = "enqueue"
BULK_BATCH = 1000


def one_by_one_count(n_jobs: int) -> int:
    """As many single enqueues as the raw single INSERT+NOTIFY baseline does, for a like-for-like ratio."""
    return min(n_jobs, SINGLE_INSERT_MAX)


def _sync_one_by_one(ctx: RunContext, n: int) -> float:
    task = ctx.task(NOOP)
    start = time.perf_counter()
    for i in range(n):
        task.enqueue(payload(i))
    return n / (time.perf_counter() - start)


def _async_one_by_one(ctx: RunContext, n: int) -> float:
    task = ctx.task(NOOP)

    async def produce() -> float:
        start = time.perf_counter()
        for i in range(n):
            await task.enqueue_async(payload(i))
        return n / (time.perf_counter() - start)

    return asyncio.run(produce())


def _bulk(ctx: RunContext, n: int) -> tuple[float, float]:
    """(jobs/s of enqueue_many over pre-built jobs, jobs/s of building them with task.new_job)."""
    start = time.perf_counter()
    jobs = noop_jobs(ctx, n)
    built = time.perf_counter()
    handles = ctx.app.enqueue_many(jobs, batch_size=BULK_BATCH)
    done = time.perf_counter()
    if len(handles) != n:
        raise RuntimeError(f"enqueue_many returned {len(handles)} handles for {n} jobs")
    return n / (done - built), n / (built - start)


def _copy_into_jobs_table(ctx: RunContext, n: int) -> float:
    """The schema's own limit: COPY of pre-built rows into conveyor_jobs over one plain connection,
    no Conveyor code in the timed part (PostgreSQL only). Tells how much of the gap to the raw COPY
    is the job table's width and indexes rather than Conveyor's code."""
    import psycopg

    from conveyor.store.postgres import COPY_JOBS, PostgresStore

    jobs = noop_jobs(ctx, n)
    with psycopg.connect(ctx.db.url, autocommit=True) as conn:
        now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        rows = [PostgresStore._copy_row(job, now, None) for job in jobs]
        start = time.perf_counter()
        for i in range(0, n, BULK_BATCH):
            with conn.transaction(), conn.cursor().copy(COPY_JOBS) as copy:
                for row in rows[i : i + BULK_BATCH]:
                    copy.write_row(row)
        return n / (time.perf_counter() - start)


def run(ctx: RunContext, results: Results) -> None:
    n_single = one_by_one_count(ctx.config.jobs)
    n_bulk = ctx.config.jobs
    series = Series()
    ctx.db.reset()
    with PhantomWorker(ctx.store):
        # Warm-up: the connection pool, the prepared statement cache, the imports.
        for i in range(20):
            ctx.task(NOOP).enqueue(payload(i))
        for _ in range(ctx.config.repeats):
            ctx.db.clear_jobs()
            series.add("enqueue_sync_jobs_per_s", _sync_one_by_one(ctx, n_single), "jobs/s",
                       f"one by one, sync task.enqueue ({n_single} jobs)")
            ctx.db.clear_jobs()
            series.add("enqueue_async_jobs_per_s", _async_one_by_one(ctx, n_single), "jobs/s",
                       f"one by one, async task.enqueue_async ({n_single} jobs)")
            ctx.db.clear_jobs()
            rate, build_rate = _bulk(ctx, n_bulk)
            series.add("enqueue_bulk_jobs_per_s", rate, "jobs/s",
                       f"bulk enqueue_many, batches of {BULK_BATCH} ({n_bulk} jobs)",
                       "pre-built NewJob objects, like the raw baseline's pre-built rows")
            series.add("enqueue_build_jobs_per_s", build_rate, "jobs/s", "task.new_job (building, no I/O)")
            if ctx.engine == "postgres":
                ctx.db.clear_jobs()
                series.add("copy_into_jobs_table_jobs_per_s", _copy_into_jobs_table(ctx, n_bulk), "jobs/s",
                           f"COPY of pre-built rows into conveyor_jobs, batches of {BULK_BATCH}",
                           "no Conveyor code timed: the job table's own bulk-insert limit")
    ctx.db.reset()
    series.flush(results, SECTION)


def describe() -> dict[str, Any]:
    return {"bulk_batch": BULK_BATCH, "one_by_one_max": SINGLE_INSERT_MAX, "policy": "refuse (a live worker row)"}
