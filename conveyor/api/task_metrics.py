"""GET /api/metrics/tasks: per task and per queue over the last hour, day or week — attempts
processed and failed, duration p50/p95/max, pickup latency, and a series per task for charts.
Read from the per-minute aggregates (conveyor/task_metrics.py), never from the jobs table."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from conveyor.api.auth import AUTH_ERRORS, Viewer
from conveyor.api.schemas import QUEUE_PATTERN, TEXT_PATTERN, TaskMetricsOut
from conveyor.api.state import get_ctx
from conveyor.task_metrics import WINDOWS, summarise

router = APIRouter(tags=["metrics"], responses=AUTH_ERRORS)


@router.get("/api/metrics/tasks", response_model=TaskMetricsOut)
def task_metrics(
    request: Request,
    caller: Viewer,
    window: Annotated[Literal["hour", "day", "week"], Query(description="the last hour, day or week")] = "hour",
    task: Annotated[str | None, Query(max_length=200, pattern=TEXT_PATTERN, description="only this task")] = None,
    queue: Annotated[str | None, Query(pattern=QUEUE_PATTERN, description="only this queue")] = None,
) -> dict[str, Any]:
    """Attempts that ran and ended (completed = succeeded; failed towards a retry or dead =
    failed), their durations and pickup latency (queued -> started), per task and per queue, and
    per chart point (`step_seconds` wide) per task and overall. Tenant keys see their tenant."""
    ctx = get_ctx(request)
    length, step = WINDOWS[window]
    now = time.time()
    since = (now // step + 1) * step - length
    rows = ctx.store.task_metric_rows(since, step, caller.tenant)
    if task is not None:
        rows = [r for r in rows if r["task"] == task]
    if queue is not None:
        rows = [r for r in rows if r["queue"] == queue]
    return summarise(rows, window, now)
