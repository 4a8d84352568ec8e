"""Pipeline statements for SQLite: the same tables, trigger and rules as PostgreSQL
(pipelines_postgres.py). SQLite serialises writers, so the write lock is the run's lock."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from conveyor.errors import RunConflictError
from conveyor.store import pipelines_common as common
from conveyor.store.pipelines_common import (
    RawRecord,
    RunFilter,
    RunRecord,
    StageJob,
    attach_version,
)
from conveyor.store.sqlite.connection import Q

if TYPE_CHECKING:
    from conveyor.model import Outcome
    from conveyor.store.sqlite import SQLiteStore

def _ts(value: float | None) -> Any:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(value, UTC) if value else None


def _record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=row["id"], pipeline=row["pipeline"], tenant=row["tenant"], token=row["token"],
        params=json.loads(row["params"]), queues=json.loads(row["queues"]), state=row["state"],
        status=json.loads(row["status"]), error=row["error"], reprocess_of=row["reprocess_of"],
        from_stage=row["from_stage"], created_at=_ts(row["created_at"]), started_at=_ts(row["started_at"]),
        finished_at=_ts(row["finished_at"]), updated_at=_ts(row["updated_at"]),
    )


def _counts(conn: sqlite3.Connection, records: list[RunRecord]) -> None:
    """Attach the live counters (and live version) to these runs: one statement for all; call it
    inside a transaction, so the runs and their counters are one snapshot."""
    if not records:
        return
    by_id = {r.id: r for r in records}
    for r in conn.execute(Q.pipeline_run_counts, {"runs": json.dumps(list(by_id))}):
        row = dict(r)
        row["started_at"], row["finished_at"] = _ts(row["started_at"]), _ts(row["finished_at"])
        row["resume_at"] = _ts(row["resume_at"])
        row["started"], row["skipped"] = bool(row["started"]), bool(row["skipped"])
        by_id[row["run_id"]].counts[(r["step"], r["stage"])] = row
    for record in records:
        attach_version(record)


def write_stage_jobs(conn: sqlite3.Connection, jobs: list[StageJob], started: list[tuple[str, str, str]]) -> None:
    """Insert stage jobs (one executemany) and count them in the same transaction."""
    now = time.time()
    conn.executemany(
        Q.pipeline_insert_stage_jobs,
        [(j.id, j.task, j.queue, j.priority, j.tenant, j.args_json, j.state, j.max_attempts, j.timeout, now, now, now,
          now, j.token, j.parent_id, j.meta_json, j.run_id, j.step, j.stage, None if j.state == "queued" else now)
         for j in jobs])
    counted = common.group_counts(jobs)
    conn.executemany(
        Q.pipeline_count_entered, [(*k, e, o, e - o, now) for k, (e, o) in counted.items()])
    conn.executemany(Q.pipeline_mark_started, [(now, *k) for k in started])
    conn.executemany(Q.pipeline_run_touch,
                     [(now, r) for r in {k[0] for k in [*counted, *started]}])


def insert_emits(conn: sqlite3.Connection, outcomes: list[Outcome], landed: set[str]) -> set[str]:
    """Inside the completion batch's transaction: the emits of attempts whose completion landed
    (written cancelled in runs no longer RUNNING). Returns the queues to wake."""
    runs = {o.run_id for o in outcomes if o.emits and o.job_id in landed}
    marks = ", ".join("?" * len(runs))
    live = {r[0] for r in conn.execute(Q.pipeline_live_runs.format(marks=marks), tuple(runs))} if runs else set()
    jobs = common.landed_emits(outcomes, landed, live)
    write_stage_jobs(conn, jobs, [])
    return {j.queue for j in jobs if j.state == "queued"}


def _fold(conn: sqlite3.Connection, run_id: str) -> None:
    """Fold the run's deltas into its counters. The counting trigger does not touch the run's
    row (one write fewer per job); a fold that moved deltas does, for the run feed's poller."""
    conn.execute(Q.pipeline_fold, {"run": run_id})
    if conn.execute(Q.pipeline_deltas_delete, (run_id,)).rowcount:
        conn.execute(Q.pipeline_run_touch, (time.time(), run_id))


