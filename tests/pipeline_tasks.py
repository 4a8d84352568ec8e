"""Stage tasks and pipelines the pipeline tests run (in-process and in worker subprocesses)."""

from __future__ import annotations

import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conveyor import JobContext, PermanentError
from conveyor.errors import ParkJob
from conveyor.store.base import JobFilter
from tests.tasks import FAST_RETRY, app

QUEUES = "p_extract,p_transform,p_embed"


@app.task(name="p.extract", queue="p_extract", max_attempts=3, retry=FAST_RETRY)
def extract(ctx: JobContext, params: dict[str, Any]) -> int:
    """Emits params['n'] items; with raw=True each item is saved raw first and its row id emitted."""
    n = int(params.get("n", 3))
    if params.get("raw"):
        for i in range(n):
            ctx.emit(ctx.save_raw(f'{{"item": {i}}}', source="test-api", fingerprint=f"page={i}"))
    else:
        ctx.emit(*range(n))
    return n


@app.task(name="p.transform", queue="p_transform", max_attempts=3, retry=FAST_RETRY)
def transform(ctx: JobContext, item: Any) -> Any:
    """Passes the item on. Knobs from env (set for worker processes): random delay, a poison item."""
    delay = float(os.environ.get("P_DELAY", "0"))
    if delay:
        time.sleep(random.uniform(0, delay))
    if isinstance(item, int) and str(item) == os.environ.get("P_POISON", "") and \
            not os.path.exists(os.environ.get("P_CURE", "/nonexistent")):
        raise PermanentError(f"cannot transform item {item}")
    if isinstance(item, int) and os.environ.get("P_RAW") == "1":
        item = ctx.load_raw(item)
    ctx.emit(item)
    return item


@app.task(name="p.embed", queue="p_embed", max_attempts=3, retry=FAST_RETRY)
def embed(ctx: JobContext, item: Any) -> Any:
    return item


@app.task(name="p.slow", queue="p_transform", max_attempts=3, retry=FAST_RETRY)
def slow(ctx: JobContext, item: Any) -> Any:
    """A transform that takes a while (for SIGKILL and cancel tests)."""
    deadline = time.monotonic() + float(os.environ.get("P_SLOW", "0.05"))
    while time.monotonic() < deadline and not ctx.cancelled:
        time.sleep(0.005)
    ctx.emit(item)
    return item


@app.task(name="p.atransform", queue="p_transform", max_attempts=3, retry=FAST_RETRY)
async def atransform(ctx: JobContext, item: Any) -> Any:
    ctx.emit(item)
    return item


@app.task(name="p.aembed", queue="p_embed", max_attempts=3, retry=FAST_RETRY)
async def aembed(ctx: JobContext, item: Any) -> Any:
    return item


@app.task(name="p.emit_then_fail", queue="p_transform", max_attempts=3, retry=FAST_RETRY)
def emit_then_fail(ctx: JobContext, item: Any) -> Any:
    """Emits, then fails its first attempt: that attempt's emit must never land."""
    ctx.emit(item)
    if ctx.attempt == 1:
        raise ConnectionError(f"lost the connection after emitting {item}")
    return item


@app.task(name="p.emit_then_hang", queue="p_transform", max_attempts=3, retry=FAST_RETRY, timeout=0.3)
async def emit_then_hang(ctx: JobContext, item: Any) -> Any:
    """Emits, then overruns its timeout on the first attempt: that attempt's emit must never land."""
    ctx.emit(item)
    if ctx.attempt == 1:
        await asyncio.sleep(30)
    return item


