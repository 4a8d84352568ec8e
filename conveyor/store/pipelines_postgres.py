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

from conveyor.errors import RunConflictError
from conveyor.store import pipelines_common as common
from conveyor.store.base import CHANNEL_WAKE
from conveyor.store.pipelines_common import (
    RawRecord,
    RunFilter,
    RunRecord,
    StageJob,
    attach_version,
)
from conveyor.store.postgres import event_notices, notify
from conveyor.store.postgres.batches import finished_ids
from conveyor.store.postgres.connection import Q

if TYPE_CHECKING:
    from conveyor.model import Outcome
    from conveyor.store.postgres import PostgresStore

CHANNEL_RUNS = "conveyor_runs"  # payload: a run id whose status may have changed
ONE_UNFINISHED = "pipeline_runs_one_unfinished"  # the unique index of migration 0022


def _record(row: dict[str, Any]) -> RunRecord:
    return RunRecord(
        id=str(row["id"]), pipeline=row["pipeline"], tenant=row["tenant"], token=row["token"], params=row["params"],
        queues=row["queues"], state=row["state"], status=row["status"], error=row["error"],
        reprocess_of=str(row["reprocess_of"]) if row["reprocess_of"] else None, from_stage=row["from_stage"],
        created_at=row["created_at"], started_at=row["started_at"], finished_at=row["finished_at"],
        updated_at=row["updated_at"], version=int(row["version"]),
    )


def copy_stage_jobs(conn: psycopg.Connection[Any], jobs: list[StageJob], started: list[tuple[str, str, str]]) -> None:
    """Write stage jobs with COPY (100,000 emits are one statement, not 100,000 round trips), count
    them in the same transaction, and wake their queues at commit."""
    if jobs:
        now = datetime.now(UTC)
        with conn.cursor().copy(Q.pipeline_insert_stage_jobs) as copy:
            for j in jobs:
                copy.write_row((j.id, j.task, j.queue, j.priority, j.tenant, j.args_json, j.state, j.max_attempts,
                                j.timeout, j.token, j.parent_id, j.meta_json, j.run_id, j.step, j.stage,
                                None if j.state == "queued" else now))
    counted = common.group_counts(jobs)
    keys = sorted(set(counted) | set(started))
    if keys:
        n = [counted.get(k, (0, 0)) for k in keys]
        conn.execute(
            Q.pipeline_count_entered,
            ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
             [e for e, _ in n], [o for _, o in n], [e - o for e, o in n]))
    if started:
        conn.execute(
            Q.pipeline_mark_started,
            ([k[0] for k in started], [k[1] for k in started], [k[2] for k in started]))
    notices = [(CHANNEL_WAKE, q) for q in sorted({j.queue for j in jobs if j.state == "queued"})]
    notices += event_notices("queued", [j.id for j in jobs])
    notices += [(CHANNEL_RUNS, r) for r in sorted({k[0] for k in keys})]
    notify(conn, notices)


