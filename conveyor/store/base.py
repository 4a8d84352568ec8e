"""The store interface: the only place with SQL lives behind it (the postgres/ and sqlite/ engines).

The interface is synchronous so that web handlers (Flask, Django) can enqueue and read status
without an event loop; async callers (the worker, the API) run these calls in a thread. Every
call is one short transaction, so a thread hop costs far less than the round trip it wraps.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

from conveyor.commands import cli_command
from conveyor.errors import InvalidJobError, JobNotFoundError, SchemaOutdatedError
from conveyor.model import EnqueuePolicy, Job, JobState, NewJob, Outcome, QueueStats, WorkerInfo
from conveyor.store import core
from conveyor.store.worker_locks import WorkerLock

QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
CHANNEL_WAKE = "conveyor_wake"  # payload: queue name, or "queue id" for one new ready job; workers LISTEN
CHANNEL_EVENTS = "conveyor_events"  # payload: {"state": ..., "ids": [...]}; the API LISTENs

# An event listener gets (state, job_ids). State "progress" means progress or meta changed;
# RESYNC (no ids) means events may have been lost (the feed's connection dropped): re-read.
RESYNC = "resync"
EventListener = Callable[[str, list[str]], None]


@dataclass(slots=True)
class ClaimedJob:
    """The columns a worker needs to run a job; the hot path reads nothing more.
    Field order is the claim statement's column order."""

    id: str
    task: str
    queue: str
    tenant: str
    args: list[Any]
    kwargs: dict[str, Any]
    attempts: int
    max_attempts: int
    timeout: float | None
    lease_token: str
    token: str
    started_at: datetime
    # Pipelines: the run, step and stage of a stage job (None for other jobs).
    pipeline_run_id: str | None = None
    step: str | None = None
    stage: str | None = None


@dataclass
class EnqueueResult:
    id: str
    state: JobState
    created: bool  # False when an idempotency key matched an existing job


@dataclass
class JobFilter:
    states: list[str] = field(default_factory=list)
    queue: str | None = None
    task: str | None = None
    token: str | None = None
    tenant: str | None = None
    error_contains: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    parent_id: str | None = None


@dataclass
class MaintenanceReport:
    rescued: list[tuple[str, str]] = field(default_factory=list)  # (job id, new state)
    timed_out: list[tuple[str, str]] = field(default_factory=list)
    stranded_queues: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)  # stranded past the schedule-to-start deadline
    pruned: int = 0
    dead_workers: list[str] = field(default_factory=list)
    # Seconds until the stalest live worker's heartbeat expires (None: no live worker), so the
    # next pass can run right then instead of a full interval later.
    next_expiry: float | None = None


@dataclass(frozen=True, slots=True)
class MaintenanceSettings:
    """The parameters of one maintenance pass (Store.run_maintenance's keywords), as the engine gets them."""

    liveness_timeout: float
    timeout_grace: float
    stranded_deadline: float
    result_ttl: float
    failure_ttl: float
    prune_batch: int
    retry_delay: Callable[[str, int], float]


@dataclass
class ApiKey:
    id: str
    tenant: str
    role: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


def load_migrations(engine: str) -> list[tuple[int, str, str]]:
    """Numbered migrations shipped in the package: [(version, name, sql)], ascending."""
    folder = resources.files("conveyor.store").joinpath("migrations", engine)
    found = []
    for entry in folder.iterdir():
        match = re.match(r"^(\d{4})_(.+)\.sql$", entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text()))
    return sorted(found)


def latest_schema_version(engine: str) -> int:
    return max(v for v, _, _ in load_migrations(engine))


# One encoder for every call: json.dumps with options builds a new encoder each time.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
# And the stdlib's C encoder behind it, built once too: JSONEncoder.encode builds one per call,
# which for a small payload costs as much as the encoding itself (1.65 -> 0.84 us per value;
# bench: bulk enqueue, completions). No markers dict, as that would be shared between threads:
# a value that contains itself then fails with RecursionError instead of ValueError.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)  # None without the C accelerator
_C_ENCODE = (
    _c_make_encoder(None, _ENCODER.default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False)
    if _c_make_encoder is not None else None
)


