"""What a failed attempt becomes: parked until later (the attempt given back), retried after the
task's backoff, or dead — decided from the exception, the task's retry options and the attempts
left. The worker turns the answer into the Outcome it records."""

from __future__ import annotations

import time
import traceback
from typing import Any

from conveyor.app import MISSING_DEPENDENCY_ERRORS, Conveyor
from conveyor.errors import InvalidJobError, JobTimeoutError, ParkJob, PermanentError
from conveyor.model import DEFAULT_RETRY, JobState
from conveyor.store.base import ClaimedJob


def failure_fields(app: Conveyor, claimed: ClaimedJob, exc: BaseException) -> dict[str, Any]:
    """The Outcome fields (state, error, traceback, retry_delay, attempt_outcome) of a failed attempt."""
    if isinstance(exc, ParkJob):  # rescheduled for resume_at; the store gives the attempt back
        wait = max(0.0, exc.resume_at.timestamp() - time.time())
        return {"state": JobState.SCHEDULED, "retry_delay": wait, "attempt_outcome": "parked",
                "error": f"parked until {exc.resume_at.isoformat()}: {exc.reason}"}
    task = app.tasks.get(claimed.task)
    timed_out = isinstance(exc, JobTimeoutError)
    error = f"{type(exc).__name__}: {exc}" if not timed_out else str(exc)
    permanent = isinstance(exc, (PermanentError, InvalidJobError, *MISSING_DEPENDENCY_ERRORS))
    if task is not None and not timed_out:
        opts = task.options
        if opts.dont_retry_on and isinstance(exc, opts.dont_retry_on) or not isinstance(exc, opts.retry_on):
            permanent = True
    if permanent or claimed.attempts >= claimed.max_attempts or not isinstance(exc, Exception):
        state, delay = JobState.DEAD, 0.0
    else:
        retry = task.options.retry if task else DEFAULT_RETRY
        delay = retry.delay(claimed.attempts)
        state = JobState.SCHEDULED
    return {"state": state, "error": error, "traceback": "".join(traceback.format_exception(exc)),
            "retry_delay": delay,
            "attempt_outcome": "timed_out" if timed_out else ("permanent_error" if permanent else "failed")}
