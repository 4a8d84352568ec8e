"""Rules both engines share, decided once in Python: the SQL only carries them out.

- which state changes an operator may ask for, and the error each refusal raises;
- what enqueue does, job by job, when no live worker serves the job's queue;
- what maintenance writes for a rescued, timed-out or expired job (state, backoff, messages, and
  the failed attempt it counts in the per-minute task figures);
- how long finished rows, dead workers and counters are kept;
- how a driver's error becomes one of Conveyor's own, so nothing above the store imports a driver.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from conveyor.errors import DatabaseError, InvalidTransitionError, LivenessCheckError, NoLiveWorkerError
from conveyor.model import (
    DEFAULT_RETRY,
    FINISHED_STATES,
    TRANSITIONS,
    EnqueuePolicy,
    Job,
    JobState,
    NewJob,
    Outcome,
)
from conveyor.task_metrics import MinuteKey, MinuteTally

# -- operator actions: the states each may start from (model.TRANSITIONS is the specification) --
CANCELLABLE = sorted(s.value for s, targets in TRANSITIONS.items() if JobState.CANCELLED in targets)
RETRYABLE = sorted(s.value for s in FINISHED_STATES if JobState.QUEUED in TRANSITIONS[s])
DELETABLE = sorted(s.value for s in FINISHED_STATES)
DEAD_LETTER = [JobState.DEAD.value, JobState.FAILED.value]  # what requeue_dead and purge_dead touch
# How an attempt may end (finish_jobs): an outcome naming any other state changes nothing.
FINISHED_ATTEMPT = TRANSITIONS[JobState.RUNNING]


def finishable(outcomes: list[Outcome]) -> list[Outcome]:
    """The outcomes that name a state a running job may move to (all of them, in practice)."""
    return [o for o in outcomes if o.state in FINISHED_ATTEMPT]


def cancel_refused(job: Job) -> InvalidTransitionError:
    return InvalidTransitionError(
        f"Job {job.id} is {job.state.value}; only scheduled, queued or running jobs can be cancelled.",
        action="Nothing to do: the job has already finished.",
    )


def retry_refused(job: Job) -> InvalidTransitionError:
    return InvalidTransitionError(
        f"Job {job.id} is {job.state.value}; only finished jobs can be retried.",
        action="Wait for it to finish, or cancel it first.",
    )


def delete_refused(job: Job) -> InvalidTransitionError:
    return InvalidTransitionError(
        f"Job {job.id} is {job.state.value}; only finished jobs can be deleted.", action="Cancel it first."
    )


# -- enqueue ------------------------------------------------------------------------------------
PolicyOfJob = Callable[[NewJob], EnqueuePolicy]
PolicyChoice = EnqueuePolicy | str | PolicyOfJob  # one policy for every job, or each job's own


def policy_of(policy: PolicyChoice) -> PolicyOfJob:
    """The policy of each job. A function is asked only for jobs whose queue has no live worker,
    so a batch whose queues are all served costs nothing per job."""
    if isinstance(policy, str):
        fixed = EnqueuePolicy(policy)
        return lambda _job: fixed
    return policy


def refusals_for(
    jobs: Sequence[NewJob], policy: PolicyOfJob, workers: dict[str, tuple[int, int]], app_path: str | None,
) -> list[str | None]:
    """admit() for a batch, given (running, paused) workers per queue: the error each job is
    written with (None: as asked). Raises NoLiveWorkerError when any job's policy refuses."""
    if all(running > 0 for running, _ in workers.values()):
        return [None] * len(jobs)  # the common case: every queue served
    refusals: list[str | None] = []
    for job in jobs:
        running, paused = workers[job.queue]
        refusals.append(None if running > 0 else admit(job, policy(job), running, paused, app_path))
    return refusals


def refusal(queue: str, app_path: str | None) -> str:
    """The error a job written as failed (policy record_failed) carries."""
    return str(NoLiveWorkerError(queue, app_path))


