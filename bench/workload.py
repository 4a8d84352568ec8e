"""What every section shares: the run context, the job payload, a stand-in live worker, waits."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from bench.db import ScratchDatabase
from conveyor import __version__
from conveyor.app import Conveyor, Task
from conveyor.demo import app as demo_app
from conveyor.model import NewJob, WorkerInfo
from conveyor.store import Store

QUEUE = "default"
NOOP = "demo.noop"
SYNC_NOOP = "demo.sync_noop"
SLEEP = "demo.sleep"


class BenchTimeout(RuntimeError):
    pass


@dataclass
class BenchConfig:
    jobs: int
    repeats: int
    quick: bool
    scale_rows: int
    latency_samples: int
    latency_interval_s: float
    never_stuck_defaults: bool


@dataclass
class RunContext:
    """One engine's run: its scratch database, the demo app bound to it, the settings."""

    engine: str
    db: ScratchDatabase
    app: Conveyor
    config: BenchConfig
    log_dir: Path

    def task(self, name: str) -> Task[Any, Any]:
        return self.app.tasks[name]

    @property
    def store(self) -> Store:
        return self.app.store


def bind_app(url: str) -> Conveyor:
    """The demo app (demo.noop, demo.sync_noop, demo.sleep) bound to the scratch database."""
    app = demo_app.with_database(url)
    app.migrate()
    return app


def payload(i: int) -> dict[str, Any]:
    """The same payload bench/raw_sql.py inserts: {"n": i, "payload": 32 characters}."""
    return {"n": i, "payload": "x" * 32}


def noop_jobs(ctx: RunContext, n: int, task: str = NOOP) -> list[NewJob]:
    t = ctx.task(task)
    return [t.new_job(payload(i)) for i in range(n)]


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = "condition") -> float:
    """Poll `check` until true; returns the monotonic time it became true. BenchTimeout past `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return time.monotonic()
        if time.monotonic() >= deadline:
            raise BenchTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def wait_drained(count: Callable[[], int], *, timeout: float, stall: float = 30.0, what: str = "jobs") -> None:
    """Poll `count` (jobs not finished yet) until 0. BenchTimeout past `timeout`, or when the count
    has not moved for `stall` seconds (a stuck run fails fast instead of using the whole timeout)."""
    deadline = time.monotonic() + timeout
    last, moved = -1, time.monotonic()
    while True:
        left = count()
        now = time.monotonic()
        if left == 0:
            return
        if left != last:
            last, moved = left, now
        if now - moved >= stall:
            raise BenchTimeout(f"no progress for {stall:.0f}s: {left} {what} still unfinished")
        if now >= deadline:
            raise BenchTimeout(f"timed out after {timeout:.0f}s: {left} {what} still unfinished")
        time.sleep(0.25)  # the figures come from the job records; polling only says when to read them


class PhantomWorker:
    """A registered, heartbeating worker row that claims nothing.

    Enqueue's live-worker check passes (the default 'refuse' policy is measured as users run it)
    while no consumer competes with the producer for the machine's two cores."""

    def __init__(self, store: Store, queues: list[str] | None = None, heartbeat_interval: float = 2.0) -> None:
        self.store = store
        self.queues = queues or [QUEUE]
        self.interval = heartbeat_interval
        self.id = f"bench-phantom-{os.getpid()}-{int(time.time() * 1000) % 100000}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="bench-phantom", daemon=True)

    def __enter__(self) -> Self:
        now = datetime.now(UTC)
        self.store.register_worker(WorkerInfo(
            id=self.id, hostname=socket.gethostname(), pid=os.getpid(), queues=self.queues, concurrency=1,
            version=__version__, started_at=now, last_heartbeat=now, state="running", desired_state=None,
            jobs_in_flight=0, processed=0, failed=0,
        ))
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.store.heartbeat(self.id, state="running", jobs_in_flight=0, processed=0, failed=0)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.store.stop_worker(self.id)