@app.task(name="p.paged", queue="p_extract", max_attempts=3, retry=FAST_RETRY)
def paged(ctx: JobContext, params: dict[str, Any]) -> bool:
    """One page per job: emits its page and continues its own stage with the next, until
    params['n'] pages. Page 1's first attempt fails after emitting and continuing (neither may
    land). The last page waits (with a deadline) for page 0's transform to have completed:
    True when it did, i.e. the next stage ran while this one went on."""
    page = int(params.get("page", 0))
    ctx.emit(page)
    if page + 1 < int(params["n"]):
        ctx.continue_stage({"n": params["n"], "page": page + 1})
        if page == 1 and ctx.attempt == 1:
            raise ConnectionError("lost the connection after emitting and continuing")
        return False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done = [j for j in ctx.store.list_jobs(JobFilter(task="p.transform", token=ctx.token), limit=50)
                if j.args == [0]]
        if any(j.state == "completed" for j in done):
            return True
        time.sleep(0.02)
    return False
@app.task(name="p.park_once", queue="p_transform", max_attempts=1)
def park_once(ctx: JobContext, item: Any) -> Any:
    """Runs P_BEFORE_PARK seconds, then parks its first run for P_PARK seconds (a rate limit:
    ParkJob gives the attempt back, so one attempt is enough); resumed, runs P_AFTER_PARK seconds
    (so it is seen running again) and passes the item on. A marker file per job in P_PARK_DIR
    remembers the park across processes."""
    mark = Path(os.environ["P_PARK_DIR"]) / f"parked-{ctx.job_id}"
    if not mark.exists():
        time.sleep(float(os.environ.get("P_BEFORE_PARK", "0")))
        mark.write_text(ctx.job_id)
        resume_at = datetime.now(UTC) + timedelta(seconds=float(os.environ.get("P_PARK", "2")))
        raise ParkJob(resume_at, "rate limited: 429 with Retry-After")
    time.sleep(float(os.environ.get("P_AFTER_PARK", "0")))
    ctx.emit(item)
    return item


def _stages(transform_task: str = "p.transform", extract_queue: str | None = None) -> list[dict[str, Any]]:
    return [{"name": "extraction", "task": "p.extract", "queue": extract_queue},
            {"name": "transform", "task": transform_task},
            {"name": "embedding", "task": "p.embed"}]


etl = app.pipeline("t.etl", steps=[{"name": "main", "display_name": "Main", "stages": _stages()}])
etl_async = app.pipeline("t.etl_async", steps=[{"name": "main", "stages": [
    {"name": "extraction", "task": "p.extract"}, {"name": "transform", "task": "p.atransform"},
    {"name": "embedding", "task": "p.aembed"}]}])
etl_slow = app.pipeline("t.etl_slow", steps=[{"name": "main", "stages": _stages("p.slow")}])
etl_two = app.pipeline("t.etl_two", steps=[
    {"name": "first", "stages": _stages()},
    {"name": "second", "stages": _stages()},
])
etl_wait = app.pipeline("t.etl_wait", steps=[
    {"name": "first", "stages": _stages()},
    {"name": "second", "stages": _stages(), "order": "wait"},
])
etl_continue = app.pipeline("t.etl_continue", steps=[
    {"name": "first", "stages": _stages(), "on_failure": "continue"},
    {"name": "second", "stages": _stages(), "order": "wait", "on_failure": "continue"},
])
etl_fail_once = app.pipeline("t.etl_fail_once", steps=[{"name": "main", "stages": _stages("p.emit_then_fail")}])
etl_hang_once = app.pipeline("t.etl_hang_once", steps=[{"name": "main", "stages": _stages("p.emit_then_hang")}])
etl_paged = app.pipeline("t.etl_paged", steps=[{"name": "main", "stages": [
    {"name": "extraction", "task": "p.paged"}, {"name": "transform", "task": "p.transform"},
    {"name": "embedding", "task": "p.embed"}]}])
etl_park = app.pipeline("t.etl_park", steps=[{"name": "main", "stages": _stages("p.park_once")}])
etl_tiered = app.pipeline("t.etl_tiered", steps=[
    {"name": "main", "stages": _stages(extract_queue="p_extract_{tier}")},
])