def admit(
    job: NewJob, policy: EnqueuePolicy, running: int, paused: int, app_path: str | None
) -> str | None:
    """None: write the job as asked. A string: write it as failed with this error. Raises
    NoLiveWorkerError when the job's policy refuses it (then nothing of its batch is written)."""
    if running > 0 or policy is EnqueuePolicy.ACCEPT:
        return None
    if policy is EnqueuePolicy.REFUSE:
        raise NoLiveWorkerError(job.queue, app_path, paused_workers=paused)
    return refusal(job.queue, app_path)


def enqueue_failed(exc: BaseException, count: int = 1, *, where: str = "database connection") -> LivenessCheckError:
    # Covers a failed live-worker check too: never assume a worker is there.
    what = "Could not enqueue" if count == 1 else f"Could not enqueue {count} jobs"
    step = "the live-worker check and insert failed" if count == 1 else "the insert failed"
    return LivenessCheckError(
        f"{what}: {step} ({type(exc).__name__}: {exc}).",
        action=f"Nothing was queued. Check the {where} and schema, then try again.",
    )


def liveness_check_failed(exc: BaseException, *, where: str = "database connection") -> LivenessCheckError:
    return LivenessCheckError(
        f"Could not check for live workers: {exc}.",
        action=f"Nothing was queued. Check the {where} and try again.",
    )


# -- looking a job up by part of its id ----------------------------------------------------------
_LOWEST_ID = "00000000-0000-0000-0000-000000000000"
_HIGHEST_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"


def _fits(fragment: str, part: str) -> bool:
    """True when the fragment has its dashes exactly where this part of an id has them."""
    return all((a == "-") == (b == "-") for a, b in zip(fragment, part, strict=True))


def id_lookup(fragment: str) -> dict[str, str | None] | None:
    """find_job_ids' parameters for a fragment of lower-case hex and '-' (None: no id can match):
    the range of ids that start with it (low/high: a range of the primary key, no scan) and a
    LIKE pattern for the ids that end with it (suffix); each None when no id can start or end so."""
    if not fragment or len(fragment) > len(_LOWEST_ID) or fragment.strip("0123456789abcdef-"):
        return None
    low, high = fragment + _LOWEST_ID[len(fragment):], fragment + _HIGHEST_ID[len(fragment):]
    is_start = _fits(fragment, _LOWEST_ID[:len(fragment)])
    is_end = _fits(fragment, _LOWEST_ID[len(_LOWEST_ID) - len(fragment):])
    return {
        "low": low if is_start else None, "high": high if is_start else None,
        "suffix": "%" + fragment if is_end else None,
    }


# -- maintenance --------------------------------------------------------------------------------
WORKERS_KEPT_S = 7 * 86400.0  # stopped and dead workers stay listed this long
COMPLETION_COUNTS_KEPT_S = 7200.0  # throughput counters: the dashboard reads the last hour
DELETIONS_KEPT_S = 60.0  # deleted job ids kept for the SQLite event pollers

RetryDelay = Callable[[str, int], float]  # (task name, attempt that failed) -> seconds


def default_retry_delay(_task: str, attempt: int) -> float:
    return DEFAULT_RETRY.delay(attempt)


@dataclass(slots=True)
class Verdict:
    """What maintenance writes for one job it takes from a worker, and the attempt it ends for the
    per-minute task figures (a failed attempt: conveyor/task_metrics.py)."""

    id: str
    state: str
    error: str
    entry: dict[str, Any]  # the attempt-log entry
    delay: float = 0.0  # seconds until a retry (state scheduled)
    minute_key: MinuteKey = ("", "", "", "")
    ran: float = 0.0  # seconds from the attempt's start until maintenance ended it
    pickup: float | None = None  # seconds from queued to started


