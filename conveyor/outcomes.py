"""How an attempt ends, as the Outcome the worker records: its body returned (completed, or
cancelled while it ran; a pipeline stage's emits go with it) or raised (a failure, decided in
failures.py; cancelled; handed back at shutdown)."""

from __future__ import annotations

import asyncio
from typing import Any

from conveyor.app import Conveyor
from conveyor.context import JobContext
from conveyor.errors import JobCancelledError
from conveyor.failures import failure_fields
from conveyor.model import JobState, Outcome
from conveyor.pipelines.emits import StageEmits
from conveyor.store.base import ClaimedJob, dumps

BUILD_LATER: list[Any] = []  # Outcome.emits: too many to build on the loop; built on a database thread


def outcome(claimed: ClaimedJob, state: JobState, worker_id: str, **extra: Any) -> Outcome:
    return Outcome(
        job_id=claimed.id, lease_token=claimed.lease_token, state=state, attempt=claimed.attempts,
        started_at=claimed.started_at, worker_id=worker_id, run_id=claimed.pipeline_run_id, **extra,
    )


def returned(claimed: ClaimedJob, ctx: JobContext, result: Any, worker_id: str, emits: StageEmits) -> Outcome:
    """The outcome of an attempt whose body returned `result` (emits left to build: BUILD_LATER)."""
    if ctx.cancelled:
        return outcome(claimed, JobState.CANCELLED, worker_id)
    if result is not None:
        dumps(result)  # a result that cannot be stored fails the attempt, not the batch
    done = outcome(claimed, JobState.COMPLETED, worker_id, result=result)
    if ctx.emitted or ctx.continued:  # pipelines: the emits go with the completion, in its transaction
        emitted, continued = ctx.emitted or [], ctx.continued or []
        # A few items into a run already known: built here, no thread hop.
        done.emits = emits.build(claimed, emitted, continued) if emits.quick(claimed, emitted) else BUILD_LATER
    return done


def raised(app: Conveyor, claimed: ClaimedJob, exc: BaseException, worker_id: str, handed_back: bool) -> Outcome:
    """The outcome of an attempt that raised `exc` (or was cancelled, or handed back)."""
    if isinstance(exc, asyncio.CancelledError):
        return outcome(claimed, JobState.QUEUED if handed_back else JobState.CANCELLED, worker_id)
    if isinstance(exc, JobCancelledError):
        return outcome(claimed, JobState.CANCELLED, worker_id)
    fields = failure_fields(app, claimed, exc)
    return outcome(claimed, fields.pop("state"), worker_id, **fields)
