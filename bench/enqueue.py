"""Section 1, enqueue: one by one from one producer (sync and async API) and in bulk (enqueue_many)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import raw_sql
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

    from conveyor.store.postgres import PostgresStore

    jobs = noop_jobs(ctx, n)
    copy_sql, pick = PostgresStore._copy_plan(jobs, {})  # the columns enqueue_many sends for these jobs
    with psycopg.connect(ctx.db.url, autocommit=True) as conn:
        now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        rows = [pick(PostgresStore._copy_row(job, now, None)) for job in jobs]
        start = time.perf_counter()
        for i in range(0, n, BULK_BATCH):
            with conn.transaction(), conn.cursor().copy(copy_sql) as copy:
                for row in rows[i : i + BULK_BATCH]:
                    copy.write_row(row)
        return n / (time.perf_counter() - start)


class PairedRawInsert:
    """The raw single INSERT + NOTIFY baseline (bench/raw_sql.py), run right before and after each
    one-by-one run (PostgreSQL). A single insert's round trip is mostly the commit's WAL flush,
    whose speed drifts over minutes on a shared machine, so the raw section's figure, measured
    minutes earlier, makes a poor denominator; a ratio to the raw runs bracketing each run does not.
    The same statement over psycopg's AsyncConnection gives the async API's like-for-like floor."""

    def __init__(self, ctx: RunContext, n: int) -> None:
        import psycopg

        self.url = ctx.db.url
        self.conn = psycopg.connect(self.url, autocommit=True)
        self.conn.execute(raw_sql.DDL)  # type: ignore[arg-type]
        self.rows = raw_sql._make_rows(n)

    def sync(self) -> float:
        raw_sql._reset(self.conn)
        return raw_sql._timed(lambda: raw_sql._insert_notify(self.conn, self.rows))

    def libpq(self) -> float:
        raw_sql._reset(self.conn)
        return raw_sql._timed(lambda: raw_sql._insert_notify_libpq(self.conn, self.rows))

    def async_(self) -> float:
        import psycopg

        async def run() -> float:
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                for row in self.rows[:20]:  # warm-up: prepared statement, like the sync connection's
                    await conn.execute(raw_sql.INSERT_NOTIFY_SQL, row)
                raw_sql._reset(self.conn)
                start = time.perf_counter()
                for row in self.rows:
                    await conn.execute(raw_sql.INSERT_NOTIFY_SQL, row)
                return len(self.rows) / (time.perf_counter() - start)

        return asyncio.run(run())

    def close(self) -> None:
        self.conn.execute(f"DROP TABLE {raw_sql.TABLE}")
        self.conn.close()


def _one_by_one(ctx: RunContext, series: Series, n: int) -> None:
    """Sync and async one-by-one enqueue, each with its ratio to the raw runs just before and after."""
    if ctx.engine != "postgres":
        for kind, measure in (("sync", _sync_one_by_one), ("async", _async_one_by_one)):
            ctx.db.clear_jobs()
            series.add(f"enqueue_{kind}_jobs_per_s", measure(ctx, n), "jobs/s",
                       f"one by one, {kind} task.{'enqueue' if kind == 'sync' else 'enqueue_async'} ({n} jobs)")
        return
    raw = PairedRawInsert(ctx, n)
    try:
        before = raw.sync()
        ctx.db.clear_jobs()
        sync = _sync_one_by_one(ctx, n)
        middle = raw.sync()
        ctx.db.clear_jobs()
        async_ = _async_one_by_one(ctx, n)
        after = raw.sync()
        async_raw = raw.async_()
        libpq = raw.libpq()
    finally:
        raw.close()
    series.add("enqueue_sync_jobs_per_s", sync, "jobs/s", f"one by one, sync task.enqueue ({n} jobs)")
    series.add("enqueue_async_jobs_per_s", async_, "jobs/s", f"one by one, async task.enqueue_async ({n} jobs)")
    for value in (before, middle, after):
        series.add("paired_raw_single_insert_notify_per_s", value, "jobs/s",
                   "raw INSERT+NOTIFY, run before, between and after the one-by-one runs")
    series.add("paired_raw_async_single_insert_notify_per_s", async_raw, "jobs/s",
               "raw INSERT+NOTIFY over psycopg AsyncConnection, right after")
    series.add("paired_raw_libpq_single_insert_notify_per_s", libpq, "jobs/s",
               "raw INSERT+NOTIFY through libpq's prepared-statement call (psycopg.pq), right after")
    series.add("ratio_sync_vs_single_insert_notify", sync / ((before + middle) / 2), "x",
               "one-by-one enqueue (sync) / raw INSERT+NOTIFY run just before and after", "median of per-repeat ratios")
    series.add("ratio_async_vs_single_insert_notify", async_ / ((middle + after) / 2), "x",
               "one-by-one enqueue (async) / raw (sync) INSERT+NOTIFY run just before and after",
               "median of per-repeat ratios")
    series.add("ratio_async_vs_async_single_insert_notify", async_ / async_raw, "x",
               "one-by-one enqueue (async) / raw INSERT+NOTIFY over AsyncConnection (like for like, information)",
               "median of per-repeat ratios")
    series.add("ratio_sync_vs_libpq_single_insert_notify", sync / libpq, "x",
               "one-by-one enqueue (sync) / raw INSERT+NOTIFY through libpq's prepared-statement call "
               "(the floor, information)", "median of per-repeat ratios")


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
            _one_by_one(ctx, series, n_single)
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
