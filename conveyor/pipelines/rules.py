"""The rules of a run, as pure functions of its counters: stage and step states, which steps may
start, when the run is finished or failed, and the status JSON in the seed's shape.

Completion is decided by counting, never by flags: a stage is finished when its upstream stage is
finished and nothing of it is outstanding; a step when its last stage is; the run when every step is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from conveyor.pipelines.declaration import OnFailure, Pipeline, Step

# Run states (the seed's words).
READY, RUNNING, FINISHED, FAILED, CANCELLED = "READY", "RUNNING", "FINISHED", "FAILED", "CANCELLED"
RUN_STATES = (READY, RUNNING, FINISHED, FAILED, CANCELLED)
RUN_DONE = frozenset({FINISHED, FAILED, CANCELLED})

# Stage (and step) states.
IDLE, WAITING, ACTIVE, DONE, STAGE_FAILED, PARTIAL = "idle", "waiting", "running", "finished", "failed", "partial"
SETTLED = frozenset({DONE, PARTIAL})  # what downstream work may count as finished


@dataclass
class StageCounts:
    """The counters of one (run, step, stage). `outstanding` is scheduled + queued + running."""

    entered: int = 0  # jobs ever created for this stage (what the stage upstream emitted)
    outstanding: int = 0
    done: int = 0
    failed: int = 0  # dead, or failed at enqueue
    cancelled: int = 0
    running: int = 0  # of outstanding, claimed right now (read live; display only)
    parked: int = 0  # of outstanding, parked by ParkJob until resume_at (read live; display only)
    resume_at: datetime | None = None  # the earliest resume_at of the parked ones
    started: bool = False  # the step started here (its entry stage), or an item entered
    skipped: bool = False  # a reprocess run starts after this stage
    started_at: datetime | None = None
    finished_at: datetime | None = None
    last_error: str | None = None


@dataclass
class Decision:
    stages: dict[tuple[str, str], str]
    steps: dict[str, str]
    run_state: str
    start_steps: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.run_state == FAILED


def stage_state(c: StageCounts, upstream: str | None, on_failure: OnFailure, step_ready: bool) -> str:
    """upstream: the state of the stage before (None for a step's first stage)."""
    if c.skipped:
        return DONE
    if c.failed and on_failure is OnFailure.FAIL_RUN:
        return STAGE_FAILED  # at once, not when the stage drains: the run fails and is cancelled
    if c.outstanding > 0:
        # Every job left is parked (a rate limit): nothing runs before resume_at.
        return WAITING if c.parked >= c.outstanding else ACTIVE
    started = c.started or c.entered > 0
    if upstream is None:
        if not started:
            return IDLE if step_ready else WAITING
    elif upstream == STAGE_FAILED:
        return STAGE_FAILED if c.failed + c.cancelled else IDLE
    elif upstream == WAITING:
        return WAITING if started else IDLE  # drained, and its upstream is parked
    elif upstream not in SETTLED:
        return ACTIVE if started else IDLE  # drained for now, but its upstream may still send items
    if c.failed + c.cancelled:
        return PARTIAL if on_failure is OnFailure.CONTINUE else STAGE_FAILED
    return DONE


def step_state(stage_states: list[str]) -> str:
    if stage_states[-1] in SETTLED:
        return PARTIAL if PARTIAL in stage_states else DONE
    if STAGE_FAILED in stage_states:
        return STAGE_FAILED
    if all(s in (IDLE, WAITING) for s in stage_states):
        return stage_states[0]
    if ACTIVE not in stage_states and WAITING in stage_states:
        return WAITING  # nothing runs: what is left is parked until its resume_at
    return ACTIVE


def decide(pipeline: Pipeline, counts: dict[tuple[str, str], StageCounts], run_state: str) -> Decision:
    """States of every stage, step and the run, and which steps start now."""
    stages: dict[tuple[str, str], str] = {}
    steps: dict[str, str] = {}
    # Steps in dependency order (declared order may list a step before the one it depends on).
    ordered: list[Step] = []
    placed: set[str] = set()
    while len(ordered) < len(pipeline.steps):
        for step in pipeline.steps:
            if step.name not in placed and all(d.step in placed for d in pipeline.dependencies[step.name]):
                ordered.append(step)
                placed.add(step.name)
    start: list[str] = []
    error = None
    for step in ordered:
        ready = all(
            (steps[d.step] if d.whole_step else stages[(d.step, pipeline.step(d.step).stages[0].name)]) in SETTLED
            for d in pipeline.dependencies[step.name]
        )
        upstream: str | None = None  # the entry stage (the first one not skipped) has none
        states = []
        entry: StageCounts | None = None
        for stage in step.stages:
            c = counts.get((step.name, stage.name), StageCounts())
            state = stage_state(c, upstream, step.on_failure, ready)
            stages[(step.name, stage.name)] = state
            states.append(state)
            if state == STAGE_FAILED and error is None:
                error = c.last_error or f"stage {stage.name} of step {step.name} failed"
            if not c.skipped:
                upstream = state
                entry = entry or c
        steps[step.name] = step_state(states)
        if entry is not None and ready and not (entry.started or entry.entered) and run_state == RUNNING:
            start.append(step.name)
    new_state = run_state
    if run_state == RUNNING:
        if error is not None:
            new_state = FAILED
        elif all(s in SETTLED for s in steps.values()):
            new_state = FINISHED
    return Decision(stages=stages, steps=steps, run_state=new_state,
                    start_steps=start if new_state == RUNNING else [], error=error if new_state == FAILED else None)


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def status_json(pipeline: Pipeline, counts: dict[tuple[str, str], StageCounts], decision: Decision,
                token: str) -> dict[str, Any]:
    """{"overall", "token", "steps": {name: {"order", "display_name", <stage>: state, ...,
    "stages": {<stage>: {counts, times, error}}}}} - the seed's shape, plus the counts behind it."""
    steps: dict[str, Any] = {}
    for order, step in enumerate(pipeline.steps, start=1):
        entry: dict[str, Any] = {"order": order, "display_name": step.display_name,
                                 "state": decision.steps[step.name]}
        details: dict[str, Any] = {}
        resume: list[datetime] = []
        for i, stage in enumerate(step.stages):
            c = counts.get((step.name, stage.name), StageCounts())
            nxt = step.stages[i + 1].name if i + 1 < len(step.stages) else None
            emitted = counts.get((step.name, nxt), StageCounts()).entered if nxt else 0
            state = decision.stages[(step.name, stage.name)]
            entry[stage.name] = state
            parked = state == WAITING and c.parked > 0
            if parked and c.resume_at:
                resume.append(c.resume_at)
            details[stage.name] = {
                "state": state,
                "queued": max(0, c.outstanding - c.running - c.parked), "running": c.running, "parked": c.parked,
                "done": c.done, "failed": c.failed, "cancelled": c.cancelled, "entered": c.entered, "emitted": emitted,
                "first_start": _ts(c.started_at), "last_finish": _ts(c.finished_at), "last_error": c.last_error,
                "resume_at": _ts(c.resume_at) if parked else None,
            }
        # A waiting step says when it goes on (its earliest parked job's resume_at).
        entry["resume_at"] = _ts(min(resume)) if resume and entry["state"] == WAITING else None
        entry["stages"] = details
        steps[step.name] = entry
    return {"overall": decision.run_state, "token": token, "steps": steps}


def seed_flags(index: int, count: int, last_job: bool) -> dict[str, bool]:
    """The seed's first_item / last_item / last_job_item, kept on stage jobs' meta for
    compatibility. They decide nothing: completion is counted."""
    return {"first_item": index == 0, "last_item": index == count - 1, "last_job_item": last_job and index == count - 1}
