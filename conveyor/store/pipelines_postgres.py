"""Pipeline statements for PostgreSQL (runs, counters, stage jobs, raw data).

Counters: stage jobs' terminal changes append a delta row by trigger (migration 0006); the
enqueue of stage jobs appends one delta per (run, step, stage) and batch here. The run's advancer
folds the deltas into pipeline_stage_counts under the run's row lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from conveyor.store import pipelines_common as common
from conveyor.store.base import CHANNEL_WAKE
from conveyor.store.pipelines_common import RUN_COLUMNS, RawRecord, RunFilter, RunRecord, StageJob
from conveyor.store.postgres import event_notices, notify

if TYPE_CHECKING:
    from conveyor.model import Outcome
    from conveyor.store.postgres import PostgresStore

CHANNEL_RUNS = "conveyor_runs"  # payload: a run id whose status may have changed

STAGE_COPY = ("COPY conveyor_jobs (id, task, queue, priority, tenant, args, state, max_attempts, timeout, "
              "token, parent_id, meta, pipeline_run_id, step, stage, finished_at) FROM STDIN")

DELTA_SUMS = """
    SELECT step, stage, sum(entered) AS entered, sum(outstanding) AS outstanding, sum(done) AS done,
           sum(failed) AS failed, sum(cancelled) AS cancelled,
           min(at) FILTER (WHERE entered > 0) AS first_entered,
           max(at) FILTER (WHERE outstanding < 0) AS last_finished,
           (array_agg(error ORDER BY at DESC) FILTER (WHERE error IS NOT NULL))[1] AS last_error
    FROM {source} GROUP BY step, stage"""

FOLD = f"""
WITH moved AS (DELETE FROM pipeline_count_deltas WHERE run_id = %(run)s RETURNING *),
agg AS ({DELTA_SUMS.format(source="moved")})
UPDATE pipeline_stage_counts c
SET entered = c.entered + agg.entered, outstanding = c.outstanding + agg.outstanding, done = c.done + agg.done,
    failed = c.failed + agg.failed, cancelled = c.cancelled + agg.cancelled,
    started_at = coalesce(c.started_at, agg.first_entered),
    finished_at = greatest(c.finished_at, agg.last_finished), last_error = coalesce(agg.last_error, c.last_error)
FROM agg WHERE c.run_id = %(run)s AND c.step = agg.step AND c.stage = agg.stage
"""

LOCK_COUNTS = ("SELECT 1 FROM pipeline_stage_counts WHERE run_id = %(run)s ORDER BY step, stage FOR UPDATE")

# Compacted counters plus the deltas not folded yet, and the running jobs, in one snapshot.
COUNTS = f"""
SELECT c.step, c.stage,
       c.entered + coalesce(d.entered, 0) AS entered, c.outstanding + coalesce(d.outstanding, 0) AS outstanding,
       c.done + coalesce(d.done, 0) AS done, c.failed + coalesce(d.failed, 0) AS failed,
       c.cancelled + coalesce(d.cancelled, 0) AS cancelled, c.started, c.skipped,
       coalesce(c.started_at, d.first_entered) AS started_at,
       greatest(c.finished_at, d.last_finished) AS finished_at, coalesce(d.last_error, c.last_error) AS last_error,
       coalesce(r.running, 0) AS running
FROM pipeline_stage_counts c
LEFT JOIN ({DELTA_SUMS.format(source="pipeline_count_deltas WHERE run_id = %(run)s")}) d USING (step, stage)
LEFT JOIN (SELECT step, stage, count(*) AS running FROM conveyor_jobs
           WHERE pipeline_run_id = %(run)s AND state = 'running' GROUP BY step, stage) r USING (step, stage)
