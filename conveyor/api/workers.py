"""Workers: list, pause/resume/stop (applied by the worker at its next heartbeat), and the
supervised pool of `conveyor up` (start one more worker, stop one)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from conveyor.api.auth import AUTH_ERRORS, Admin, Viewer
from conveyor.api.errors import ApiError
from conveyor.api.schemas import (
    TEXT_PATTERN,
    ErrorOut,
    PoolStopOut,
    PoolWorkerIn,
    PoolWorkerOut,
    WorkerActionOut,
    WorkerListOut,
)
from conveyor.api.state import ApiContext, get_ctx
from conveyor.commands import worker_command
from conveyor.store import JobFilter

Responses = dict[int | str, dict[str, Any]]
router = APIRouter(tags=["workers"], responses=AUTH_ERRORS)
WorkerId = Annotated[str, Path(min_length=1, max_length=200, pattern=TEXT_PATTERN)]
NOT_FOUND: Responses = {404: {"model": ErrorOut, "description": "No live worker with that id"}}
NO_POOL: Responses = {409: {"model": ErrorOut, "description": "This server does not supervise workers"}}
ACTIONS = {"pause": "paused", "resume": "running", "stop": "stopping"}


def supervised_ids(ctx: ApiContext) -> set[str]:
    if ctx.supervisor is None:
        return set()
    ids = set()
    for entry in ctx.supervisor.workers():
        if isinstance(entry, dict):
            ident = entry.get("id") or entry.get("worker_id")
        else:
            ident = getattr(entry, "id", None) or getattr(entry, "worker_id", None)
        if ident:
            ids.add(str(ident))
    return ids


@router.get("/api/workers", response_model=WorkerListOut)
def list_workers(request: Request, caller: Viewer) -> dict[str, Any]:
    ctx = get_ctx(request)
    workers = ctx.store.list_workers(ctx.settings.liveness_timeout)
    supervised = supervised_ids(ctx)
    own_running: set[str] | None = None
    if caller.tenant is not None and any(w.current_jobs for w in workers):
        # A tenant key must not learn other tenants' job ids from what workers are running.
        running = ctx.store.list_jobs(JobFilter(states=["running"], tenant=caller.tenant), limit=10_000)
        own_running = {j.id for j in running}
    items = []
    for w in workers:
        item = w.to_dict()
        if own_running is not None:
            item["current_jobs"] = [j for j in w.current_jobs if j in own_running]
        item["supervised"] = w.id in supervised
        items.append(item)
    return {"items": items, "supervised": ctx.supervisor is not None}


def _request(request: Request, worker_id: str, action: str) -> dict[str, str]:
    ctx = get_ctx(request)
    desired = ACTIONS[action]
    if not ctx.store.set_worker_desired_state(worker_id, desired):
        raise ApiError(
            404, f"No live worker {worker_id}.",
            action="List workers with GET /api/workers; stopped and dead workers cannot be controlled.",
        )
    return {"id": worker_id, "requested": desired}


@router.post("/api/workers/{worker_id}/pause", response_model=WorkerActionOut, responses=NOT_FOUND)
def pause_worker(request: Request, worker_id: WorkerId, caller: Admin) -> dict[str, str]:
    """The worker stops claiming at its next heartbeat; jobs in flight finish."""
    return _request(request, worker_id, "pause")


@router.post("/api/workers/{worker_id}/resume", response_model=WorkerActionOut, responses=NOT_FOUND)
def resume_worker(request: Request, worker_id: WorkerId, caller: Admin) -> dict[str, str]:
    return _request(request, worker_id, "resume")


@router.post("/api/workers/{worker_id}/stop", response_model=WorkerActionOut, responses=NOT_FOUND)
def stop_worker(request: Request, worker_id: WorkerId, caller: Admin) -> dict[str, str]:
    """Graceful stop: no new claims, in-flight jobs finish (or are handed back), then it exits."""
    return _request(request, worker_id, "stop")


def _supervisor(ctx: ApiContext) -> Any:
    if ctx.supervisor is None:
        raise ApiError(
            409, "This server does not supervise a worker pool.",
            action="Start the server with `conveyor up --workers N` to add and remove workers from here, "
            f"or start workers yourself: {worker_command(ctx.app.app_path, 'high,default,low')}",
        )
    return ctx.supervisor


@router.post("/api/pool/workers", status_code=201, response_model=PoolWorkerOut, responses=NO_POOL)
def add_pool_worker(request: Request, caller: Admin, body: PoolWorkerIn | None = None) -> dict[str, Any]:
    """Start one more supervised worker: for the pool's queues, or the queues given."""
    queues = ",".join(body.queues) if body and body.queues else None
    supervisor = _supervisor(get_ctx(request))
    worker_id = supervisor.start_worker(queues) if queues else supervisor.start_worker()
    return {"id": str(worker_id), "supervised": True}


@router.delete("/api/pool/workers/{worker_id}", response_model=PoolStopOut, responses={**NO_POOL, **NOT_FOUND})
def remove_pool_worker(request: Request, worker_id: WorkerId, caller: Admin) -> dict[str, Any]:
    """Stop one supervised worker gracefully."""
    supervisor = _supervisor(get_ctx(request))
    if not supervisor.stop_worker(worker_id):
        raise ApiError(404, f"No supervised worker {worker_id}.", action="List workers with GET /api/workers.")
    return {"id": worker_id, "stopping": True}
