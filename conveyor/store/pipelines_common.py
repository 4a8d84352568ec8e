"""Pipeline persistence shared by both engines: the rows the pipeline SQL reads and writes.

The engines' pipeline statements live in pipelines_postgres.py and pipelines_sqlite.py, beside
(not inside) the job store, and are reached through `pipeline_sql(store)`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from conveyor.model import Outcome
    from conveyor.store.base import Store

log = logging.getLogger("conveyor.store")

OUTSTANDING = ("scheduled", "queued", "running")


@dataclass(slots=True)
class StageJob:
    """A job of one stage of a run, as the pipeline writes it (start, emit, reprocess)."""

    id: str
    task: str
    queue: str
    args_json: str  # '[item]', encoded once when the item was emitted
    tenant: str
    token: str
    run_id: str
    step: str
    stage: str
    parent_id: str | None = None
    priority: int = 0
    max_attempts: int = 3
    timeout: float | None = None
    meta_json: str = "{}"
    # 'cancelled' for items emitted into a run that failed or was cancelled meanwhile: kept, so
    # that retrying the run's steps queues them again instead of losing them.
    state: str = "queued"


@dataclass
class RunRecord:
    id: str
    pipeline: str
    tenant: str
    token: str
    params: dict[str, Any]
    queues: dict[str, str]
    state: str
    status: dict[str, Any]
    error: str | None
    reprocess_of: str | None
    from_stage: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    # The run row's own version; attach_version() makes it the live version (migration 0014).
    version: int = 0
    counts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    exclusive_key: str | None = None  # written only: see Pipeline.one_run_per (migration 0022)


@dataclass
class RunFilter:
    pipeline: str | None = None
    states: list[str] = field(default_factory=list)
    tenant: str | None = None
    token: str | None = None


@dataclass
class RawRecord:
    id: int
    run_id: str | None
    step: str | None
    tenant: str
    token: str
    source: str
    fingerprint: str
    payload: str | bytes
    created_at: datetime


def attach_version(record: RunRecord) -> None:
    """The run's live version: its row's version plus every counter change of its cells (folded
    or not), read in the snapshot of its counters. It never goes down and goes up with every
    counted change, so every API process numbers a run's states alike."""
    if record.counts:
        rows = list(record.counts.values())
        record.version = int(rows[0]["run_version"]) + sum(int(c["events"]) for c in rows)


def group_counts(jobs: list[StageJob]) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(run, step, stage) -> (entered, of which outstanding) for these jobs."""
    counted: dict[tuple[str, str, str], tuple[int, int]] = {}
    for j in jobs:
        key = (j.run_id, j.step, j.stage)
        entered, outstanding = counted.get(key, (0, 0))
        counted[key] = (entered + 1, outstanding + (j.state == "queued"))
    return counted


def filter_values(filters: RunFilter) -> dict[str, Any]:
    """The columns a run list is filtered on by equality, and their values (states aside)."""
    return {c: getattr(filters, c) for c in ("pipeline", "tenant", "token") if getattr(filters, c) is not None}


def landed_emits(outcomes: list[Outcome], landed: set[str], live: set[str]) -> list[StageJob]:
    """The items emitted by attempts whose completion landed (their lease held). Items of runs no
    longer RUNNING (`live`) are written cancelled: kept, so that a retry of the run queues them."""
    jobs = [j for o in outcomes if o.emits and o.job_id in landed for j in o.emits]
    for j in jobs:
        if j.run_id not in live:
            j.state = "cancelled"
    return jobs


def raw_record(row: Any, run_id: str | None, created_at: datetime) -> RawRecord:
    """A raw_extraction_data row (a dict or sqlite3.Row) as a RawRecord."""
    payload = bytes(row["payload"])
    return RawRecord(id=row["id"], run_id=run_id, step=row["step"], tenant=row["tenant"], token=row["token"],
                     source=row["source"], fingerprint=row["fingerprint"],
                     payload=payload.decode() if row["is_text"] else payload, created_at=created_at)


class RunListeners:
    """Run listeners, kept the same way by both engines' pipeline statements: each engine only
    starts its feed (LISTEN on PostgreSQL, a poller on SQLite) and hands what it reads to `_dispatch`."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[list[str]], None]] = []
        self._lock = threading.Lock()

    def _start_run_feed(self) -> None:
        """Start the thread that reads run changes, once (called under the listeners' lock)."""
        raise NotImplementedError

    def subscribe_runs(self, listener: Callable[[list[str]], None]) -> Callable[[], None]:
        """listener(run_ids) on every change of a run's jobs or state; [] after a reconnect."""
        with self._lock:
            self._listeners.append(listener)
            self._start_run_feed()

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return unsubscribe

    def _dispatch(self, run_ids: list[str]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(run_ids)
            except Exception:  # one bad listener must not stop the feed or the others
                log.exception("run listener failed")


class RunTransaction(Protocol):
    """What the run's rules may do while they hold the run's lock (one transaction)."""

    run: RunRecord  # read under the lock, counters folded and current

    def update_run(self, *, state: str, status: dict[str, Any], error: str | None,
                   started: bool = False, finished: bool = False) -> None: ...

    def insert_jobs(self, jobs: list[StageJob], started_cells: list[tuple[str, str]]) -> None: ...

    def cancel_outstanding(self) -> int: ...

    def requeue(self, step: str | None, states: tuple[str, ...]) -> int: ...


class PipelineSQL(Protocol):
    def create_run(self, run: RunRecord, cells: list[tuple[str, str]], skipped: list[tuple[str, str]]) -> None: ...

    def get_run(self, run_id: str, tenant: str | None = None) -> RunRecord | None: ...

    def list_runs(self, filters: RunFilter, limit: int = 50, before: str | None = None) -> list[RunRecord]: ...

    def active_run_ids(self) -> list[str]: ...

    def fold(self, run_id: str) -> RunRecord | None: ...

    def locked(self, run_id: str) -> AbstractContextManager[RunTransaction | None]: ...

    def prune(self, cutoff: datetime, batch: int) -> tuple[int, int]: ...

    def live_workers(self, queues: list[str], liveness: float) -> dict[str, int]: ...

    def save_raw(self, *, run_id: str | None, step: str | None, tenant: str, token: str, source: str,
                 fingerprint: str, payload: str | bytes) -> int: ...

    def get_raw(self, raw_id: int) -> RawRecord | None: ...

    def raw_ids(self, run_id: str, step: str) -> list[int]: ...

    def job_ids(self, run_id: str, states: tuple[str, ...] = ()) -> list[tuple[str, str, str, str]]: ...

    def subscribe_runs(self, listener: Callable[[list[str]], None]) -> Callable[[], None]: ...


def pipeline_sql(store: Store) -> PipelineSQL:
    """The pipeline statements for this store's engine (made once per store)."""
    cached: PipelineSQL | None = getattr(store, "_pipeline_sql", None)
    if cached is None:
        if store.engine == "postgres":
            from conveyor.store.pipelines_postgres import PostgresPipelineSQL
            cached = PostgresPipelineSQL(store)  # type: ignore[arg-type]
        else:
            from conveyor.store.pipelines_sqlite import SQLitePipelineSQL
            cached = SQLitePipelineSQL(store)  # type: ignore[arg-type]
        store._pipeline_sql = cached  # type: ignore[attr-defined]
    return cached


def conflict_message(run: RunRecord) -> str:
    """For a start refused by the one-unfinished-run index (two starts at the same moment)."""
    return (f"Pipeline {run.pipeline!r} already has an unfinished run for these params "
            f"(tenant {run.tenant!r}); no second run was started.")
