"""Section 3, pickup latency: an idle worker, jobs enqueued one at a time ~10 ms apart.

Latency is started_at - queued_at from the job records. On PostgreSQL both are server clock
readings (queued_at = now() of the INSERT, started_at = clock_timestamp() of the claim); on
SQLite both are time.time() of the two processes on the same machine.
"""

from __future__ import annotations

import time
from typing import Any

from bench.stats import Results, Series, percentile
from bench.workers import running_workers
from bench.workload import NOOP, RunContext, payload, wait_drained

SECTION = "latency"
WORKER_CONCURRENCY = 10


def _one_run(ctx: RunContext, run_id: str) -> list[float]:
    samples, interval = ctx.config.latency_samples, ctx.config.latency_interval_s
    task = ctx.task(NOOP)
    ctx.db.reset()
    with running_workers(ctx.db.url, count=1, concurrency=WORKER_CONCURRENCY, log_dir=ctx.log_dir,
                         prefix=f"bench-lat-{run_id}"):
        time.sleep(0.5)  # let the worker settle into its idle wait
        start = time.perf_counter()
        for i in range(samples):
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            task.enqueue(payload(i))
        wait_drained(ctx.db.unfinished, timeout=60, what="latency jobs")
    latencies = ctx.db.pickup_latencies_ms()
    if len(latencies) != samples:
        raise RuntimeError(f"{len(latencies)} of {samples} latency jobs completed: {ctx.db.state_counts()}")
    return latencies


def run(ctx: RunContext, results: Results) -> None:
    series = Series()
    label = f"pickup latency, idle worker, {ctx.config.latency_samples} jobs {ctx.config.latency_interval_s * 1000:g} ms apart"
    for repeat in range(ctx.config.repeats):
        latencies = _one_run(ctx, f"r{repeat}-{int(time.time())}")
        for pct in (50, 95, 99):
            series.add(f"pickup_latency_ms_p{pct}", percentile(latencies, pct), "ms", f"{label}: p{pct}")
        series.add("pickup_latency_ms_max", max(latencies), "ms", f"{label}: max")
    ctx.db.reset()
    series.flush(results, SECTION)


def describe(ctx: RunContext) -> dict[str, Any]:
    return {
        "samples": ctx.config.latency_samples,
        "interval_ms": ctx.config.latency_interval_s * 1000,
        "worker_concurrency": WORKER_CONCURRENCY,
        "measure": "started_at - queued_at per job",
    }
