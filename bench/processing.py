"""Section 2, processing: N jobs already queued, worker processes drain them.

The queue is paused while the jobs are enqueued and the workers start, then resumed, so every
worker claims from the first moment. Throughput comes from the job records:
completed / (max(finished_at) - min(started_at)).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench.stats import Results, Series
from bench.workers import running_workers
from bench.workload import NOOP, QUEUE, SYNC_NOOP, BenchTimeout, RunContext, noop_jobs, wait_drained

SECTION = "processing"


@dataclass(frozen=True)
class Variant:
    key: str
    processes: int
    concurrency: int
    task: str = NOOP

    @property
    def metric(self) -> str:
        kind = "" if self.task == NOOP else "_sync"
        return f"processing_{self.processes}w_c{self.concurrency}{kind}_jobs_per_s"

    @property
    def cpu_metric(self) -> str:
        return self.metric.replace("_jobs_per_s", "_worker_cpu_us_per_job")

    @property
    def label(self) -> str:
        plural = "es" if self.processes > 1 else ""
        return f"{self.processes} worker process{plural}, concurrency {self.concurrency}, {self.task}"


VARIANTS = (
    Variant("1w_c1", 1, 1),
    Variant("1w_c10", 1, 10),
    Variant("1w_c100", 1, 100),
    Variant("2w_c100", 2, 100),
    Variant("1w_c10_sync", 1, 10, SYNC_NOOP),
)
ONE_WORKER = tuple(v for v in VARIANTS if v.processes == 1 and v.task == NOOP)
SCALE_VARIANT = VARIANTS[2]


@dataclass
class RunOutcome:
    completed: int
    seconds: float
    states: dict[str, int]
    worker_cpu_s: float | None  # CPU time of all worker processes while they drained the queue

    @property
    def jobs_per_s(self) -> float:
        return self.completed / self.seconds


def process_queued(ctx: RunContext, variant: Variant, n_jobs: int, run_id: str) -> RunOutcome:
    """Queue n_jobs (queue paused), start the workers, resume, wait until all are done."""
    store = ctx.store
    store.set_queue_paused(QUEUE, True)
    ctx.app.enqueue_many(noop_jobs(ctx, n_jobs, variant.task), policy="accept")
    ctx.db.analyze()
    timeout = 120.0 + n_jobs / 50.0
    with running_workers(ctx.db.url, count=variant.processes, concurrency=variant.concurrency,
                         log_dir=ctx.log_dir, prefix=f"bench-{run_id}") as workers:
        cpu_before = [w.cpu_seconds() for w in workers]
        store.set_queue_paused(QUEUE, False)
        wait_drained(ctx.db.unfinished, timeout=timeout, what=f"jobs ({variant.label})")
        cpu_after = [w.cpu_seconds() for w in workers]
    readings = list(zip(cpu_before, cpu_after, strict=True))
    worker_cpu = (sum(b - a for a, b in readings if a is not None and b is not None)
                  if all(a is not None and b is not None for a, b in readings) else None)
    completed, first, last = ctx.db.span()
    states = ctx.db.state_counts()
    if completed != n_jobs or first is None or last is None:
        raise RuntimeError(f"{variant.label}: {completed} of {n_jobs} completed, states {states}")
    return RunOutcome(completed, last - first, states, worker_cpu)


def run(ctx: RunContext, results: Results) -> None:
    """Every variant, interleaved across repeats; a variant that fails is recorded and skipped."""
    series = Series()
    failed: set[str] = set()
    for repeat in range(ctx.config.repeats):
        for variant in VARIANTS:
            if variant.key in failed:
                continue
            ctx.db.reset()
            try:
                outcome = process_queued(ctx, variant, ctx.config.jobs, f"{variant.key}-r{repeat}-{int(time.time())}")
            except (BenchTimeout, RuntimeError) as exc:
                failed.add(variant.key)
                results.errors[f"{SECTION}/{variant.key}"] = f"{variant.label}: {exc}"
                continue
            series.add(variant.metric, outcome.jobs_per_s, "jobs/s", f"{variant.label} ({ctx.config.jobs} jobs)")
            if outcome.worker_cpu_s is not None:
                series.add(variant.cpu_metric, outcome.worker_cpu_s / outcome.completed * 1e6, "us",
                           f"{variant.label}: worker CPU per job",
                           "user+system CPU of the worker processes / jobs; less sensitive to a busy machine")
    ctx.db.reset()
    series.flush(results, SECTION)
    measured = [v for v in ONE_WORKER if v.metric in results.figures]
    if measured:
        best = max(measured, key=lambda v: results.median(v.metric) or 0.0)
        results.add(SECTION, "processing_one_worker_best_jobs_per_s", "jobs/s", results.figures[best.metric].values,
                    label=f"best one-worker no-op figure ({best.label})")


def describe() -> dict[str, Any]:
    return {"variants": [v.label for v in VARIANTS], "measure": "completed / (max(finished_at) - min(started_at))"}
