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
from bench.workload import NOOP, QUEUE, SYNC_NOOP, RunContext, noop_jobs, wait_until

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
                         log_dir=ctx.log_dir, prefix=f"bench-{run_id}"):
        store.set_queue_paused(QUEUE, False)
        wait_until(lambda: ctx.db.unfinished() == 0, timeout=timeout, interval=0.1,
                   what=f"{n_jobs} jobs to finish ({variant.label})")
    completed, first, last = ctx.db.span()
    states = ctx.db.state_counts()
    if completed != n_jobs or first is None or last is None:
        raise RuntimeError(f"{variant.label}: {completed} of {n_jobs} completed, states {states}")
    return RunOutcome(completed, last - first, states)


def run(ctx: RunContext, results: Results) -> None:
    series = Series()
    for repeat in range(ctx.config.repeats):
        for variant in VARIANTS:
            ctx.db.reset()
            outcome = process_queued(ctx, variant, ctx.config.jobs, f"{variant.key}-r{repeat}-{int(time.time())}")
            series.add(variant.metric, outcome.jobs_per_s, "jobs/s", f"{variant.label} ({ctx.config.jobs} jobs)")
    ctx.db.reset()
    series.flush(results, SECTION)
    best = max(ONE_WORKER, key=lambda v: results.median(v.metric) or 0.0)
    figure = results.figures[best.metric]
    results.add(SECTION, "processing_one_worker_best_jobs_per_s", "jobs/s", figure.values,
                label=f"best one-worker no-op figure ({best.label})")


def describe() -> dict[str, Any]:
    return {"variants": [v.label for v in VARIANTS], "measure": "completed / (max(finished_at) - min(started_at))"}
