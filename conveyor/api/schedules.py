"""Schedules over HTTP: GET/POST /api/schedules, GET/PATCH/DELETE /api/schedules/{id}.

Every answer carries the schedule's next fire time and last outcome. Bad input (invalid cron or
time zone, interval <= 0, an unknown task or pipeline, arguments the task does not take) is a 422
naming the problem; nothing is written."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from conveyor.api.auth import AUTH_ERRORS, Operator, Viewer
from conveyor.api.jobs import enqueue_tenant
from conveyor.api.schemas import TENANT_PATTERN, TEXT_PATTERN, ErrorOut
from conveyor.api.state import get_ctx
from conveyor.schedules import build_spec

router = APIRouter(tags=["schedules"], responses=AUTH_ERRORS)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "No such schedule"}}
BAD: dict[int | str, dict[str, Any]] = {422: {"model": ErrorOut, "description": "Invalid schedule"}}
NAME_PATTERN = r"^[A-Za-z0-9_.:-]{1,200}$"


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200, pattern=NAME_PATTERN)
    target: str = Field(max_length=200, pattern=TEXT_PATTERN, description="A task's or a pipeline's name")
    kind: Literal["task", "pipeline"] | None = None
    cron: str | None = Field(default=None, max_length=200, pattern=TEXT_PATTERN)
    interval: float | None = Field(default=None, description="Seconds between fires (> 0)")
    timezone: str = Field(default="UTC", max_length=100, pattern=TEXT_PATTERN)
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Task keyword arguments, or a pipeline's params")
    tenant: str | None = Field(default=None, pattern=TENANT_PATTERN)
    active: bool = True
    misfire: Literal["skip", "once", "all"] = "skip"
    misfire_max: int = Field(default=10, ge=1, le=1000)


class SchedulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cron: str | None = Field(default=None, max_length=200, pattern=TEXT_PATTERN)
    interval: float | None = None
    timezone: str | None = Field(default=None, max_length=100, pattern=TEXT_PATTERN)
    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None
    active: bool | None = None
    misfire: Literal["skip", "once", "all"] | None = None
    misfire_max: int | None = Field(default=None, ge=1, le=1000)


def _with_fires(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    fires = get_ctx(request).app.scheduler.fires(item["id"], limit=10)
    item["recent_fires"] = [{**f, "fire_at": f["fire_at"].isoformat(), "claimed_at": f["claimed_at"].isoformat(),
                             "dispatched_at": f["dispatched_at"].isoformat() if f["dispatched_at"] else None}
                            for f in fires]
    return item


@router.get("/api/schedules")
def list_schedules(request: Request, caller: Viewer,
                   tenant: Annotated[str | None, Query(pattern=TENANT_PATTERN)] = None) -> dict[str, Any]:
    items = get_ctx(request).app.scheduler.list(caller.tenant_filter(tenant))
    return {"items": [s.to_dict() for s in items]}


@router.post("/api/schedules", status_code=201, responses=BAD)
def create_schedule(request: Request, body: ScheduleIn, caller: Operator) -> JSONResponse:
    app = get_ctx(request).app
    spec = build_spec(app, body.name, body.target, kind=body.kind, cron=body.cron, interval=body.interval,
                      timezone=body.timezone, args=body.args, kwargs=body.kwargs,
                      tenant=enqueue_tenant(caller, body.tenant), active=body.active, misfire=body.misfire,
                      misfire_max=body.misfire_max)
    return JSONResponse(app.scheduler.create(spec).to_dict(), status_code=201)


@router.get("/api/schedules/{schedule_id}", responses=NOT_FOUND)
def get_schedule(request: Request, schedule_id: str, caller: Viewer) -> dict[str, Any]:
    schedule = get_ctx(request).app.scheduler.require(schedule_id, caller.tenant)
    return _with_fires(request, schedule.to_dict())


@router.patch("/api/schedules/{schedule_id}", responses={**NOT_FOUND, **BAD})
def patch_schedule(request: Request, schedule_id: str, body: SchedulePatch, caller: Operator) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    for key in ("timezone", "args", "kwargs", "active", "misfire", "misfire_max"):
        if key in changes and changes[key] is None:
            del changes[key]
    schedule = get_ctx(request).app.scheduler.update(schedule_id, changes, caller.tenant)
    return schedule.to_dict()


@router.delete("/api/schedules/{schedule_id}", status_code=204, responses=NOT_FOUND)
def delete_schedule(request: Request, schedule_id: str, caller: Operator) -> None:
    get_ctx(request).app.scheduler.delete(schedule_id, caller.tenant)