def dumps(value: Any) -> str:
    """JSON for the database; a clear error for values that are not JSON-serialisable."""
    if not value and type(value) in (dict, list):
        return "{}" if type(value) is dict else "[]"  # kwargs and meta are usually empty
    try:
        return "".join(_C_ENCODE(value, 0)) if _C_ENCODE is not None else _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        reason = "it contains itself, or is nested too deeply" if isinstance(exc, RecursionError) else exc
        raise InvalidJobError(
            f"Value is not JSON-serialisable: {reason}.",
            action="Pass only JSON types (str, int, float, bool, None, list, dict) as job "
            "arguments, results and meta; convert dates to ISO strings and objects to dicts.",
        ) from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_new_job(job: NewJob) -> None:
    if not QUEUE_NAME.match(job.queue):
        raise InvalidJobError(
            f"Invalid queue name {job.queue!r}.",
            action="Use 1-100 characters from letters, digits and _ . : -",
        )
    if not _is_int(job.priority):
        raise InvalidJobError(f"priority must be an integer, got {job.priority!r}.", action="Pass e.g. priority=10.")
    if not _is_int(job.max_attempts) or job.max_attempts < 1:
        raise InvalidJobError(
            f"max_attempts must be an integer of at least 1, got {job.max_attempts!r}.",
            action="Pass max_attempts >= 1.",
        )
    if job.timeout is not None and (not isinstance(job.timeout, int | float) or isinstance(job.timeout, bool)
                                    or not math.isfinite(job.timeout) or job.timeout <= 0):
        raise InvalidJobError(
            f"timeout must be a finite number of seconds above 0, got {job.timeout!r}.",
            action="Pass a timeout in seconds above 0, or None for no timeout.",
        )
    if not isinstance(job.args, list) or not isinstance(job.kwargs, dict):
        raise InvalidJobError("args must be a list and kwargs a dict.", action="Fix the call.")


