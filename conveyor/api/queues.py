"""Queues: per-queue counts (tenant keys see their tenant's counts only), pause and resume."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from conveyor.api.auth import AUTH_ERRORS, Admin, Caller, Viewer
from conveyor.api.schemas import QUEUE_PATTERN, QueueListOut, QueueOut
from conveyor.api.state import get_ctx

router = APIRouter(tags=["queues"], responses=AUTH_ERRORS)
QueueName = Annotated[str, Path(pattern=QUEUE_PATTERN)]


def queue_items(request: Request, caller: Caller) -> list[dict[str, Any]]:
    ctx = get_ctx(request)
    return [s.to_dict() for s in ctx.store.queue_stats(ctx.settings.liveness_timeout, caller.tenant)]


@router.get("/api/queues", response_model=QueueListOut)
def list_queues(request: Request, caller: Viewer) -> dict[str, Any]:
    return {"items": queue_items(request, caller)}


def _set_paused(request: Request, caller: Caller, name: str, paused: bool) -> dict[str, Any]:
    ctx = get_ctx(request)
    ctx.store.set_queue_paused(name, paused)
    for item in queue_items(request, caller):
        if item["name"] == name:
            return item
    # A tenant key sees only queues its tenant has jobs in: describe the queue anyway.
    return {"name": name, "counts": {s: 0 for s in ("scheduled", "queued", "running", "dead", "failed")},
            "live_workers": ctx.store.live_worker_count(name, ctx.settings.liveness_timeout)[0],
            "paused": paused, "oldest_ready_age": None, "stranded": False,
            "throughput": {"last_minute": 0, "last_hour": 0}}


@router.post("/api/queues/{name}/pause", response_model=QueueOut)
def pause_queue(request: Request, name: QueueName, caller: Admin) -> dict[str, Any]:
    """Workers stop claiming from the queue (running jobs finish); enqueue still accepts jobs."""
    return _set_paused(request, caller, name, True)


@router.post("/api/queues/{name}/resume", response_model=QueueOut)
def resume_queue(request: Request, name: QueueName, caller: Admin) -> dict[str, Any]:
    return _set_paused(request, caller, name, False)