def _verdict(row: dict[str, Any], now: datetime, state: str, error: str, outcome: str, note: str,
             delay: float = 0.0) -> Verdict:
    """A verdict on a row of select_orphans / select_overdue (the columns they both return)."""
    started = row["started_at"]
    entry = {
        "attempt": row["attempts"], "worker_id": row["worker_id"],
        "started_at": started.isoformat() if started is not None else None,
        "finished_at": now.isoformat(), "outcome": outcome, "error": note,
    }
    return Verdict(
        id=str(row["id"]), state=state, error=error, entry=entry, delay=delay,
        minute_key=(row["tenant"], row["queue"], row["task"], row["worker_id"] or ""),
        ran=float(row["ran"] or 0.0), pickup=None if row["pickup"] is None else float(row["pickup"]),
    )


def rescue_verdict(row: dict[str, Any], now: datetime, *, exited: bool = False) -> Verdict:
    """A running job whose worker is gone goes back to the queue (attempt counted), or to dead.
    exited: the worker's process was seen to end (its lock was released), not just to go quiet."""
    worker = row["worker_id"] or "?"
    spent = row["attempts"] >= row["max_attempts"]
    how = "exited (its lock was released)" if exited else "stopped heartbeating"
    return _verdict(
        row, now, "dead" if spent else "queued",
        f"Worker {worker} {how} during attempt {row['attempts']}; "
        "the job was rescued by the maintenance loop.",
        "orphaned", f"worker {worker} {'exited' if exited else 'died (no heartbeat)'}",
    )


def seconds_text(value: float) -> str:
    """Seconds as the database used to print them in messages: 2 (not 2.0), 0.3, 1234567."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def timeout_verdict(row: dict[str, Any], now: datetime, retry_delay: RetryDelay) -> Verdict:
    """A running job past its deadline whose worker did not report: retried after the task's own
    backoff, or dead when its attempts are spent."""
    seconds = f"timed out after {seconds_text(row['timeout'])} s"
    spent = row["attempts"] >= row["max_attempts"]
    return _verdict(
        row, now, "dead" if spent else "scheduled",
        f"{seconds} (enforced by the database: the worker did not report)", "timed_out", seconds,
        delay=0.0 if spent else retry_delay(row["task"], row["attempts"]),
    )


def ended_attempts(verdicts: list[Verdict], written: set[str]) -> list[tuple[Any, ...]]:
    """The count_task_minutes rows for the attempts maintenance ended (the verdicts it wrote):
    every one a failed attempt, as a worker's own failure would be counted."""
    tally = MinuteTally()
    for v in verdicts:
        if v.id in written:
            tally.add(v.minute_key, False, v.ran, v.pickup)
    return tally.rows()


def expired_error(queue: str, waited: float, deadline: float) -> str:
    return (f"Waited {round(waited)} s in queue '{queue}' with no live worker (schedule-to-start deadline "
            f"{seconds_text(deadline)} s). Start a worker for the queue, then requeue it.")


# -- driver errors --------------------------------------------------------------------------------
F = TypeVar("F", bound=Callable[..., Any])


def translating(driver_error: type[BaseException] | tuple[type[BaseException], ...]) -> Callable[[F], F]:
    """Wrap a store method so a driver's error leaves it as DatabaseError (a
    DatabaseUnavailableError): callers catch Conveyor's errors, never psycopg's or sqlite3's."""

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(*args, **kwargs)
                except driver_error as exc:
                    raise DatabaseError.from_driver(exc) from exc
            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except driver_error as exc:
                raise DatabaseError.from_driver(exc) from exc
        return run  # type: ignore[return-value]

    return decorate


def translate_driver_errors(cls: type, driver_error: type[BaseException] | tuple[type[BaseException], ...]) -> None:
    """Apply `translating` to every public method of a Store engine class (its own and inherited)."""
    from conveyor.store.base import Store

    for name in dir(Store):
        if name.startswith("_") or not callable(getattr(Store, name)):
            continue
        method = getattr(cls, name)
        if getattr(method, "__wrapped__", None) is None:
            setattr(cls, name, translating(driver_error)(method))
