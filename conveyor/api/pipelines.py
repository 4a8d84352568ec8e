"""Pipelines over HTTP: declared pipelines, start a run, list and read runs, cancel, retry a
step, reprocess from raw data; WS /ws/runs/{id} (snapshot + numbered changes) and WS /ws/runs."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from conveyor.api.auth import AUTH_ERRORS, Operator, Viewer
from conveyor.api.errors import ApiError
from conveyor.api.events import _authenticate, _refuse, _text_param
from conveyor.api.jobs import enqueue_tenant
from conveyor.api.runs_feed import RunHub, RunSubscriber
from conveyor.api.schemas import TENANT_PATTERN, TEXT_PATTERN, ErrorOut
from conveyor.api.state import get_ctx
from conveyor.api.ws_pump import pump
from conveyor.pipelines.rules import RUN_STATES
from conveyor.store.pipelines_common import RunFilter, pipeline_sql

router = APIRouter(tags=["pipelines"], responses=AUTH_ERRORS)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "No such pipeline or run"}}
TextQuery = Annotated[str | None, Query(max_length=200, pattern=TEXT_PATTERN)]


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    params: dict[str, Any] = Field(default_factory=dict, description="JSON object given to each step's entry stage")
    tenant: str | None = Field(default=None, pattern=TENANT_PATTERN)
    tier: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    token: str | None = Field(default=None, max_length=200, pattern=TEXT_PATTERN)
    policy: Literal["refuse", "record_failed", "accept"] | None = None


class ReprocessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_stage: str = Field(max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")


def hub_of(request: Request | WebSocket) -> RunHub:
    state = request.app.state
    hub: RunHub | None = getattr(state, "run_hub", None)
    if hub is None:
        raise ApiError(503, "The run feed is not running.", action="Restart the server.")
    return hub


def run_not_found(run_id: str) -> ApiError:
    return ApiError(404, f"No pipeline run {run_id[:64]}.", action="Check the id; list runs with GET /api/runs.")


def _cursor(run_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([run_id]).encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        values = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii")))
        if not isinstance(values, list) or len(values) != 1 or not isinstance(values[0], str):
            raise ValueError
        return values[0]
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise ApiError(400, "The cursor is not valid.", action="Pass next_cursor of the previous page unchanged.",
                       fields=[{"field": "cursor", "location": "query", "message": "not a cursor"}]) from None


@router.get("/api/pipelines")
def list_pipelines(request: Request, caller: Viewer) -> dict[str, Any]:
    ctx = get_ctx(request)
    fixed = {st.queue or ctx.app.get_task(st.task).options.queue
             for p in ctx.app.pipelines.values() for s in p.declaration.steps for st in s.stages
             if not st.queue or "{" not in st.queue}
    live = pipeline_sql(ctx.store).live_workers(sorted(fixed), ctx.settings.liveness_timeout) if fixed else {}
    items = []
    for _name, declared in sorted(ctx.app.pipelines.items()):
        data = declared.declaration.to_dict()
        for step in data["steps"]:
            for stage in step["stages"]:
                queue = stage["queue"] or ctx.app.get_task(stage["task"]).options.queue
                templated = "{" in queue
                stage.update(queue=queue, template=templated, live_workers=None if templated else live.get(queue, 0))
        items.append(data)
    return {"items": items}


@router.post("/api/pipelines/{name}/runs", status_code=201,
             responses={**NOT_FOUND, 503: {"model": ErrorOut, "description": "No live worker serves a stage queue"}})
def start_run(request: Request, name: str, body: StartIn, caller: Operator) -> JSONResponse:
    ctx = get_ctx(request)
    if name not in ctx.app.pipelines:
        raise ApiError(404, f"Unknown pipeline {name[:100]!r}.",
                       action=f"Use one of: {', '.join(sorted(ctx.app.pipelines)) or 'none declared'}.")
    ctx.limiter.check(caller.key_id or f"ip:{request.client.host if request.client else '?'}")
    tenant = enqueue_tenant(caller, body.tenant)
    run = ctx.app.runs.start(name, body.params, tenant=tenant, tier=body.tier, token=body.token, policy=body.policy)
    if run.state == "FAILED":  # record_failed: stored as FAILED because a stage queue has no live worker
        return JSONResponse({"error": run.error, "action": "Start the worker named in the error, then start "
                             "the run again.", "technical_details": "", "run_id": run.id}, status_code=503)
    return JSONResponse(run.to_dict(), status_code=201)


@router.get("/api/runs")
def list_runs(request: Request, caller: Viewer, pipeline: TextQuery = None, state: TextQuery = None,
              tenant: Annotated[str | None, Query(pattern=TENANT_PATTERN)] = None, token: TextQuery = None,
              limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: Annotated[str | None, Query(max_length=500)] = None,
              ) -> dict[str, Any]:
    states = [s.strip().upper() for s in state.split(",") if s.strip()] if state else []
    unknown = [s for s in states if s not in RUN_STATES]
    if unknown:
        raise ApiError(422, f"Unknown run state {unknown[0]!r}.", action=f"Use: {', '.join(RUN_STATES)}.",
                       fields=[{"field": "state", "location": "query", "message": "unknown state"}])
    filters = RunFilter(pipeline=pipeline, states=states, tenant=caller.tenant_filter(tenant), token=token)
    rows = get_ctx(request).app.runs.list(filters, limit=limit + 1, before=_decode(cursor) if cursor else None)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [r.to_dict() for r in rows], "next_cursor": _cursor(rows[-1].id) if more and rows else None}


@router.get("/api/runs/{run_id}", responses=NOT_FOUND)
def get_run(request: Request, run_id: str, caller: Viewer) -> dict[str, Any]:
    run = get_ctx(request).app.get_run(run_id, caller.tenant)
    if run is None:
        raise run_not_found(run_id)
    return run.to_dict()


@router.post("/api/runs/{run_id}/cancel", responses=NOT_FOUND)
def cancel_run(request: Request, run_id: str, caller: Operator) -> dict[str, Any]:
    return get_ctx(request).app.runs.cancel(run_id, caller.tenant).to_dict()


@router.post("/api/runs/{run_id}/steps/{step}/retry", responses=NOT_FOUND)
def retry_step(request: Request, run_id: str, step: str, caller: Operator) -> dict[str, Any]:
    ctx = get_ctx(request)
    queued = ctx.app.runs.retry_step(run_id, step, caller.tenant)
    run = ctx.app.get_run(run_id, caller.tenant)
    return {"requeued": queued, "run": run.to_dict() if run else None}


@router.post("/api/runs/{run_id}/reprocess", status_code=201, responses=NOT_FOUND)
def reprocess(request: Request, run_id: str, body: ReprocessIn, caller: Operator) -> JSONResponse:
    run = get_ctx(request).app.runs.reprocess(run_id, body.from_stage, caller.tenant)
    return JSONResponse(run.to_dict(), status_code=201)


async def _pump(websocket: WebSocket, sub: RunSubscriber) -> None:
    async def send() -> None:
        while (message := await sub.inbox.get()) is not None:
            await websocket.send_json(message)
        await websocket.close(code=1013, reason="client too slow: reconnect")

    await pump(websocket, send)


@router.websocket("/ws/runs/{run_id}")
async def ws_run(websocket: WebSocket, run_id: str) -> None:
    """One run: {"type": "snapshot", "seq": n, "run": ...} first, then {"type": "run", "seq": n+1, ...}."""
    caller = await _authenticate(websocket)
    if caller is None:
        return
    ctx = get_ctx(websocket)
    hub = hub_of(websocket)
    sub = RunSubscriber(tenant=caller.tenant, run_id=run_id)
    hub._ensure_feed()  # before the read, so no change between the read and the feed is lost
    run = await asyncio.to_thread(ctx.app.get_run, run_id, caller.tenant)
    if run is None:
        await _refuse(websocket, 4404, f"No pipeline run {run_id[:64]}.", "Check the id; list runs with GET /api/runs.")
        return
    hub.watch(sub, run.to_dict())
    try:
        await websocket.accept()
        await _pump(websocket, sub)
    finally:
        hub.unwatch(sub)


@router.websocket("/ws/runs")
async def ws_runs(websocket: WebSocket) -> None:
    """Every run change the key may see; filters ?pipeline=&state=&tenant=."""
    caller = await _authenticate(websocket)
    if caller is None:
        return
    try:
        pipeline, state, tenant = (_text_param(websocket, n) for n in ("pipeline", "state", "tenant"))
        scope = caller.tenant_filter(tenant)
    except (ValueError, ApiError) as exc:
        await _refuse(websocket, 4422, f"Invalid query parameter: {exc}.", "Fix the parameter and reconnect.")
        return
    sub = RunSubscriber(tenant=scope, pipeline=pipeline,
                        states=[s.strip().upper() for s in state.split(",")] if state else [])
    hub = hub_of(websocket)
    hub.watch(sub, None)
    try:
        await websocket.accept()
        await _pump(websocket, sub)
    finally:
        hub.unwatch(sub)