class Store(ABC):
    """One interface, two engines. tests/store/test_conformance.py runs every method on both engines."""

    engine: str
    url: str
    wakes_across_processes: bool  # True: a worker hears of new jobs from other processes at once

    # -- schema ---------------------------------------------------------------------------
    @abstractmethod
    def migrate(self) -> int:
        """Apply pending numbered migrations; return the schema version."""

    @abstractmethod
    def schema_version(self) -> int:
        """Version of the database schema (0 when Conveyor's tables are absent)."""

    def check_schema(self) -> None:
        have, need = self.schema_version(), latest_schema_version(self.engine)
        if have < need:
            raise SchemaOutdatedError(
                f"The database schema is at version {have}, this Conveyor needs version {need}.",
                action=f"Run: {cli_command()} db upgrade --database-url {self.redacted_url()}  "
                       "(or call app.migrate() once at start-up).",
            )

    def redacted_url(self) -> str:
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.url)

    @abstractmethod
    def close(self) -> None: ...

    # -- jobs -----------------------------------------------------------------------------
    def enqueue(
        self,
        jobs: list[NewJob],
        *,
        policy: EnqueuePolicy | str | Callable[[NewJob], EnqueuePolicy],
        liveness_timeout: float,
        app_path: str | None = None,
    ) -> list[EnqueueResult]:
        """Write jobs (`policy`: one for all, or a function giving each job's own) after checking a live worker serves each queue (see EnqueuePolicy).

        Raises NoLiveWorkerError under REFUSE (nothing written) and LivenessCheckError when the
        check itself cannot be made."""
        return self._enqueue(jobs, policy, liveness_timeout, app_path)

    async def enqueue_async(
        self,
        jobs: list[NewJob],
        *,
        policy: EnqueuePolicy | str | Callable[[NewJob], EnqueuePolicy],
        liveness_timeout: float,
        app_path: str | None = None,
    ) -> list[EnqueueResult]:
        """enqueue() for async callers."""
        return await self._enqueue_async(jobs, policy, liveness_timeout, app_path)

    @abstractmethod
    def _enqueue(self, jobs: list[NewJob], policy: core.PolicyChoice, liveness: float,
                 app_path: str | None) -> list[EnqueueResult]:
        """The engine's enqueue algorithm (enqueue's arguments, positionally)."""

    async def _enqueue_async(self, jobs: list[NewJob], policy: core.PolicyChoice, liveness: float,
                             app_path: str | None) -> list[EnqueueResult]:
        """The same for async callers; engines with an async driver override it."""
        return await asyncio.to_thread(self._enqueue, jobs, policy, liveness, app_path)

    @abstractmethod
    def get_job(self, job_id: str, tenant: str | None = None) -> Job | None: ...

    @abstractmethod
    def task_metric_rows(self, since: float, step: int, tenant: str | None = None) -> list[dict[str, Any]]:
        """Per-minute task figures since `since` (unix seconds), added up per task, queue and
        chart point t (unix seconds, a multiple of `step`): see conveyor/task_metrics.py."""

    def find_job_ids(self, fragment: str, limit: int = 3) -> list[str]:
        """Ids that start or end with `fragment` (lower-case hex and '-'), newest first."""
        params = core.id_lookup(fragment)
        return [] if params is None else self._find_job_ids({**params, "limit": limit})

    @abstractmethod
    def _find_job_ids(self, params: dict[str, Any]) -> list[str]:
        """Run find_job_ids.sql with core.id_lookup's parameters and a limit."""

    @abstractmethod
    def get_jobs(self, job_ids: list[str]) -> list[Job]:
        """Many jobs in one round trip (the API's event hub); unknown ids are left out."""

    @abstractmethod
    def list_jobs(
        self, filters: JobFilter, *, limit: int = 50, before: str | None = None
    ) -> list[Job]:
        """Newest first, i.e. by id descending (UUIDv7: creation order); `before` is the id of
        the last row seen (keyset cursor)."""

    @abstractmethod
    def claim_jobs(self, worker_id: str, queues: list[str], limit: int) -> list[ClaimedJob]: ...

    @abstractmethod
    def finish_jobs(self, outcomes: list[Outcome]) -> list[str]:
        """Record how attempts ended; only rows still leased with that token change.
        Returns the ids that changed."""

    def update_progress(
        self,
        job_id: str,
        lease_token: str,
        *,
        percent: float | None = None,
        processed: int | None = None,
        failed: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> bool:
        """Store progress at once; False when the lease was lost (the attempt was replaced)."""
        return self._write_progress({
            "id": job_id, "lease": lease_token, "percent": percent, "processed": processed, "failed": failed,
            "meta": dumps(meta) if meta is not None else None,  # JSON text: set key by key into the job's meta
        })

    @abstractmethod
    def _write_progress(self, params: dict[str, Any]) -> bool:
        """Run update_progress.sql with these parameters; True when the lease held."""

    @abstractmethod
    def extend_deadline(self, job_id: str, lease_token: str, seconds: float) -> bool: ...

    def _require_job(self, job_id: str, tenant: str | None) -> Job:
        job = self.get_job(job_id, tenant)
        if job is None:
            raise JobNotFoundError(f"No job with id {job_id}.", action="Check the id: list jobs with 'conveyor jobs'.")
        return job

    @abstractmethod
    def cancel_job(self, job_id: str, tenant: str | None = None) -> JobState:
        """Queued/scheduled: cancelled at once. Running: cancel requested (the worker acts)."""

    @abstractmethod
    def retry_job(self, job_id: str, tenant: str | None = None) -> None:
        """A finished job (dead, failed, cancelled, completed) goes back to queued."""

    @abstractmethod
    def delete_job(self, job_id: str, tenant: str | None = None) -> None:
        """Only finished jobs can be deleted."""

    @abstractmethod
    def requeue_dead(self, filters: JobFilter) -> int: ...

    @abstractmethod
    def purge_dead(self, filters: JobFilter) -> int: ...

    @abstractmethod
    def cancel_requested_jobs(self, worker_id: str) -> list[str]: ...

    @abstractmethod
    def running_jobs(self, worker_id: str, started_before_seconds: float) -> list[tuple[str, str]]:
        """(job id, lease token) of jobs leased to the worker for longer than the given seconds.
        A worker compares them with what it really runs: a claim whose answer was lost with its
        connection leaves a job leased to a live worker that does not know it."""

    @abstractmethod
    def stage_scheduled(self, limit: int = 1000) -> int:
        """Scheduled jobs whose run_at has come become queued; returns how many."""

    # -- workers and queues ---------------------------------------------------------------
    @abstractmethod
    def register_worker(self, info: WorkerInfo) -> None: ...

    @abstractmethod
    def heartbeat(
        self, worker_id: str, *, state: str, jobs_in_flight: int, processed: int, failed: int
    ) -> str | None:
        """Refresh liveness; returns the state an operator asked for (pause/resume/stop) or None;
        "dead" when the worker was declared dead and "unregistered" when it has no row: either way
        it is not revived, it must hand back what it runs and register again (register_worker)."""

    @abstractmethod
    def set_worker_desired_state(self, worker_id: str, desired: str) -> bool: ...

    @abstractmethod
    def stop_worker(self, worker_id: str) -> None:
        """Mark a worker stopped (graceful exit)."""

    @abstractmethod
    def list_workers(self, liveness_timeout: float, include_dead_since: float = 3600.0) -> list[WorkerInfo]: ...

    @abstractmethod
    def live_worker_count(self, queue: str, liveness_timeout: float) -> tuple[int, int]:
        """(running, paused) live workers that serve the queue."""

    @abstractmethod
    def queue_stats(self, liveness_timeout: float, tenant: str | None = None) -> list[QueueStats]: ...

    @abstractmethod
    def set_queue_paused(self, queue: str, paused: bool) -> None: ...

    # -- maintenance ----------------------------------------------------------------------
    def run_maintenance(
        self,
        *,
        liveness_timeout: float,
        timeout_grace: float,
        stranded_deadline: float,
        result_ttl: float,
        failure_ttl: float,
        prune_batch: int,
        retry_delay: Callable[[str, int], float] | None = None,
    ) -> MaintenanceReport | None:
        """One pass; None when another process holds the maintenance lock. A job that timed out
        is retried after retry_delay(task, attempt) seconds (default: the default retry policy)."""
        return self._maintain(MaintenanceSettings(
            liveness_timeout=liveness_timeout, timeout_grace=timeout_grace, stranded_deadline=stranded_deadline,
            result_ttl=result_ttl, failure_ttl=failure_ttl, prune_batch=prune_batch,
            retry_delay=retry_delay or core.default_retry_delay,
        ))

    @abstractmethod
    def _maintain(self, settings: MaintenanceSettings) -> MaintenanceReport | None:
        """The engine's pass: its statements in one transaction under its maintenance lock."""

    @abstractmethod
    def hold_worker_lock(self, worker_id: str) -> WorkerLock:
        """Take the lock that shows this worker's process is alive (conveyor/store/worker_locks.py);
        WorkerLock.attach() then records it on the worker's row."""

    @abstractmethod
    def detect_exited_workers(self) -> MaintenanceReport | None:
        """The quick maintenance probe: live workers whose lock can be taken are declared dead
        ('exited') and their running jobs rescued as maintenance would; None when another process
        is probing (PostgreSQL: one probe at a time, under a lock of its own, not the maintenance lock)."""

    # -- API keys -------------------------------------------------------------------------
    @abstractmethod
    def create_api_key(self, key_id: str, key_hash: str, tenant: str, role: str, name: str | None) -> None: ...

    @abstractmethod
    def find_api_key(self, key_hash: str) -> ApiKey | None: ...

    @abstractmethod
    def list_api_keys(self) -> list[ApiKey]: ...

    @abstractmethod
    def revoke_api_key(self, key_id: str) -> bool: ...

    # -- events ---------------------------------------------------------------------------
    @abstractmethod
    def subscribe_events(self, listener: EventListener) -> Callable[[], None]:
        """Call `listener(state, ids)` for every job change; returns an unsubscribe function."""

    def loop_batches(self) -> Any:
        """Claims and completions for a worker's event loop, awaited on it (claim_jobs and
        finish_jobs as coroutines; close()), or None: the worker then runs the store's own
        claim_jobs / finish_jobs on its database threads. PostgreSQL: batches.LoopBatches."""
        return None

    @abstractmethod
    def start_wake_listener(self, on_wake: Callable[[str], None]) -> None:
        """Call on_wake(queue) from another thread when jobs may be ready on that queue
        ('' means any queue, e.g. after a reconnect). Stops when the store is closed."""
