"""What a running task knows about its job: id, attempt, token, progress and meta writes."""

from __future__ import annotations

import asyncio
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.errors import JobCancelledError, JobTimeoutError

if TYPE_CHECKING:
    from conveyor.store.base import Store

_current: ContextVar[JobContext | None] = ContextVar("conveyor_job", default=None)


def current_job() -> JobContext | None:
    """The job the calling code runs in, or None outside a task."""
    return _current.get()


@dataclass
class JobContext:
    job_id: str
    task: str
    queue: str
    tenant: str
    attempt: int
    max_attempts: int
    token: str
    lease_token: str
    store: Store
    timeout: float | None = None
    deadline: float | None = None  # monotonic time the local timeout fires at
    _cancelled: bool = False
    _cancel_event: threading.Event | None = None  # made on first use: most jobs never need it
    _lease_lost: bool = False
    # Pipelines: (run id, step, stage) of a stage job, and what this attempt emitted so far
    # ('[item]' JSON each); the worker writes the emits with the completion, under the lease.
    stage: tuple[str, str, str] | None = None
    emitted: list[str] | None = None
    continued: list[str] | None = None  # items for more jobs of this same stage (continue_stage)

    @property
    def cancelled(self) -> bool:
        """True once someone cancelled the job (or its attempt timed out, or the worker is
        shutting down): sync tasks should check it and return early."""
        return self._cancelled

    def cancel(self) -> None:
        """Called by the worker; the task sees ctx.cancelled and sleep() returns at once."""
        self._cancelled = True
        if self._cancel_event is not None:
            self._cancel_event.set()

    def sleep(self, seconds: float) -> bool:
        """Sleep that ends early when the job is cancelled; True when it was cancelled."""
        if self._cancel_event is None:
            self._cancel_event = threading.Event()
            if self._cancelled:
                self._cancel_event.set()
        return self._cancel_event.wait(seconds)

    def raise_if_cancelled(self) -> None:
        if self._cancelled:
            raise JobCancelledError(f"job {self.job_id} was cancelled")

    @property
    def lease_lost(self) -> bool:
        """True when this attempt was replaced (the worker was declared dead): stop working."""
        return self._lease_lost

    def progress(
        self,
        percent: float | None = None,
        *,
        processed: int | None = None,
        failed: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> bool:
        """Store progress (and merge meta) at once, visible to readers while the job runs.

        Returns False when the attempt no longer holds the job's lease."""
        if percent is not None and not 0 <= percent <= 100:
            raise ValueError(f"percent must be between 0 and 100, got {percent}")
        ok = self.store.update_progress(
            self.job_id, self.lease_token, percent=percent, processed=processed, failed=failed, meta=meta
        )
        self._lease_lost = self._lease_lost or not ok
        return ok

    async def aprogress(
        self,
        percent: float | None = None,
        *,
        processed: int | None = None,
        failed: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> bool:
        """progress() for async tasks, without blocking the event loop."""
        return await asyncio.to_thread(self.progress, percent, processed=processed, failed=failed, meta=meta)

    def emit(self, *items: Any) -> None:
        """Send items to the next stage of this pipeline step (fan-out). Nothing is written until
        the attempt completes: a failed, timed-out or orphaned attempt emits nothing."""
        if self.stage is None:
            from conveyor.pipelines.declaration import PipelineError
            raise PipelineError(f"Task {self.task!r} emitted, but job {self.job_id} is not a pipeline stage job.",
                                action="emit() works in stage tasks started by a pipeline run; enqueue "
                                "follow-up jobs with task.enqueue(...) instead.")
        from conveyor.store.base import dumps
        if self.emitted is None:
            self.emitted = []
        self.emitted.extend(dumps([item]) for item in items)

    def continue_stage(self, *items: Any) -> None:
        """Queue more jobs of this same stage (one per item), written like emits: with this
        attempt's completion, under its lease. A stage that works through a long source in bounded
        jobs hands over each job's emits at once, so the next stage starts while this one goes on;
        the stage stays unfinished while a continuation is outstanding."""
        if self.stage is None:
            from conveyor.pipelines.declaration import PipelineError
            raise PipelineError(f"Task {self.task!r} continued its stage, but job {self.job_id} is not a pipeline "
                                "stage job.", action="continue_stage() works in stage tasks started by a pipeline run.")
        from conveyor.store.base import dumps
        if self.continued is None:
            self.continued = []
        self.continued.extend(dumps([item]) for item in items)

    def save_raw(self, payload: str | bytes, *, source: str, fingerprint: str) -> int:
        """Store an API response exactly as received (raw_extraction_data) with its source, request
        fingerprint and this run's token; returns the row id, which the stage usually emits.
        The same (token, source, fingerprint) again (a retried attempt) updates the same row."""
        if not isinstance(payload, str | bytes):
            from conveyor.pipelines.declaration import PipelineError
            raise PipelineError(f"save_raw takes the payload as received (str or bytes), got {type(payload).__name__}.",
                                action="Pass response.text or response.content.")
        from conveyor.store.pipelines_common import pipeline_sql
        run_id, step = (self.stage[0], self.stage[1]) if self.stage else (None, None)
        return pipeline_sql(self.store).save_raw(run_id=run_id, step=step, tenant=self.tenant, token=self.token,
                                                 source=source, fingerprint=fingerprint, payload=payload)

    def load_raw(self, raw_id: int) -> str | bytes:
        """A payload saved by save_raw, unchanged."""
        from conveyor.store.pipelines_common import pipeline_sql
        record = pipeline_sql(self.store).get_raw(int(raw_id))
        if record is None:
            from conveyor.pipelines.declaration import PipelineError
            raise PipelineError(f"No raw data row {raw_id}.", action="It may have been deleted.")
        return record.payload

    def set_meta(self, **values: Any) -> bool:
        return self.progress(meta=values)

    def extend_timeout(self, seconds: float) -> bool:
        """Give this attempt `seconds` more, locally and in the database."""
        ok = self.store.extend_deadline(self.job_id, self.lease_token, seconds)
        if ok:
            self.timeout = (self.timeout or 0) + seconds
            if self.deadline is not None:
                self.deadline = max(self.deadline, time.monotonic()) + seconds
        return ok


async def with_deadline(future: asyncio.Future[Any], ctx: JobContext) -> Any:
    """Wait for the attempt; past its deadline (which extend_timeout may move) it has failed.

    An async task is cancelled. A thread cannot be killed: it is told (ctx.cancelled) and left
    to finish on its own, its late result discarded because its lease is gone."""
    try:
        while True:
            assert ctx.deadline is not None
            remaining = ctx.deadline - time.monotonic()
            if remaining <= 0:
                ctx.cancel()
                future.cancel()
                raise JobTimeoutError(f"timed out after {ctx.timeout:g} s")
            done, _ = await asyncio.wait({future}, timeout=remaining)
            if done:
                return future.result()
    except asyncio.CancelledError:
        future.cancel()  # shutdown or cancel: stop the task we were waiting on too
        raise
