"""ETL jobs over HTTP and WebSocket.

GET/POST /api/etl/jobs, GET/PATCH /api/etl/jobs/{id} (active, next_run, position, params, the
tenant's fast/full intervals), POST /api/etl/jobs/{id}/run (Run now: 409 when inactive or RUNNING;
503 {error, action, technical_details} with the job FAILED when no live worker serves a stage
queue or the check cannot be made), POST /api/etl/jobs/{id}/reset.

WebSocket /ws/etl/jobs/{id} and the seed's /ws/job/{extraction|transform|embedding}/{tenant}/{id}:
a snapshot on connect, then every change, each with the next sequence number. Changes are read
from the database (the job row and its run), so an update made by any server or worker shows.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from conveyor.api.auth import AUTH_ERRORS, Caller, Operator, Viewer
from conveyor.api.events import _authenticate, _refuse
from conveyor.api.jobs import enqueue_tenant
from conveyor.api.schemas import TENANT_PATTERN, TEXT_PATTERN, ErrorOut
from conveyor.api.state import get_ctx
from conveyor.api.ws_pump import pump

router = APIRouter(tags=["etl jobs"], responses=AUTH_ERRORS)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "No such ETL job"}}
RUN_ERRORS: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    409: {"model": ErrorOut, "description": "The job is inactive or already RUNNING"},
    503: {"model": ErrorOut, "description": "No live worker serves a stage queue (the job is now FAILED)"},
}
WS_POLL = 0.25  # seconds between reads of a watched job
SEED_KINDS = ("extraction", "transform", "embedding")


class EtlJobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=TEXT_PATTERN)
    pipeline: str = Field(max_length=200, pattern=TEXT_PATTERN)
    params: dict[str, Any] = Field(default_factory=dict)
    integration_id: str | None = Field(default=None, max_length=100, pattern=TEXT_PATTERN)
    tenant: str | None = Field(default=None, pattern=TENANT_PATTERN)
    active: bool = True
    position: int | None = Field(default=None, ge=0, le=1_000_000)


class EtlJobPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool | None = None
    next_run: datetime | None = None
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    params: dict[str, Any] | None = None
    fast_interval: float | None = Field(default=None, description="Seconds between one job and the next (tenant)")
    full_interval: float | None = Field(default=None, description="Seconds before the cycle starts again (tenant)")


def _dict(request: Request | WebSocket, job: Any) -> dict[str, Any]:
    app = get_ctx(request).app
    data = app.etl_jobs.to_dict(job)
    data["fast_interval"], data["full_interval"] = app.etl_jobs.intervals(job.tenant)
    return data


@router.get("/api/etl/jobs")
def list_etl_jobs(request: Request, caller: Viewer,
                  tenant: Annotated[str | None, Query(pattern=TENANT_PATTERN)] = None) -> dict[str, Any]:
    jobs = get_ctx(request).app.etl_jobs.list(caller.tenant_filter(tenant))
    return {"items": [_dict(request, j) for j in jobs]}


@router.post("/api/etl/jobs", status_code=201, responses={422: {"model": ErrorOut, "description": "Bad input"}})
def create_etl_job(request: Request, body: EtlJobIn, caller: Operator) -> JSONResponse:
    job = get_ctx(request).app.etl_jobs.create(
        tenant=enqueue_tenant(caller, body.tenant), name=body.name, pipeline=body.pipeline, params=body.params,
        integration_id=body.integration_id, active=body.active, position=body.position)
    return JSONResponse(_dict(request, job), status_code=201)


@router.get("/api/etl/jobs/{job_id}", responses=NOT_FOUND)
def get_etl_job(request: Request, job_id: str, caller: Viewer) -> dict[str, Any]:
    return _dict(request, get_ctx(request).app.etl_jobs.require(job_id, caller.tenant))


@router.patch("/api/etl/jobs/{job_id}", responses={**NOT_FOUND, 409: {"model": ErrorOut, "description": "Changed"}})
def patch_etl_job(request: Request, job_id: str, body: EtlJobPatch, caller: Operator) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    for key in ("active", "position", "params"):
        if key in changes and changes[key] is None:
            del changes[key]
    return _dict(request, get_ctx(request).app.etl_jobs.update(job_id, changes, caller.tenant))


@router.post("/api/etl/jobs/{job_id}/run", responses=RUN_ERRORS)
def run_etl_job(request: Request, job_id: str, caller: Operator) -> dict[str, Any]:
    """Run now. The live-worker check comes first: with no worker the answer is 503 and the job FAILED."""
    return _dict(request, get_ctx(request).app.etl_jobs.run_now(job_id, caller.tenant))


@router.post("/api/etl/jobs/{job_id}/reset", responses=NOT_FOUND)
def reset_etl_job(request: Request, job_id: str, caller: Operator) -> dict[str, Any]:
    return _dict(request, get_ctx(request).app.etl_jobs.reset(job_id, caller.tenant))


# -- WebSockets -------------------------------------------------------------------------------------
async def _stream(websocket: WebSocket, caller: Caller, job_id: str, shape: Any) -> None:
    """Snapshot, then each change of the job (or of its run), numbered from 1."""
    app = get_ctx(websocket).app
    job = await asyncio.to_thread(app.etl_jobs.get, job_id, caller.tenant)
    if job is None:
        await _refuse(websocket, 4404, f"No ETL job {job_id[:64]}.", "Check the id; list jobs with GET /api/etl/jobs.")
        return
    await websocket.accept()

    async def send() -> None:
        seq, last = 0, ""
        while True:
            current = await asyncio.to_thread(app.etl_jobs.get, job_id, caller.tenant)
            if current is None:
                await websocket.send_json({"type": "deleted", "seq": seq + 1, "job_id": job_id})
                return
            data = await asyncio.to_thread(_dict, websocket, current)
            fingerprint = json.dumps({k: v for k, v in data.items() if k != "server_time"}
                                     | {"status_json": {k: v for k, v in data["status_json"].items() if k != "reset_in"}},
                                     sort_keys=True, default=str)
            if fingerprint != last:
                seq += 1
                last = fingerprint
                await websocket.send_json(shape("snapshot" if seq == 1 else "update", seq, data))
            await asyncio.sleep(WS_POLL)

    await pump(websocket, send)


@router.websocket("/ws/etl/jobs/{job_id}")
async def ws_etl_job(websocket: WebSocket, job_id: str) -> None:
    """{"type": "snapshot"|"update", "seq": n, "job": {..., "status_json": {...}}}"""
    caller = await _authenticate(websocket)
    if caller is None:
        return
    await _stream(websocket, caller, job_id, lambda kind, seq, data: {"type": kind, "seq": seq, "job": data})


@router.websocket("/ws/job/{kind}/{tenant}/{job_id}")
async def ws_seed_job(websocket: WebSocket, kind: str, tenant: str, job_id: str) -> None:
    """The seed's paths: the job's status JSON ({"overall", "token", "steps", ...}) as it changes."""
    caller = await _authenticate(websocket)
    if caller is None:
        return
    if kind not in SEED_KINDS:
        await _refuse(websocket, 4404, f"Unknown worker type {kind[:40]!r}.", f"Use one of: {', '.join(SEED_KINDS)}.")
        return
    if caller.tenant is not None and caller.tenant != tenant:
        await _refuse(websocket, 4403, f"This API key cannot watch tenant {tenant[:100]!r}.", "Use a key of that tenant.")
        return
    scoped = replace(caller, tenant=tenant)

    def shape(kind_: str, seq: int, data: dict[str, Any]) -> dict[str, Any]:
        return {"type": kind_, "seq": seq, "worker_type": kind, "tenant_id": tenant, "job_id": job_id,
                "status": data["status_json"]}

    await _stream(websocket, scoped, job_id, shape)