class SQLitePipelineSQL(common.RunListeners):
    def __init__(self, store: SQLiteStore) -> None:
        super().__init__()
        self.store = store
        self._poller: threading.Thread | None = None

    def create_run(self, run: RunRecord, cells: list[tuple[str, str]], skipped: list[tuple[str, str]]) -> None:
        now = time.time()
        with self.store._write() as conn:
            try:
                conn.execute(
                    Q.pipeline_run_insert,
                    (run.id, run.pipeline, run.tenant, run.token, json.dumps(run.params), json.dumps(run.queues),
                     run.state, json.dumps(run.status), run.error, run.reprocess_of, run.from_stage,
                     run.exclusive_key, now, now if run.state in ("FAILED", "FINISHED", "CANCELLED") else None, now))
            except sqlite3.IntegrityError as exc:
                if "pipeline_runs.exclusive_key" in str(exc):
                    raise RunConflictError(common.conflict_message(run)) from None
                raise
            conn.executemany(Q.pipeline_counts_insert,
                             [(run.id, c[0], c[1], c in skipped) for c in cells])

    def get_run(self, run_id: str, tenant: str | None = None) -> RunRecord | None:
        conn = self.store._conn()
        conn.execute("BEGIN")  # one snapshot for the run, its counters and deltas
        try:
            row = conn.execute(Q.pipeline_run_get, (run_id, tenant, tenant)).fetchone()
            if row is None:
                return None
            record = _record(row)
            _counts(conn, [record])
        finally:
            conn.execute("COMMIT")
        return record

    def list_runs(self, filters: RunFilter, limit: int = 50, before: str | None = None) -> list[RunRecord]:
        params: dict[str, Any] = {"limit": limit, **common.filter_values(filters)}
        where = ["1"] + [f"{column} = :{column}" for column in params if column != "limit"]
        if filters.states:
            names = [f":s{i}" for i in range(len(filters.states))]
            where.append(f"state IN ({', '.join(names)})")
            params.update({n[1:]: s for n, s in zip(names, filters.states, strict=True)})
        if before:
            where.append("id < :before")
            params["before"] = before
        conn = self.store._conn()
        conn.execute("BEGIN")  # the page and its live cells in one snapshot
        try:
            rows = conn.execute(Q.pipeline_run_list.format(where=" AND ".join(where)), params).fetchall()
            records = [_record(r) for r in rows]
            _counts(conn, records)
        finally:
            conn.execute("COMMIT")
        return records

    def active_run_ids(self) -> list[str]:
        return [r[0] for r in self.store._all(Q.pipeline_active_runs)]

    @contextmanager
    def locked(self, run_id: str) -> Iterator[SQLiteRunTransaction | None]:
        woken: set[str] = set()
        with self.store._write() as conn:
            row = conn.execute(Q.pipeline_run_read, (run_id,)).fetchone()
            if row is None:
                yield None
                return
            _fold(conn, run_id)
            record = _record(row)
            _counts(conn, [record])
            tx = SQLiteRunTransaction(conn, record, woken)
            yield tx
        self.store._wake(woken)

    def fold(self, run_id: str) -> RunRecord | None:
        """Fold the run's deltas and return the run with its folded counters (the advancer's read)."""
        with self.store._write() as conn:
            _fold(conn, run_id)
            row = conn.execute(Q.pipeline_run_read, (run_id,)).fetchone()
            if row is None:
                return None
            record = _record(row)
            for r in conn.execute(Q.pipeline_folded_counts, (run_id,)):
                c = dict(r)
                c["started_at"], c["finished_at"] = _ts(c["started_at"]), _ts(c["finished_at"] or None)
                c["started"], c["skipped"] = bool(c["started"]), bool(c["skipped"])
                record.counts[(c["step"], c["stage"])] = c
            return record

    def prune(self, cutoff: datetime, batch: int) -> tuple[int, int]:
        """Retention: (runs, unlinked raw rows) deleted, up to `batch` of each, finished before cutoff."""
        with self.store._write() as conn:
            runs = conn.execute(Q.prune_pipeline_runs, {"cutoff": cutoff.timestamp(), "batch": batch}).fetchall()
            raw = conn.execute(Q.prune_unlinked_raw, {"cutoff": cutoff.timestamp(), "batch": batch}).rowcount
        return len(runs), raw

    def live_workers(self, queues: list[str], liveness: float) -> dict[str, int]:
        from conveyor.store.sqlite import LIVE_WORKERS
        now = time.time()
        return {q: int(self.store._all(LIVE_WORKERS, {"now": now, "liveness": liveness, "queue": q})[0]["running"])
                for q in queues}

    def save_raw(self, *, run_id: str | None, step: str | None, tenant: str, token: str, source: str,
                 fingerprint: str, payload: str | bytes) -> int:
        data = payload.encode() if isinstance(payload, str) else payload
        with self.store._write() as conn:
            row = conn.execute(
                Q.pipeline_raw_save,
                (run_id, step, tenant, token, source, fingerprint, data, isinstance(payload, str), time.time()),
            ).fetchone()
        return int(row[0])

    def get_raw(self, raw_id: int) -> RawRecord | None:
        rows = self.store._all(Q.pipeline_raw_get, (raw_id,))
        if not rows:
            return None
        return common.raw_record(rows[0], rows[0]["run_id"], _ts(rows[0]["created_at"]))

    def raw_ids(self, run_id: str, step: str) -> list[int]:
        rows = self.store._all(Q.pipeline_raw_ids, (run_id, step))
        return [int(r[0]) for r in rows]

    def job_ids(self, run_id: str, states: tuple[str, ...] = ()) -> list[tuple[str, str, str, str]]:
        marks = ", ".join("?" * len(states))
        rows = self.store._all(
            Q.pipeline_job_ids.format(states=f" AND state IN ({marks})" if states else ""), (run_id, *states))
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def _start_run_feed(self) -> None:
        """Runs changed by any process come from a poller over updated_at."""
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="conveyor-runs-poller", daemon=True)
            self._poller.start()

    def _poll(self, interval: float = 0.05) -> None:
        seen = time.time()
        while not self.store._closed.wait(interval):
            try:
                rows = self.store._all(Q.pipeline_runs_changed, (seen - 1.0,))
                # Jobs counted since the last fold (the trigger leaves the run's row alone).
                pending = [r[0] for r in self.store._all(Q.pipeline_runs_pending)]
            except sqlite3.Error:
                continue
            fresh = [r for r in rows if r[1] > seen]
            if fresh:
                seen = max(r[1] for r in fresh)
            changed = sorted({r[0] for r in fresh} | set(pending))
            if changed:
                self._dispatch(changed)


