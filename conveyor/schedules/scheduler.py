"""The scheduler pass, run by the leader inside every worker's and server's maintenance: fire the
due schedules, then let the ETL orchestrator act.

Firing one time of one schedule:
1. one transaction moves the schedule to its next fire time (only if nobody else did) and inserts
   the (schedule, fire time) rows; a row that exists already makes the insert a no-op, so the time
   is never fired twice, however many schedulers race;
2. the job is enqueued with the idempotency key `schedule:<id>:<time>` (a pipeline run is started
   with a token made from the same pair), so a fire claimed by a scheduler that died before it
   dispatched is dispatched again by the next leader without a duplicate;
3. the fire row and the schedule record the outcome (the job or run, or why it failed).
"""

from __future__ import annotations

import builtins
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from conveyor.app import CallOptions
from conveyor.errors import ConveyorError, DatabaseError
from conveyor.model import NewJob
from conveyor.schedules.leader import Leadership
from conveyor.schedules.spec import Schedule, ScheduleSpec, build_spec, new_schedule_id
from conveyor.schedules.timing import ScheduleError, due_times, first_fire
from conveyor.store.pipelines_common import RunFilter
from conveyor.store.schedules_sql import schedule_sql

if TYPE_CHECKING:
    from conveyor.app import Conveyor

log = logging.getLogger("conveyor.scheduler")

DUE_BATCH = 2000  # schedules read per pass; the rest fire at the next pass
RECOVER_AFTER = 30.0  # seconds a claimed fire may stay undispatched before another leader redoes it


def utc_now() -> datetime:
    return datetime.now(UTC)


