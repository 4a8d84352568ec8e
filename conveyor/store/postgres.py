"""PostgreSQL engine: claims with FOR UPDATE SKIP LOCKED, wake-ups and events with LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from operator import itemgetter
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from conveyor.errors import (
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
    CHANNEL_EVENTS,
    CHANNEL_WAKE,
    JOB_COLUMNS,
    RESYNC,
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
from conveyor.store.loop_connections import LoopConnections
from conveyor.store.prepared import PreparedStatement
from conveyor.task_metrics import DURATION_BOUNDS, HIST_COLUMNS, RETENTION_SECONDS, SUM_COLUMNS

log = logging.getLogger("conveyor.store")

MAINTENANCE_LOCK = 0x436F6E76  # "Conv": advisory lock so one maintenance pass runs at a time
MIGRATION_LOCK = 0x436F6E77
NOTIFY_IDS_PER_EVENT = 100  # 100 ids of 36 characters keep one payload far under PostgreSQL's 8000 bytes
# A wake-up's payload is a queue name, or "queue id" when it also announces one new ready job
# (queue names cannot hold a space). Event listeners LISTEN on the wake channel for those.
WAKE_SEPARATOR = " "



def event_notices(state: str, ids: list[str]) -> list[tuple[str, str]]:
    """(channel, payload) of the events announcing these jobs, NOTIFY_IDS_PER_EVENT ids each."""
    return [(CHANNEL_EVENTS, dumps({"state": state, "ids": ids[i : i + NOTIFY_IDS_PER_EVENT]}))
            for i in range(0, len(ids), NOTIFY_IDS_PER_EVENT)]


NOTICES_PER_STATEMENT = 1000  # 2,000 parameters, far below PostgreSQL's limit of 65,535


def notify(conn: psycopg.Connection[Any], notices: list[tuple[str, str]]) -> None:
    """Send (channel, payload) notifications, up to NOTICES_PER_STATEMENT per statement. Each
    payload is a plain text parameter: a text[] of JSON payloads costs psycopg ~1 ms per 1,000
    announced jobs to escape, and building them on the server from joined ids ~0.8 ms (bench:
    bulk enqueue)."""
    for i in range(0, len(notices), NOTICES_PER_STATEMENT):
        chunk = notices[i : i + NOTICES_PER_STATEMENT]
        values = ", ".join(["(%s, %s)"] * len(chunk))
        conn.execute(f"SELECT pg_notify(c, p) FROM (VALUES {values}) AS v(c, p)",  # type: ignore[arg-type]
                     [value for notice in chunk for value in notice])


def chunked_event(state_sql: str, source: str) -> str:
    """SQL announcing the ids in `source` as events, NOTIFY_IDS_PER_EVENT ids per payload
    (PostgreSQL refuses a payload over 8000 bytes)."""
    return f"""
    SELECT pg_notify('{CHANNEL_EVENTS}', json_build_object('state', {state_sql}, 'ids', json_agg(id))::text)
    FROM (SELECT id, (row_number() OVER ()) / {NOTIFY_IDS_PER_EVENT} AS chunk FROM {source}) numbered
    GROUP BY chunk"""



LIVE_WORKERS = """
    SELECT count(*) FILTER (WHERE state = 'running') AS running,
           count(*) FILTER (WHERE state = 'paused') AS paused
    FROM conveyor_workers
    WHERE %(queue)s = ANY(queues) AND state IN ('running', 'paused')
      AND last_heartbeat > now() - make_interval(secs => %(liveness)s)
"""

# A new job's columns, as the single-enqueue statements write them.
INSERT_ONE = """
    INSERT INTO conveyor_jobs (id, task, queue, priority, tenant, args, kwargs, state, max_attempts,
        timeout, run_at, queued_at, finished_at, token, parent_id, idempotency_key, meta, error)"""
# A ready job is announced by its wake-up alone ("queue id": see WAKE_SEPARATOR); one NOTIFY less
# per enqueue saves about a sixth of the statement's time. Other states go to the events channel.
ANNOUNCE_ONE = (f"CASE WHEN state = 'queued' THEN pg_notify('{CHANNEL_WAKE}', queue || '{WAKE_SEPARATOR}' || id) "
                f"ELSE pg_notify('{CHANNEL_EVENTS}', json_build_object('state', state, 'ids', json_build_array(id))::text) END")

# The common case, policy "refuse" and no idempotency key: insert only if a live worker serves
# the queue, in one statement. No row back means refused (then LIVE_WORKERS says whether paused
# workers were there, for the message). About 20 us less per call than ENQUEUE_ONE's counts.
ENQUEUE_SERVED = f"""
WITH ins AS (
    {INSERT_ONE}
    SELECT %(id)s, %(task)s, %(queue)s, %(priority)s, %(tenant)s, %(args)s::jsonb, %(kwargs)s::jsonb, %(state)s,
        %(max_attempts)s, %(timeout)s, COALESCE(%(run_at)s, now()),
        CASE WHEN %(state)s = 'queued' THEN now() END, NULL, %(token)s, %(parent_id)s, NULL, %(meta)s::jsonb, NULL
    WHERE EXISTS (SELECT FROM conveyor_workers
                  WHERE %(queue)s = ANY(queues) AND state = 'running'
                    AND last_heartbeat > now() - make_interval(secs => %(liveness)s))
    RETURNING id, state, queue
)
SELECT state, {ANNOUNCE_ONE} FROM ins
"""
SERVED = PreparedStatement("conveyor_enqueue_served", ENQUEUE_SERVED)  # the hot path: see prepared.py

# Every other policy, and jobs with an idempotency key: the live-worker counts, the insert (or
# not, or as failed) and the wake-up in one round trip.
ENQUEUE_ONE_KEYED = f"""
WITH live AS ({LIVE_WORKERS}),
ins AS (
    {INSERT_ONE}
    SELECT %(id)s, %(task)s, %(queue)s, %(priority)s, %(tenant)s, %(args)s::jsonb, %(kwargs)s::jsonb,
        CASE WHEN live.running > 0 OR %(policy)s = 'accept' THEN %(state)s ELSE 'failed' END,
        %(max_attempts)s, %(timeout)s, COALESCE(%(run_at)s, now()),
        CASE WHEN %(state)s = 'queued' THEN now() END,
        CASE WHEN live.running > 0 OR %(policy)s = 'accept' THEN NULL ELSE now() END,
        %(token)s, %(parent_id)s, %(idempotency_key)s, %(meta)s::jsonb,
        CASE WHEN live.running > 0 OR %(policy)s = 'accept' THEN NULL ELSE %(refusal)s END
    FROM live
    WHERE live.running > 0 OR %(policy)s <> 'refuse'
    ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, state, queue
),
announced AS (SELECT {ANNOUNCE_ONE} FROM ins)
SELECT live.running, live.paused, ins.id, ins.state, (SELECT count(*) FROM announced) AS notified
FROM live LEFT JOIN ins ON true
"""
# Without an idempotency key there is nothing to conflict on: a plain insert skips the
# speculative insertion ON CONFLICT costs on every row.
ENQUEUE_ONE = ENQUEUE_ONE_KEYED.replace(
    "ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING", "")

KEY_HOLDER = "SELECT id, state FROM conveyor_jobs WHERE tenant = %(tenant)s AND idempotency_key = %(idempotency_key)s"

# Bulk enqueue: the columns a job can be written with, in the order of _copy_row.
COPY_COLUMNS = ("id", "task", "queue", "priority", "tenant", "args", "kwargs", "state", "max_attempts",
                "timeout", "run_at", "queued_at", "finished_at", "token", "parent_id", "idempotency_key",
                "meta", "error")
COLUMN_TYPES = ("uuid", "text", "text", "int", "text", "jsonb", "jsonb", "text", "int", "float8",
                "timestamptz", "timestamptz", "timestamptz", "text", "uuid", "text", "jsonb", "text")
INSERT_KEYED = f"""
INSERT INTO conveyor_jobs ({', '.join(COPY_COLUMNS)})
SELECT * FROM unnest({', '.join(f'%({c})s::{t}[]' for c, t in zip(COPY_COLUMNS, COLUMN_TYPES, strict=True))})
ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id, state, queue
"""

# Live workers per queue, and the transaction's clock (bulk enqueue writes times from it).
LIVE_PER_QUEUE = """
SELECT q.name,
       count(*) FILTER (WHERE w.state = 'running') AS running,
       count(*) FILTER (WHERE w.state = 'paused') AS paused,
       now()
