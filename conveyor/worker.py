"""The worker: claim loop, executor, batched completions, lifeline (heartbeat + maintenance), shutdown.

Threads and why:
- the asyncio loop claims jobs and runs `async def` tasks;
- `def` tasks run in a thread pool of `concurrency` threads;
- database calls from the loop run on a small dedicated pool, so a slow query never stalls tasks;
  except, on PostgreSQL, claims and completions: each has a connection the loop owns and awaits
  (store.loop_batches()), since two thread hops per batch cost more than the statement's own work;
- the lifeline thread heartbeats, applies pause/resume/stop, notices cancellations and runs the
  maintenance pass. It has its own thread so a task that hogs the event loop (or, in pure Python,
  the GIL) cannot make its worker look dead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import os
import signal
import socket
import threading
import time
import uuid
from typing import Any

from conveyor import __version__, outcomes
from conveyor.app import INTERNAL_TASK_PREFIX, Conveyor, Task
from conveyor.context import JobContext, _current, with_deadline
from conveyor.inline_jobs import never_waits, run_inline
from conveyor.lifeline import run_lifeline
from conveyor.logs import JobLines, attempt_ended, flush_logs, job_lines, lifecycle
from conveyor.maintenance import DEFAULT_QUEUES, STAGE_INTERVAL, StageWarnings, run_maintenance
from conveyor.model import JobState, Outcome, WorkerInfo
from conveyor.outcomes import BUILD_LATER
from conveyor.pipelines.advancer import RunAdvancer
from conveyor.pipelines.emits import StageEmits
from conveyor.process_isolation import run_in_process
from conveyor.running import Running
from conveyor.signals import Signal, wait_any
from conveyor.store.base import ClaimedJob, MaintenanceReport
from conveyor.worker_liveness import WorkerLiveness

log = logging.getLogger("conveyor.worker")

FLUSH_BATCH = 500  # most outcomes recorded in one statement
# Without an explicit concurrency, async and def tasks get their own limits: an async job in flight
# costs a coroutine, a def job a thread.
DEFAULT_ASYNC_SLOTS = 100  # jobs in flight (claim size follows), async tasks
DEFAULT_THREADS = 10  # def tasks running at once


SUPERVISOR_PID_ENV = "CONVEYOR_SUPERVISOR_PID"  # set by `conveyor up` for the workers it starts


class Worker:
    def __init__(
        self,
        app: Conveyor,
        queues: list[str] | None = None,
        concurrency: int | None = None,
        *,
        worker_id: str | None = None,
        install_signal_handlers: bool = False,
        supervisor_pid: int | None = None,
    ) -> None:
        if concurrency is not None and concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.app = app
        self.store = app.store
        self.settings = app.settings
        self.queues = queues or list(DEFAULT_QUEUES)
        self.concurrency = concurrency or DEFAULT_ASYNC_SLOTS  # jobs in flight
        self.threads = concurrency or DEFAULT_THREADS  # def tasks running at once
        self._in_threads = 0
        # While def tasks may be claimed, claims also fit the free threads (a claimed job must not
        # wait for a thread while another worker could run it): from the start when the app has a
        # def task on these queues, else from the first one claimed. Async-only: full-size claims.
        self._claims_fit_threads = any(
            not t.is_async and t.options.queue in self.queues
            for name, t in app.tasks.items() if not name.startswith(INTERNAL_TASK_PREFIX))
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.install_signal_handlers = install_signal_handlers
        self.supervisor_pid = supervisor_pid  # stop when this parent process is gone
        self.state = "running"  # running | paused | stopping | stopped
        self.processed = 0
        self.failed = 0
        self._running: dict[str, Running] = {}
        self._outcomes: list[Outcome] = []  # finished attempts waiting to be recorded
        self._flushing: list[Outcome] = []  # the batch being recorded right now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = Signal()
        self._slot_free = Signal()
        self._flush_needed = Signal()
        self._stop_requested = Signal()
        self._stop_now = False
        self._lifeline_stop = threading.Event()
        self._db_pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="conveyor-db")
        # Claims and completions awaited on the loop (PostgreSQL), one connection each so that a
        # claim never waits for a completion; None: the store's calls on the database threads.
        self._claims = app.store.loop_batches()
        self._finishes = app.store.loop_batches()
        self._task_pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="conveyor-task")
        self.started = threading.Event()  # set once registered and claiming (tests, supervisors)
        self._claim_threshold = max(1, min(self.settings.claim_batch, self.concurrency) // 2)
        self._waited_for_slots = False
        self._stage_warnings = StageWarnings()
        self.stage_emits = StageEmits(app)  # pipelines: builds emitted items into stage jobs
        self.advancer = RunAdvancer(app)  # pipelines: advances the runs whose jobs just ended
        self._lines: JobLines | None = job_lines()
        self._inline: dict[str, bool] = {}  # task name -> its async body never waits (inline_jobs.py)
        self.liveness = WorkerLiveness(self)  # worker lock; no claims while it may be declared dead

    # -- public ---------------------------------------------------------------------------
    def run(self) -> None:
        """Run until stopped (SIGTERM/SIGINT when install_signal_handlers, or request_stop())."""
        asyncio.run(self.run_async())

    def request_stop(self, *, immediate: bool = False) -> None:
        """Thread-safe: stop claiming, finish in-flight jobs (or hand them back at once)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._begin_stop, immediate)

    async def run_async(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._db(self.store.check_schema)
        await self._db(self.liveness.take)
        await self._db(self.store.register_worker, self._info())
        await self._db(self.liveness.start)
        if self.install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(sig, self._on_signal, sig)
        self.store.start_wake_listener(self._wake_threadsafe)
        lifeline = threading.Thread(target=run_lifeline, args=(self,), name="conveyor-lifeline", daemon=True)
        lifeline.start()
        lifecycle(
            "WORKER_START", worker_id=self.id, queues=",".join(self.queues), concurrency=self.concurrency,
            threads=self.threads, engine=self.store.engine, pid=os.getpid(),
        )
        flusher = asyncio.create_task(self._flush_loop())
        stager = asyncio.create_task(self._stage_loop())
        advancer = asyncio.create_task(self._advance_loop())  # pipelines
        self.started.set()
        try:
            await self._claim_loop()
            await self._drain()
        finally:
            stager.cancel()
            advancer.cancel()
            self._flush_needed.set()
            self._stop_flusher = True
            await flusher
            self._lifeline_stop.set()
            lifeline.join(timeout=self.settings.heartbeat_interval + 5)
            for batches in (self._claims, self._finishes):
                if batches is not None:
                    await batches.close()
            try:
                await self._db(self.store.stop_worker, self.id)
            except Exception as exc:  # the database went away: back off, retry
                log.warning("could not mark worker stopped (%s); maintenance will notice it is gone", exc)
            self.liveness.stop()
            self.state = "stopped"
            lifecycle(
                "WORKER_STOP", worker_id=self.id, processed=self.processed, failed=self.failed, pid=os.getpid()
            )
            flush_logs()  # the process may end with os._exit (a task thread still running)
            self._task_pool.shutdown(wait=False, cancel_futures=True)
            self._db_pool.shutdown(wait=False)

    # -- claim loop -----------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        # Without wake-ups from other processes (SQLite), a short read-only poll finds their jobs.
        poll = self.settings.poll_interval if self.store.wakes_across_processes else self.settings.sqlite_poll_interval
        backoff = 0.05
        while not self._stop_requested.is_set():
            if self.state == "paused" or not self.liveness.may_claim():
                await self._wait_any(self._wake, timeout=poll)
                self._wake.clear()
                continue
            free = self.concurrency - len(self._running)
            threshold = self._claim_threshold
            if self._claims_fit_threads:
                free = min(free, self.threads - self._in_threads)
                threshold = max(1, min(self.settings.claim_batch, self.threads) // 2)
            if len(self._outcomes) + len(self._flushing) >= 2 * FLUSH_BATCH:
                free = 0  # outcomes are not being recorded (database trouble): claim no more
                self._slot_free.clear()
                await self._wait_any(self._slot_free)
                continue
            if free <= 0:  # every slot (or thread) busy: nothing to claim until one frees
                self._slot_free.clear()
                await self._wait_any(self._slot_free)
                continue
            if self._running and free < threshold and not self._waited_for_slots:
                # A few slots are free but many jobs are still finishing: give them a moment, so
                # one round trip claims a batch instead of one job per freed slot.
                self._waited_for_slots = True
                self._slot_free.clear()
                await self._wait_any(self._slot_free, timeout=0.002)
                continue
            self._waited_for_slots = False
            self._lines = job_lines()  # the logging set-up, looked at once per batch
            want = min(free, self.settings.claim_batch)
            self._wake.clear()
            try:
                if self._claims is not None:
                    jobs = await self._claims.claim_jobs(self.id, self.queues, want)
                elif self._running or self._outcomes or self._flushing:
                    jobs = await self._db(self.store.claim_jobs, self.id, self.queues, want)
                else:  # idle (nothing running, nothing being recorded: on SQLite the claim would wait
                    # for that write): claim right here, two thread hops less of pickup latency
                    jobs = self.store.claim_jobs(self.id, self.queues, want)
                backoff = 0.05
            except Exception as exc:
                log.warning("claim failed (%s: %s); retrying in %.2fs", type(exc).__name__, exc, backoff)
                await self._wait_any(timeout=backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            # Every job of the batch is known (in _running) before any body runs inline: the
            # lifeline thread hands back leases this worker does not know of.
            inline = [running for running in map(self._start, jobs) if running is not None]
            for running in inline:
                self._run_inline(running)
            if len(jobs) < want:
                await self._wait_any(self._wake, timeout=poll)

    async def _wait_any(self, *events: Signal, timeout: float | None = None) -> None:
        await wait_any(*events, self._stop_requested, timeout=timeout)

    def _wake_threadsafe(self, queue: str) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed() and (not queue or queue in self.queues):
            try:
                loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:
                pass  # loop closed while shutting down

    async def _stage_loop(self) -> None:
        """Delayed jobs and retries whose time has come become ready."""
        while True:
            await asyncio.sleep(STAGE_INTERVAL)
            try:
                if await self._db(self.store.stage_scheduled):
                    self._wake.set()
            except Exception as exc:  # the database may be down; the claim loop says so too
                self._stage_warnings.failed(exc)

    # -- execution ------------------------------------------------------------------------
    def _start(self, claimed: ClaimedJob) -> Running | None:
        """Start a job in a task of its own; or return it, to be run inline (_run_inline)."""
        ctx = JobContext(
            job_id=claimed.id, task=claimed.task, queue=claimed.queue, tenant=claimed.tenant,
            attempt=claimed.attempts, max_attempts=claimed.max_attempts, token=claimed.token,
            lease_token=claimed.lease_token, store=self.store,
            timeout=claimed.timeout,
            deadline=time.monotonic() + claimed.timeout if claimed.timeout else None,
        )
        if claimed.pipeline_run_id:  # pipelines: a stage job may emit
            ctx.stage = (claimed.pipeline_run_id, claimed.step or "", claimed.stage or "")
        task = self.app.tasks.get(claimed.task)
        in_thread = task is not None and not task.is_async
        if in_thread:
            self._in_threads += 1
            self._claims_fit_threads = True
        running = Running(claimed, ctx, in_thread)
        self._running[claimed.id] = running
        if task is not None and claimed.timeout is None and self._runs_inline(task):
            return running
        running.task = asyncio.create_task(self._execute(running))
        return None

    def _runs_inline(self, task: Task[Any, Any]) -> bool:
        inline = self._inline.get(task.name)
        if inline is None:
            inline = self._inline[task.name] = never_waits(task.fn)
        return inline

    def _run_inline(self, running: Running) -> None:
        """An async body that cannot wait runs to its end right here, without a task (inline_jobs.py)."""
        claimed, ctx = running.claimed, running.ctx
        task = self.app.tasks[claimed.task]
        started = time.monotonic()
        if self._lines is not None:
            running.log_fields = self._lines.start(claimed)
        try:
            task.signature.check(task.name, claimed.args, claimed.kwargs)
            args = [ctx, *claimed.args] if task.takes_context else claimed.args
            result = run_inline(task.fn, args, claimed.kwargs, ctx)
            outcome = outcomes.returned(claimed, ctx, result, self.id, self.stage_emits)
        except BaseException as exc:  # every failure is recorded, none escapes
            outcome = outcomes.raised(self.app, claimed, exc, self.id, running.handed_back)
        if outcome.emits is BUILD_LATER:  # pipelines: built on a database thread, then recorded
            running.task = asyncio.create_task(self._execute(running, (outcome, started)))
        else:
            self._record(outcome, running, time.monotonic() - started)

    async def _execute(self, running: Running, returned: tuple[Outcome, float] | None = None) -> None:
        claimed, ctx = running.claimed, running.ctx
        if returned is None:
            started = time.monotonic()
            if self._lines is not None:
                running.log_fields = self._lines.start(claimed)
        outcome: Outcome
        try:
            if returned is None:
                task = self.app.tasks.get(claimed.task)
                if task is None:
                    raise LookupError(
                        f"Task {claimed.task!r} is not registered in this worker (app {self.app.app_path or '?'}); "
                        "deploy a worker whose app defines it."
                    )
                # Arguments that do not fit the signature (a job written before the task changed, or
                # by a client that skipped the check) fail the same way every time: permanent.
                task.signature.check(task.name, claimed.args, claimed.kwargs)
                result = await self._invoke(task, claimed, ctx)
                outcome = outcomes.returned(claimed, ctx, result, self.id, self.stage_emits)
            else:
                outcome, started = returned
            if outcome.emits is BUILD_LATER:
                outcome.emits = await self._db(self.stage_emits.build, claimed, ctx.emitted or [], ctx.continued or [])
        except BaseException as exc:  # every failure is recorded, none escapes
            outcome = outcomes.raised(self.app, claimed, exc, self.id, running.handed_back)
        self._record(outcome, running, time.monotonic() - started)

    async def _invoke(self, task: Task[Any, Any], claimed: ClaimedJob, ctx: JobContext) -> Any:
        args = ([ctx] if task.takes_context else []) + list(claimed.args)
        timeout = claimed.timeout
        if task.is_async:
            token = _current.set(ctx)
            try:
                coro = task.fn(*args, **claimed.kwargs)
                if timeout is None:
                    return await coro
                return await with_deadline(asyncio.ensure_future(coro), ctx)
            finally:
                _current.reset(token)
        loop = asyncio.get_running_loop()
        if task.options.isolation == "process":
            # The child process is killed at its timeout, so no outer deadline is needed.
            return await loop.run_in_executor(
                self._task_pool, run_in_process, task.fn, args, claimed.kwargs, ctx, timeout
            )
        run_ctx = contextvars.copy_context()
        run_ctx.run(_current.set, ctx)
        future = loop.run_in_executor(self._task_pool, lambda: run_ctx.run(task.fn, *args, **claimed.kwargs))
        if timeout is None:
            return await future
        return await with_deadline(future, ctx)

    def _record(self, outcome: Outcome, running: Running, seconds: float) -> None:
        claimed = running.claimed
        if self._running.pop(claimed.id, None) is not None and running.in_thread:
            self._in_threads -= 1
        self._slot_free.set()
        self._outcomes.append(outcome)
        self._flush_needed.set()
        if outcome.state is JobState.COMPLETED:
            self.processed += 1
            if self._lines is not None:
                self._lines.done(claimed, running.log_fields, round(seconds, 6))
            return
        if outcome.state in (JobState.SCHEDULED, JobState.DEAD):
            self.failed += 1
        attempt_ended(outcome, claimed, seconds)

    # -- completions ----------------------------------------------------------------------
    _stop_flusher = False

    async def _flush_loop(self) -> None:
        """Batch completions: whatever finished while the last write was in flight goes next."""
        backoff = 0.05
        while True:
            await self._flush_needed.wait()
            self._flush_needed.clear()
            if self._outcomes:
                # Bounded batches: after an outage the backlog drains in statements of sane size.
                # _flushing is set before the batch leaves _outcomes: the lifeline thread must
                # always see an outcome in one of them, or it would hand that job back.
                batch = self._outcomes[:FLUSH_BATCH]
                self._flushing = batch
                self._outcomes = self._outcomes[FLUSH_BATCH:]
                if self._outcomes:
                    self._flush_needed.set()
                try:
                    # Emits (pipelines) are written with their completions by the store's own call.
                    # So are stage jobs' completions: their run counters are written in the same
                    # transaction (store finish_stage_batch).
                    if self._finishes is not None and not any(o.emits or o.run_id for o in batch):
                        await self._finishes.finish_jobs(batch)
                    else:
                        await self._db(self.store.finish_jobs, batch)
                    backoff = 0.05
                    self._flushing = []
                    self._advance_runs_of(batch)  # pipelines
                    self._slot_free.set()  # the claim loop may be waiting for the backlog to shrink
                except Exception as exc:  # keep the batch and retry: no result is lost
                    log.warning("recording %d outcomes failed (%s); retrying in %.2fs", len(batch), exc, backoff)
                    self._outcomes = batch + self._outcomes
                    self._flushing = []
                    self._flush_needed.set()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    if self._stop_flusher and backoff >= 5.0:
                        log.error("giving up on %d outcomes; maintenance will rescue those jobs", len(self._outcomes))
                        return
                    continue
            if self._stop_flusher and not self._outcomes:
                return

    # -- pipelines: advance runs right after their jobs' outcomes are recorded ------------------
    def _advance_runs_of(self, batch: list[Outcome]) -> None:
        if self.app.pipelines:
            self.advancer.note(batch)

    async def _advance_loop(self) -> None:
        await self.advancer.loop(self._db)  # conveyor/pipelines/advancer.py: when each run is due

    # -- shutdown -------------------------------------------------------------------------
    def _on_signal(self, sig: signal.Signals) -> None:
        immediate = self._stop_requested.is_set()  # a second signal: hand back at once
        log.info("received %s: %s", sig.name, "handing back in-flight jobs" if immediate else "stopping gracefully")
        self._begin_stop(immediate)

    def _begin_stop(self, immediate: bool = False) -> None:
        self.state = "stopping"
        self._stop_now = self._stop_now or immediate
        self._stop_requested.set()
        self._slot_free.set()

    async def _drain(self) -> None:
        """Finish in-flight jobs within the grace period; hand the rest back to the queue."""
        grace = 0.0 if self._stop_now else self.settings.shutdown_grace
        tasks = [r.task for r in self._running.values() if r.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        leftover = list(self._running.values())
        for running in leftover:
            running.handed_back = True
            running.ctx.cancel()
            if running.task is not None:
                running.task.cancel()
        if leftover:
            await asyncio.wait([r.task for r in leftover if r.task is not None], timeout=5)
            # A thread cannot be interrupted: its job is handed back now and its late result
            # is discarded because the lease no longer matches.
            for running in leftover:
                if running.claimed.id in self._running:
                    self._running.pop(running.claimed.id)
                    self._in_threads -= running.in_thread
                    self._outcomes.append(outcomes.outcome(running.claimed, JobState.QUEUED, self.id))
            log.info("handed back %d in-flight job(s)", len(leftover))

    # -- lifeline (lifeline.py: heartbeat, operator requests, maintenance) ------------------
    def _apply_desired(self, desired: str) -> None:
        if desired == "stopping":
            log.info("stop requested by an operator")
            self._begin_stop()
        elif desired in ("paused", "running"):
            log.info("worker %s by an operator", "paused" if desired == "paused" else "resumed")
            self.state = desired
            self._wake.set()
            lifecycle("WORKER_PAUSED" if desired == "paused" else "WORKER_RESUMED", worker_id=self.id)

    def _cancel_job(self, job_id: str) -> None:
        running = self._running.get(job_id)
        if running is None:
            return
        running.ctx.cancel()  # sync tasks see ctx.cancelled; async tasks are cancelled
        task = self.app.tasks.get(running.claimed.task)
        if running.task is not None and task is not None and task.is_async:
            running.task.cancel()

    def run_maintenance(self) -> MaintenanceReport | None:
        return run_maintenance(self.app, self.settings)

    # -- helpers --------------------------------------------------------------------------
    async def _db(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._db_pool, fn, *args)

    def _info(self) -> WorkerInfo:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        return WorkerInfo(
            id=self.id, hostname=socket.gethostname(), pid=os.getpid(), queues=self.queues,
            concurrency=self.concurrency, version=__version__, started_at=now, last_heartbeat=now,
            state=self.state, desired_state=None, jobs_in_flight=0, processed=0, failed=0,
        )

