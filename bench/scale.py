"""Section 4, scale: processing and dashboard queries with many finished jobs vs an empty table.

Each repeat processes N no-op jobs with one worker process, then times the dashboard's two
queries (first page of store.list_jobs, store.queue_stats) over the table it left behind. This
runs first on an empty table, then again after inserting `scale_rows` completed jobs finished
more than an hour ago. Ratios (history / empty) should stay near 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.processing import SCALE_VARIANT, process_queued
from bench.stats import Results, Series, percentile
from bench.workload import BenchTimeout, RunContext
from conveyor.store import JobFilter

SECTION = "scale"
QUERY_TRIES = 100
QUERY_WARMUP = 5
LIVENESS = 15.0


def _timings_ms(fn: Callable[[], Any], tries: int = QUERY_TRIES) -> list[float]:
    for _ in range(QUERY_WARMUP):
        fn()
    out = []
    for _ in range(tries):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _measure(ctx: RunContext, results: Results, series: Series, tag: str, what: str) -> None:
    store = ctx.store
    for repeat in range(ctx.config.repeats):
        ctx.db.delete_recent()
        try:
            outcome = process_queued(ctx, SCALE_VARIANT, ctx.config.jobs, f"scale-{tag}-r{repeat}-{int(time.time())}")
        except (BenchTimeout, RuntimeError) as exc:  # the queries are still timed over what is there
            results.errors[f"{SECTION}/{tag}-r{repeat}"] = f"{what}: processing: {exc}"
        else:
            series.add(f"scale_{tag}_processing_jobs_per_s", outcome.jobs_per_s, "jobs/s",
                       f"{what}: processing, {SCALE_VARIANT.label}")
        list_ms = _timings_ms(lambda: store.list_jobs(JobFilter(), limit=50))
        stats_ms = _timings_ms(lambda: store.queue_stats(LIVENESS))
        for name, values in (("list_jobs", list_ms), ("queue_stats", stats_ms)):
            for pct in (50, 95):
                series.add(f"scale_{tag}_{name}_ms_p{pct}", percentile(values, pct), "ms",
                           f"{what}: {name} p{pct}")


def run(ctx: RunContext, results: Results) -> None:
    rows = ctx.config.scale_rows
    series = Series()
    ctx.db.reset()
    _measure(ctx, results, series, "empty", "empty table")
    ctx.db.reset()
    start = time.perf_counter()
    ctx.db.insert_history(rows)
    insert_s = time.perf_counter() - start
    history = ctx.db.job_count()
    if history != rows:
        raise RuntimeError(f"inserted {history} history rows, expected {rows}")
    _measure(ctx, results, series, "history", f"{rows:,} finished rows")
    series.add("scale_history_insert_rows_per_s", rows / insert_s, "rows/s",
               f"inserting {rows:,} finished rows (set-up, not a target)")
    series.flush(results, SECTION)
    ctx.db.reset()
    vacuum = getattr(ctx.db, "vacuum", None)
    if vacuum is not None:
        vacuum()

    def ratio(name: str, invert: bool = False) -> None:
        empty, full = results.median(f"scale_empty_{name}"), results.median(f"scale_history_{name}")
        if empty is None or full is None:
            return
        # Latencies are inverted (empty / full) so that every ratio reads "near 1, higher is better".
        value = empty / full if invert else full / empty
        label = f"{name}: empty / with {rows:,} rows" if invert else f"{name}: with {rows:,} rows / empty"
        results.add(SECTION, f"scale_ratio_{name}", "x", [value], label=label, note="ratio of the medians")

    ratio("processing_jobs_per_s")
    ratio("list_jobs_ms_p95", invert=True)
    ratio("queue_stats_ms_p95", invert=True)


def describe(ctx: RunContext) -> dict[str, Any]:
    return {
        "history_rows": ctx.config.scale_rows,
        "history_rows_state": "completed, finished 2 h+ ago",
        "processing": SCALE_VARIANT.label,
        "query_tries": QUERY_TRIES,
        "queries": ["store.list_jobs(JobFilter(), limit=50)", f"store.queue_stats({LIVENESS:g})"],
    }