FROM unnest(%(queues)s::text[]) AS q(name)
LEFT JOIN conveyor_workers w
       ON q.name = ANY(w.queues) AND w.state IN ('running', 'paused')
      AND w.last_heartbeat > now() - make_interval(secs => %(liveness)s)
GROUP BY q.name
"""

# Ready rows of each served queue in the worker's queue order, priority then FIFO; the lateral
# subquery walks the partial index and stops as soon as the limit is reached.
CLAIM = f"""
WITH picked AS (
    SELECT j.id
    FROM unnest(%(queues)s::text[]) WITH ORDINALITY AS q(name, ord)
    CROSS JOIN LATERAL (
        SELECT id FROM conveyor_jobs
        WHERE state = 'queued' AND queue = q.name
        ORDER BY priority DESC, run_at, id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) j
    WHERE NOT EXISTS (SELECT 1 FROM conveyor_queues p WHERE p.name = q.name AND p.paused)
    LIMIT %(limit)s
),
claimed AS (
    UPDATE conveyor_jobs c
    SET state = 'running', attempts = c.attempts + 1, started_at = clock_timestamp(),
        updated_at = clock_timestamp(), worker_id = %(worker_id)s, lease_token = gen_random_uuid(),
        deadline = clock_timestamp() + make_interval(secs => c.timeout), cancel_requested = false,
        finished_at = NULL
    FROM picked WHERE c.id = picked.id
    RETURNING c.id::text, c.task, c.queue, c.tenant, c.args, c.kwargs, c.attempts, c.max_attempts, c.timeout,
        c.lease_token::text, coalesce(c.token, replace(c.id::text, '-', '')), c.started_at,
        c.pipeline_run_id::text, c.step, c.stage  -- pipelines (conveyor/pipelines)
),
event AS ({chunked_event("'running'", "claimed")})
SELECT claimed.*, (SELECT count(*) FROM event) FROM claimed
"""

# Completions are counted per 10-second bucket (conveyor_completions, migration 0003).
COMPLETION_BUCKET = "to_timestamp(floor(extract(epoch FROM now()) / 10) * 10)"

# Per-minute task figures (conveyor_task_minutes, migration 0007; conveyor/task_metrics.py):
# every finished attempt that ran (completed, or failed towards a retry or dead).
TASK_MINUTES = f"""task_minutes AS (
    INSERT INTO conveyor_task_minutes AS m (minute, tenant, queue, task, worker_id,
        {", ".join(SUM_COLUMNS[:2])}, duration_sum, duration_max, pickup_n, pickup_sum, pickup_max,
        {", ".join(HIST_COLUMNS)})
    SELECT date_trunc('minute', now()), tenant, queue, task, coalesce(worker_id, ''),
        count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state <> 'completed'),
        sum(dur), max(dur), count(pick), coalesce(sum(pick), 0), coalesce(max(pick), 0),
        {", ".join(f"count(*) FILTER (WHERE b = {i})" for i in range(len(HIST_COLUMNS)))}
    FROM (SELECT *, greatest(0, extract(epoch FROM updated_at - started_at))::float8 AS dur,
                 greatest(0, extract(epoch FROM started_at - queued_at))::float8 AS pick,
                 width_bucket(greatest(0, extract(epoch FROM updated_at - started_at))::float8,
                              '{{{",".join(map(str, DURATION_BOUNDS))}}}'::float8[]) AS b
          FROM done WHERE state IN ('completed', 'scheduled', 'dead') AND started_at IS NOT NULL) d
    GROUP BY tenant, queue, task, coalesce(worker_id, '')
    ON CONFLICT (minute, tenant, queue, task, worker_id) DO UPDATE SET
        {", ".join(f"{c} = m.{c} + excluded.{c}" for c in SUM_COLUMNS)},
        duration_max = greatest(m.duration_max, excluded.duration_max),
        pickup_max = greatest(m.pickup_max, excluded.pickup_max)
)"""

FINISH = f"""
WITH v AS (
    SELECT * FROM unnest(%(id)s::uuid[], %(lease)s::uuid[], %(state)s::text[], %(result)s::jsonb[],
        %(error)s::text[], %(traceback)s::text[], %(delay)s::float8[], %(entry)s::jsonb[])
        AS v(id, lease, state, result, error, traceback, delay, entry)
),
done AS (
    UPDATE conveyor_jobs j
    SET state = v.state,
        result = v.result,
        error = v.error,
        traceback = v.traceback,
        finished_at = CASE WHEN v.state IN ('completed', 'dead', 'cancelled') THEN clock_timestamp() END,
        run_at = CASE WHEN v.state = 'scheduled' THEN clock_timestamp() + make_interval(secs => v.delay)
                      ELSE j.run_at END,
        queued_at = CASE WHEN v.state = 'queued' THEN clock_timestamp() ELSE j.queued_at END,
        attempts = CASE WHEN v.state = 'queued' THEN j.attempts - 1 ELSE j.attempts END,
        attempt_log = CASE WHEN v.entry IS NULL THEN j.attempt_log
                           ELSE j.attempt_log || jsonb_build_array(v.entry) END,
        lease_token = NULL, deadline = NULL, cancel_requested = false, updated_at = clock_timestamp()
    FROM v
    WHERE j.id = v.id AND j.lease_token = v.lease AND j.state = 'running'
    RETURNING j.id, j.state, j.queue, j.tenant, j.worker_id, j.task, j.started_at, j.queued_at, j.updated_at
),
{TASK_MINUTES},
counted AS (
    INSERT INTO conveyor_completions AS c (bucket, tenant, queue, worker_id, n)
    SELECT {COMPLETION_BUCKET}, tenant, queue, coalesce(worker_id, ''), count(*)
    FROM done WHERE state = 'completed' GROUP BY tenant, queue, coalesce(worker_id, '')
    ON CONFLICT (bucket, tenant, queue, worker_id) DO UPDATE SET n = c.n + excluded.n
),
wake AS (SELECT pg_notify('{CHANNEL_WAKE}', q.queue) FROM (SELECT DISTINCT queue FROM done WHERE state = 'queued') q),
event AS ({chunked_event("'finished'", "done")})
SELECT done.id, (SELECT count(*) FROM wake) + (SELECT count(*) FROM event) AS notified FROM done
"""

# The Metrics page's figures: per-minute rows added up per task, queue and chart point.
TASK_METRIC_ROWS = f"""
SELECT task, queue, (floor(extract(epoch FROM minute) / %(step)s) * %(step)s)::float8 AS t,
    {", ".join(f"sum({c})::float8 AS {c}" for c in SUM_COLUMNS)},
    max(duration_max) AS duration_max, max(pickup_max) AS pickup_max
FROM conveyor_task_minutes
WHERE minute >= to_timestamp(%(since)s) AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
GROUP BY 1, 2, 3
"""

# Running jobs whose worker is gone (no heartbeat inside the liveness timeout, or stopped without
# handing them back) return to the queue, the attempt counted; attempts spent -> dead.
RESCUE_ORPHANS = """
WITH lost_workers AS (
    UPDATE conveyor_workers SET state = 'dead', stopped_at = now()
    WHERE state NOT IN ('stopped', 'dead')
      AND last_heartbeat < now() - make_interval(secs => %(liveness)s)
    RETURNING id
),
orphans AS (
    SELECT j.id FROM conveyor_jobs j
    WHERE j.state = 'running'
      AND NOT EXISTS (
          SELECT 1 FROM conveyor_workers w
          WHERE w.id = j.worker_id AND w.state NOT IN ('stopped', 'dead')
            AND w.last_heartbeat >= now() - make_interval(secs => %(liveness)s)
            AND w.id NOT IN (SELECT id FROM lost_workers))
    FOR UPDATE SKIP LOCKED
)
UPDATE conveyor_jobs j
SET state = CASE WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'queued' END,
    queued_at = now(),
    finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END,
    error = 'Worker ' || coalesce(j.worker_id, '?') || ' stopped heartbeating during attempt '
            || j.attempts || '; the job was rescued by the maintenance loop.',
    traceback = NULL,
    attempt_log = j.attempt_log || jsonb_build_array(jsonb_build_object(
        'attempt', j.attempts, 'worker_id', j.worker_id, 'started_at', j.started_at,
        'finished_at', now(), 'outcome', 'orphaned',
        'error', 'worker ' || coalesce(j.worker_id, '?') || ' died (no heartbeat)')),
    lease_token = NULL, deadline = NULL, updated_at = now()
