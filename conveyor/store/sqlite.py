"""SQLite engine: the zero-setup default for one machine.

WAL mode and a busy timeout let several worker processes share one file; SQLite serialises
writers, so a claim is a short BEGIN IMMEDIATE transaction instead of SKIP LOCKED. Times are unix
seconds from the local clock (all processes share it). Wake-ups are in-process plus a short poll;
events for other processes come from one poller over the updated_at index.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from conveyor.errors import (
    ConfigurationError,
    DatabaseUnavailableError,
    InvalidTransitionError,
    LivenessCheckError,
    NoLiveWorkerError,
)
from conveyor.model import (
    EnqueuePolicy,
    Job,
    JobState,
    NewJob,
    Outcome,
    QueueStats,
    WorkerInfo,
)
from conveyor.store.base import (
    JOB_COLUMNS,
    ApiKey,
    ClaimedJob,
    EnqueueResult,
    EventListener,
    JobFilter,
    MaintenanceReport,
    Store,
    attempt_entry,
    dumps,
    job_from_row,
    load_migrations,
    validate_new_job,
)
from conveyor.task_metrics import HIST_COLUMNS, RETENTION_SECONDS, SUM_COLUMNS, MinuteFigures

log = logging.getLogger("conveyor.store")

# In-process wake-ups, per database file: enqueue in this process wakes workers in this process.
_wake_callbacks: dict[str, list[Callable[[str], None]]] = {}
_wake_lock = threading.Lock()


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration, run one by one inside the migration's transaction
    (executescript would commit first). A trigger body's semicolons stay in its statement."""
    buffer = ""
    for part in script.split(";"):
        buffer += part + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip().strip(";").strip():
                yield buffer
            buffer = ""


DELETIONS_KEPT_S = 60.0  # how long deleted job ids stay in conveyor_deletions for the event pollers

LIVE_WORKERS = """
    SELECT coalesce(sum(w.state = 'running'), 0) AS running, coalesce(sum(w.state = 'paused'), 0) AS paused
    FROM conveyor_workers w
    WHERE w.state IN ('running', 'paused') AND w.last_heartbeat > :now - :liveness
      AND EXISTS (SELECT 1 FROM json_each(w.queues) q WHERE q.value = :queue)
"""


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _iso_or_ts(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return _ts(float(value))
    return datetime.fromisoformat(value)


def _load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


RAN_STATES = (JobState.COMPLETED, JobState.SCHEDULED, JobState.DEAD)  # attempts that ran and ended
_MINUTE_COLUMNS = ("minute", "tenant", "queue", "task", "worker_id", "succeeded", "failed", "duration_sum",
                   "duration_max", "pickup_n", "pickup_sum", "pickup_max", *HIST_COLUMNS)
TASK_MINUTES_UPSERT = (
    f"INSERT INTO conveyor_task_minutes ({', '.join(_MINUTE_COLUMNS)}) VALUES ({', '.join('?' * len(_MINUTE_COLUMNS))}) "
    "ON CONFLICT (minute, tenant, queue, task, worker_id) DO UPDATE SET "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in SUM_COLUMNS)
    + ", duration_max = max(duration_max, excluded.duration_max), pickup_max = max(pickup_max, excluded.pickup_max)"
)
TASK_METRIC_ROWS = (
    "SELECT task, queue, CAST(minute / :step AS INTEGER) * :step AS t, "
    + ", ".join(f"sum({c}) AS {c}" for c in SUM_COLUMNS)
    + ", max(duration_max) AS duration_max, max(pickup_max) AS pickup_max FROM conveyor_task_minutes "
    "WHERE minute >= :since AND (:tenant IS NULL OR tenant = :tenant) GROUP BY 1, 2, 3"
)


