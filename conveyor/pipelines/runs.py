"""Runs of a declared pipeline: start (with the live-worker check), advance (the rules applied under
the run's lock), cancel, retry a step, reprocess from raw data, read."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from conveyor.commands import worker_command
from conveyor.errors import InvalidTransitionError, JobNotFoundError, NoLiveWorkerError, RunConflictError
from conveyor.model import EnqueuePolicy, new_job_id
from conveyor.pipelines.declaration import Pipeline, PipelineError, stage_queues
from conveyor.pipelines.rules import (
    CANCELLED,
    FAILED,
    READY,
    RUN_DONE,
    RUNNING,
    SETTLED,
    Decision,
    StageCounts,
    decide,
    seed_flags,
    status_json,
)
from conveyor.store.base import dumps
from conveyor.store.pipelines_common import RunFilter, RunRecord, RunTransaction, StageJob, pipeline_sql

if TYPE_CHECKING:
    from conveyor.app import Conveyor

log = logging.getLogger("conveyor.pipelines")


class RunNotFoundError(JobNotFoundError):
    """No run with that id (or not the caller's tenant's)."""


@dataclass
class PipelineRun:
    """A run as users read it: its state and the status JSON in the seed's shape."""

    id: str
    pipeline: str
    tenant: str
    token: str
    params: dict[str, Any]
    state: str
    status: dict[str, Any]
    error: str | None
    queues: dict[str, str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    reprocess_of: str | None = None
    from_stage: str | None = None
    # Goes up with every change of the run or its counters, and every API process reads the same
    # number for the same state (migration 0014): what a WebSocket client orders messages by.
    version: int = 0

    @property
    def finished(self) -> bool:
        return self.state in RUN_DONE

    def to_dict(self) -> dict[str, Any]:
        def ts(v: datetime | None) -> str | None:
            return v.isoformat() if v else None
        duration = ((self.finished_at or datetime.now(self.created_at.tzinfo)) - self.started_at).total_seconds() \
            if self.started_at else None
        return {"id": self.id, "pipeline": self.pipeline, "tenant": self.tenant, "token": self.token,
                "params": self.params, "state": self.state, "status": self.status, "error": self.error,
                "queues": self.queues, "created_at": ts(self.created_at), "started_at": ts(self.started_at),
                "finished_at": ts(self.finished_at), "duration": duration, "reprocess_of": self.reprocess_of,
                "from_stage": self.from_stage, "version": self.version}


def counts_of(record: RunRecord) -> dict[tuple[str, str], StageCounts]:
    return {key: StageCounts(
        entered=int(c["entered"]), outstanding=int(c["outstanding"]), done=int(c["done"]), failed=int(c["failed"]),
        cancelled=int(c["cancelled"]), running=int(c["running"]), parked=int(c.get("parked") or 0),
        resume_at=c.get("resume_at"), started=bool(c["started"]),
        skipped=bool(c["skipped"]), started_at=c["started_at"], finished_at=c["finished_at"],
        last_error=c["last_error"]) for key, c in record.counts.items()}


def _public(record: RunRecord, pipeline: Pipeline | None) -> PipelineRun:
    status = record.status
    if pipeline is not None and record.counts:
        counts = counts_of(record)
        decision = decide(pipeline, counts, record.state)
        # What the stored run says, with the live counters (the stored state is the truth).
        decision.run_state = record.state
        status = status_json(pipeline, counts, decision, record.token)
    return PipelineRun(id=record.id, pipeline=record.pipeline, tenant=record.tenant, token=record.token,
                       params=record.params, state=record.state, status=status, error=record.error,
                       queues=record.queues, created_at=record.created_at, started_at=record.started_at,
                       finished_at=record.finished_at, reprocess_of=record.reprocess_of, from_stage=record.from_stage,
                       version=record.version)


class Runs:
    """Run operations of one app (app.runs)."""

    def __init__(self, app: Conveyor) -> None:
        self.app = app

    @property
    def sql(self) -> Any:
        return pipeline_sql(self.app.store)

    def declared(self, name: str) -> Pipeline:
        pipeline = self.app.pipelines.get(name)
        if pipeline is None:
            known = ", ".join(sorted(self.app.pipelines)) or "none"
            raise PipelineError(f"Unknown pipeline {name!r}.", action=f"Use one of the declared pipelines: {known}.")
        return pipeline.declaration

    # -- start --------------------------------------------------------------------------------
    def start(self, name: str, params: dict[str, Any] | None = None, *, tenant: str = "default",
              tier: str | None = None, token: str | None = None, policy: EnqueuePolicy | str | None = None,
              reprocess_of: RunRecord | None = None, from_stage: str | None = None) -> PipelineRun:
        pipeline = self.declared(name)
        params = dict(params or {})
        if not isinstance(params, dict):
            raise PipelineError("params must be a JSON object.", action="Pass params={...}.")
        dumps(params)  # not JSON: a clear error, nothing written
        values = {"tenant": tenant, **params}
        if tier is not None:
            values["tier"] = params["tier"] = tier
        queues = stage_queues(pipeline, values, lambda task: self.app.get_task(task).options.queue)
        chosen = EnqueuePolicy(policy) if policy else EnqueuePolicy(self.app.settings.enqueue_policy)
        run_id = new_job_id()  # UUIDv7: run lists are ordered by id, i.e. by creation
        error = None
        if chosen is not EnqueuePolicy.ACCEPT:
            live = self.sql.live_workers(sorted(set(queues.values())), self.app.settings.liveness_timeout)
            missing = sorted(q for q, n in live.items() if n == 0)
            if missing:
                refusal = self._no_worker_error(name, missing)
                if chosen is EnqueuePolicy.REFUSE:
                    raise refusal
                error = f"{refusal.message} {refusal.action}"
        skipped = []
        if from_stage is not None:
            for step in pipeline.steps:
                index = pipeline.stage_index(step.name, from_stage)
                skipped += [(step.name, st.name) for st in step.stages[:index]]
        record = RunRecord(
            id=run_id, pipeline=name, tenant=tenant, token=token or uuid.uuid4().hex, params=params, queues=queues,
            state=FAILED if error else READY, status={}, error=error,
            reprocess_of=reprocess_of.id if reprocess_of else None, from_stage=from_stage,
            created_at=None, started_at=None, finished_at=None, updated_at=None,  # type: ignore[arg-type]
        )
        record.status = status_json(pipeline, {}, decide(pipeline, {}, record.state), record.token)
        if pipeline.one_run_per and reprocess_of is None:
            record.exclusive_key = exclusive_key(pipeline, tenant, params)
        try:
            self.sql.create_run(record, pipeline.cells(), skipped)
        except RunConflictError:
            raise self._conflict(pipeline, record) from None
        if not error:
            self.advance(run_id)
        return self.get(run_id)  # type: ignore[return-value]

    def _conflict(self, pipeline: Pipeline, record: RunRecord) -> RunConflictError:
        """The refusal of a second unfinished run, naming the run in the way when it can be found."""
        unfinished = self.sql.list_runs(RunFilter(pipeline=pipeline.name, states=[READY, RUNNING],
                                                  tenant=record.tenant), limit=1000)
        first = next((r for r in unfinished if exclusive_key(pipeline, r.tenant, r.params) == record.exclusive_key),
                     None)
        what = ", ".join(f"{p}={record.params.get(p)!r}" for p in pipeline.one_run_per)
        running = f"run {first.id} ({first.state})" if first else "another run"
        cli = f"conveyor pipelines cancel {first.id}" if first else "conveyor pipelines cancel RUN"
        conflict = RunConflictError(
            f"Pipeline {pipeline.name!r} already has {running} for {what} of tenant {record.tenant!r}: "
            "no second run was started (one run at a time per " + ", ".join(pipeline.one_run_per) + ").",
            action=f"Wait for it to finish, or cancel it first ({cli}).")
        conflict.run_id = first.id if first else None
        return conflict

    def _no_worker_error(self, name: str, missing: list[str]) -> NoLiveWorkerError:
        err = NoLiveWorkerError(missing[0], self.app.app_path)
        err.message = (f"Pipeline {name!r} cannot start: no live worker serves queue(s) "
                       f"{', '.join(repr(q) for q in missing)} - its stage jobs would stay queued.")
        err.action = f"Start one with: {worker_command(self.app.app_path, missing)}"
        err.queues = missing  # type: ignore[attr-defined]
        return err

    # -- advance ------------------------------------------------------------------------------
    def advance(self, run_id: str) -> str | None:
        """Apply the rules to the run's current counters under its lock: start the steps whose turn
        has come, fail or finish the run. Safe to call any number of times from any process.

        The common case (nothing to change) takes no run lock: one transaction folds the counters
        and reads them back."""
        return self.advance_paced(run_id)[0]

    def advance_paced(self, run_id: str) -> tuple[str | None, int]:
        """advance(), and how many jobs must still end before the run's decision can change (the
        fewest outstanding in the earliest unsettled stage of a step; 0: it may change any time).
        The worker's advancer paces its next advance of the run by it."""
        record = self.sql.fold(run_id)
        if record is None or record.pipeline not in self.app.pipelines or record.state in RUN_DONE:
            return (record.state if record else None), 0
        pipeline = self.declared(record.pipeline)
        counts = counts_of(record)
        decision = decide(pipeline, counts, RUNNING)
        if record.state == RUNNING and decision.run_state == RUNNING and not decision.start_steps:
            return RUNNING, _nearest_decision(pipeline, counts, decision)
        with self.sql.locked(run_id) as tx:
            if tx is None or tx.run.state in RUN_DONE:
                return (tx.run.state if tx else None), 0
            counts = counts_of(tx.run)
            decision = decide(pipeline, counts, RUNNING)
            if decision.start_steps:
                for job in self._start_steps(tx, pipeline, decision):
                    c = counts.setdefault((job.step, job.stage), StageCounts())
                    c.entered += 1
                    c.outstanding += 1
                counts = self._with_started(counts, pipeline, decision)
                decision = decide(pipeline, counts, RUNNING)
            if decision.failed:
                tx.cancel_outstanding()
            status = status_json(pipeline, counts, decision, tx.run.token)
            tx.update_run(state=decision.run_state, status=status,
                          error=decision.error if decision.failed else tx.run.error, started=True,
                          finished=decision.run_state in RUN_DONE)
            return decision.run_state, 0

    @staticmethod
    def _with_started(counts: dict[tuple[str, str], StageCounts], pipeline: Pipeline,
                      decision: Decision) -> dict[tuple[str, str], StageCounts]:
        for name in decision.start_steps:
            step = pipeline.step(name)
            for stage in step.stages:
                c = counts.setdefault((name, stage.name), StageCounts())
                if not c.skipped:
                    c.started = True
                    break
        return counts

    def _start_steps(self, tx: RunTransaction, pipeline: Pipeline, decision: Decision) -> list[StageJob]:
        run = tx.run
        counts = counts_of(run)
        jobs: list[StageJob] = []
        cells = []
        for name in decision.start_steps:
            step = pipeline.step(name)
            stages = [st for st in step.stages if not counts.get((name, st.name), StageCounts()).skipped]
            if not stages:
                continue
            entry = stages[0]
            if run.reprocess_of:
                items: list[Any] = self.sql.raw_ids(run.reprocess_of, name)
            else:
                items = [run.params]
            cells.append((name, entry.name))
            jobs += self.stage_jobs(run.id, run.tenant, run.token, run.queues, name, entry.name, entry.task, items,
                                    parent_id=None, last_job=True)
        tx.insert_jobs(jobs, cells)
        return jobs

    def stage_jobs(self, run_id: str, tenant: str, token: str, queues: dict[str, str], step: str, stage: str,
                   task_name: str, items: list[Any] | list[str], *, parent_id: str | None, last_job: bool,
                   encoded: bool = False) -> list[StageJob]:
        """Jobs for `items` entering one stage; `encoded`: items are already '[item]' JSON."""
        opts = self.app.get_task(task_name).options
        queue = queues[f"{step}/{stage}"]
        n = len(items)
        jobs = []
        for i, item in enumerate(items):
            meta = seed_flags(i, n, last_job)
            jobs.append(StageJob(
                id=new_job_id(), task=task_name, queue=queue, args_json=item if encoded else dumps([item]),
                tenant=tenant, token=token, run_id=run_id, step=step, stage=stage, parent_id=parent_id,
                priority=opts.priority, max_attempts=opts.max_attempts, timeout=opts.timeout,
                meta_json=f'{{"first_item":{_b(meta["first_item"])},"last_item":{_b(meta["last_item"])},'
                          f'"last_job_item":{_b(meta["last_job_item"])}}}'))
        return jobs

    # -- operator actions ---------------------------------------------------------------------
    def cancel(self, run_id: str, tenant: str | None = None) -> PipelineRun:
        self._require(run_id, tenant)
        with self.sql.locked(run_id) as tx:
            if tx.run.state in RUN_DONE:
                raise InvalidTransitionError(f"Run {run_id} is {tx.run.state}; only a running run can be cancelled.",
                                             action="Nothing to do: the run has already ended.")
            tx.cancel_outstanding()
            status = dict(tx.run.status, overall=CANCELLED)
            tx.update_run(state=CANCELLED, status=status, error="cancelled by an operator", finished=True)
        self.advance(run_id)
        return self.get(run_id)  # type: ignore[return-value]

    def retry_step(self, run_id: str, step: str, tenant: str | None = None) -> int:
        """Re-run the step's failed work (dead, failed and cancelled jobs), plus the work of other
        steps that was cancelled when the run failed. Returns how many jobs were queued again."""
        record = self._require(run_id, tenant)
        pipeline = self.declared(record.pipeline)
        pipeline.step(step)
        with self.sql.locked(run_id) as tx:
            if tx.run.state == CANCELLED:
                raise InvalidTransitionError(f"Run {run_id} is {tx.run.state}; a cancelled run cannot be retried.",
                                             action="Start a new run.")
            n = tx.requeue(step, ("dead", "failed", "cancelled"))
            if tx.run.state == FAILED:
                n += tx.requeue(None, ("cancelled",))
            if n == 0:
                raise InvalidTransitionError(f"Step {step!r} of run {run_id} has no failed work to retry.",
                                             action="Retry a step whose status shows failed jobs.")
            tx.update_run(state=RUNNING, status=dict(tx.run.status, overall=RUNNING), error=None)
        self.advance(run_id)
        return n

    def reprocess(self, run_id: str, from_stage: str, tenant: str | None = None,
                  policy: EnqueuePolicy | str | None = None) -> PipelineRun:
        """A new run of the same pipeline that starts at `from_stage` of every step, fed with the
        raw rows the original run stored: nothing is fetched again."""
        record = self._require(run_id, tenant)
        pipeline = self.declared(record.pipeline)
        for step in pipeline.steps:
            if pipeline.stage_index(step.name, from_stage) == 0:
                raise PipelineError(f"{from_stage!r} is the first stage of step {step.name!r}: nothing before it "
                                    "stored raw data to reprocess.", action="Name a later stage, e.g. transform.")
        return self.start(record.pipeline, record.params, tenant=record.tenant, policy=policy,
                          reprocess_of=record, from_stage=from_stage)

    # -- reading ------------------------------------------------------------------------------
    def _require(self, run_id: str, tenant: str | None) -> RunRecord:
        record = self.sql.get_run(run_id, tenant)
        if record is None:
            raise RunNotFoundError(f"No pipeline run with id {run_id}.",
                                   action="Check the id: list runs with 'conveyor pipelines status'.")
        return record

    def get(self, run_id: str, tenant: str | None = None) -> PipelineRun | None:
        record = self.sql.get_run(run_id, tenant)
        if record is None:
            return None
        run = _public(record, self._declaration(record.pipeline))
        declared = self.app.pipelines.get(record.pipeline)
        if declared is not None and declared.step_metrics is not None:
            try:  # the app reading the run, whose database holds the metrics
                metrics = declared.step_metrics(self.app, run_id)
            except Exception as exc:  # metrics are extra: the run itself is still shown
                log.warning("run %s: step metrics could not be read: %s", run_id, exc)
                metrics = {}
            _add_step_metrics(run.status, metrics)
        return run

    def list(self, filters: RunFilter | None = None, limit: int = 50, before: str | None = None) -> list[PipelineRun]:
        """Runs with live cells, as get() shows them (their counters come in one statement per page)."""
        return [_public(r, self._declaration(r.pipeline)) for r in self.sql.list_runs(filters or RunFilter(), limit, before)]

    def _declaration(self, name: str) -> Pipeline | None:
        declared = self.app.pipelines.get(name)
        return declared.declaration if declared else None

    def advance_active(self) -> int:
        """The safety net, run with maintenance: every unfinished run is advanced, so a change no
        worker reported (a rescue, a timeout, a cancel from elsewhere) is acted on within a pass."""
        n = 0
        for run_id in self.sql.active_run_ids():
            self.advance(run_id)
            n += 1
        return n


def _add_step_metrics(status: dict[str, Any], metrics: dict[str, Any]) -> None:
    """Each step's entry of the status JSON gets `metrics` (None for a step that measured nothing
    yet). A copy of each entry: the stored status is not changed."""
    steps = status.get("steps") or {}
    for name, entry in list(steps.items()):
        steps[name] = {**entry, "metrics": metrics.get(name)}


def _nearest_decision(pipeline: Pipeline, counts: dict[tuple[str, str], StageCounts], decision: Decision) -> int:
    """The fewest jobs that must end before a decision can change: per step, the jobs outstanding
    in its earliest stage not settled yet (a later stage cannot settle before it). 0 when a step
    has such a stage with nothing outstanding (it may settle or start at any moment)."""
    fewest: int | None = None
    for step in pipeline.steps:
        for stage in step.stages:
            c = counts.get((step.name, stage.name), StageCounts())
            if c.skipped or decision.stages[(step.name, stage.name)] in SETTLED:
                continue
            if c.outstanding <= 0 and (c.started or c.entered):
                return 0
            if c.outstanding > 0:
                fewest = c.outstanding if fewest is None else min(fewest, c.outstanding)
            break
    return fewest or 0


def _b(value: bool) -> str:
    return "true" if value else "false"


def exclusive_key(pipeline: Pipeline, tenant: str, params: dict[str, Any]) -> str:
    """The value two unfinished runs of a one_run_per pipeline may not share (migration 0022)."""
    return dumps([pipeline.name, tenant, *(params.get(p) for p in pipeline.one_run_per)])
