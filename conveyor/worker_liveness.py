"""A worker's proof of life besides its heartbeat, and what it does when it may have been declared dead.

It holds its worker lock (conveyor/store/worker_locks.py) for its whole life, on a thread of its
own that notices a lost lock (PostgreSQL: the lock's connection dropped) and takes a new one at
once, well inside the probe's grace period. It stops claiming whenever it may have been declared
dead: from a lost lock until a new one is recorded, when no heartbeat has been answered for
all but one heartbeat interval of the liveness timeout (a partition, a server restart), and when
the database says it is dead. A dead worker hands back what it runs (the leases were voided by the
rescue: those writes are refused) and registers again before it claims anything.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING

from conveyor.logs import lifecycle
from conveyor.store.worker_locks import WorkerLock

if TYPE_CHECKING:
    from conveyor.worker import Worker

log = logging.getLogger("conveyor.worker")

WATCH_EVERY = 0.5  # seconds between checks of the lock file (SQLite); a dropped connection wakes at once
RETAKE_BACKOFF_MAX = 0.2  # seconds: a worker retakes its lock this soon after the database is back


class WorkerLiveness:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.lock: WorkerLock | None = None
        self.lock_held = True  # False from a lost lock until a new one is recorded on the row
        self.rejoining = False  # declared dead: no claims until handed back and registered again
        self.last_answer = time.monotonic()  # when the database last answered a heartbeat
        # One heartbeat interval before it could be declared dead: a loaded machine whose heartbeats
        # come late keeps claiming, a worker cut off stops before its jobs can be rescued.
        self._silence_limit = worker.settings.liveness_timeout - worker.settings.heartbeat_interval
        self._rejoin_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def may_claim(self) -> bool:
        return (self.lock_held and not self.rejoining
                and time.monotonic() - self.last_answer < self._silence_limit)

    def take(self) -> None:
        """Before registering: take the lock (the slow part, a connection of its own), so that the
        row goes without one for a single statement only."""
        if not self.worker.settings.worker_locks:
            return
        try:
            self.lock = self.worker.store.hold_worker_lock(self.worker.id)
        except Exception as exc:  # e.g. a pooler without sessions: the heartbeat still covers a crash
            log.warning("could not take the worker lock (%s: %s); a crash of this worker will be noticed "
                        "by its heartbeat only", type(exc).__name__, exc)

    def start(self) -> None:
        """Once registered: record the lock on the row, and watch it from a thread."""
        self.last_answer = time.monotonic()
        if self.lock is None:
            return
        try:
            self.lock.attach()
        except Exception as exc:
            log.warning("could not record the worker lock (%s: %s); taking a new one", type(exc).__name__, exc)
            self.lock_held = False
        self._thread = threading.Thread(target=self._watch, name="conveyor-worker-lock", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """After the row says 'stopped': let the lock go."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.lock is not None:
            self.lock.release()

    # -- the lock's thread ----------------------------------------------------------------
    def _watch(self) -> None:
        lock = self.lock
        assert lock is not None
        while not self._stop.is_set():
            try:
                if self.lock_held and (not lock.wait_lost(WATCH_EVERY) or self._stop.is_set()):
                    continue
                self.lock_held = False
                log.warning("worker lock lost (its connection dropped); taking a new one, no claims meanwhile")
                self._retake(lock)
            except Exception as exc:  # never let the watch end while the worker lives
                log.warning("worker lock watch: %s: %s", type(exc).__name__, exc)
                self._stop.wait(WATCH_EVERY)

    def _retake(self, lock: WorkerLock) -> None:
        backoff = 0.02
        while not self._stop.is_set():
            try:
                lock.retake()
                state = lock.attach()
                break
            except Exception:  # the database is away: keep trying, briefly apart
                self._stop.wait(backoff)
                backoff = min(backoff * 2, RETAKE_BACKOFF_MAX)
        else:
            return
        self.lock_held = True
        log.info("worker lock taken again (key %s)", lock.key)
        if state in (None, "dead"):
            try:
                self.rejoin(state or "unregistered")
            except Exception as exc:  # claims stay stopped; the next heartbeat tries again
                log.warning("registering again failed (%s: %s); retrying at the next heartbeat",
                            type(exc).__name__, exc)
        self._wake()

    # -- told by the heartbeat ------------------------------------------------------------
    def heartbeat_answered(self, desired: str | None) -> bool:
        """Note the answer; True when the worker was declared dead (it has rejoined by now)."""
        was_silent = time.monotonic() - self.last_answer >= self._silence_limit
        self.last_answer = time.monotonic()
        if was_silent:
            self._wake()  # claims may resume at once
        if desired in ("dead", "unregistered"):
            self.rejoin(desired)
            return True
        return False

    def rejoin(self, why: str | None) -> None:
        """Declared dead (or its row is gone): hand back every job in flight, register again, record
        the lock again, claim again. Raises (and keeps claims stopped) while the database is away;
        the next heartbeat tries again."""
        with self._rejoin_lock:
            self.rejoining = True
            handed_back = self._hand_back_all()
            self.worker.store.register_worker(self.worker._info())
            if self.lock is not None and self.lock_held:
                self.lock.attach()
            self.rejoining = False
        lifecycle("WORKER_REJOINED", logging.WARNING, worker_id=self.worker.id, was=why, handed_back=handed_back)
        self._wake()

    def _hand_back_all(self) -> int:
        loop = self.worker._loop
        if loop is None or loop.is_closed():
            return 0
        return asyncio.run_coroutine_threadsafe(self._hand_back(), loop).result(timeout=30)

    async def _hand_back(self) -> int:
        """On the worker's loop: every attempt in flight ends as handed back. Their leases were
        voided by the rescue, so what they record is refused; a job claimed after the verdict is
        still leased to this worker and goes back to the queue."""
        running = list(self.worker._running.values())
        for attempt in running:
            attempt.handed_back = True
            attempt.ctx.cancel()
            if attempt.task is not None:
                attempt.task.cancel()
        return len(running)

    def _wake(self) -> None:
        self.worker._wake_threadsafe("")
