"""ETL job operations (app.etl_jobs): create (idempotent per tenant and name), read, change, Run
now, reset; and `start`, the one way a run begins, shared by Run now and the orchestrator.

Every write is a compare-and-set on the row's version, so Run now on two servers, or Run now
racing the orchestrator, starts one run and answers the other with 409.
"""

from __future__ import annotations

import logging
import math
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from conveyor.errors import (
    InvalidTransitionError,
    JobNotFoundError,
    LivenessCheckError,
    NoLiveWorkerError,
    RunConflictError,
)
from conveyor.etl_jobs.model import (
    DEFAULT_FAST_INTERVAL,
    DEFAULT_FULL_INTERVAL,
    FAILED,
    READY,
    RESET_FIRST,
    RUNNING,
    EtlJob,
    idle_steps,
    to_dict,
)
from conveyor.pipelines.declaration import PipelineError
from conveyor.store.schedules_sql import schedule_sql

if TYPE_CHECKING:
    from conveyor.app import Conveyor

log = logging.getLogger("conveyor.etl_jobs")

WORKERS_PAGE_HINT = "or start them from the dashboard's Workers page when the server supervises workers"


class EtlJobError(PipelineError):
    """Bad input for an ETL job (unknown pipeline, bad interval, bad name): 422, nothing changed."""


class ConcurrentChangeError(InvalidTransitionError):
    """The job changed between read and write (another server or the orchestrator acted)."""


