"""Section 5, never stuck: fail-fast enqueue, orphan rescue after SIGKILL, stranded detection.

- refuse: with no live worker, how long enqueue takes to raise NoLiveWorkerError (p50 of 100).
- rescue: worker A runs demo.sleep jobs, worker B idles; A gets SIGKILL; time until every one of
  A's jobs is running again on B (from the job records: the new started_at minus the kill time).
- stranded: the only worker (busy, ready jobs waiting behind it) gets SIGKILL; time until
  store.queue_stats() reports the queue stranded.

A killed worker is found out by its worker lock (about a second), a silent one by its heartbeat
(liveness_timeout). Rescue is measured with the default settings (15 s / 5 s), with short ones
(2 s / 0.5 s), and with the default settings and worker locks off (heartbeat only, the figure
before #18); the default and heartbeat-only profiles run at least RESCUE_RUNS times each and
report p50 and max. The heartbeat-only runs take ~20 s each; --quick (and
--no-default-settings-runs) skips the default-settings runs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.stats import Results, Series, percentile
from bench.workers import WorkerProcess
from bench.workload import NOOP, QUEUE, SLEEP, RunContext, payload, wait_until
from conveyor.errors import NoLiveWorkerError
from conveyor.settings import Settings

SECTION = "never_stuck"
REFUSE_TRIES = 100
RESCUE_JOBS = 5
SLEEP_S = 300.0  # far longer than any rescue: the jobs are still running when they are rescued
RESCUE_RUNS = 5  # at least this many SIGKILL runs per default-settings profile (p50 and max)


@dataclass(frozen=True)
class Profile:
    name: str
    liveness_timeout: float
    heartbeat_interval: float
    maintenance_interval: float
    worker_locks: bool = True

    @property
    def env(self) -> Mapping[str, str]:
        return {
            "CONVEYOR_LIVENESS_TIMEOUT": str(self.liveness_timeout),
            "CONVEYOR_HEARTBEAT_INTERVAL": str(self.heartbeat_interval),
            "CONVEYOR_MAINTENANCE_INTERVAL": str(self.maintenance_interval),
            "CONVEYOR_WORKER_LOCKS": "1" if self.worker_locks else "0",
        }

    @property
    def describe(self) -> str:
        return (f"liveness {self.liveness_timeout:g} s, heartbeat {self.heartbeat_interval:g} s, "
                f"maintenance {self.maintenance_interval:g} s"
                + ("" if self.worker_locks else ", worker locks off: heartbeat only"))


_defaults = Settings()
DEFAULT = Profile("default", _defaults.liveness_timeout, _defaults.heartbeat_interval, _defaults.maintenance_interval)
SHORT = Profile("short", 2.0, 0.5, 0.5)
HEARTBEAT_ONLY = Profile("heartbeat_only", DEFAULT.liveness_timeout, DEFAULT.heartbeat_interval,
                         DEFAULT.maintenance_interval, worker_locks=False)


def _refuse_ms(ctx: RunContext) -> list[float]:
    ctx.db.reset()
    task = ctx.task(NOOP)
    timings = []
    for i in range(REFUSE_TRIES + 5):
        start = time.perf_counter()
        try:
            task.enqueue(payload(i))
        except NoLiveWorkerError:
            elapsed = (time.perf_counter() - start) * 1000
        else:
            raise RuntimeError("enqueue was accepted with no live worker")
        if i >= 5:  # the first few open connections and warm caches
            timings.append(elapsed)
    if ctx.db.job_count() != 0:
        raise RuntimeError("a refused enqueue wrote a job")
    return timings


def _worker(ctx: RunContext, name: str, concurrency: int, profile: Profile) -> WorkerProcess:
    worker = WorkerProcess(ctx.db.url, worker_id=f"bench-{name}-{int(time.time() * 1000) % 10**7}",
                           concurrency=concurrency, log_dir=ctx.log_dir, env=profile.env)
    worker.start()
    worker.wait_ready()
    return worker


def _running_on(ctx: RunContext, ids: list[str], worker_id: str) -> bool:
    rows = ctx.db.jobs(ids)
    return len(rows) == len(ids) and all(state == "running" and wid == worker_id for _, state, wid, _ in rows)


def _rescue_s(ctx: RunContext, profile: Profile) -> tuple[float, float]:
    """(seconds until the first, until the last of A's jobs runs again on B)."""
    ctx.db.reset()
    a = _worker(ctx, "doomed", 10, profile)
    b: WorkerProcess | None = None
    try:
        sleep = ctx.task(SLEEP)
        ids = [sleep.enqueue(SLEEP_S).id for _ in range(RESCUE_JOBS)]
        wait_until(lambda: _running_on(ctx, ids, a.worker_id), timeout=30, what="jobs running on worker A")
        b = _worker(ctx, "rescuer", 10, profile)
        # B has heartbeaten at least once and idles; the random part spreads the kill over A's
        # heartbeat cycle, so repeats sample the whole range rather than one phase.
        time.sleep(profile.heartbeat_interval * (1 + random.random()))
        killed_at = time.time()
        a.kill()
        limit = profile.liveness_timeout + profile.maintenance_interval + 30
        wait_until(lambda: _running_on(ctx, ids, b.worker_id), timeout=limit, interval=0.05,  # type: ignore[union-attr]
                   what="killed worker's jobs to run again")
        starts = [started for _, _, _, started in ctx.db.jobs(ids) if started is not None]
        return min(starts) - killed_at, max(starts) - killed_at
    finally:
        a.kill()
        if b is not None:
            b.kill()
        ctx.db.reset()


def _stranded_s(ctx: RunContext, profile: Profile) -> float:
    ctx.db.reset()
    a = _worker(ctx, "last", 1, profile)
    try:
        busy = ctx.task(SLEEP).enqueue(SLEEP_S).id
        wait_until(lambda: _running_on(ctx, [busy], a.worker_id), timeout=30, what="the busy job to run")
        for i in range(3):
            ctx.task(NOOP).enqueue(payload(i))  # ready, waiting behind the busy slot

        def stranded() -> bool:
            return any(q.name == QUEUE and q.stranded for q in ctx.store.queue_stats(profile.liveness_timeout))

        if stranded():
            raise RuntimeError("queue reported stranded while its worker lives")
        killed = time.monotonic()
        a.kill()
        seen = wait_until(stranded, timeout=profile.liveness_timeout + 30, interval=0.05, what="stranded report")
        return seen - killed
    finally:
        a.kill()
        ctx.db.reset()


def run(ctx: RunContext, results: Results) -> None:
    series = Series()
    for _ in range(ctx.config.repeats):
        timings = _refuse_ms(ctx)
        series.add("refuse_ms_p50", percentile(timings, 50), "ms",
                   f"enqueue refused, no live worker: p50 of {REFUSE_TRIES}")
        series.add("refuse_ms_p95", percentile(timings, 95), "ms",
                   f"enqueue refused, no live worker: p95 of {REFUSE_TRIES}")
    profiles = [SHORT, DEFAULT, HEARTBEAT_ONLY] if ctx.config.never_stuck_defaults else [SHORT]
    for profile in profiles:
        runs = ctx.config.repeats if profile is SHORT else max(ctx.config.repeats, RESCUE_RUNS)
        for i in range(runs):
            first, last = _rescue_s(ctx, profile)
            series.add(f"rescue_{profile.name}_s", last, "s",
                       f"SIGKILL -> all {RESCUE_JOBS} jobs running again on another worker ({profile.describe})")
            series.add(f"rescue_{profile.name}_first_s", first, "s",
                       f"SIGKILL -> first job running again ({profile.describe})")
            if profile is not HEARTBEAT_ONLY and i < ctx.config.repeats:
                series.add(f"stranded_{profile.name}_s", _stranded_s(ctx, profile), "s",
                           f"SIGKILL of the last worker -> queue reported stranded ({profile.describe})")
    series.flush(results, SECTION)
    for profile in profiles:  # the worst run beside the median (p50) of the runs
        rescue = results.figures.get(f"rescue_{profile.name}_s")
        if rescue is not None and profile is not SHORT:
            results.add(SECTION, f"rescue_{profile.name}_max_s", "s", [max(rescue.values)],
                        label=f"SIGKILL -> all {RESCUE_JOBS} jobs running again: max of {len(rescue.values)} runs "
                        f"({profile.describe})")


def describe(ctx: RunContext) -> dict[str, Any]:
    return {
        "refuse_tries": REFUSE_TRIES,
        "rescue_jobs": RESCUE_JOBS,
        "profiles": {p.name: p.describe for p in (SHORT, DEFAULT, HEARTBEAT_ONLY)},
        "default_profile_runs": max(ctx.config.repeats, RESCUE_RUNS) if ctx.config.never_stuck_defaults else 0,
        "heartbeat_only_profile_runs": max(ctx.config.repeats, RESCUE_RUNS) if ctx.config.never_stuck_defaults else 0,
        "short_profile_runs": ctx.config.repeats,
    }

