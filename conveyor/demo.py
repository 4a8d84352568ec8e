"""Demo tasks: what `conveyor up` runs so a new user sees jobs move within a minute."""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from typing import Any

from conveyor.app import Conveyor
from conveyor.context import JobContext
from conveyor.demo_pipeline import register as register_pipeline
from conveyor.errors import PermanentError
from conveyor.etl.github.pipeline import register_github_pipeline
from conveyor.etl.jira.pipeline import register_jira

app = Conveyor(app_path="conveyor.demo:app")
register_pipeline(app)  # demo.shop_etl: the run the Pipelines page shows under `conveyor up`
register_jira(app)  # the demo tenant's Jira sync (conveyor/demo_jira.py) runs on this app
register_github_pipeline(app)  # and its GitHub sync (conveyor/etl/github/demo.py)


@app.task(name="demo.generate_routes", queue="default", timeout=300)
def generate_routes(ctx: JobContext, stops: int = 500, routes: int = 40) -> dict[str, Any]:
    """CPU work with progress: plan `routes` delivery routes over `stops` random points."""
    rng = random.Random(stops * 7919 + routes)
    best_lengths = []
    for index in range(routes):
        if ctx.cancelled:
            break
        points = [(rng.random(), rng.random()) for _ in range(stops)]
        route, remaining = [points[0]], points[1:]
        while remaining:  # nearest-neighbour tour: real work, a few ms per route
            last = route[-1]
            nearest = min(remaining, key=lambda p: math.dist(last, p))
            remaining.remove(nearest)
            route.append(nearest)
        best_lengths.append(sum(math.dist(a, b) for a, b in zip(route, route[1:], strict=False)))
        ctx.progress(percent=100.0 * (index + 1) / routes, processed=index + 1)
    return {"routes": len(best_lengths), "shortest": round(min(best_lengths), 4) if best_lengths else None}


@app.task(name="demo.slow_steps", queue="default", timeout=600)
def slow_steps(ctx: JobContext, steps: int = 10, seconds_per_step: float = 0.5) -> dict[str, Any]:
    """A slow job whose progress bar moves visibly: `steps` steps of `seconds_per_step`."""
    for step in range(steps):
        if ctx.cancelled:
            return {"stopped_at": step}
        ctx.sleep(seconds_per_step)
        ctx.progress(percent=100.0 * (step + 1) / steps, processed=step + 1)
    return {"steps": steps}


@app.task(name="demo.fetch_pages", queue="default", timeout=60)
async def fetch_pages(ctx: JobContext, pages: int = 5) -> dict[str, Any]:
    """I/O-bound async work: `pages` simulated downloads, some of which fail per item."""
    digests, failed = [], 0
    for index in range(pages):
        await asyncio.sleep(0.05)
        if index % 7 == 6:
            failed += 1
        else:
            digests.append(hashlib.sha256(f"page-{index}".encode()).hexdigest()[:12])
        await ctx.aprogress(percent=100.0 * (index + 1) / pages, processed=len(digests), failed=failed)
    return {"fetched": len(digests), "failed": failed}


@app.task(name="demo.flaky", queue="default", max_attempts=4)
def flaky(ctx: JobContext, fail_times: int = 2) -> str:
    """Fails on its first `fail_times` attempts, then succeeds: shows retries with backoff."""
    if ctx.attempt <= fail_times:
        raise ConnectionError(f"upstream unavailable (attempt {ctx.attempt} of {ctx.max_attempts})")
    return f"succeeded on attempt {ctx.attempt}"


@app.task(name="demo.poison", queue="default", max_attempts=2)
def poison(reason: str = "bad input") -> None:
    """Always fails: ends in the dead-letter list."""
    raise ValueError(f"cannot process: {reason}")


@app.task(name="demo.reject", queue="default")
def reject(reason: str = "invalid arguments") -> None:
    """A permanent error: dead at once, no retry."""
    raise PermanentError(reason)


@app.task(name="demo.noop", queue="default")
async def noop(payload: Any = None) -> Any:
    """Does nothing: for benchmarks and pickup checks."""
    return None


@app.task(name="demo.sync_noop", queue="default")
def sync_noop(payload: Any = None) -> Any:
    return None


@app.task(name="demo.sleep", queue="default")
async def sleep(seconds: float = 1.0) -> float:
    await asyncio.sleep(seconds)
    return seconds


def seed_demo_jobs(target: Conveyor) -> list[str]:
    """A handful of jobs that show every state: progress, retries, a dead letter."""
    handles = [
        target.enqueue("demo.generate_routes", kwargs={"stops": 800, "routes": 80}),
        target.enqueue("demo.slow_steps", kwargs={"steps": 20, "seconds_per_step": 0.5}),
        target.enqueue("demo.fetch_pages", kwargs={"pages": 12}),
        target.enqueue("demo.flaky", kwargs={"fail_times": 2}),
        target.enqueue("demo.poison", kwargs={"reason": "malformed invoice 1042"}),
        target.enqueue("demo.generate_routes", kwargs={"stops": 200, "routes": 30}, delay=20),
    ]
    return [h.id for h in handles]


def trickle_job(target: Conveyor) -> str:
    """One random demo job, so `conveyor up` keeps something moving on the dashboard."""
    choices: list[tuple[str, dict[str, Any]]] = [
        ("demo.generate_routes", {"stops": 500, "routes": 40}),
        ("demo.fetch_pages", {"pages": 20}),
        ("demo.slow_steps", {"steps": 8, "seconds_per_step": 0.5}),
        ("demo.flaky", {"fail_times": 1}),
    ]
    task, kwargs = random.choice(choices)
    return target.enqueue(task, kwargs=kwargs).id
