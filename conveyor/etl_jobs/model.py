"""An ETL job as stored (the seed's etl_jobs row) and as users read it (its status JSON)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.app import Conveyor

NOT_STARTED, READY, RUNNING, FINISHED, FAILED = "NOT_STARTED", "READY", "RUNNING", "FINISHED", "FAILED"
STATES = (NOT_STARTED, READY, RUNNING, FINISHED, FAILED)
STARTABLE = (NOT_STARTED, READY)  # what the orchestrator starts when its turn has come
RESET_FIRST = 30.0  # seconds from a run's end to the first look for its leftover work
RESET_EXTENSIONS = (60.0, 180.0, 300.0)  # then these while work carrying the run's token remains
DEFAULT_FAST_INTERVAL = 15 * 60.0  # between one job of a tenant and the next
DEFAULT_FULL_INTERVAL = 60 * 60.0  # when the cycle wraps back to the tenant's first job


@dataclass
class EtlJob:
    id: str
    tenant: str
    name: str
    pipeline: str
    params: dict[str, Any]
    integration_id: str | None
    position: int
    active: bool
    status: str
    run_status: dict[str, Any]
    run_id: str | None
    token: str | None
    next_run: datetime | None
    last_run_started_at: datetime | None
    last_run_finished_at: datetime | None
    last_sync_date: datetime | None
    error: str | None
    alert: str | None
    reset_deadline: datetime | None
    reset_attempt: int
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EtlJob:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    def changed(self, **changes: Any) -> EtlJob:
        return replace(self, **changes)

    def columns(self) -> dict[str, Any]:
        """The values etl_job_save writes (and the version it expects to find)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("tenant", "name", "created_at", "updated_at")}


def idle_steps(app: Conveyor, pipeline: str) -> dict[str, Any]:
    """Every step of the pipeline with every stage idle (a job that is READY, or never ran)."""
    declared = app.pipelines.get(pipeline)
    if declared is None:
        return {}
    steps: dict[str, Any] = {}
    for order, step in enumerate(declared.declaration.steps, start=1):
        entry: dict[str, Any] = {"order": order, "display_name": step.display_name, "state": "idle"}
        for stage in step.stages:
            entry[stage.name] = "idle"
        steps[step.name] = entry
    return steps


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def status_json(app: Conveyor, job: EtlJob, now: datetime) -> dict[str, Any]:
    """The seed's status JSON: overall, token, reset countdown, error, and the current run's steps x
    stages (live while RUNNING, as it ended while FINISHED/FAILED, idle otherwise)."""
    steps: dict[str, Any] = {}
    if job.status == RUNNING and job.run_id:
        run = app.get_run(job.run_id)
        steps = run.status.get("steps", {}) if run else {}
    elif job.status in (FINISHED, FAILED):
        steps = job.run_status.get("steps", {})
    if not steps:
        steps = idle_steps(app, job.pipeline)
    reset_in = max(0.0, (job.reset_deadline - now).total_seconds()) if job.reset_deadline else None
    declared = app.pipelines.get(job.pipeline)
    # The stages in their declared order (a JSON object's key order is not kept by jsonb).
    stage_names = merged_stage_order([[st.name for st in step.stages] for step in declared.declaration.steps]) \
        if declared else []
    return {"overall": job.status, "stage_names": stage_names, "token": job.token, "run_id": job.run_id, "reset_deadline": _iso(job.reset_deadline),
            "reset_attempt": job.reset_attempt, "reset_in": reset_in, "error": job.error, "alert": job.alert,
            "steps": steps}



def merged_stage_order(steps: list[list[str]]) -> list[str]:
    """One column order for every step's stages: a stage only some steps have goes right after
    the stage it follows there ([extraction, transform] + [extraction, nested, transform] ->
    extraction, nested, transform)."""
    order: list[str] = []
    for stages in steps:
        for i, name in enumerate(stages):
            if name not in order:
                order.insert(order.index(stages[i - 1]) + 1 if i else 0, name)
    return order

def to_dict(app: Conveyor, job: EtlJob, now: datetime) -> dict[str, Any]:
    return {"id": job.id, "tenant": job.tenant, "name": job.name, "pipeline": job.pipeline, "params": job.params,
            "integration_id": job.integration_id, "position": job.position, "active": job.active,
            "status": job.status, "run_id": job.run_id, "token": job.token, "next_run": _iso(job.next_run),
            "last_run_started_at": _iso(job.last_run_started_at),
            "last_run_finished_at": _iso(job.last_run_finished_at), "last_sync_date": _iso(job.last_sync_date),
            "error": job.error, "alert": job.alert, "reset_deadline": _iso(job.reset_deadline),
            "reset_attempt": job.reset_attempt, "version": job.version, "server_time": now.isoformat(),
            "status_json": status_json(app, job, now)}