def fire_token(schedule_id: str, fire_at: datetime) -> str:
    """The token of the pipeline run one fire starts: the same for every scheduler."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"conveyor-schedule:{schedule_id}:{fire_at.isoformat()}").hex


@dataclass
class TickReport:
    leader: bool = False
    fired: list[tuple[str, datetime, str]] = field(default_factory=list)  # (schedule name, fire time, outcome)
    missed: int = 0


class Scheduler:
    """app.scheduler: the schedules of one app, and the pass that fires them."""

    def __init__(self, app: Conveyor) -> None:
        self.app = app
        self.declared: dict[tuple[str, str], ScheduleSpec] = {}
        self._synced = False
        self._tick_lock = threading.Lock()
        lease = max(2.0, 3 * app.settings.maintenance_interval)
        self.leadership = Leadership(app, lease)

    @property
    def sql(self) -> Any:
        return schedule_sql(self.app.store)

    def now(self) -> datetime:
        return self.app.clock()

    # -- declaring and managing ---------------------------------------------------------------------
    def declare(self, spec: ScheduleSpec) -> ScheduleSpec:
        key = (spec.tenant, spec.name)
        if key in self.declared:
            raise ScheduleError(f"Schedule {spec.name!r} is declared twice.", action="Give one of them name=...")
        self.declared[key] = spec
        self._synced = False
        return spec

    def sync_declared(self) -> None:
        """Write the schedules declared in code: new ones are inserted, changed ones updated
        (their next fire time recomputed); an operator's pause is kept."""
        now = self.now()
        for spec in self.declared.values():
            row = self.sql.one("schedule_get_by_name", tenant=spec.tenant, name=spec.name)
            if row is None:
                self._insert(spec, now, in_code=True)
            elif not spec.same_definition(row) or not row["in_code"]:
                self._update(row["id"], spec, now, in_code=True, active=row["active"])
        self._synced = True

    def create(self, spec: ScheduleSpec) -> Schedule:
        if self.sql.one("schedule_get_by_name", tenant=spec.tenant, name=spec.name) is not None:
            raise ScheduleError(f"Tenant {spec.tenant!r} already has a schedule named {spec.name!r}.",
                                action="Choose another name, or change the existing one (PATCH).")
        return self._insert(spec, self.now(), in_code=False)

    def _insert(self, spec: ScheduleSpec, now: datetime, *, in_code: bool) -> Schedule:
        schedule_id = new_schedule_id()
        self.sql.run("schedule_insert", id=schedule_id, **spec.columns(), in_code=in_code,
                     next_fire_at=first_fire(spec.timing, now), now=now)
        return self.get(schedule_id)  # type: ignore[return-value]

    def _update(self, schedule_id: str, spec: ScheduleSpec, now: datetime, *, in_code: bool,
                active: bool | None = None) -> None:
        columns = spec.columns()
        if active is not None:
            columns["active"] = active
        self.sql.run("schedule_update", id=schedule_id, **columns, in_code=in_code,
                     next_fire_at=first_fire(spec.timing, now), now=now)

    def update(self, schedule_id: str, changes: dict[str, Any], tenant: str | None = None) -> Schedule:
        """Change some fields; the whole result is checked before anything is written."""
        current = self.require(schedule_id, tenant)
        merged: dict[str, Any] = {"cron": current.cron, "interval": current.interval, "timezone": current.timezone,
                                  "args": current.args, "kwargs": current.kwargs, "active": current.active,
                                  "misfire": current.misfire, "misfire_max": current.misfire_max,
                                  "target": current.target, "kind": current.target_kind}
        if "cron" in changes and changes["cron"] is not None:
            merged["interval"] = None
        if "interval" in changes and changes["interval"] is not None:
            merged["cron"] = None
        merged.update(changes)
        spec = build_spec(self.app, current.name, merged.pop("target"), tenant=current.tenant, **merged)
        self._update(current.id, spec, self.now(), in_code=current.in_code)
        return self.get(current.id)  # type: ignore[return-value]

    def delete(self, schedule_id: str, tenant: str | None = None) -> None:
        self.require(schedule_id, tenant)
        self.sql.run("schedule_delete", id=schedule_id)

    def get(self, schedule_id: str, tenant: str | None = None) -> Schedule | None:
        row = self.sql.one("schedule_get", id=schedule_id)
        if row is None or (tenant is not None and row["tenant"] != tenant):
            return None
        return Schedule.from_row(row)

    def require(self, schedule_id: str, tenant: str | None = None) -> Schedule:
        from conveyor.errors import JobNotFoundError
        found = self.get(schedule_id, tenant)
        if found is None:
            raise JobNotFoundError(f"No schedule with id {schedule_id[:64]}.",
                                   action="List schedules with 'conveyor schedules' or GET /api/schedules.")
        return found

    def list(self, tenant: str | None = None) -> list[Schedule]:
        return [Schedule.from_row(r) for r in self.sql.run("schedule_list") if tenant is None or r["tenant"] == tenant]

    def fires(self, schedule_id: str, limit: int = 20) -> builtins.list[dict[str, Any]]:
        return self.sql.run("schedule_fires_list", id=schedule_id, limit=limit)

    # -- the pass -----------------------------------------------------------------------------------
    def tick(self, now: datetime | None = None, *, lead: bool = True, wait: bool = False) -> TickReport:
        """One pass. lead=False skips the leader election (tests racing schedulers on purpose);
        wait=True waits for a pass another thread of this process is making, instead of skipping."""
        report = TickReport()
        if not self._tick_lock.acquire(blocking=wait):
            return report  # this process's other maintenance thread is in a pass
        try:
            if lead and not self.leadership.hold():
                return report
            report.leader = True
            now = now or self.now()
            if not self._synced and self.declared:
                self.sync_declared()
            self._recover(now)
            self._fire_due(now, report)
            from conveyor.etl_jobs.orchestrator import Orchestrator
            Orchestrator(self.app).tick(now)
            return report
        finally:
            self._tick_lock.release()

    def _fire_due(self, now: datetime, report: TickReport) -> None:
        rows = self.sql.run("schedule_due", now=now, limit=DUE_BATCH)
        planned: list[tuple[Schedule, datetime, Any]] = []
        for row in rows:
            schedule = Schedule.from_row(row)
            try:
                due = due_times(schedule.timing, row["next_fire_at"], now)
            except ScheduleError as exc:  # a row edited by hand into nonsense: say why, leave it
                log.warning("schedule %s: %s", schedule.name, exc)
                continue
            if due is None:
                continue
            report.missed += due.missed
            if due.missed:
                log.warning("schedule %s: %d missed fire time(s) dropped (misfire=%s)", schedule.name,
                            due.missed, schedule.misfire)
            planned.append((schedule, row["next_fire_at"], due))
        claimed: list[tuple[Schedule, datetime]] = []
        with self.sql.tx() as tx:  # one transaction, statements pipelined on PostgreSQL
            moved = tx.run_many_returning("schedule_advance", [
                {"id": s.id, "next_fire_at": due.next_fire_at, "old_fire_at": old} for s, old, due in planned])
            # A schedule another scheduler moved meanwhile is its to fire, not ours.
            ours = [(s, due) for (s, _, due), got in zip(planned, moved, strict=True) if got]
            fires = [(s, fire_at) for s, due in ours for fire_at in due.fire]
            inserted = tx.run_many_returning("schedule_fire_claim", [
                {"id": s.id, "fire_at": fire_at, "now": now} for s, fire_at in fires])
            claimed = [fire for fire, got in zip(fires, inserted, strict=True) if got]
        self._dispatch_batch(claimed, now, report)

    def _dispatch_batch(self, claimed: builtins.list[tuple[Schedule, datetime]], now: datetime,
                        report: TickReport) -> None:
        """Dispatch many claimed fires cheaply: the task jobs of one queue are enqueued in one
        transaction (one live-worker check), and every outcome is recorded in one more. Pipeline
        fires start their runs one by one."""
        outcomes: builtins.list[tuple[Schedule, datetime, str, str | None, str | None]] = []
        by_queue: dict[str, builtins.list[tuple[Schedule, datetime, NewJob]]] = {}
        for schedule, fire_at in claimed:
            if schedule.target_kind == "pipeline":
                outcomes.append((schedule, fire_at, *self._attempt(schedule, fire_at)))
                continue
            try:
                job = self._build_job(schedule, fire_at)
            except ConveyorError as exc:
                outcomes.append((schedule, fire_at, "failed", None, str(exc)))
                continue
            by_queue.setdefault(job.queue, []).append((schedule, fire_at, job))
        for entries in by_queue.values():
            try:
                handles = self.app.submit([job for _, _, job in entries])
            except DatabaseError:
                raise  # the fires stay claimed and are dispatched again by a later pass
            except ConveyorError as exc:  # e.g. no live worker serves this queue: the same for all
                outcomes += [(schedule, fire_at, "failed", None, str(exc)) for schedule, fire_at, _ in entries]
                continue
            for (schedule, fire_at, _), handle in zip(entries, handles, strict=True):
                ok = handle.state.value in ("queued", "scheduled") or not handle.created  # not created: redone
                error = None if ok else (self.app.get_job(handle.id) or handle).error  # type: ignore[union-attr]
                outcomes.append((schedule, fire_at, "queued" if ok else "failed", handle.id, error))
        self._record(outcomes, now)
        for schedule, fire_at, outcome, _, _ in outcomes:
            report.fired.append((schedule.name, fire_at, outcome))

    def _record(self, outcomes: builtins.list[tuple[Schedule, datetime, str, str | None, str | None]],
                now: datetime) -> None:
        rows = [{"id": schedule.id, "fire_at": fire_at, "outcome": outcome, "job_id": job_id, "error": error,
                 "now": now} for schedule, fire_at, outcome, job_id, error in outcomes]
        with self.sql.tx() as tx:
            tx.run_many("schedule_fire_done", rows)
            tx.run_many("schedule_last_outcome", rows)
        for schedule, fire_at, outcome, _, error in outcomes:
            if error:
                log.warning("schedule %s: fire at %s %s: %s", schedule.name, fire_at.isoformat(), outcome, error)

    def _recover(self, now: datetime) -> None:
        for row in self.sql.run("schedule_fires_pending", cutoff=now - timedelta(seconds=RECOVER_AFTER)):
            schedule = self.get(row["schedule_id"])
            if schedule is not None:
                log.warning("schedule %s: fire at %s was claimed but not dispatched: dispatching it now",
                            schedule.name, row["fire_at"].isoformat())
                self.dispatch(schedule, row["fire_at"], now)

    def dispatch(self, schedule: Schedule, fire_at: datetime, now: datetime) -> str:
        """Queue the job (or start the run) of one claimed fire; record and return the outcome."""
        outcome, job_id, error = self._attempt(schedule, fire_at)
        self._record([(schedule, fire_at, outcome, job_id, error)], now)
        return outcome

    def _attempt(self, schedule: Schedule, fire_at: datetime) -> tuple[str, str | None, str | None]:
        try:
            return "queued", self._start_target(schedule, fire_at), None
        except DatabaseError:
            raise  # the fire stays claimed and is dispatched again by a later pass
        except ConveyorError as exc:
            return "failed", None, str(exc)
        except Exception as exc:  # a broken target must not stop the other schedules
            return "failed", None, f"{type(exc).__name__}: {exc}"

    def _build_job(self, schedule: Schedule, fire_at: datetime) -> NewJob:
        stamp = fire_at.isoformat()
        return self.app.build_job(schedule.target, list(schedule.args), dict(schedule.kwargs), CallOptions(
            tenant=schedule.tenant, idempotency_key=f"schedule:{schedule.id}:{stamp}",
            meta={"schedule": schedule.name, "fire_at": stamp}))

    def _start_target(self, schedule: Schedule, fire_at: datetime) -> str:
        if schedule.target_kind == "pipeline":
            token = fire_token(schedule.id, fire_at)
            existing = self.app.runs.list(RunFilter(token=token), limit=1)
            if existing:  # started by a scheduler that died before recording it
                return existing[0].id
            run = self.app.runs.start(schedule.target, schedule.kwargs, tenant=schedule.tenant, token=token)
            if run.state == "FAILED":
                raise ConveyorError(run.error or "the run failed at start", action="")
            return run.id
        handle = self.app.submit([self._build_job(schedule, fire_at)])[0]
        if handle.created and handle.state.value not in ("queued", "scheduled"):
            job = self.app.get_job(handle.id)
            raise ConveyorError(job.error if job and job.error else f"the job was written {handle.state.value}")
        return handle.id

    def stop(self) -> None:
        self.leadership.release()


def declare_schedule(app: Conveyor, name: str | None, target: Any, **options: Any) -> ScheduleSpec:
    return app.scheduler.declare(build_spec(app, name, target, **options))