def finish_stage_batch(store: PostgresStore, finish_sql: str, params: dict[str, Any], outcomes: list[Outcome]) -> list[str]:
    """The completion batch when it holds stage jobs. Their counter deltas are written here, one
    per (run, step, stage), instead of one per job by the trigger (which skips this transaction).
    Emits are written in the same transaction as their completion, and only for attempts whose
    lease still held (the FINISH statement changed their row). Items emitted into a run that is
    no longer RUNNING are written cancelled (a retry of the run queues them again); FOR SHARE
    makes a cancel wait for us."""
    runs = sorted({o.run_id for o in outcomes if o.emits and o.run_id})
    with store._connection() as conn, conn.transaction():
        conn.execute(Q.pipeline_batch_counted)
        live = {str(r[0]) for r in conn.execute(Q.pipeline_live_runs, (runs,))} if runs else set()
        row = conn.execute(finish_sql, params, prepare=False).fetchone()
        done = finished_ids(row[0] if row else None)
        if done:
            conn.execute(Q.pipeline_count_finished, (done,))
        if runs:
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
            try:
                conn.execute(
                    Q.pipeline_run_insert,
                    (run.id, run.pipeline, run.tenant, run.token, Jsonb(run.params), Jsonb(run.queues), run.state,
                     Jsonb(run.status), run.error, run.reprocess_of, run.from_stage, run.exclusive_key, run.state))
            except psycopg.errors.UniqueViolation as exc:
                if exc.diag.constraint_name == ONE_UNFINISHED:
                    raise RunConflictError(common.conflict_message(run)) from None
                raise
            conn.execute(
                Q.pipeline_counts_insert,
                (run.id, [c[0] for c in cells], [c[1] for c in cells], [c in skipped for c in cells]))
            notify(conn, [(CHANNEL_RUNS, run.id)])

    @staticmethod
    def _counts(cur: psycopg.Cursor[Any], records: list[RunRecord]) -> None:
        """Attach the live counters (and live version) to these runs: one statement for all."""
        if not records:
            return
        by_id = {r.id: r for r in records}
        cur.execute(Q.pipeline_run_counts, {"runs": list(by_id)}, prepare=False)
        for row in cur.fetchall():
            record = by_id[row["run_id"]]
            record.counts[(row["step"], row["stage"])] = row
        for record in records:
            attach_version(record)

    def get_run(self, run_id: str, tenant: str | None = None) -> RunRecord | None:
        if not _is_uuid(run_id):
            return None
        with self.store._connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            # One snapshot for the run and its counters, so its version matches what it shows.
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute(Q.pipeline_run_get, (run_id, tenant, tenant))
            row = cur.fetchone()
            if row is None:
                return None
            record = _record(row)
            self._counts(cur, [record])
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
        with self.store._connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute(Q.pipeline_run_list.format(where=" AND ".join(where)), params)
            records = [_record(r) for r in cur.fetchall()]
            self._counts(cur, records)  # live cells for the whole page in one more statement
        return records

    def active_run_ids(self) -> list[str]:
        return [str(r["id"]) for r in self._rows(Q.pipeline_active_runs)]

    @contextmanager
    def locked(self, run_id: str) -> Iterator[PostgresRunTransaction | None]:
        with self.store._connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            cur.execute(Q.pipeline_run_lock, (run_id,))
            row = cur.fetchone()
            if row is None:
                yield None
                return
            cur.execute(Q.pipeline_counts_lock, {"run": run_id})
            cur.execute(Q.pipeline_fold, {"run": run_id})
            record = _record(row)
            self._counts(cur, [record])
            yield PostgresRunTransaction(conn, record)

    def fold(self, run_id: str) -> RunRecord | None:
        """Fold the run's counter deltas into its counters and return the run with them (no run
        lock: the counter rows are locked in one order, so concurrent folds wait for each other
        instead of deadlocking). The advancer's cheap read: no scan of deltas or running jobs."""
        with self.store._connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            cur.execute(Q.pipeline_counts_lock, {"run": run_id})
            cur.execute(Q.pipeline_fold, {"run": run_id})
            cur.execute(Q.pipeline_run_read, (run_id,))
            row = cur.fetchone()
            if row is None:
                return None
            record = _record(row)
            cur.execute(Q.pipeline_folded_counts, (run_id,))
            record.counts = {(r["step"], r["stage"]): r for r in cur.fetchall()}
            return record

    def prune(self, cutoff: datetime, batch: int) -> tuple[int, int]:
        """Retention: (runs, unlinked raw rows) deleted, up to `batch` of each, finished before cutoff."""
        with self.store._connection() as conn, conn.transaction():
            runs = conn.execute(Q.prune_pipeline_runs, {"cutoff": cutoff, "batch": batch}).fetchall()
            raw = conn.execute(Q.prune_unlinked_raw, {"cutoff": cutoff, "batch": batch}).rowcount
        return len(runs), raw

    def live_workers(self, queues: list[str], liveness: float) -> dict[str, int]:
        rows = self._rows(Q.pipeline_live_workers, (queues, liveness))
        return {r["name"]: int(r["n"]) for r in rows}

    def save_raw(self, *, run_id: str | None, step: str | None, tenant: str, token: str, source: str,
                 fingerprint: str, payload: str | bytes) -> int:
        data = payload.encode() if isinstance(payload, str) else payload
        rows = self._rows(
            Q.pipeline_raw_save,
            (run_id, step, tenant, token, source, fingerprint, data, isinstance(payload, str)))
        return int(rows[0]["id"])

    def get_raw(self, raw_id: int) -> RawRecord | None:
        rows = self._rows(Q.pipeline_raw_get, (raw_id,))
        if not rows:
            return None
        r = rows[0]
        return common.raw_record(r, str(r["run_id"]) if r["run_id"] else None, r["created_at"])

    def raw_ids(self, run_id: str, step: str) -> list[int]:
        rows = self._rows(Q.pipeline_raw_ids, (run_id, step))
        return [int(r["id"]) for r in rows]

    def job_ids(self, run_id: str, states: tuple[str, ...] = ()) -> list[tuple[str, str, str, str]]:
        rows = self._rows(Q.pipeline_job_ids, (run_id, list(states), list(states)))
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
            Q.pipeline_run_update,  # clock_timestamp(): see the file
            (state, Jsonb(status), error, started, finished, state, self.run.id))
        notify(self.conn, [(CHANNEL_RUNS, self.run.id)])

    def insert_jobs(self, jobs: list[StageJob], started_cells: list[tuple[str, str]]) -> None:
        copy_stage_jobs(self.conn, jobs, [(self.run.id, s, st) for s, st in started_cells])

    def cancel_outstanding(self) -> int:
        rows = self.conn.execute(Q.pipeline_cancel_outstanding, (self.run.id,)).fetchall()
        notify(self.conn, event_notices("cancelled", [str(r[0]) for r in rows if r[1] == "cancelled"]))
        return len(rows)

    def requeue(self, step: str | None, states: tuple[str, ...]) -> int:
        rows = self.conn.execute(
            Q.pipeline_requeue, (self.run.id, step, step, list(states))).fetchall()
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