WHERE c.run_id = %(run)s
"""


def _record(row: dict[str, Any]) -> RunRecord:
    return RunRecord(
        id=str(row["id"]), pipeline=row["pipeline"], tenant=row["tenant"], token=row["token"], params=row["params"],
        queues=row["queues"], state=row["state"], status=row["status"], error=row["error"],
        reprocess_of=str(row["reprocess_of"]) if row["reprocess_of"] else None, from_stage=row["from_stage"],
        created_at=row["created_at"], started_at=row["started_at"], finished_at=row["finished_at"],
        updated_at=row["updated_at"],
    )


def copy_stage_jobs(conn: psycopg.Connection[Any], jobs: list[StageJob], started: list[tuple[str, str, str]]) -> None:
    """Write stage jobs with COPY (100,000 emits are one statement, not 100,000 round trips), count
    them in the same transaction, and wake their queues at commit."""
    if jobs:
        now = datetime.now(UTC)
        with conn.cursor().copy(STAGE_COPY) as copy:
            for j in jobs:
                copy.write_row((j.id, j.task, j.queue, j.priority, j.tenant, j.args_json, j.state, j.max_attempts,
                                j.timeout, j.token, j.parent_id, j.meta_json, j.run_id, j.step, j.stage,
                                None if j.state == "queued" else now))
    counted = common.group_counts(jobs)
    keys = sorted(set(counted) | set(started))
    if keys:
        n = [counted.get(k, (0, 0)) for k in keys]
        conn.execute(
            "INSERT INTO pipeline_count_deltas (run_id, step, stage, entered, outstanding, cancelled) "
            "SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::int[], %s::int[], %s::int[])",
            ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
             [e for e, _ in n], [o for _, o in n], [e - o for e, o in n]))
    if started:
        conn.execute(
            "UPDATE pipeline_stage_counts SET started = true, started_at = coalesce(started_at, now()) "
            "WHERE (run_id, step, stage) IN (SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[]))",
            ([k[0] for k in started], [k[1] for k in started], [k[2] for k in started]))
    notices = [(CHANNEL_WAKE, q) for q in sorted({j.queue for j in jobs if j.state == "queued"})]
    notices += event_notices("queued", [j.id for j in jobs])
    notices += [(CHANNEL_RUNS, r) for r in sorted({k[0] for k in keys})]
    notify(conn, notices)


def finish_with_emits(store: PostgresStore, finish_sql: str, params: dict[str, Any], outcomes: list[Outcome]) -> list[str]:
    """The completion batch when some attempts emitted items: their emits are written in the same
    transaction as their completion, and only for attempts whose lease still held (the FINISH
    statement changed their row). Items emitted into a run that is no longer RUNNING are written
    cancelled (a retry of the run queues them again); FOR SHARE makes a cancel wait for us."""
    runs = sorted({o.run_id for o in outcomes if o.emits and o.run_id})
    with store._connection() as conn, conn.transaction():
        live = {str(r[0]) for r in conn.execute(
            "SELECT id FROM pipeline_runs WHERE id = ANY(%s::uuid[]) AND state = 'RUNNING' ORDER BY id FOR SHARE",
            (runs,))}
        done = [str(r[0]) for r in conn.execute(finish_sql, params, prepare=False)]
        copy_stage_jobs(conn, common.landed_emits(outcomes, set(done), live), [])
    return done


class PostgresPipelineSQL(common.RunListeners):
    def __init__(self, store: PostgresStore) -> None:
        super().__init__()
        self.store = store
        self._thread: threading.Thread | None = None

    def _rows(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        with self.store._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def create_run(self, run: RunRecord, cells: list[tuple[str, str]], skipped: list[tuple[str, str]]) -> None:
        with self.store._connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO pipeline_runs (id, pipeline, tenant, token, params, queues, state, status, error, "
                "reprocess_of, from_stage, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "CASE WHEN %s IN ('FAILED', 'FINISHED', 'CANCELLED') THEN now() END)",
                (run.id, run.pipeline, run.tenant, run.token, Jsonb(run.params), Jsonb(run.queues), run.state,
                 Jsonb(run.status), run.error, run.reprocess_of, run.from_stage, run.state))
            conn.execute(
                "INSERT INTO pipeline_stage_counts (run_id, step, stage, skipped) "
                "SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::bool[])",
                (run.id, [c[0] for c in cells], [c[1] for c in cells], [c in skipped for c in cells]))
            notify(conn, [(CHANNEL_RUNS, run.id)])

    def _counts(self, cur: psycopg.Cursor[Any], run_id: str) -> dict[tuple[str, str], dict[str, Any]]:
        cur.execute(COUNTS, {"run": run_id})
        return {(r["step"], r["stage"]): r for r in cur.fetchall()}

    def get_run(self, run_id: str, tenant: str | None = None) -> RunRecord | None:
        if not _is_uuid(run_id):
            return None
        with self.store._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(f"SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE id = %s AND (%s::text IS NULL OR tenant = %s)",
                        (run_id, tenant, tenant))
            row = cur.fetchone()
            if row is None:
                return None
            record = _record(row)
            record.counts = self._counts(cur, run_id)
            return record

    def list_runs(self, filters: RunFilter, limit: int = 50, before: str | None = None) -> list[RunRecord]:
        params: dict[str, Any] = {"limit": limit, **common.filter_values(filters)}
        where = ["true"] + [f"{column} = %({column})s" for column in params if column != "limit"]
        if filters.states:
            where.append("state = ANY(%(states)s)")
            params["states"] = filters.states
        if before:
            if not _is_uuid(before):
                return []
            where.append("id < %(before)s")
            params["before"] = before
        rows = self._rows(f"SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE {' AND '.join(where)} "
                          "ORDER BY id DESC LIMIT %(limit)s", params)
        return [_record(r) for r in rows]

    def active_run_ids(self) -> list[str]:
        return [str(r["id"]) for r in self._rows("SELECT id FROM pipeline_runs WHERE state IN ('READY', 'RUNNING')")]

    @contextmanager
    def locked(self, run_id: str) -> Iterator[PostgresRunTransaction | None]:
        with self.store._connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            cur.execute(f"SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE id = %s FOR UPDATE", (run_id,))
            row = cur.fetchone()
            if row is None:
                yield None
                return
            cur.execute(LOCK_COUNTS, {"run": run_id})
            cur.execute(FOLD, {"run": run_id})
            record = _record(row)
            record.counts = self._counts(cur, run_id)
            yield PostgresRunTransaction(conn, record)

    def fold(self, run_id: str) -> None:
        """Fold the run's counter deltas into its counters (no run lock: the counter rows are
        locked in one order, so concurrent folds wait for each other instead of deadlocking)."""
        with self.store._connection() as conn, conn.transaction():
            conn.execute(LOCK_COUNTS, {"run": run_id})
            conn.execute(FOLD, {"run": run_id})

    def live_workers(self, queues: list[str], liveness: float) -> dict[str, int]:
        rows = self._rows(
            "SELECT q.name, count(w.id) AS n FROM unnest(%s::text[]) AS q(name) LEFT JOIN conveyor_workers w "
            "ON q.name = ANY(w.queues) AND w.state = 'running' AND w.last_heartbeat > now() - make_interval(secs => %s) "
            "GROUP BY q.name", (queues, liveness))
        return {r["name"]: int(r["n"]) for r in rows}

    def save_raw(self, *, run_id: str | None, step: str | None, tenant: str, token: str, source: str,
                 fingerprint: str, payload: str | bytes) -> int:
        data = payload.encode() if isinstance(payload, str) else payload
        rows = self._rows(
            "INSERT INTO raw_extraction_data (run_id, step, tenant, token, source, fingerprint, payload, is_text) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (token, source, fingerprint) "
            "DO UPDATE SET payload = excluded.payload, is_text = excluded.is_text RETURNING id",
            (run_id, step, tenant, token, source, fingerprint, data, isinstance(payload, str)))
        return int(rows[0]["id"])

    def get_raw(self, raw_id: int) -> RawRecord | None:
        rows = self._rows("SELECT * FROM raw_extraction_data WHERE id = %s", (raw_id,))
        if not rows:
            return None
        r = rows[0]
        return common.raw_record(r, str(r["run_id"]) if r["run_id"] else None, r["created_at"])

    def raw_ids(self, run_id: str, step: str) -> list[int]:
        rows = self._rows("SELECT id FROM raw_extraction_data WHERE run_id = %s AND step = %s ORDER BY id",
                          (run_id, step))
        return [int(r["id"]) for r in rows]

    def job_ids(self, run_id: str, states: tuple[str, ...] = ()) -> list[tuple[str, str, str, str]]:
        rows = self._rows(
            "SELECT id::text, step, stage, state FROM conveyor_jobs WHERE pipeline_run_id = %s "
            "AND (cardinality(%s::text[]) = 0 OR state = ANY(%s::text[])) ORDER BY id", (run_id, list(states),
                                                                                        list(states)))
        return [(r["id"], r["step"], r["stage"], r["state"]) for r in rows]

    def _start_run_feed(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.store._listen_loop,
                args=([CHANNEL_RUNS], lambda _c, payload: self._dispatch([payload]),
                      lambda reconnected: self._dispatch([]) if reconnected else None),
                name="conveyor-runs", daemon=True)
            self._thread.start()


class PostgresRunTransaction:
    def __init__(self, conn: psycopg.Connection[Any], run: RunRecord) -> None:
        self.conn = conn
        self.run = run

    def update_run(self, *, state: str, status: dict[str, Any], error: str | None,
                   started: bool = False, finished: bool = False) -> None:
        self.conn.execute(
            # clock_timestamp(): the moment of the change, not the start of a transaction that may
            # have waited for the run's lock.
            "UPDATE pipeline_runs SET state = %s, status = %s, error = %s, updated_at = clock_timestamp(), "
            "started_at = CASE WHEN %s THEN coalesce(started_at, clock_timestamp()) ELSE started_at END, "
            "finished_at = CASE WHEN %s THEN clock_timestamp() WHEN %s = 'RUNNING' THEN NULL ELSE finished_at END "
            "WHERE id = %s",
            (state, Jsonb(status), error, started, finished, state, self.run.id))
        notify(self.conn, [(CHANNEL_RUNS, self.run.id)])

    def insert_jobs(self, jobs: list[StageJob], started_cells: list[tuple[str, str]]) -> None:
        copy_stage_jobs(self.conn, jobs, [(self.run.id, s, st) for s, st in started_cells])

    def cancel_outstanding(self) -> int:
        rows = self.conn.execute(
            """UPDATE conveyor_jobs SET
                   state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
                   cancel_requested = (state = 'running'),
                   finished_at = CASE WHEN state = 'running' THEN finished_at ELSE now() END, updated_at = now()
               WHERE pipeline_run_id = %s AND state IN ('scheduled', 'queued', 'running') RETURNING id, state""",
            (self.run.id,)).fetchall()
        notify(self.conn, event_notices("cancelled", [str(r[0]) for r in rows if r[1] == "cancelled"]))
        return len(rows)

    def requeue(self, step: str | None, states: tuple[str, ...]) -> int:
        rows = self.conn.execute(
            """UPDATE conveyor_jobs SET state = 'queued', queued_at = now(), run_at = now(), finished_at = NULL,
                   attempts = 0, cancel_requested = false, updated_at = now()
               WHERE pipeline_run_id = %s AND (%s::text IS NULL OR step = %s) AND state = ANY(%s::text[])
               RETURNING id, queue""", (self.run.id, step, step, list(states))).fetchall()
        notify(self.conn, [(CHANNEL_WAKE, q) for q in sorted({r[1] for r in rows})]
               + event_notices("queued", [str(r[0]) for r in rows]))
        return len(rows)


def _is_uuid(value: str) -> bool:
    import uuid
    try:
        uuid.UUID(value)
        return True
    except (ValueError, AttributeError, TypeError):
        return False