class SQLiteStore(Store):
    engine = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None
        if path is None or not path:
            raise ConfigurationError(
                f"Malformed SQLite URL {url!r}.",
                action="Use sqlite:///relative/path.db or sqlite:////absolute/path.db.",
            )
        self.path = os.path.abspath(path)
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            raise DatabaseUnavailableError(
                f"Cannot open SQLite database {self.path}: folder {folder} does not exist.",
                action="Create the folder or point CONVEYOR_DATABASE_URL somewhere else.",
            )
        self._local = threading.local()
        self._closed = threading.Event()
        self._all_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._listeners: list[EventListener] = []
        self._listeners_lock = threading.Lock()
        self._poller: threading.Thread | None = None
        try:
            self._conn().execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise DatabaseUnavailableError(
                f"Cannot open SQLite database {self.path}: {exc}.",
                action="Check the path and its permissions.",
            ) from None

    # -- connections ----------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._conns_lock:
                self._all_conns.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE) so it never deadlocks on upgrade."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def _all(self, sql: str, params: dict[str, Any] | tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, params).fetchall()

    def close(self) -> None:
        self._closed.set()
        # The event poller must be out of its query before its connection is closed under it
        # (closing a connection another thread is using can crash the interpreter).
        poller = self._poller
        if poller is not None and poller is not threading.current_thread():
            poller.join(timeout=5)
        with _wake_lock:
            _wake_callbacks.pop(self.path, None)
        with self._conns_lock:
            for conn in self._all_conns:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all_conns.clear()

    def _job(self, row: sqlite3.Row) -> Job:
        return job_from_row(dict(row), _iso_or_ts, _load)

    def _wake(self, queues: set[str]) -> None:
        with _wake_lock:
            callbacks = list(_wake_callbacks.get(self.path, []))
        for queue in queues:
            for callback in callbacks:
                callback(queue)

    def _emit(self, state: str, ids: list[str]) -> None:
        """Hand a batch of changes to the listeners (from the poller)."""
        if not ids:
            return
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(state, ids)

    # -- schema ---------------------------------------------------------------------------
    def migrate(self) -> int:
        with self._write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS conveyor_schema_version "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            current = conn.execute("SELECT coalesce(max(version), 0) FROM conveyor_schema_version").fetchone()[0]
            for version, name, sql in load_migrations(self.engine):
                if version <= current:
                    continue
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO conveyor_schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, time.time()),
                )
                log.info("applied migration %04d_%s", version, name)
                current = version
            return int(current)

    def schema_version(self) -> int:
        present = self._all("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'conveyor_schema_version'")
        if not present:
            return 0
        return int(self._all("SELECT coalesce(max(version), 0) FROM conveyor_schema_version")[0][0])

    # -- jobs -----------------------------------------------------------------------------
    def enqueue(
        self,
        jobs: list[NewJob],
        *,
        policy: EnqueuePolicy,
        liveness_timeout: float,
        app_path: str | None = None,
    ) -> list[EnqueueResult]:
        policy = EnqueuePolicy(policy)
        for job in jobs:
            validate_new_job(job)
        encoded = [(j, dumps(j.args), dumps(j.kwargs), dumps(j.meta)) for j in jobs]
        results: list[EnqueueResult] = []
        woken: set[str] = set()
        try:
            with self._write() as conn:
                now = time.time()
                served: dict[str, bool] = {}
                for queue in {j.queue for j in jobs}:
                    row = conn.execute(LIVE_WORKERS, {"now": now, "liveness": liveness_timeout, "queue": queue}).fetchone()
                    if row["running"] == 0 and policy is EnqueuePolicy.REFUSE:
                        raise NoLiveWorkerError(queue, app_path, paused_workers=int(row["paused"]))
                    served[queue] = row["running"] > 0 or policy is EnqueuePolicy.ACCEPT
                for job, args, kwargs, meta in encoded:
                    run_at = _epoch(job.run_at) or now
                    ok = served[job.queue]
                    state = ("scheduled" if run_at > now else "queued") if ok else "failed"
                    error = None if ok else str(NoLiveWorkerError(job.queue, app_path))
                    cur = conn.execute(
                        """INSERT INTO conveyor_jobs (id, task, queue, priority, tenant, args, kwargs, state,
                               max_attempts, timeout, run_at, created_at, queued_at, finished_at, updated_at,
                               token, parent_id, idempotency_key, meta, error)
                           VALUES (:id, :task, :queue, :priority, :tenant, :args, :kwargs, :state, :max_attempts,
                               :timeout, :run_at, :now, :queued_at, :finished_at, :now, :token, :parent_id,
                               :idempotency_key, :meta, :error)
                           ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING""",
                        {
                            "id": job.id, "task": job.task, "queue": job.queue, "priority": job.priority,
                            "tenant": job.tenant, "args": args, "kwargs": kwargs, "state": state,
                            "max_attempts": job.max_attempts, "timeout": job.timeout, "run_at": run_at,
                            "now": now, "queued_at": now if state == "queued" else None,
                            "finished_at": now if state == "failed" else None, "token": job.token,
                            "parent_id": job.parent_id, "idempotency_key": job.idempotency_key, "meta": meta,
                            "error": error,
                        },
                    )
                    if cur.rowcount == 1:
                        results.append(EnqueueResult(job.id, JobState(state), True))
                        if state == "queued":
                            woken.add(job.queue)
                    else:
                        existing = conn.execute(
                            "SELECT id, state FROM conveyor_jobs WHERE tenant = ? AND idempotency_key = ?",
                            (job.tenant, job.idempotency_key),
                        ).fetchone()
                        results.append(EnqueueResult(existing["id"], JobState(existing["state"]), False))
        except sqlite3.Error as exc:
            # Covers a failed live-worker check too: never assume a worker is there.
            raise LivenessCheckError(
                f"Could not enqueue: the live-worker check and insert failed ({type(exc).__name__}: {exc}).",
                action="Nothing was queued. Check the database file and schema, then try again.",
            ) from None
        self._wake(woken)
        return results

    def get_job(self, job_id: str, tenant: str | None = None) -> Job | None:
        rows = self._all(
            f"SELECT {JOB_COLUMNS} FROM conveyor_jobs WHERE id = :id AND (:tenant IS NULL OR tenant = :tenant)",
            {"id": job_id, "tenant": tenant},
        )
        return self._job(rows[0]) if rows else None

    def task_metric_rows(self, since: float, step: int, tenant: str | None = None) -> list[dict[str, Any]]:
        return [dict(r) for r in self._all(TASK_METRIC_ROWS, {"since": since, "step": step, "tenant": tenant})]

    def find_job_ids(self, fragment: str, limit: int = 3) -> list[str]:
        rows = self._all(
            "SELECT id FROM conveyor_jobs WHERE id LIKE :prefix OR id LIKE :suffix ORDER BY id DESC LIMIT :limit",
            {"prefix": fragment + "%", "suffix": "%" + fragment, "limit": limit},
        )
        return [str(r["id"]) for r in rows]

    def get_jobs(self, job_ids: list[str]) -> list[Job]:
        jobs: list[Job] = []
        for i in range(0, len(job_ids), 500):  # SQLite caps the number of bound parameters
            chunk = job_ids[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._all(f"SELECT {JOB_COLUMNS} FROM conveyor_jobs WHERE id IN ({marks})", tuple(chunk))
            jobs += [self._job(r) for r in rows]
        return jobs

    @staticmethod
    def _filter_sql(f: JobFilter) -> tuple[list[str], dict[str, Any]]:
        where: list[str] = []
        params: dict[str, Any] = {}
        if f.states:
            marks = ", ".join(f":state{i}" for i in range(len(f.states)))
            where.append(f"state IN ({marks})")
            params.update({f"state{i}": s for i, s in enumerate(f.states)})
        for column in ("queue", "task", "token", "tenant", "parent_id"):
            value = getattr(f, column)
            if value is not None:
                where.append(f"{column} = :{column}")
                params[column] = value
        if f.error_contains:
            where.append("error LIKE :error_like ESCAPE '\\'")
            params["error_like"] = "%" + f.error_contains.replace("%", r"\%").replace("_", r"\_") + "%"
        if f.created_after:
            where.append("created_at >= :created_after")
            params["created_after"] = f.created_after.timestamp()
        if f.created_before:
            where.append("created_at < :created_before")
            params["created_before"] = f.created_before.timestamp()
        return where, params

    def list_jobs(
        self, filters: JobFilter, *, limit: int = 50, before: str | None = None
    ) -> list[Job]:
        where, params = self._filter_sql(filters)
        if before is not None:
            where.append("id < :before")
            params["before"] = before
        params["limit"] = limit
        rows = self._all(
            f"SELECT {JOB_COLUMNS} FROM conveyor_jobs WHERE {' AND '.join(where) or '1'} "
            "ORDER BY id DESC LIMIT :limit",
            params,
        )
        return [self._job(r) for r in rows]

    def claim_jobs(self, worker_id: str, queues: list[str], limit: int) -> list[ClaimedJob]:
        claimed: list[ClaimedJob] = []
        marks = ", ".join("?" * len(queues))
        # A read first: an idle worker polls often, and a poll that finds nothing must not take
        # the write lock that enqueuers need.
        if not self._all(f"SELECT 1 FROM conveyor_jobs WHERE state = 'queued' AND queue IN ({marks}) LIMIT 1",
                         tuple(queues)):
            return claimed
        with self._write() as conn:
            now = time.time()
            paused = {r[0] for r in conn.execute("SELECT name FROM conveyor_queues WHERE paused")}
            for queue in queues:
                if len(claimed) >= limit or queue in paused:
                    continue
                rows = conn.execute(
                    """UPDATE conveyor_jobs
                       SET state = 'running', attempts = attempts + 1, started_at = :now, updated_at = :now,
                           worker_id = :worker, lease_token = lower(hex(randomblob(16))),
                           deadline = CASE WHEN timeout IS NULL THEN NULL ELSE :now + timeout END,
                           cancel_requested = 0, finished_at = NULL
                       WHERE id IN (SELECT id FROM conveyor_jobs WHERE state = 'queued' AND queue = :queue
                                    ORDER BY priority DESC, run_at, id LIMIT :limit)
                       RETURNING id, task, queue, tenant, args, kwargs, attempts, max_attempts, timeout,
                                 lease_token, token, started_at, priority, run_at,
                                 pipeline_run_id, step, stage""",
                    {"now": now, "worker": worker_id, "queue": queue, "limit": limit - len(claimed)},
                ).fetchall()
                rows.sort(key=lambda r: (-r["priority"], r["run_at"], r["id"]))
                claimed.extend(
                    ClaimedJob(
                        id=r["id"], task=r["task"], queue=r["queue"], tenant=r["tenant"],
                        args=json.loads(r["args"]), kwargs=json.loads(r["kwargs"]), attempts=r["attempts"],
                        max_attempts=r["max_attempts"], timeout=r["timeout"], lease_token=r["lease_token"],
                        token=r["token"], started_at=_ts(r["started_at"]),  # type: ignore[arg-type]
                        pipeline_run_id=r["pipeline_run_id"], step=r["step"], stage=r["stage"],
                    )
                    for r in rows
                )
        return claimed

    def finish_jobs(self, outcomes: list[Outcome]) -> list[str]:
        done: list[str] = []
        woken: set[str] = set()
        completed: dict[tuple[str, str, str], int] = {}
        minutes: dict[tuple[str, str, str, str], MinuteFigures] = {}
        with self._write() as conn:
            now = time.time()
            finished_iso = datetime.fromtimestamp(now, UTC).isoformat()
            for o in outcomes:
                entry = dumps(attempt_entry(o, finished_iso)) if o.error is not None else None
                row = conn.execute(
                    """UPDATE conveyor_jobs
                       SET state = :state, result = :result, error = :error, traceback = :traceback,
                           finished_at = CASE WHEN :state IN ('completed', 'dead', 'cancelled') THEN :now END,
                           run_at = CASE WHEN :state = 'scheduled' THEN :now + :delay ELSE run_at END,
                           queued_at = CASE WHEN :state = 'queued' THEN :now ELSE queued_at END,
                           attempts = CASE WHEN :state = 'queued' THEN attempts - 1 ELSE attempts END,
                           attempt_log = CASE WHEN :entry IS NULL THEN attempt_log
                                              ELSE json_insert(attempt_log, '$[#]', json(:entry)) END,
                           lease_token = NULL, deadline = NULL, cancel_requested = 0, updated_at = :now
                       WHERE id = :id AND lease_token = :lease AND state = 'running'
                       RETURNING queue, tenant, worker_id, task, started_at, queued_at""",
                    {
                        "state": o.state.value,
                        "result": dumps(o.result) if o.state == JobState.COMPLETED else None,
                        "error": o.error, "traceback": o.traceback, "now": now, "delay": o.retry_delay,
                        "entry": entry, "id": o.job_id, "lease": o.lease_token,
                    },
                ).fetchone()
                if row is not None:
                    done.append(o.job_id)
                    if o.state == JobState.QUEUED:
                        woken.add(row["queue"])
                    elif o.state == JobState.COMPLETED:
                        key = (row["tenant"], row["queue"], row["worker_id"] or "")
                        completed[key] = completed.get(key, 0) + 1
                    if o.state in RAN_STATES and row["started_at"] is not None:
                        figures = minutes.setdefault(
                            (row["tenant"], row["queue"], row["task"], row["worker_id"] or ""), MinuteFigures())
                        pickup = row["started_at"] - row["queued_at"] if row["queued_at"] is not None else None
                        figures.add(o.state == JobState.COMPLETED, now - row["started_at"], pickup)
            # Throughput counters (migration 0002): one row per 10-second bucket, queue and worker.
            conn.executemany(
                "INSERT INTO conveyor_completions (bucket, tenant, queue, worker_id, n) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (bucket, tenant, queue, worker_id) DO UPDATE SET n = n + excluded.n",
                [(now // 10 * 10, *key, n) for key, n in completed.items()],
            )
            # Per-minute task figures (migration 0007, conveyor/task_metrics.py).
            conn.executemany(TASK_MINUTES_UPSERT, [(now // 60 * 60, *key, *f.values()) for key, f in minutes.items()])
            if any(o.emits for o in outcomes):  # pipelines hook: emits commit with their completions
                from conveyor.store.pipelines_sqlite import insert_emits
                woken |= insert_emits(conn, outcomes, set(done))
        self._wake(woken)
        return done

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
        with self._write() as conn:
            cur = conn.execute(
                """UPDATE conveyor_jobs SET
                       progress_percent = coalesce(:percent, progress_percent),
                       progress_processed = coalesce(:processed, progress_processed),
                       progress_failed = coalesce(:failed, progress_failed),
                       meta = CASE WHEN :meta IS NULL THEN meta ELSE json_patch(meta, :meta) END,
                       updated_at = :now
                   WHERE id = :id AND lease_token = :lease AND state = 'running'""",
                {
                    "percent": percent, "processed": processed, "failed": failed,
                    "meta": dumps(meta) if meta is not None else None, "now": time.time(),
                    "id": job_id, "lease": lease_token,
                },
            )
            return cur.rowcount == 1

    def extend_deadline(self, job_id: str, lease_token: str, seconds: float) -> bool:
        with self._write() as conn:
            now = time.time()
            cur = conn.execute(
                "UPDATE conveyor_jobs SET deadline = max(coalesce(deadline, :now), :now) + :s, "
                "timeout = coalesce(timeout, 0) + :s, updated_at = :now "
                "WHERE id = :id AND lease_token = :lease AND state = 'running'",
                {"now": now, "s": seconds, "id": job_id, "lease": lease_token},
            )
            return cur.rowcount == 1

    def cancel_job(self, job_id: str, tenant: str | None = None) -> JobState:
        job = self._require_job(job_id, tenant)
        with self._write() as conn:
            now = time.time()
            row = conn.execute(
                """UPDATE conveyor_jobs SET
                       cancel_requested = (state = 'running'),
                       finished_at = CASE WHEN state = 'running' THEN finished_at ELSE :now END,
                       state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
                       updated_at = :now
                   WHERE id = :id AND state IN ('scheduled', 'queued', 'running') RETURNING state""",
                {"now": now, "id": job.id},
            ).fetchone()
        if row is None:
            raise InvalidTransitionError(
                f"Job {job_id} is {job.state.value}; only scheduled, queued or running jobs can be cancelled.",
                action="Nothing to do: the job has already finished.",
            )
        return JobState(row["state"])

    def retry_job(self, job_id: str, tenant: str | None = None) -> None:
        job = self._require_job(job_id, tenant)
        with self._write() as conn:
            now = time.time()
            row = conn.execute(
                """UPDATE conveyor_jobs SET state = 'queued', queued_at = :now, run_at = :now, finished_at = NULL,
                       max_attempts = max(max_attempts, attempts + 1), cancel_requested = 0, updated_at = :now
                   WHERE id = :id AND state IN ('dead', 'failed', 'cancelled', 'completed') RETURNING queue""",
                {"now": now, "id": job.id},
            ).fetchone()
        if row is None:
            raise InvalidTransitionError(
                f"Job {job_id} is {job.state.value}; only finished jobs can be retried.",
                action="Wait for it to finish, or cancel it first.",
            )
        self._wake({row["queue"]})

    def delete_job(self, job_id: str, tenant: str | None = None) -> None:
        job = self._require_job(job_id, tenant)
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM conveyor_jobs WHERE id = ? AND state IN ('completed', 'failed', 'dead', 'cancelled')",
                (job.id,),
            )
        if cur.rowcount == 0:
            raise InvalidTransitionError(
                f"Job {job_id} is {job.state.value}; only finished jobs can be deleted.", action="Cancel it first."
            )

    def requeue_dead(self, filters: JobFilter) -> int:
        where, params = self._filter_sql(JobFilter(**{**filters.__dict__, "states": ["dead", "failed"]}))
        with self._write() as conn:
            params["now"] = time.time()
            rows = conn.execute(
                f"""UPDATE conveyor_jobs SET state = 'queued', queued_at = :now, run_at = :now, finished_at = NULL,
                        max_attempts = max(max_attempts, attempts + 1), updated_at = :now
                    WHERE {' AND '.join(where)} RETURNING queue""",
                params,
            ).fetchall()
        self._wake({r["queue"] for r in rows})
        return len(rows)

    def purge_dead(self, filters: JobFilter) -> int:
        where, params = self._filter_sql(JobFilter(**{**filters.__dict__, "states": ["dead", "failed"]}))
        with self._write() as conn:
            rows = conn.execute(f"DELETE FROM conveyor_jobs WHERE {' AND '.join(where)} RETURNING id", params).fetchall()
        return len(rows)

    def cancel_requested_jobs(self, worker_id: str) -> list[str]:
        rows = self._all(
            "SELECT id FROM conveyor_jobs WHERE state = 'running' AND worker_id = ? AND cancel_requested",
            (worker_id,),
        )
        return [r["id"] for r in rows]

    def running_jobs(self, worker_id: str, started_before_seconds: float) -> list[tuple[str, str]]:
        rows = self._all(
            "SELECT id, lease_token FROM conveyor_jobs WHERE state = 'running' AND worker_id = ? AND started_at < ?",
            (worker_id, time.time() - started_before_seconds),
        )
        return [(r["id"], r["lease_token"]) for r in rows]

    def stage_scheduled(self, limit: int = 1000) -> int:
        now = time.time()
        # A read first: the common case (nothing due) takes no write lock.
        if not self._all(
            "SELECT 1 FROM conveyor_jobs WHERE state = 'scheduled' AND run_at <= ? LIMIT 1", (now,)
        ):
            return 0
        with self._write() as conn:
            rows = conn.execute(
                """UPDATE conveyor_jobs SET state = 'queued', queued_at = :now, updated_at = :now
                   WHERE id IN (SELECT id FROM conveyor_jobs WHERE state = 'scheduled' AND run_at <= :now
                                ORDER BY run_at LIMIT :limit)
                   RETURNING queue""",
                {"now": now, "limit": limit},
            ).fetchall()
        self._wake({r["queue"] for r in rows})
        return len(rows)

    # -- workers and queues ---------------------------------------------------------------
    def register_worker(self, info: WorkerInfo) -> None:
        with self._write() as conn:
            now = time.time()
            conn.execute(
                """INSERT INTO conveyor_workers (id, hostname, pid, queues, concurrency, version, started_at,
                       last_heartbeat, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running')""",
                (info.id, info.hostname, info.pid, json.dumps(info.queues), info.concurrency, info.version, now, now),
            )

    def heartbeat(
        self, worker_id: str, *, state: str, jobs_in_flight: int, processed: int, failed: int
    ) -> str | None:
        with self._write() as conn:
            row = conn.execute(
                """UPDATE conveyor_workers SET last_heartbeat = :now, state = :state, stopped_at = NULL,
                       jobs_in_flight = :inflight, processed = :processed, failed = :failed
                   WHERE id = :id RETURNING desired_state""",
                {"now": time.time(), "state": state, "inflight": jobs_in_flight, "processed": processed,
                 "failed": failed, "id": worker_id},
            ).fetchone()
        return row["desired_state"] if row else "unregistered"

    def set_worker_desired_state(self, worker_id: str, desired: str) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE conveyor_workers SET desired_state = ? WHERE id = ? AND state NOT IN ('stopped', 'dead')",
                (desired, worker_id),
            )
        return cur.rowcount == 1

    def stop_worker(self, worker_id: str) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE conveyor_workers SET state = 'stopped', stopped_at = ?, jobs_in_flight = 0 "
                "WHERE id = ? AND state <> 'dead'",
                (time.time(), worker_id),
            )

    def list_workers(self, liveness_timeout: float, include_dead_since: float = 3600.0) -> list[WorkerInfo]:
        now = time.time()
        rows = self._all(
            """SELECT w.*, (SELECT json_group_array(j.id) FROM conveyor_jobs j
                            WHERE j.state = 'running' AND j.worker_id = w.id) AS current_jobs
               FROM conveyor_workers w
               WHERE w.state NOT IN ('stopped', 'dead') OR coalesce(w.stopped_at, w.last_heartbeat) > :since
               ORDER BY w.started_at DESC""",
            {"since": now - include_dead_since},
        )
        return [
            WorkerInfo(
                id=r["id"], hostname=r["hostname"], pid=r["pid"], queues=json.loads(r["queues"]),
                concurrency=r["concurrency"], version=r["version"],
                started_at=_ts(r["started_at"]), last_heartbeat=_ts(r["last_heartbeat"]),  # type: ignore[arg-type]
                state=r["state"], desired_state=r["desired_state"], jobs_in_flight=r["jobs_in_flight"],
                processed=r["processed"], failed=r["failed"], current_jobs=json.loads(r["current_jobs"]),
                heartbeat_age=now - r["last_heartbeat"],
                alive=r["state"] not in ("stopped", "dead") and r["last_heartbeat"] > now - liveness_timeout,
            )
            for r in rows
        ]

    def live_worker_count(self, queue: str, liveness_timeout: float) -> tuple[int, int]:
        try:
            row = self._all(LIVE_WORKERS, {"now": time.time(), "liveness": liveness_timeout, "queue": queue})[0]
        except sqlite3.Error as exc:
            raise LivenessCheckError(
                f"Could not check for live workers: {exc}.",
                action="Nothing was queued. Check the database file and try again.",
            ) from None
        return int(row["running"]), int(row["paused"])

    def queue_stats(self, liveness_timeout: float, tenant: str | None = None) -> list[QueueStats]:
        now = time.time()
        active = self._all(
            """SELECT queue, state, count(*) AS n, min(CASE WHEN state = 'queued' THEN queued_at END) AS oldest
               FROM conveyor_jobs INDEXED BY conveyor_jobs_state_created
               WHERE state IN ('scheduled', 'queued', 'running', 'dead', 'failed')
                 AND (:tenant IS NULL OR tenant = :tenant)
               GROUP BY queue, state""",
            {"tenant": tenant},
        )
        recent = self._all(  # counter rows (10-second buckets), not job rows
            """SELECT queue, sum(CASE WHEN bucket > :minute THEN n ELSE 0 END) AS last_minute, sum(n) AS last_hour
               FROM conveyor_completions
               WHERE bucket > :hour AND (:tenant IS NULL OR tenant = :tenant)
               GROUP BY queue""",
            {"minute": now - 60, "hour": now - 3600, "tenant": tenant},
        )
        live: dict[str, int] = {}
        for w in self._all(
            "SELECT queues, state FROM conveyor_workers WHERE state IN ('running', 'paused') AND last_heartbeat > ?",
            (now - liveness_timeout,),
        ):
            for q in json.loads(w["queues"]):
                live[q] = live.get(q, 0) + (1 if w["state"] == "running" else 0)
        paused = {r["name"]: bool(r["paused"]) for r in self._all("SELECT name, paused FROM conveyor_queues")}
        names = {r["queue"] for r in active} | {r["queue"] for r in recent} | set(live)
        if tenant is None:
            names |= set(paused)
        stats = []
        for name in sorted(names):
            counts = {s: 0 for s in ("scheduled", "queued", "running", "dead", "failed")}
            oldest: float | None = None
            for r in active:
                if r["queue"] == name:
                    counts[r["state"]] = r["n"]
                    if r["oldest"] is not None:
                        oldest = r["oldest"]
            minute = hour = 0
            for r in recent:
                if r["queue"] == name:
                    minute, hour = int(r["last_minute"] or 0), int(r["last_hour"])
            stats.append(
                QueueStats(
                    name=name, counts=counts, live_workers=live.get(name, 0), paused=paused.get(name, False),
                    oldest_ready_age=(now - oldest) if oldest is not None else None,
                    stranded=counts["queued"] > 0 and live.get(name, 0) == 0,
                    completed_last_minute=minute, completed_last_hour=hour,
                )
            )
        return stats

    def set_queue_paused(self, queue: str, paused: bool) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO conveyor_queues (name, paused) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
                (queue, int(paused)),
            )
        if not paused:
            self._wake({queue})

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
    ) -> MaintenanceReport | None:
        report = MaintenanceReport()
        woken: set[str] = set()
        with self._write() as conn:  # the write lock is the maintenance lock on SQLite
            now = time.time()
            iso_now = datetime.fromtimestamp(now, UTC).isoformat()
            cutoff = now - liveness_timeout
            lost = conn.execute(
                """UPDATE conveyor_workers SET state = 'dead', stopped_at = :now
                   WHERE state NOT IN ('stopped', 'dead') AND last_heartbeat < :cutoff RETURNING id""",
                {"now": now, "cutoff": cutoff},
            ).fetchall()
            report.dead_workers = [r["id"] for r in lost]
            oldest = conn.execute(
                "SELECT min(last_heartbeat) FROM conveyor_workers WHERE state NOT IN ('stopped', 'dead')"
            ).fetchone()[0]
            report.next_expiry = oldest + liveness_timeout - now if oldest is not None else None
            rescued = conn.execute(
                """UPDATE conveyor_jobs
                   SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                       queued_at = :now,
                       finished_at = CASE WHEN attempts >= max_attempts THEN :now END,
                       error = 'Worker ' || coalesce(worker_id, '?') || ' stopped heartbeating during attempt '
                               || attempts || '; the job was rescued by the maintenance loop.',
                       traceback = NULL,
                       attempt_log = json_insert(attempt_log, '$[#]', json_object(
                           'attempt', attempts, 'worker_id', worker_id,
                           'started_at', strftime('%Y-%m-%dT%H:%M:%f+00:00', started_at, 'unixepoch'),
                           'finished_at', :iso_now, 'outcome', 'orphaned',
                           'error', 'worker ' || coalesce(worker_id, '?') || ' died (no heartbeat)')),
                       lease_token = NULL, deadline = NULL, updated_at = :now
                   WHERE state = 'running' AND NOT EXISTS (
                       SELECT 1 FROM conveyor_workers w WHERE w.id = conveyor_jobs.worker_id
                         AND w.state NOT IN ('stopped', 'dead') AND w.last_heartbeat >= :cutoff)
                   RETURNING id, state, queue""",
                {"now": now, "iso_now": iso_now, "cutoff": cutoff},
            ).fetchall()
            report.rescued = [(r["id"], r["state"]) for r in rescued]
            woken |= {r["queue"] for r in rescued if r["state"] == "queued"}
            timed_out = conn.execute(
                """UPDATE conveyor_jobs
                   SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'scheduled' END,
                       run_at = :now + min(3600, 2 * (1 << max(attempts - 1, 0))),
                       finished_at = CASE WHEN attempts >= max_attempts THEN :now END,
                       error = 'timed out after ' || timeout || ' s (enforced by the database: the worker did not report)',
                       traceback = NULL,
                       attempt_log = json_insert(attempt_log, '$[#]', json_object(
                           'attempt', attempts, 'worker_id', worker_id,
                           'started_at', strftime('%Y-%m-%dT%H:%M:%f+00:00', started_at, 'unixepoch'),
                           'finished_at', :iso_now, 'outcome', 'timed_out',
                           'error', 'timed out after ' || timeout || ' s')),
                       lease_token = NULL, deadline = NULL, updated_at = :now
                   WHERE state = 'running' AND deadline < :limit
                   RETURNING id, state""",
                {"now": now, "iso_now": iso_now, "limit": now - timeout_grace},
            ).fetchall()
            report.timed_out = [(r["id"], r["state"]) for r in timed_out]
            live_queues: set[str] = set()
            for w in conn.execute(
                "SELECT queues FROM conveyor_workers WHERE state = 'running' AND last_heartbeat > ?", (cutoff,)
            ):
                live_queues |= set(json.loads(w["queues"]))
            ready = {r[0] for r in conn.execute("SELECT DISTINCT queue FROM conveyor_jobs WHERE state = 'queued'")}
            report.stranded_queues = sorted(ready - live_queues)
            conn.execute("UPDATE conveyor_queues SET stranded_since = NULL WHERE stranded_since IS NOT NULL")
            for queue in report.stranded_queues:
                conn.execute(
                    "INSERT INTO conveyor_queues (name, stranded_since) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET stranded_since = coalesce(stranded_since, excluded.stranded_since)",
                    (queue, now),
                )
            if stranded_deadline > 0:
                for queue in report.stranded_queues:
                    expired = conn.execute(
                        """UPDATE conveyor_jobs SET state = 'dead', finished_at = :now, updated_at = :now,
                               error = 'Waited ' || cast(round(:now - queued_at) AS INTEGER) || ' s in queue '''
                                       || queue || ''' with no live worker (schedule-to-start deadline '
                                       || :deadline || ' s). Start a worker for the queue, then requeue it.'
                           WHERE state = 'queued' AND queue = :queue AND queued_at < :now - :deadline
                           RETURNING id""",
                        {"now": now, "deadline": stranded_deadline, "queue": queue},
                    ).fetchall()
                    report.expired += [r["id"] for r in expired]
            pruned = conn.execute(
                """DELETE FROM conveyor_jobs WHERE id IN (
                       SELECT id FROM conveyor_jobs WHERE finished_at IS NOT NULL AND (
                           (state IN ('completed', 'cancelled') AND finished_at < :rcut)
                        OR (state IN ('failed', 'dead') AND finished_at < :fcut))
                       LIMIT :batch)""",
                {"rcut": now - result_ttl, "fcut": now - failure_ttl, "batch": prune_batch},
            )
            report.pruned = pruned.rowcount
            conn.execute(
                "DELETE FROM conveyor_workers WHERE state IN ('stopped', 'dead') "
                "AND coalesce(stopped_at, last_heartbeat) < ?",
                (now - 7 * 86400,),
            )
            conn.execute("DELETE FROM conveyor_task_minutes WHERE minute < ?", (now - RETENTION_SECONDS,))
            conn.execute("DELETE FROM conveyor_completions WHERE bucket < ?", (now - 7200,))
            conn.execute("DELETE FROM conveyor_deletions WHERE deleted_at < ?", (now - DELETIONS_KEPT_S,))
        self._wake(woken)
        return report

    # -- API keys -------------------------------------------------------------------------
    def create_api_key(self, key_id: str, key_hash: str, tenant: str, role: str, name: str | None) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO conveyor_api_keys (id, key_hash, tenant, role, name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, key_hash, tenant, role, name, time.time()),
            )

    @staticmethod
    def _key(row: sqlite3.Row) -> ApiKey:
        return ApiKey(
            id=row["id"], tenant=row["tenant"], role=row["role"], name=row["name"],
            created_at=_ts(row["created_at"]), revoked_at=_ts(row["revoked_at"]),  # type: ignore[arg-type]
        )

    def find_api_key(self, key_hash: str) -> ApiKey | None:
        rows = self._all("SELECT * FROM conveyor_api_keys WHERE key_hash = ? AND revoked_at IS NULL", (key_hash,))
        return self._key(rows[0]) if rows else None

    def list_api_keys(self) -> list[ApiKey]:
        return [self._key(r) for r in self._all("SELECT * FROM conveyor_api_keys ORDER BY created_at")]

    def revoke_api_key(self, key_id: str) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE conveyor_api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (time.time(), key_id)
            )
        return cur.rowcount == 1

    # -- events ---------------------------------------------------------------------------
    def subscribe_events(self, listener: EventListener) -> Callable[[], None]:
        with self._listeners_lock:
            self._listeners.append(listener)
            if self._poller is None:
                self._poller = threading.Thread(target=self._poll_changes, name="conveyor-events", daemon=True)
                self._poller.start()

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _poll_changes(self, interval: float = 0.1, lookback: float = 2.0) -> None:
        """One poller per process over the updated_at index, shared by every subscriber.

        It re-reads a short window back (a writer may commit a little after its timestamp) and
        remembers what it already announced, so no change is missed or sent twice."""
        seen: dict[tuple[str, float], float] = {}
        since = time.time() - lookback
        while not self._closed.wait(interval):
            try:
                rows = self._all(
                    "SELECT id, state, updated_at FROM conveyor_jobs WHERE updated_at > ? "
                    "UNION ALL SELECT id, 'deleted', deleted_at FROM conveyor_deletions WHERE deleted_at > ? "
                    "ORDER BY 3 LIMIT 5000",
                    (since - lookback, since - lookback),
                )
            except sqlite3.Error as exc:
                log.warning("event poll failed: %s", exc)
                continue
            by_state: dict[str, list[str]] = {}
            for r in rows:
                key = (r["id"], r["updated_at"])
                if key in seen:
                    continue
                seen[key] = r["updated_at"]
                by_state.setdefault(r["state"], []).append(r["id"])
                since = max(since, r["updated_at"])
            horizon = since - 2 * lookback
            for key in [k for k, t in seen.items() if t < horizon]:
                del seen[key]
            for state, ids in by_state.items():
                self._emit(state, ids)

    def start_wake_listener(self, on_wake: Callable[[str], None]) -> None:
        with _wake_lock:
            _wake_callbacks.setdefault(self.path, []).append(on_wake)
