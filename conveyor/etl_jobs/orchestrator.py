"""The ETL orchestrator, one pass per scheduler pass (leader only):

1. RUNNING jobs whose run has ended become FINISHED or FAILED; the reset countdown starts
   (reset_deadline = now + 30 s) and the next job of the tenant's cycle gets its next_run.
2. FINISHED/FAILED jobs whose reset_deadline has passed: if jobs carrying the run's token are
   still unfinished, the deadline moves on by 60, 180, then 300 s; otherwise the job is READY
   again with every step idle.
3. Per tenant, when none of its jobs is RUNNING: the first active job (in order) whose next_run has
   come is started, or, when its integration is inactive, finished at once with an alert.

The cycle: after job k ends, the next active job after k gets next_run = end + fast interval;
when that wraps back to the start of the list, end + full interval. Inactive jobs are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from conveyor.errors import ConveyorError
from conveyor.etl_jobs.model import (
    FAILED,
    FINISHED,
    READY,
    RESET_EXTENSIONS,
    RESET_FIRST,
    RUNNING,
    STARTABLE,
    EtlJob,
    idle_steps,
)
from conveyor.etl_jobs.service import EtlJobs
from conveyor.pipelines.rules import RUN_DONE
from conveyor.store.pipelines_common import RunFilter

if TYPE_CHECKING:
    from conveyor.app import Conveyor

log = logging.getLogger("conveyor.etl_jobs")

START_REPAIR_AFTER = 60.0  # a RUNNING job without a run this long: its starter died mid-start


class Orchestrator:
    def __init__(self, app: Conveyor) -> None:
        self.app = app
        self.jobs: EtlJobs = app.etl_jobs

    def tick(self, now: datetime) -> None:
        for job in self.jobs.list():
            try:
                if job.status == RUNNING:
                    self.watch(job, now)
                elif job.status in (FINISHED, FAILED) and job.reset_deadline and job.reset_deadline <= now:
                    self.reset_check(job, now)
            except ConveyorError as exc:  # changed meanwhile (Run now, a PATCH): next pass
                log.info("ETL job %s: %s", job.name, exc)
        by_tenant: dict[str, list[EtlJob]] = {}
        for job in self.jobs.list():
            by_tenant.setdefault(job.tenant, []).append(job)
        for tenant, jobs in by_tenant.items():
            try:
                self.orchestrate(tenant, jobs, now)
            except ConveyorError as exc:
                log.info("ETL orchestrator, tenant %s: %s", tenant, exc)

    # -- 1. runs that ended -----------------------------------------------------------------------
    def watch(self, job: EtlJob, now: datetime) -> None:
        if job.run_id is None:
            started = job.last_run_started_at or now
            if (now - started).total_seconds() < START_REPAIR_AFTER:
                return
            found = self.app.runs.list(RunFilter(token=job.token), limit=1) if job.token else []
            if found:
                job = self.jobs.save(job, run_id=found[0].id)
            else:
                self.finish(job, now, FAILED, "The run was interrupted while starting (its process died); "
                                              "nothing was queued.", {})
                return
        run = self.app.get_run(job.run_id)  # type: ignore[arg-type]
        if run is None:
            self.finish(job, now, FAILED, f"Run {job.run_id} no longer exists.", {})
        elif run.state in RUN_DONE:
            state = FINISHED if run.state == FINISHED else FAILED
            self.finish(job, now, state, run.error if state == FAILED else None, run.status)

    def finish(self, job: EtlJob, now: datetime, state: str, error: str | None, run_status: dict[str, object],
               alert: str | None = None) -> None:
        self.jobs.save(job, status=state, error=error, alert=alert, run_status=run_status,
                       last_run_finished_at=now, next_run=None,
                       last_sync_date=job.last_run_started_at if state == FINISHED and not alert else job.last_sync_date,
                       reset_deadline=now + timedelta(seconds=RESET_FIRST), reset_attempt=0)
        log.info("ETL_JOB_%s job=%s tenant=%s%s", "DONE" if state == FINISHED else "FAIL", job.name, job.tenant,
                 f" error={error}" if error else "")
        self.schedule_next(job.tenant, job.id, now)

    # -- 2. the reset countdown -------------------------------------------------------------------
    def reset_check(self, job: EtlJob, now: datetime) -> None:
        left = int((self.jobs.sql.one("etl_token_outstanding", token=job.token) or {"n": 0})["n"]) if job.token else 0
        if left:
            extension = RESET_EXTENSIONS[min(job.reset_attempt, len(RESET_EXTENSIONS) - 1)]
            self.jobs.save(job, reset_deadline=now + timedelta(seconds=extension), reset_attempt=job.reset_attempt + 1)
            log.info("ETL job %s: %d job(s) of token %s still unfinished: reset in %gs", job.name, left, job.token,
                     extension)
            return
        self.jobs.save(job, status=READY, reset_deadline=None, reset_attempt=0,
                       run_status={"overall": READY, "steps": idle_steps(self.app, job.pipeline)})

    # -- 3. the cycle -----------------------------------------------------------------------------
    def schedule_next(self, tenant: str, after_id: str, ended: datetime) -> None:
        """Give the next active job after `after_id` its next_run: the fast interval, or the full
        interval when the cycle wraps to the start."""
        jobs = self.jobs.list(tenant)
        ids = [j.id for j in jobs]
        if after_id not in ids:
            return
        k = ids.index(after_id)
        fast, full = self.jobs.intervals(tenant)
        for i in list(range(k + 1, len(jobs))) + list(range(0, k + 1)):
            if jobs[i].active:
                wait = full if i <= k else fast
                self.jobs.save(jobs[i], next_run=ended + timedelta(seconds=wait))
                return

    def orchestrate(self, tenant: str, jobs: list[EtlJob], now: datetime) -> None:
        if any(j.status == RUNNING for j in jobs):
            return  # one run at a time per tenant
        active = [j for j in jobs if j.active]
        if not active:
            return
        if all(j.next_run is None for j in active):  # nothing scheduled: (re)start the cycle
            ended = [j for j in jobs if j.last_run_finished_at is not None]
            if ended:
                last = max(ended, key=lambda j: j.last_run_finished_at)  # type: ignore[arg-type,return-value]
                self.schedule_next(tenant, last.id, last.last_run_finished_at)  # type: ignore[arg-type]
            else:
                self.jobs.save(active[0], next_run=now)
            return
        due = [j for j in active if j.status in STARTABLE and j.next_run is not None and j.next_run <= now]
        if not due:
            return
        job = due[0]
        check = self.app.integration_check or _integrations_table_check(self.app)
        if job.integration_id and not check(job.integration_id, tenant):
            alert = f"Integration {job.integration_id} is inactive - job skipped."
            job = self.jobs.save(job, token=None, run_id=None, last_run_started_at=now)
            self.finish(job, now, FINISHED, None, {"overall": FINISHED, "steps": idle_steps(self.app, job.pipeline)},
                        alert=alert)
            return
        try:
            self.jobs.start(job, now)
        except ConveyorError as exc:  # recorded on the job (FAILED, with the reason); next interval
            log.warning("ETL job %s: scheduled run not started: %s", job.name, exc)
            self.schedule_next(tenant, job.id, now)


def _integrations_table_check(app: Conveyor) -> Callable[[str, str], bool]:
    """The default active check: the job's row in the `integrations` table (missing = inactive)."""
    from conveyor.integrations.wiring import integrations_for  # the integrations need the ETL engine

    service = integrations_for(app)
    return lambda integration_id, _tenant: service.is_active(integration_id)