FROM orphans WHERE j.id = orphans.id
RETURNING j.id, j.state, j.queue, (SELECT array_agg(id) FROM lost_workers) AS lost
"""

# The database enforces timeouts too: a running job past deadline + grace fails even when its
# worker is wedged. Retries back off like the default policy (2 s doubling, capped at an hour).
FAIL_OVERDUE = """
WITH overdue AS (
    SELECT id FROM conveyor_jobs
    WHERE state = 'running' AND deadline < now() - make_interval(secs => %(grace)s)
    FOR UPDATE SKIP LOCKED
)
UPDATE conveyor_jobs j
SET state = CASE WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'scheduled' END,
    run_at = now() + make_interval(secs => least(3600, 2 * power(2, greatest(j.attempts - 1, 0)))),
    finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END,
    error = 'timed out after ' || j.timeout || ' s (enforced by the database: the worker did not report)',
    traceback = NULL,
    attempt_log = j.attempt_log || jsonb_build_array(jsonb_build_object(
        'attempt', j.attempts, 'worker_id', j.worker_id, 'started_at', j.started_at,
        'finished_at', now(), 'outcome', 'timed_out',
        'error', 'timed out after ' || j.timeout || ' s')),
    lease_token = NULL, deadline = NULL, updated_at = now()
FROM overdue WHERE j.id = overdue.id
RETURNING j.id, j.state, j.queue
"""

STAGE = f"""
WITH due AS (
    SELECT id FROM conveyor_jobs WHERE state = 'scheduled' AND run_at <= now()
    ORDER BY run_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
),
staged AS (
    UPDATE conveyor_jobs j SET state = 'queued', queued_at = now(), updated_at = now()
    FROM due WHERE j.id = due.id RETURNING j.id, j.queue
),
wake AS (SELECT pg_notify('{CHANNEL_WAKE}', q.queue) FROM (SELECT DISTINCT queue FROM staged) q),
event AS ({chunked_event("'queued'", "staged")})
SELECT count(*) AS n, (SELECT count(*) FROM wake) + (SELECT count(*) FROM event) AS notified FROM staged
"""

# Per queue counts come from partial indexes on the few active and dead rows, never a COUNT(*)
# over the finished history; completions are counted over a time range of the finished index.
QUEUE_STATS = """
WITH active AS (
    -- One branch per partial index (ready, scheduled, running, dead): each reads only its rows.
    SELECT queue, 'queued' AS state, count(*) AS n, min(queued_at) AS oldest FROM conveyor_jobs
    WHERE state = 'queued' AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s) GROUP BY queue
    UNION ALL
    SELECT queue, 'scheduled', count(*), NULL FROM conveyor_jobs
    WHERE state = 'scheduled' AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s) GROUP BY queue
    UNION ALL
    SELECT queue, 'running', count(*), NULL FROM conveyor_jobs
    WHERE state = 'running' AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s) GROUP BY queue
    UNION ALL
    SELECT queue, state, count(*), NULL FROM conveyor_jobs
    WHERE state IN ('dead', 'failed') AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
    GROUP BY queue, state
),
recent AS (
    -- Counter rows, not job rows: 10-second buckets that started in the last minute / hour.
    SELECT queue, coalesce(sum(n) FILTER (WHERE bucket > now() - interval '1 minute'), 0) AS last_minute,
           sum(n) AS last_hour
    FROM conveyor_completions
    WHERE bucket > now() - interval '1 hour' AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
    GROUP BY queue
),
live AS (
    SELECT q AS queue, count(*) FILTER (WHERE state = 'running') AS running
    FROM conveyor_workers, unnest(queues) AS q
    WHERE state IN ('running', 'paused') AND last_heartbeat > now() - make_interval(secs => %(liveness)s)
    GROUP BY q
),
names AS (
    SELECT queue FROM active UNION SELECT queue FROM recent UNION SELECT queue FROM live
    UNION SELECT name FROM conveyor_queues WHERE %(tenant)s::text IS NULL
)
SELECT names.queue,
       coalesce((SELECT json_object_agg(state, n) FROM active a WHERE a.queue = names.queue), '{}') AS counts,
       (SELECT min(oldest) FROM active a WHERE a.queue = names.queue) AS oldest,
       coalesce(live.running, 0) AS live_workers,
       coalesce(q.paused, false) AS paused,
       coalesce(recent.last_minute, 0) AS last_minute,
       coalesce(recent.last_hour, 0) AS last_hour,
       now() AS now
FROM names
LEFT JOIN live ON live.queue = names.queue
LEFT JOIN recent ON recent.queue = names.queue
LEFT JOIN conveyor_queues q ON q.name = names.queue
ORDER BY names.queue
"""


def connection_lost(exc: BaseException) -> bool:
    """The error says the connection died (server restart, terminated backend, network), not that
    the statement was wrong: class 08 (connection exception), 57P01-03 (shutdown), or no SQLSTATE."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _uuid_from_hex(token: str) -> str | None:
    """The job id a root token (32 hex digits) stands for, else None."""
    if len(token) != 32:
        return None
    try:
        job_id = uuid.UUID(hex=token)
    except ValueError:
        return None
    return str(job_id) if job_id.hex == token else None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False


class _PooledConnection:
    """`with store._connection() as conn:` a pooled connection. When one turns out dead (a server
    restart, idle connections cut by a proxy), the pool's other idle connections are checked at once
    and replaced if dead too, so the loss costs one failed call, not one per pooled connection.

    A class rather than @contextmanager, and getconn/putconn rather than pool.connection(): this
    runs for every store call, and the connections are in autocommit mode, so pool.connection()'s
    commit on exit would do nothing but cost time (bench: one-by-one enqueue)."""

    __slots__ = ("pool", "conn")

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    def __enter__(self) -> psycopg.Connection[Any]:
        self.conn: psycopg.Connection[Any] = self.pool.getconn()
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if isinstance(exc, psycopg.Error) and connection_lost(exc):
                log.warning("database connection lost (%s); checking the pooled connections", exc)
                self.pool.check()
        finally:
            # putconn rolls back a connection left in a transaction and replaces a broken one.
            self.pool.putconn(self.conn)