class EtlJobs:
    def __init__(self, app: Conveyor) -> None:
        self.app = app

    @property
    def sql(self) -> Any:
        return schedule_sql(self.app.store)

    def now(self) -> datetime:
        return self.app.clock()

    # -- reading ------------------------------------------------------------------------------------
    def get(self, job_id: str, tenant: str | None = None) -> EtlJob | None:
        row = self.sql.one("etl_job_get", id=job_id)
        if row is None or (tenant is not None and row["tenant"] != tenant):
            return None
        return EtlJob.from_row(row)

    def require(self, job_id: str, tenant: str | None = None) -> EtlJob:
        job = self.get(job_id, tenant)
        if job is None:
            raise JobNotFoundError(f"No ETL job with id {job_id[:64]}.",
                                   action="List ETL jobs with GET /api/etl/jobs or on the dashboard's ETL jobs page.")
        return job

    def list(self, tenant: str | None = None) -> list[EtlJob]:
        return [EtlJob.from_row(r) for r in self.sql.run("etl_job_list") if tenant is None or r["tenant"] == tenant]

    def to_dict(self, job: EtlJob) -> dict[str, Any]:
        return to_dict(self.app, job, self.now())

    def intervals(self, tenant: str) -> tuple[float, float]:
        """(fast, full) seconds of the tenant's orchestrator."""
        for row in self.sql.run("etl_intervals_get"):
            if row["tenant"] == tenant:
                return float(row["fast_interval"]), float(row["full_interval"])
        return DEFAULT_FAST_INTERVAL, DEFAULT_FULL_INTERVAL

    # -- creating and changing ----------------------------------------------------------------------
    def create(self, *, tenant: str, name: str, pipeline: str, params: dict[str, Any] | None = None,
               integration_id: str | None = None, active: bool = True, position: int | None = None,
               check_pipeline: bool = True) -> EtlJob:
        """The tenant's job of that name: created when missing, returned unchanged when it exists.
        check_pipeline=False writes a pipeline this app does not declare (it fails with the
        reason when run by such an app)."""
        existing = self.sql.one("etl_job_get_by_name", tenant=tenant, name=name)
        if existing is not None:
            return EtlJob.from_row(existing)
        if check_pipeline and pipeline not in self.app.pipelines:
            known = ", ".join(sorted(self.app.pipelines)) or "none"
            raise EtlJobError(f"Unknown pipeline {pipeline!r}.", action=f"Use one of the declared pipelines: {known}.")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise EtlJobError(f"Invalid ETL job name {name!r}.", action="Use 1-200 characters.")
        if position is None:
            position = 1 + max((j.position for j in self.list(tenant)), default=0)
        self.sql.run("etl_job_insert", id=str(uuid.uuid4()), tenant=tenant, name=name, pipeline=pipeline,
                     params=dict(params or {}), integration_id=integration_id, position=position, active=active,
                     now=self.now())
        return EtlJob.from_row(self.sql.one("etl_job_get_by_name", tenant=tenant, name=name))  # type: ignore[arg-type]

    def save(self, job: EtlJob, **changes: Any) -> EtlJob:
        """Write the job with these changes if nobody changed it since it was read."""
        new = job.changed(**changes)
        if not self.sql.one("etl_job_save", **new.columns(), now=self.now()):
            raise ConcurrentChangeError(f"ETL job {job.name!r} changed meanwhile; nothing was done.",
                                        action="Reload and try again.")
        return self.require(job.id)

    def update(self, job_id: str, changes: dict[str, Any], tenant: str | None = None) -> EtlJob:
        """active, next_run, position, params, and the tenant's fast/full intervals."""
        job = self.require(job_id, tenant)
        fast, full = self.intervals(job.tenant)
        new_fast, new_full = changes.pop("fast_interval", None), changes.pop("full_interval", None)
        for label, value in (("fast_interval", new_fast), ("full_interval", new_full)):
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise EtlJobError(f"{label} must be more than 0 seconds, got {value!r}.",
                                  action="Pass seconds > 0, e.g. 900.")
        unknown = set(changes) - {"active", "next_run", "position", "params"}
        if unknown:
            raise EtlJobError(f"Cannot change {', '.join(sorted(unknown))} of an ETL job.",
                              action="Change active, next_run, position, params, fast_interval or full_interval.")
        if "next_run" in changes and changes["next_run"] is not None and changes["next_run"].tzinfo is None:
            raise EtlJobError("next_run must carry a time zone.", action="Send e.g. 2026-12-03T15:00:00Z.")
        if changes:
            job = self.save(job, **changes)
        if new_fast is not None or new_full is not None:
            self.sql.run("etl_intervals_set", tenant=job.tenant, fast=float(new_fast or fast),
                         full=float(new_full or full))
        return job

    def delete(self, job_id: str, tenant: str | None = None) -> None:
        self.require(job_id, tenant)
        self.sql.run("etl_job_delete", id=job_id)

    # -- Run now, reset -------------------------------------------------------------------------
    def run_now(self, job_id: str, tenant: str | None = None) -> EtlJob:
        """Start a run at once. 409 when the job is inactive or already RUNNING; 503 (and the job
        FAILED, saying why) when no live worker serves a stage queue or the check cannot be made."""
        job = self.require(job_id, tenant)
        if not job.active:
            raise InvalidTransitionError(f"ETL job {job.name!r} is inactive; it was not started.",
                                         action="Activate it first (the active toggle, or PATCH active=true).")
        if job.status == RUNNING:
            raise InvalidTransitionError(f"ETL job {job.name!r} is already RUNNING (run {job.run_id}); "
                                         "no second run was started.", action="Wait for it to finish, or reset it.")
        return self.start(job, self.now())

    def start(self, job: EtlJob, now: datetime) -> EtlJob:
        """Claim the job (RUNNING, a new token), then start its pipeline run with the live-worker
        check. The check failing, or finding no worker, leaves the job FAILED with the reason and
        raises; nothing is queued either way."""
        token = uuid.uuid4().hex
        job = self.save(job, status=RUNNING, token=token, run_id=None, error=None, alert=None,
                        last_run_started_at=now, last_run_finished_at=None, reset_deadline=None, reset_attempt=0,
                        next_run=None, run_status={})
        try:
            run = self.app.runs.start(job.pipeline, job.params, tenant=job.tenant, token=token, policy="refuse")
        except NoLiveWorkerError as exc:
            exc.message = f"ETL job {job.name!r} FAILED: {exc.message}"
            exc.action = f"{exc.action} ({WORKERS_PAGE_HINT}), then press Run now again."
            queues = getattr(exc, "queues", [exc.queue])
            exc.technical_details = f"No live worker on stage queue(s) {', '.join(queues)} of pipeline " \
                                    f"{job.pipeline!r}; nothing was queued."
            self._fail(job, f"{exc.message} {exc.action}", now)
            raise
        except (PipelineError, RunConflictError) as exc:  # e.g. a sync of its integration started by hand
            self._fail(job, str(exc), now)
            raise
        except Exception as exc:  # the check itself failed: never "proceeding anyway"
            detail = f"{type(exc).__name__}: {exc}"
            message = f"ETL job {job.name!r} was not started: the live-worker check could not be made ({detail})."
            self._fail(job, f"{message} Nothing was queued.", now)
            raise LivenessCheckError(message, action="Check the database connection, then press Run now again.",
                                     technical_details=detail) from exc
        log.info("ETL_JOB_START job=%s tenant=%s run=%s token=%s", job.name, job.tenant, run.id, token)
        return self.save(job, run_id=run.id)

    def _fail(self, job: EtlJob, error: str, now: datetime) -> None:
        """FAILED at once with the reason, the countdown started (READY again after it)."""
        try:
            self.save(job, status=FAILED, error=error, last_run_finished_at=now,
                      reset_deadline=now + timedelta(seconds=RESET_FIRST), reset_attempt=0,
                      run_status={"overall": FAILED, "steps": idle_steps(self.app, job.pipeline)})
            log.warning("ETL_JOB_FAIL job=%s tenant=%s error=%s", job.name, job.tenant, error)
        except Exception as exc:  # the database is down too: the claim's RUNNING row is repaired later
            log.error("ETL job %s: could not record its failure (%s): %s", job.name, exc, error)

    def reset(self, job_id: str, tenant: str | None = None) -> EtlJob:
        """Back to READY with every step idle now; a running run is cancelled first."""
        job = self.require(job_id, tenant)
        if job.status == RUNNING and job.run_id:
            run = self.app.get_run(job.run_id)
            if run is not None and not run.finished:
                self.app.runs.cancel(job.run_id)
        return self.save(job, status=READY, reset_deadline=None, reset_attempt=0,
                         run_status={"overall": READY, "steps": idle_steps(self.app, job.pipeline)})