class SQLiteRunTransaction:
    def __init__(self, conn: sqlite3.Connection, run: RunRecord, woken: set[str]) -> None:
        self.conn = conn
        self.run = run
        self.woken = woken

    def update_run(self, *, state: str, status: dict[str, Any], error: str | None,
                   started: bool = False, finished: bool = False) -> None:
        now = time.time()
        self.conn.execute(
            Q.pipeline_run_update,
            (state, json.dumps(status), error, now, started, now, finished, now, state, self.run.id))

    def insert_jobs(self, jobs: list[StageJob], started_cells: list[tuple[str, str]]) -> None:
        write_stage_jobs(self.conn, jobs, [(self.run.id, s, st) for s, st in started_cells])
        self.woken |= {j.queue for j in jobs}

    def cancel_outstanding(self) -> int:
        now = time.time()
        cur = self.conn.execute(Q.pipeline_cancel_outstanding, (now, now, self.run.id))
        return cur.rowcount

    def requeue(self, step: str | None, states: tuple[str, ...]) -> int:
        now = time.time()
        marks = ", ".join("?" * len(states))
        rows = self.conn.execute(
            Q.pipeline_requeue.format(marks=marks),
            (now, now, now, self.run.id, step, step, *states)).fetchall()
        self.woken |= {r[0] for r in rows}
        return len(rows)