class PostgresStore(Store):
    engine = "postgres"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 16, connect_timeout: float = 10.0) -> None:
        self.url = url
        self._listeners: list[EventListener] = []
        self._listeners_lock = threading.Lock()
        self._event_thread: threading.Thread | None = None
        self._closed = threading.Event()
        try:
            # One direct connection first: a wrong URL or a down server fails fast, with the
            # server's own words, instead of after the pool's retry loop.
            psycopg.connect(url, connect_timeout=max(1, int(connect_timeout))).close()
            self.pool = ConnectionPool(
                url,
                min_size=min_size,
                max_size=max_size,
                kwargs={"autocommit": True, "client_encoding": "utf8"},  # utf8: see prepared.py
                open=False,
                name="conveyor",
                reconnect_timeout=60,
            )
            self.pool.open(wait=True, timeout=connect_timeout)
            self.loop_connections = LoopConnections(url)
        except Exception as exc:  # any failure here means "cannot connect"
            raise DatabaseUnavailableError(
                f"Cannot connect to PostgreSQL at {self.redacted_url()}: {str(exc).strip() or type(exc).__name__}.",
                action="Check that the server is running and the URL (host, port, user, database) is right; "
                "set it with CONVEYOR_DATABASE_URL or --database-url.",
            ) from None

    def close(self) -> None:
        self._closed.set()
        self.pool.close()

    # -- helpers --------------------------------------------------------------------------
    def _connection(self) -> _PooledConnection:
        """A pooled connection for one call (see _PooledConnection)."""
        return _PooledConnection(self.pool)

    def _fetchall(
        self, sql: str, params: dict[str, Any] | None = None, *, prepare: bool | None = None, read: bool = False
    ) -> list[dict[str, Any]]:
        """Run one statement. read=True: it changes nothing, so a connection found dead is
        replaced and the statement run again."""
        for attempt in (1, 2):
            try:
                with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(sql, params, prepare=prepare)
                    return cur.fetchall() if cur.description else []
            except psycopg.OperationalError as exc:
                if not (read and attempt == 1 and connection_lost(exc)):
                    raise
        raise AssertionError("unreachable")

    def _fetchone(self, sql: str, params: dict[str, Any] | None = None, *, read: bool = False) -> dict[str, Any] | None:
        rows = self._fetchall(sql, params, read=read)
        return rows[0] if rows else None

    def _notify_events(self, conn: psycopg.Connection[Any], state: str, ids: list[str]) -> None:
        notify(conn, event_notices(state, ids))

    @staticmethod
    def _time(value: Any) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromisoformat(value)

    def _job(self, row: dict[str, Any]) -> Job:
        return job_from_row(row, self._time, lambda v: v)

    # -- schema ---------------------------------------------------------------------------
    def migrate(self) -> int:
        with self._connection() as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS conveyor_schema_version "
                    "(version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                row = conn.execute("SELECT coalesce(max(version), 0) FROM conveyor_schema_version").fetchone()
                current = row[0] if row else 0
                for version, name, sql in load_migrations(self.engine):
                    if version <= current:
                        continue
                    conn.execute(sql)  # type: ignore[arg-type]
                    conn.execute(
                        "INSERT INTO conveyor_schema_version (version, name) VALUES (%s, %s)", (version, name)
                    )
                    log.info("applied migration %04d_%s", version, name)
                    current = version
                return current

    def schema_version(self) -> int:
        row = self._fetchone("SELECT to_regclass('conveyor_schema_version') IS NOT NULL AS present", read=True)
        if not row or not row["present"]:
            return 0
        row = self._fetchone("SELECT coalesce(max(version), 0) AS v FROM conveyor_schema_version", read=True)
        return int(row["v"]) if row else 0

    # -- jobs -----------------------------------------------------------------------------
    def _job_params(self, job: NewJob) -> dict[str, Any]:
        """A job as the single-enqueue statements' parameters. JSON goes as text cast to jsonb by
        the statement: no Jsonb wrapper and dumper lookup per value on the client."""
        validate_new_job(job)
        return {
            "id": job.id,
            "task": job.task,
            "queue": job.queue,
            "priority": job.priority,
            "tenant": job.tenant,
            "args": dumps(job.args),
            "kwargs": dumps(job.kwargs),
            "meta": dumps(job.meta),
            "max_attempts": job.max_attempts,
            "timeout": job.timeout,
            "run_at": job.run_at,
            "state": "scheduled" if job.run_at is not None and job.run_at.timestamp() > time.time() else "queued",
            "token": None if job.starts_chain else job.token,  # NULL reads as the job's own id
            "parent_id": job.parent_id,
            "idempotency_key": job.idempotency_key,
        }

    def enqueue(
        self,
        jobs: list[NewJob],
        *,
        policy: EnqueuePolicy,
        liveness_timeout: float,
        app_path: str | None = None,
    ) -> list[EnqueueResult]:
        policy = EnqueuePolicy(policy)
        if len(jobs) == 1:
            return [self._enqueue_one(jobs[0], policy, liveness_timeout, app_path)]
        return self._enqueue_many(jobs, policy, liveness_timeout, app_path)

    async def enqueue_async(
        self,
        jobs: list[NewJob],
        *,
        policy: EnqueuePolicy,
        liveness_timeout: float,
        app_path: str | None = None,
    ) -> list[EnqueueResult]:
        policy = EnqueuePolicy(policy)
        if len(jobs) != 1:  # bulk: COPY on the sync pool, in a thread
            return await super().enqueue_async(
                jobs, policy=policy, liveness_timeout=liveness_timeout, app_path=app_path)
        job = jobs[0]
        sql = self._enqueue_one_sql(job, policy)
        params = self._enqueue_one_params(job, policy, liveness_timeout, app_path)
        for attempt in (1, 2):
            try:
                async with self.loop_connections.connection() as conn:
                    if sql is ENQUEUE_SERVED:
                        row = await SERVED.fetchone_async(conn, params)
                    else:
                        row = await (await conn.execute(sql, params)).fetchone()
                    result = self._enqueue_one_result(job, sql, row, policy, app_path)
                    if result is None:
                        follow_up = self._follow_up_sql(job)
                        answer = await (await conn.execute(follow_up, params)).fetchone()
                        result = self._follow_up_result(job, follow_up, answer, app_path)
                return [result]
            except psycopg.Error as exc:
                if self._first_attempt_landed(exc, attempt):
                    return [await asyncio.to_thread(self._landed_result, job.id)]
                if not (attempt == 1 and connection_lost(exc)):
                    raise self._enqueue_failed(exc) from None
                await self.loop_connections.discard_idle()  # died with it, most likely
        raise AssertionError("unreachable")

    def _enqueue_one(
        self, job: NewJob, policy: EnqueuePolicy, liveness: float, app_path: str | None
    ) -> EnqueueResult:
        sql = self._enqueue_one_sql(job, policy)
        params = self._enqueue_one_params(job, policy, liveness, app_path)
        for attempt in (1, 2):
            try:
                with self._connection() as conn:
                    if sql is ENQUEUE_SERVED:
                        row = SERVED.fetchone(conn, params)
                    else:
                        row = conn.execute(sql, params).fetchone()
                    result = self._enqueue_one_result(job, sql, row, policy, app_path)
                    if result is None:
                        follow_up = self._follow_up_sql(job)
                        answer = conn.execute(follow_up, params).fetchone()
                        result = self._follow_up_result(job, follow_up, answer, app_path)
                return result
            except psycopg.Error as exc:
                if self._first_attempt_landed(exc, attempt):
                    return self._landed_result(job.id)
                if not (attempt == 1 and connection_lost(exc)):
                    raise self._enqueue_failed(exc) from None
        raise AssertionError("unreachable")

    @staticmethod
    def _first_attempt_landed(exc: psycopg.Error, attempt: int) -> bool:
        """Enqueue runs once more on a fresh connection when its connection died, since the
        first try may or may not have been committed. Job ids are made here, not by the
        database, so a retry that hits the primary key means the first try was committed."""
        return (attempt == 2 and isinstance(exc, psycopg.errors.UniqueViolation)
                and exc.diag.constraint_name == "conveyor_jobs_pkey")

    def _landed_result(self, job_id: str) -> EnqueueResult:
        job = self.get_job(job_id)
        assert job is not None, "the first attempt was committed"
        return EnqueueResult(job_id, job.state, created=True)

    def _enqueue_one_params(
        self, job: NewJob, policy: EnqueuePolicy, liveness: float, app_path: str | None
    ) -> dict[str, Any]:
        params = self._job_params(job)
        # The refusal message is built only when it may be written.
        refusal = str(NoLiveWorkerError(job.queue, app_path)) if policy is EnqueuePolicy.RECORD_FAILED else None
        params.update(policy=policy.value, liveness=liveness, refusal=refusal)
        return params

    @staticmethod
    def _enqueue_one_sql(job: NewJob, policy: EnqueuePolicy) -> str:
        if job.idempotency_key is not None:
            return ENQUEUE_ONE_KEYED
        return ENQUEUE_SERVED if policy is EnqueuePolicy.REFUSE else ENQUEUE_ONE

    @staticmethod
    def _enqueue_failed(exc: psycopg.Error) -> LivenessCheckError:
        # Covers a failed live-worker check too: never assume a worker is there.
        return LivenessCheckError(
            f"Could not enqueue: the live-worker check and insert failed ({type(exc).__name__}: {exc}).",
            action="Nothing was queued. Check the database connection and schema, then try again.",
        )

    @staticmethod
    def _enqueue_one_result(
        job: NewJob, sql: str, row: tuple[Any, ...] | None, policy: EnqueuePolicy, app_path: str | None
    ) -> EnqueueResult | None:
        """The job as written, NoLiveWorkerError, or None: the answer needs _follow_up_sql."""
        if sql is ENQUEUE_SERVED:
            return None if row is None else EnqueueResult(job.id, JobState(row[0]), created=True)
        assert row is not None
        running, paused, job_id, state = row[:4]
        if job_id is None:
            if policy is EnqueuePolicy.REFUSE and running == 0:
                raise NoLiveWorkerError(job.queue, app_path, paused_workers=paused)
            return None
        return EnqueueResult(str(job_id), JobState(state), created=True)

    @staticmethod
    def _follow_up_sql(job: NewJob) -> str:
        """Nothing was written: a keyed job finds the job holding its key; a refused one asks
        how many paused workers there are, for the error message."""
        return LIVE_WORKERS if job.idempotency_key is None else KEY_HOLDER

    @staticmethod
    def _follow_up_result(
        job: NewJob, sql: str, row: tuple[Any, ...] | None, app_path: str | None
    ) -> EnqueueResult:
        assert row is not None
        if sql is LIVE_WORKERS:
            raise NoLiveWorkerError(job.queue, app_path, paused_workers=row[1])
        # The holder is this very job when a first try was committed before its connection died.
        return EnqueueResult(str(row[0]), JobState(row[1]), created=str(row[0]) == job.id)

    def _enqueue_many(
        self, jobs: list[NewJob], policy: EnqueuePolicy, liveness: float, app_path: str | None
    ) -> list[EnqueueResult]:
        """One transaction: the live-worker check for every queue, a COPY of the jobs without an
        idempotency key, an INSERT ... ON CONFLICT for those with one, and the NOTIFYs."""
        for job in jobs:
            validate_new_job(job)
        for attempt in (1, 2):
            try:
                created = self._write_many(jobs, policy, liveness, app_path)
                break
            except psycopg.Error as exc:
                if self._first_attempt_landed(exc, attempt):  # see _enqueue_one
                    created = {r["id"]: (r["state"], r["queue"]) for r in self._fetchall(
                        "SELECT id::text, state, queue FROM conveyor_jobs WHERE id = ANY(%(ids)s::uuid[])",
                        {"ids": [j.id for j in jobs]}, read=True)}
                    break
                if not (attempt == 1 and connection_lost(exc)):
                    raise LivenessCheckError(
                        f"Could not enqueue {len(jobs)} jobs: the insert failed ({type(exc).__name__}: {exc}).",
                        action="Nothing was queued. Check the database connection and schema, then try again.",
                    ) from None
        existing = self._existing_by_key([j for j in jobs if j.id not in created])
        results = []
        states = {value: JobState(value) for value, _ in set(created.values())}  # one enum lookup each
        for job in jobs:
            if job.id in created:
                results.append(EnqueueResult(job.id, states[created[job.id][0]], True))
            elif (job.tenant, job.idempotency_key) in existing:
                job_id, state = existing[(job.tenant, job.idempotency_key)]
                # The holder is this very job when a first try was committed before its connection died.
                results.append(EnqueueResult(job_id, JobState(state), job_id == job.id))
        return results

    def _write_many(
        self, jobs: list[NewJob], policy: EnqueuePolicy, liveness: float, app_path: str | None
    ) -> dict[str, tuple[str, str]]:
        """The bulk enqueue transaction; returns id -> (state, queue) of the jobs it wrote."""
        with self._connection() as conn, conn.transaction():
            live = conn.execute(LIVE_PER_QUEUE, {"queues": list({j.queue for j in jobs}),
                                                 "liveness": liveness}).fetchall()
            now = live[0][3]
            served: dict[str, bool] = {}
            for queue, running, paused, _ in live:
                if running == 0 and policy is EnqueuePolicy.REFUSE:
                    raise NoLiveWorkerError(queue, app_path, paused_workers=paused)
                served[queue] = running > 0 or policy is EnqueuePolicy.ACCEPT
            refusals = {q: str(NoLiveWorkerError(q, app_path)) for q, ok in served.items() if not ok}
            plain = [j for j in jobs if j.idempotency_key is None]
            keyed = [j for j in jobs if j.idempotency_key is not None]
            created: dict[str, tuple[str, str]] = {}
            if plain:
                copy_sql, pick = self._copy_plan(plain, refusals)
                with conn.cursor().copy(copy_sql) as copy:
                    # Rows are built while the server parses the ones already sent.
                    for job in plain:
                        row = self._copy_row(job, now, refusals.get(job.queue))
                        copy.write_row(pick(row))
                        created[job.id] = (row[7], job.queue)
            if keyed:
                rows = [self._copy_row(j, now, refusals.get(j.queue)) for j in keyed]
                created.update(self._insert_keyed(conn, rows))
            self._announce(conn, created)
        return created

    @staticmethod
    def _copy_plan(jobs: list[NewJob], refusals: dict[str, str]) -> tuple[str, Callable[[tuple[Any, ...]], Any]]:
        """The COPY statement for these jobs (none has an idempotency key) and the function picking
        its values from a _copy_row row. Columns no job needs are left to their defaults: fewer
        values to send and parse (timestamps and JSON cost most; bench: 137k -> 174k rows/s)."""
        skipped = {"idempotency_key"}
        if not refusals and all(j.run_at is None for j in jobs):
            skipped.update(("run_at", "queued_at", "finished_at", "error"))  # all ready now: default now()
        if not any(j.kwargs for j in jobs):
            skipped.add("kwargs")
        if not any(j.meta for j in jobs):
            skipped.add("meta")
        columns = [c for c in COPY_COLUMNS if c not in skipped]
        pick = itemgetter(*(COPY_COLUMNS.index(c) for c in columns))
        return f"COPY conveyor_jobs ({', '.join(columns)}) FROM STDIN", pick

    @staticmethod
    def _copy_row(job: NewJob, now: datetime, refusal: str | None) -> tuple[Any, ...]:
        """A job as a row of COPY_COLUMNS. Times come from the transaction's now(), so "scheduled or
        queued" is decided by the database clock, like every other statement."""
        run_at = job.run_at if job.run_at is not None else now
        state = "failed" if refusal is not None else "scheduled" if run_at > now else "queued"
        return (
            job.id, job.task, job.queue, job.priority, job.tenant, dumps(job.args),
            dumps(job.kwargs) if job.kwargs else "{}",  # most jobs: no encoder call
            state, job.max_attempts, job.timeout, run_at, now if state == "queued" else None,
            now if state == "failed" else None, None if job.starts_chain else job.token, job.parent_id,
            job.idempotency_key, dumps(job.meta) if job.meta else "{}", refusal,
        )

    @staticmethod
    def _insert_keyed(conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> dict[str, tuple[str, str]]:
        """Insert jobs that carry an idempotency key; a key already taken inserts nothing."""
        columns = list(zip(*rows, strict=True))
        params = {name: list(values) for name, values in zip(COPY_COLUMNS, columns, strict=True)}
        # Unprepared: a generic plan for unnest guesses 10 rows (see finish_jobs).
        cur = conn.execute(INSERT_KEYED, params, prepare=False)
        return {str(r[0]): (r[1], r[2]) for r in cur.fetchall()}

    def _existing_by_key(self, jobs: list[NewJob]) -> dict[tuple[str, str | None], tuple[str, str]]:
        """(tenant, key) -> (id, state) of the jobs that already hold these idempotency keys."""
        if not jobs:
            return {}
        rows = self._fetchall(
            "SELECT tenant, idempotency_key, id::text, state FROM conveyor_jobs "
            "WHERE (tenant, idempotency_key) IN (SELECT * FROM unnest(%(t)s::text[], %(k)s::text[]))",
            {"t": [j.tenant for j in jobs], "k": [j.idempotency_key for j in jobs]},
            read=True,
        )
        return {(r["tenant"], r["idempotency_key"]): (r["id"], r["state"]) for r in rows}

    @staticmethod
    def _announce(conn: psycopg.Connection[Any], created: dict[str, tuple[str, str]]) -> None:
        """Wake the workers of every queue that got ready jobs and announce the new jobs, in one
        statement inside the enqueue transaction (delivered at commit, never before)."""
        by_state: dict[str, list[str]] = {}
        woken: set[str] = set()
        for job_id, (state, queue) in created.items():
            by_state.setdefault(state, []).append(job_id)
            if state == "queued":
                woken.add(queue)
        notices = [(CHANNEL_WAKE, queue) for queue in woken]
        for state, ids in by_state.items():
            notices += event_notices(state, ids)
        notify(conn, notices)

    def get_job(self, job_id: str, tenant: str | None = None) -> Job | None:
        try:
            row = self._fetchone(
                f"SELECT {JOB_COLUMNS} FROM conveyor_jobs WHERE id = %(id)s::uuid "
                "AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)",
                {"id": job_id, "tenant": tenant},
                read=True,
            )
        except psycopg.errors.InvalidTextRepresentation:
            return None
        return self._job(row) if row else None

    def task_metric_rows(self, since: float, step: int, tenant: str | None = None) -> list[dict[str, Any]]:
        return self._fetchall(TASK_METRIC_ROWS, {"since": since, "step": step, "tenant": tenant}, read=True)

    def find_job_ids(self, fragment: str, limit: int = 3) -> list[str]:
        # Interactive look-ups only (the CLI): a suffix cannot use the id index, so this scans.
        rows = self._fetchall(
            "SELECT id::text AS id FROM conveyor_jobs WHERE id::text LIKE %(prefix)s OR id::text LIKE %(suffix)s "
            "ORDER BY id DESC LIMIT %(limit)s",
            {"prefix": fragment + "%", "suffix": "%" + fragment, "limit": limit}, read=True,
        )
        return [str(r["id"]) for r in rows]

    def get_jobs(self, job_ids: list[str]) -> list[Job]:
        valid = [i for i in job_ids if _is_uuid(i)]
        if not valid:
            return []
        rows = self._fetchall(
            f"SELECT {JOB_COLUMNS} FROM conveyor_jobs WHERE id = ANY(%(ids)s::uuid[])", {"ids": valid}, read=True
        )
        return [self._job(r) for r in rows]

    def list_jobs(
        self, filters: JobFilter, *, limit: int = 50, before: str | None = None
    ) -> list[Job]:
        where, params = self._filter_sql(filters)
        if before is not None:
            where.append("id < %(before)s::uuid")
            params["before"] = before
        params["limit"] = limit
        sql = (
            f"SELECT {JOB_COLUMNS} FROM conveyor_jobs WHERE {' AND '.join(where) or 'true'} "
            "ORDER BY id DESC LIMIT %(limit)s"
        )
        return [self._job(r) for r in self._fetchall(sql, params, read=True)]

    @staticmethod
    def _filter_sql(f: JobFilter) -> tuple[list[str], dict[str, Any]]:
        where: list[str] = []
        params: dict[str, Any] = {}
        if f.states:
            where.append("state = ANY(%(states)s)")
            params["states"] = list(f.states)
        for column in ("queue", "task", "tenant"):
            value = getattr(f, column)
            if value is not None:
                where.append(f"{column} = %({column})s")
                params[column] = value
        if f.token is not None:
            params["token"] = f.token
            # A job that starts its own chain stores token NULL: its token is its id's hex.
            chain_root = _uuid_from_hex(f.token)
            if chain_root is None:
                where.append("token = %(token)s")
            else:
                where.append("(token = %(token)s OR (token IS NULL AND id = %(chain_root)s::uuid))")
                params["chain_root"] = chain_root
        if f.parent_id:
            where.append("parent_id = %(parent_id)s::uuid")
            params["parent_id"] = f.parent_id
        if f.error_contains:
            where.append("error ILIKE %(error_like)s")
            params["error_like"] = "%" + f.error_contains.replace("%", r"\%").replace("_", r"\_") + "%"
        if f.created_after:
            where.append("created_at >= %(created_after)s")
            params["created_after"] = f.created_after
        if f.created_before:
            where.append("created_at < %(created_before)s")
            params["created_before"] = f.created_before
        return where, params

    def claim_jobs(self, worker_id: str, queues: list[str], limit: int) -> list[ClaimedJob]:
        # Plain tuples and text ids: this runs for every job, so no per-row dict or UUID object.
        with self._connection() as conn:
            rows = conn.execute(CLAIM, {"queues": queues, "limit": limit, "worker_id": worker_id}).fetchall()
        return [ClaimedJob(*r[:15]) for r in rows]

    def finish_jobs(self, outcomes: list[Outcome]) -> list[str]:
        if not outcomes:
            return []
        now = datetime.now().astimezone().isoformat()
        params: dict[str, list[Any]] = {k: [] for k in (
            "id", "lease", "state", "result", "error", "traceback", "delay", "entry")}
        for o in outcomes:
            params["id"].append(o.job_id)
            params["lease"].append(o.lease_token)
            params["state"].append(o.state.value)
            params["result"].append(Jsonb(o.result, dumps=dumps) if o.state == JobState.COMPLETED else None)
            params["error"].append(o.error)
            params["traceback"].append(o.traceback)
            params["delay"].append(o.retry_delay)
            params["entry"].append(Jsonb(attempt_entry(o, now)) if o.error is not None else None)
        if any(o.emits for o in outcomes):  # pipelines hook: emits commit with their completions
            from conveyor.store.pipelines_postgres import finish_with_emits
            return finish_with_emits(self, FINISH, params, outcomes)
        # Never prepared: a generic plan guesses 10 rows from unnest and picks a nested loop that
        # re-runs it per running job (100-370 ms for a 500-outcome batch instead of ~2 ms).
        return [str(r["id"]) for r in self._fetchall(FINISH, params, prepare=False)]

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
        with self._connection() as conn:
            cur = conn.execute(
                """UPDATE conveyor_jobs SET
                       progress_percent = coalesce(%(percent)s, progress_percent),
                       progress_processed = coalesce(%(processed)s, progress_processed),
                       progress_failed = coalesce(%(failed)s, progress_failed),
                       meta = CASE WHEN %(meta)s::jsonb IS NULL THEN meta ELSE meta || %(meta)s::jsonb END,
                       updated_at = now()
                   WHERE id = %(id)s AND lease_token = %(lease)s AND state = 'running'""",
                {
                    "percent": percent, "processed": processed, "failed": failed,
                    "meta": Jsonb(meta, dumps=dumps) if meta is not None else None,
                    "id": job_id, "lease": lease_token,
                },
            )
            changed = cur.rowcount == 1
            if changed:
                self._notify_events(conn, "progress", [job_id])
            return changed

    def extend_deadline(self, job_id: str, lease_token: str, seconds: float) -> bool:
        with self._connection() as conn:
            cur = conn.execute(
                "UPDATE conveyor_jobs SET deadline = greatest(deadline, now()) + make_interval(secs => %s), "
                "timeout = coalesce(timeout, 0) + %s, updated_at = now() "
                "WHERE id = %s AND lease_token = %s AND state = 'running'",
                (seconds, seconds, job_id, lease_token),
            )
            return cur.rowcount == 1

    def cancel_job(self, job_id: str, tenant: str | None = None) -> JobState:
        job = self._require_job(job_id, tenant)
        with self._connection() as conn:
            row = conn.execute(
                """UPDATE conveyor_jobs SET
                       state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
                       cancel_requested = (state = 'running'),
                       finished_at = CASE WHEN state = 'running' THEN finished_at ELSE now() END,
                       updated_at = now()
                   WHERE id = %s AND state IN ('scheduled', 'queued', 'running') RETURNING state""",
                (job.id,),
            ).fetchone()
            if row is None:
                raise InvalidTransitionError(
                    f"Job {job_id} is {job.state.value}; only scheduled, queued or running jobs can be cancelled.",
                    action="Nothing to do: the job has already finished.",
                )
            self._notify_events(conn, row[0] if row[0] == "cancelled" else "progress", [job.id])
            return JobState(row[0])

    def retry_job(self, job_id: str, tenant: str | None = None) -> None:
        job = self._require_job(job_id, tenant)
        with self._connection() as conn:
            cur = conn.execute(
                """UPDATE conveyor_jobs SET state = 'queued', queued_at = now(), run_at = now(),
                       finished_at = NULL, max_attempts = greatest(max_attempts, attempts + 1),
                       cancel_requested = false, updated_at = now()
                   WHERE id = %s AND state IN ('dead', 'failed', 'cancelled', 'completed')
                   RETURNING queue""",
                (job.id,),
            )
            row = cur.fetchone()
            if row is None:
                raise InvalidTransitionError(
                    f"Job {job_id} is {job.state.value}; only finished jobs can be retried.",
                    action="Wait for it to finish, or cancel it first.",
                )
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL_WAKE, row[0]))
            self._notify_events(conn, "queued", [job.id])

    def delete_job(self, job_id: str, tenant: str | None = None) -> None:
        job = self._require_job(job_id, tenant)
        with self._connection() as conn:
            cur = conn.execute(
                "DELETE FROM conveyor_jobs WHERE id = %s AND state IN ('completed', 'failed', 'dead', 'cancelled')",
                (job.id,),
            )
            if cur.rowcount == 0:
                raise InvalidTransitionError(
                    f"Job {job_id} is {job.state.value}; only finished jobs can be deleted.",
                    action="Cancel it first.",
                )
            self._notify_events(conn, "deleted", [job.id])

    def requeue_dead(self, filters: JobFilter) -> int:
        where, params = self._filter_sql(JobFilter(**{**filters.__dict__, "states": ["dead", "failed"]}))
        with self._connection() as conn:
            rows = conn.execute(
                f"""UPDATE conveyor_jobs SET state = 'queued', queued_at = now(), run_at = now(), finished_at = NULL,
                        max_attempts = greatest(max_attempts, attempts + 1), updated_at = now()
                    WHERE {' AND '.join(where)} RETURNING id, queue""",
                params,
            ).fetchall()
            for queue in {r[1] for r in rows}:
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL_WAKE, queue))
            self._notify_events(conn, "queued", [str(r[0]) for r in rows])
            return len(rows)

    def purge_dead(self, filters: JobFilter) -> int:
        where, params = self._filter_sql(JobFilter(**{**filters.__dict__, "states": ["dead", "failed"]}))
        with self._connection() as conn:
            rows = conn.execute(f"DELETE FROM conveyor_jobs WHERE {' AND '.join(where)} RETURNING id", params).fetchall()
            self._notify_events(conn, "deleted", [str(r[0]) for r in rows])
            return len(rows)

    def cancel_requested_jobs(self, worker_id: str) -> list[str]:
        rows = self._fetchall(
            "SELECT id FROM conveyor_jobs WHERE state = 'running' AND worker_id = %(w)s AND cancel_requested",
            {"w": worker_id},
            read=True,
        )
        return [str(r["id"]) for r in rows]

    def running_jobs(self, worker_id: str, started_before_seconds: float) -> list[tuple[str, str]]:
        rows = self._fetchall(
            "SELECT id, lease_token FROM conveyor_jobs WHERE state = 'running' AND worker_id = %(w)s "
            "AND started_at < now() - make_interval(secs => %(s)s)",
            {"w": worker_id, "s": started_before_seconds},
            read=True,
        )
        return [(str(r["id"]), str(r["lease_token"])) for r in rows]

    def stage_scheduled(self, limit: int = 1000) -> int:
        row = self._fetchone(STAGE, {"limit": limit})
        return int(row["n"]) if row else 0

    # -- workers and queues ---------------------------------------------------------------
    def register_worker(self, info: WorkerInfo) -> None:
        self._fetchall(
            """INSERT INTO conveyor_workers (id, hostname, pid, queues, concurrency, version, state)
               VALUES (%(id)s, %(hostname)s, %(pid)s, %(queues)s, %(concurrency)s, %(version)s, 'running')""",
            {"id": info.id, "hostname": info.hostname, "pid": info.pid, "queues": info.queues,
             "concurrency": info.concurrency, "version": info.version},
        )

    def heartbeat(
        self, worker_id: str, *, state: str, jobs_in_flight: int, processed: int, failed: int
    ) -> str | None:
        # A worker declared dead (say, after a long pause) comes back to life here; the jobs it
        # held were rescued and its leases are void, so nothing it finishes late is written.
        row = self._fetchone(
            """UPDATE conveyor_workers SET last_heartbeat = now(), state = %(state)s, stopped_at = NULL,
                   jobs_in_flight = %(inflight)s, processed = %(processed)s, failed = %(failed)s
               WHERE id = %(id)s
               RETURNING desired_state""",
            {"state": state, "inflight": jobs_in_flight, "processed": processed, "failed": failed, "id": worker_id},
        )
        return row["desired_state"] if row else "unregistered"

    def set_worker_desired_state(self, worker_id: str, desired: str) -> bool:
        rows = self._fetchall(
            "UPDATE conveyor_workers SET desired_state = %(d)s WHERE id = %(id)s "
            "AND state NOT IN ('stopped', 'dead') RETURNING id",
            {"d": desired, "id": worker_id},
        )
        return bool(rows)

    def stop_worker(self, worker_id: str) -> None:
        self._fetchall(
            "UPDATE conveyor_workers SET state = 'stopped', stopped_at = now(), jobs_in_flight = 0 "
            "WHERE id = %(id)s AND state <> 'dead'",
            {"id": worker_id},
        )

    def list_workers(self, liveness_timeout: float, include_dead_since: float = 3600.0) -> list[WorkerInfo]:
        rows = self._fetchall(
            """SELECT w.*, extract(epoch FROM now() - w.last_heartbeat) AS age,
                      (w.state NOT IN ('stopped', 'dead')
                       AND w.last_heartbeat > now() - make_interval(secs => %(liveness)s)) AS alive,
                      coalesce((SELECT array_agg(j.id::text) FROM conveyor_jobs j
                                WHERE j.state = 'running' AND j.worker_id = w.id), '{}') AS current_jobs
               FROM conveyor_workers w
               WHERE w.state NOT IN ('stopped', 'dead')
                  OR coalesce(w.stopped_at, w.last_heartbeat) > now() - make_interval(secs => %(since)s)
               ORDER BY w.started_at DESC""",
            {"liveness": liveness_timeout, "since": include_dead_since},
            read=True,
        )
        return [
            WorkerInfo(
                id=r["id"], hostname=r["hostname"], pid=r["pid"], queues=list(r["queues"]),
                concurrency=r["concurrency"], version=r["version"], started_at=r["started_at"],
                last_heartbeat=r["last_heartbeat"], state=r["state"], desired_state=r["desired_state"],
                jobs_in_flight=r["jobs_in_flight"], processed=r["processed"], failed=r["failed"],
                current_jobs=list(r["current_jobs"]), heartbeat_age=float(r["age"]), alive=bool(r["alive"]),
            )
            for r in rows
        ]

    def live_worker_count(self, queue: str, liveness_timeout: float) -> tuple[int, int]:
        try:
            row = self._fetchone(LIVE_WORKERS, {"queue": queue, "liveness": liveness_timeout}, read=True)
        except psycopg.Error as exc:
            raise LivenessCheckError(
                f"Could not check for live workers: {exc}.",
                action="Nothing was queued. Check the database connection and try again.",
            ) from None
        assert row is not None
        return int(row["running"]), int(row["paused"])

    def queue_stats(self, liveness_timeout: float, tenant: str | None = None) -> list[QueueStats]:
        rows = self._fetchall(QUEUE_STATS, {"liveness": liveness_timeout, "tenant": tenant}, read=True)
        stats = []
        for r in rows:
            counts = {s: 0 for s in ("scheduled", "queued", "running", "dead", "failed")}
            counts.update({k: int(v) for k, v in (r["counts"] or {}).items()})
            oldest = (r["now"] - r["oldest"]).total_seconds() if r["oldest"] else None
            stats.append(
                QueueStats(
                    name=r["queue"], counts=counts, live_workers=int(r["live_workers"]), paused=r["paused"],
                    oldest_ready_age=oldest, stranded=counts["queued"] > 0 and int(r["live_workers"]) == 0,
                    completed_last_minute=int(r["last_minute"]), completed_last_hour=int(r["last_hour"]),
                )
            )
        return stats

    def set_queue_paused(self, queue: str, paused: bool) -> None:
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO conveyor_queues (name, paused) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
                (queue, paused),
            )
            if not paused:
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL_WAKE, queue))

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
        with self._connection() as conn, conn.transaction():
            got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (MAINTENANCE_LOCK,)).fetchone()
            if not got or not got[0]:
                return None
            cur = conn.cursor(row_factory=dict_row)
            rescued = cur.execute(RESCUE_ORPHANS, {"liveness": liveness_timeout}).fetchall()
            report.rescued = [(str(r["id"]), r["state"]) for r in rescued]
            lost = cur.execute(
                "SELECT id FROM conveyor_workers WHERE state = 'dead' AND stopped_at >= now()"
            ).fetchall()
            report.dead_workers = [r["id"] for r in lost]
            expiry = cur.execute(
                """SELECT extract(epoch FROM min(last_heartbeat) + make_interval(secs => %(liveness)s) - now())
                   AS seconds FROM conveyor_workers WHERE state NOT IN ('stopped', 'dead')""",
                {"liveness": liveness_timeout},
            ).fetchone()
            report.next_expiry = float(expiry["seconds"]) if expiry and expiry["seconds"] is not None else None
            timed_out = cur.execute(FAIL_OVERDUE, {"grace": timeout_grace}).fetchall()
            report.timed_out = [(str(r["id"]), r["state"]) for r in timed_out]
            for queue in {r["queue"] for r in rescued if r["state"] == "queued"}:
                cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL_WAKE, queue))
            changed = [i for i, _ in report.rescued + report.timed_out]
            # Stranded: ready jobs and no live worker serving the queue.
            stranded = cur.execute(
                """SELECT DISTINCT j.queue FROM conveyor_jobs j
                   WHERE j.state = 'queued' AND NOT EXISTS (
                       SELECT 1 FROM conveyor_workers w
                       WHERE j.queue = ANY(w.queues) AND w.state = 'running'
                         AND w.last_heartbeat > now() - make_interval(secs => %(liveness)s))""",
                {"liveness": liveness_timeout},
            ).fetchall()
            report.stranded_queues = sorted(r["queue"] for r in stranded)
            cur.execute(
                """UPDATE conveyor_queues SET stranded_since = NULL
                   WHERE stranded_since IS NOT NULL AND NOT (name = ANY(%(q)s))""",
                {"q": report.stranded_queues},
            )
            cur.execute(
                """INSERT INTO conveyor_queues (name, stranded_since) SELECT unnest(%(q)s::text[]), now()
                   ON CONFLICT (name) DO UPDATE
                   SET stranded_since = coalesce(conveyor_queues.stranded_since, now())""",
                {"q": report.stranded_queues},
            )
            if stranded_deadline > 0 and report.stranded_queues:
                expired = cur.execute(
                    """UPDATE conveyor_jobs SET state = 'dead', finished_at = now(), updated_at = now(),
                           error = 'Waited ' || round(extract(epoch FROM now() - queued_at)) || ' s in queue '''
                                   || queue || ''' with no live worker (schedule-to-start deadline '
                                   || %(deadline)s || ' s). Start a worker for the queue, then requeue it.'
                       WHERE state = 'queued' AND queue = ANY(%(q)s)
                         AND queued_at < now() - make_interval(secs => %(deadline)s)
                       RETURNING id""",
                    {"q": report.stranded_queues, "deadline": stranded_deadline},
                ).fetchall()
                report.expired = [str(r["id"]) for r in expired]
                changed += report.expired
            pruned = cur.execute(
                """DELETE FROM conveyor_jobs WHERE id IN (
                       SELECT id FROM conveyor_jobs
                       WHERE finished_at IS NOT NULL AND (
                           (state IN ('completed', 'cancelled') AND finished_at < now() - make_interval(secs => %(rttl)s))
                        OR (state IN ('failed', 'dead') AND finished_at < now() - make_interval(secs => %(fttl)s)))
                       LIMIT %(batch)s FOR UPDATE SKIP LOCKED)""",
                {"rttl": result_ttl, "fttl": failure_ttl, "batch": prune_batch},
            )
            report.pruned = pruned.rowcount
            cur.execute(
                "DELETE FROM conveyor_workers WHERE state IN ('stopped', 'dead') "
                "AND coalesce(stopped_at, last_heartbeat) < now() - interval '7 days'"
            )
            cur.execute("DELETE FROM conveyor_completions WHERE bucket < now() - interval '2 hours'")
            cur.execute("DELETE FROM conveyor_task_minutes WHERE minute < now() - make_interval(secs => %s)",
                        (RETENTION_SECONDS,))
            self._notify_events(conn, "finished", changed)
        return report

    # -- API keys -------------------------------------------------------------------------
    def create_api_key(self, key_id: str, key_hash: str, tenant: str, role: str, name: str | None) -> None:
        self._fetchall(
            "INSERT INTO conveyor_api_keys (id, key_hash, tenant, role, name) VALUES (%(i)s, %(h)s, %(t)s, %(r)s, %(n)s)",
            {"i": key_id, "h": key_hash, "t": tenant, "r": role, "n": name},
        )

    def find_api_key(self, key_hash: str) -> ApiKey | None:
        row = self._fetchone(
            "SELECT id, tenant, role, name, created_at, revoked_at FROM conveyor_api_keys "
            "WHERE key_hash = %(h)s AND revoked_at IS NULL",
            {"h": key_hash},
            read=True,
        )
        return ApiKey(**row) if row else None

    def list_api_keys(self) -> list[ApiKey]:
        rows = self._fetchall(
            "SELECT id, tenant, role, name, created_at, revoked_at FROM conveyor_api_keys ORDER BY created_at",
            read=True,
        )
        return [ApiKey(**r) for r in rows]

    def revoke_api_key(self, key_id: str) -> bool:
        rows = self._fetchall(
            "UPDATE conveyor_api_keys SET revoked_at = now() WHERE id = %(i)s AND revoked_at IS NULL RETURNING id",
            {"i": key_id},
        )
        return bool(rows)

    # -- events ---------------------------------------------------------------------------
    def subscribe_events(self, listener: EventListener) -> Callable[[], None]:
        with self._listeners_lock:
            self._listeners.append(listener)
            if self._event_thread is None:
                self._event_thread = threading.Thread(
                    target=self._listen_loop,
                    args=([CHANNEL_EVENTS, CHANNEL_WAKE], self._dispatch_event, self._events_connected),
                    name="conveyor-events", daemon=True,
                )
                self._event_thread.start()

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _events_connected(self, reconnected: bool) -> None:
        if reconnected:  # events sent while the connection was down are lost: tell listeners
            self._dispatch_event(CHANNEL_EVENTS, json.dumps({"state": RESYNC, "ids": []}))

    def _dispatch_event(self, channel: str, payload: str) -> None:
        if channel == CHANNEL_WAKE:
            _queue, _, job_id = payload.partition(WAKE_SEPARATOR)
            if not job_id:
                return  # a plain wake-up: its jobs were announced on the events channel
            data: dict[str, Any] = {"state": "queued", "ids": [job_id]}
        else:
            try:
                data = json.loads(payload)
            except ValueError:
                return
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(data.get("state", ""), [str(i) for i in data.get("ids", [])])
            except Exception:  # one bad listener must not stop the others
                log.exception("event listener failed")

    def _listen_loop(
        self,
        channels: list[str],
        on_notify: Callable[[str, str], None],
        on_connect: Callable[[bool], None],
    ) -> None:
        """LISTEN on a dedicated connection; reconnect with backoff and re-LISTEN when it drops.
        on_connect(reconnected) runs once LISTENing: notifications may have been missed."""
        backoff = 0.1
        connected_before = False
        while not self._closed.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, application_name=channels[0].replace("_", "-")) as conn:
                    for channel in channels:
                        conn.execute(f"LISTEN {channel}")
                    on_connect(connected_before)
                    connected_before = True
                    backoff = 0.1
                    while not self._closed.is_set():
                        for n in conn.notifies(timeout=1.0):
                            on_notify(n.channel, n.payload)
            except Exception as exc:  # reconnect below
                if self._closed.is_set():
                    return
                log.warning("LISTEN connection lost (%s); reconnecting in %.1fs", exc, backoff)
                self._closed.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def start_wake_listener(self, on_wake: Callable[[str], None]) -> None:
        """Call on_wake(queue) for each NOTIFY on the wake channel ('' after a reconnect)."""
        thread = threading.Thread(
            target=self._listen_loop,
            args=([CHANNEL_WAKE], lambda _channel, payload: on_wake(payload.partition(WAKE_SEPARATOR)[0]),
                  lambda _reconnected: on_wake("")),  # a wake-up may have been missed: claim now
            name="conveyor-wake", daemon=True,
        )
        thread.start()
