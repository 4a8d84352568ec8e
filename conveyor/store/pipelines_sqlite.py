"""Pipeline statements for SQLite: the same tables, trigger and rules as PostgreSQL
(pipelines_postgres.py). SQLite serialises writers, so the write lock is the run's lock."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from conveyor.store import pipelines_common as common
from conveyor.store.pipelines_common import RUN_COLUMNS, RawRecord, RunFilter, RunRecord, StageJob

if TYPE_CHECKING:
    from conveyor.model import Outcome
    from conveyor.store.sqlite import SQLiteStore

DELTA_SUMS = """
    SELECT step, stage, sum(entered) AS entered, sum(outstanding) AS outstanding, sum(done) AS done,
           sum(failed) AS failed, sum(cancelled) AS cancelled,
           min(CASE WHEN entered > 0 THEN at END) AS first_entered,
           max(CASE WHEN outstanding < 0 THEN at END) AS last_finished,
           (SELECT e.error FROM pipeline_count_deltas e WHERE e.run_id = :run AND e.step = x.step
              AND e.stage = x.stage AND e.error IS NOT NULL ORDER BY e.at DESC LIMIT 1) AS last_error
    FROM pipeline_count_deltas x WHERE run_id = :run GROUP BY step, stage"""

FOLD = f"""
UPDATE pipeline_stage_counts AS c
SET entered = c.entered + agg.entered, outstanding = c.outstanding + agg.outstanding, done = c.done + agg.done,
    failed = c.failed + agg.failed, cancelled = c.cancelled + agg.cancelled,
    started_at = coalesce(c.started_at, agg.first_entered),
    finished_at = max(coalesce(c.finished_at, 0), coalesce(agg.last_finished, 0)),
    last_error = coalesce(agg.last_error, c.last_error)
FROM ({DELTA_SUMS}) AS agg WHERE c.run_id = :run AND c.step = agg.step AND c.stage = agg.stage
"""

COUNTS = """
SELECT c.step, c.stage, c.entered, c.outstanding, c.done, c.failed, c.cancelled, c.started, c.skipped,
       c.started_at, nullif(c.finished_at, 0) AS finished_at, c.last_error,
       (SELECT count(*) FROM conveyor_jobs j WHERE j.pipeline_run_id = :run AND j.step = c.step
          AND j.stage = c.stage AND j.state = 'running') AS running
FROM pipeline_stage_counts c WHERE c.run_id = :run
"""


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


def _counts(conn: sqlite3.Connection, run_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    counts = {}
    for r in conn.execute(COUNTS, {"run": run_id}):
        row = dict(r)
        row["started_at"], row["finished_at"] = _ts(row["started_at"]), _ts(row["finished_at"])
        row["started"], row["skipped"] = bool(row["started"]), bool(row["skipped"])
        counts[(r["step"], r["stage"])] = row
    return counts


def write_stage_jobs(conn: sqlite3.Connection, jobs: list[StageJob], started: list[tuple[str, str, str]]) -> None:
    """Insert stage jobs (one executemany) and count them in the same transaction."""
    now = time.time()
    conn.executemany(
        "INSERT INTO conveyor_jobs (id, task, queue, priority, tenant, args, state, max_attempts, timeout, run_at, "
        "created_at, queued_at, updated_at, token, parent_id, meta, pipeline_run_id, step, stage, finished_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(j.id, j.task, j.queue, j.priority, j.tenant, j.args_json, j.state, j.max_attempts, j.timeout, now, now, now,
          now, j.token, j.parent_id, j.meta_json, j.run_id, j.step, j.stage, None if j.state == "queued" else now)
         for j in jobs])
    counted = common.group_counts(jobs)
    conn.executemany(
        "INSERT INTO pipeline_count_deltas (run_id, step, stage, entered, outstanding, cancelled, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)", [(*k, e, o, e - o, now) for k, (e, o) in counted.items()])
    conn.executemany("UPDATE pipeline_stage_counts SET started = 1, started_at = coalesce(started_at, ?) "
                     "WHERE run_id = ? AND step = ? AND stage = ?", [(now, *k) for k in started])
    conn.executemany("UPDATE pipeline_runs SET updated_at = ? WHERE id = ?",
                     [(now, r) for r in {k[0] for k in [*counted, *started]}])


def insert_emits(conn: sqlite3.Connection, outcomes: list[Outcome], landed: set[str]) -> set[str]:
    """Inside the completion batch's transaction: the emits of attempts whose completion landed
    (written cancelled in runs no longer RUNNING). Returns the queues to wake."""
    runs = {o.run_id for o in outcomes if o.emits and o.job_id in landed}
    marks = ", ".join("?" * len(runs))
    live = {r[0] for r in conn.execute(f"SELECT id FROM pipeline_runs WHERE id IN ({marks}) AND state = 'RUNNING'",
                                       tuple(runs))} if runs else set()
    jobs = common.landed_emits(outcomes, landed, live)
    write_stage_jobs(conn, jobs, [])
    return {j.queue for j in jobs if j.state == "queued"}


class SQLitePipelineSQL(common.RunListeners):
    def __init__(self, store: SQLiteStore) -> None:
        super().__init__()
        self.store = store
        self._poller: threading.Thread | None = None

    def create_run(self, run: RunRecord, cells: list[tuple[str, str]], skipped: list[tuple[str, str]]) -> None:
        now = time.time()
        with self.store._write() as conn:
            conn.execute(
                f"INSERT INTO pipeline_runs ({RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                (run.id, run.pipeline, run.tenant, run.token, json.dumps(run.params), json.dumps(run.queues),
                 run.state, json.dumps(run.status), run.error, run.reprocess_of, run.from_stage, now,
                 now if run.state in ("FAILED", "FINISHED", "CANCELLED") else None, now))
            conn.executemany("INSERT INTO pipeline_stage_counts (run_id, step, stage, skipped) VALUES (?, ?, ?, ?)",
                             [(run.id, c[0], c[1], c in skipped) for c in cells])

    def get_run(self, run_id: str, tenant: str | None = None) -> RunRecord | None:
        conn = self.store._conn()
        row = conn.execute(f"SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE id = ? AND (? IS NULL OR tenant = ?)",
                           (run_id, tenant, tenant)).fetchone()
        if row is None:
            return None
        record = _record(row)
        conn.execute("BEGIN")  # one snapshot for the run's counters and deltas
        try:
            counts = _counts(conn, run_id)
            for d in conn.execute(DELTA_SUMS, {"run": run_id}):
                c = counts.get((d["step"], d["stage"]))
                if c is None:
                    continue
                for key in ("entered", "outstanding", "done", "failed", "cancelled"):
                    c[key] += d[key]
                c["started_at"] = c["started_at"] or _ts(d["first_entered"])
                if d["last_finished"] and (c["finished_at"] is None or _ts(d["last_finished"]) > c["finished_at"]):
                    c["finished_at"] = _ts(d["last_finished"])
                c["last_error"] = d["last_error"] or c["last_error"]
        finally:
            conn.execute("COMMIT")
        record.counts = counts
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
        rows = self.store._all(f"SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE {' AND '.join(where)} "
                               "ORDER BY id DESC LIMIT :limit", params)
        return [_record(r) for r in rows]

    def active_run_ids(self) -> list[str]:
        return [r[0] for r in self.store._all("SELECT id FROM pipeline_runs WHERE state IN ('READY', 'RUNNING')")]

    @contextmanager
    def locked(self, run_id: str) -> Iterator[SQLiteRunTransaction | None]:
        woken: set[str] = set()
        with self.store._write() as conn:
            row = conn.execute(f"SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                yield None
                return
            conn.execute(FOLD, {"run": run_id})
            conn.execute("DELETE FROM pipeline_count_deltas WHERE run_id = ?", (run_id,))
            record = _record(row)
            record.counts = _counts(conn, run_id)
            tx = SQLiteRunTransaction(conn, record, woken)
            yield tx
        self.store._wake(woken)

    def fold(self, run_id: str) -> None:
        with self.store._write() as conn:
            conn.execute(FOLD, {"run": run_id})
            conn.execute("DELETE FROM pipeline_count_deltas WHERE run_id = ?", (run_id,))

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
                "INSERT INTO raw_extraction_data (run_id, step, tenant, token, source, fingerprint, payload, is_text, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (token, source, fingerprint) "
                "DO UPDATE SET payload = excluded.payload, is_text = excluded.is_text RETURNING id",
                (run_id, step, tenant, token, source, fingerprint, data, isinstance(payload, str), time.time()),
            ).fetchone()
        return int(row[0])

    def get_raw(self, raw_id: int) -> RawRecord | None:
        rows = self.store._all("SELECT * FROM raw_extraction_data WHERE id = ?", (raw_id,))
        if not rows:
            return None
        return common.raw_record(rows[0], rows[0]["run_id"], _ts(rows[0]["created_at"]))

    def raw_ids(self, run_id: str, step: str) -> list[int]:
        rows = self.store._all("SELECT id FROM raw_extraction_data WHERE run_id = ? AND step = ? ORDER BY id",
                               (run_id, step))
        return [int(r[0]) for r in rows]

    def job_ids(self, run_id: str, states: tuple[str, ...] = ()) -> list[tuple[str, str, str, str]]:
        marks = ", ".join("?" * len(states))
        rows = self.store._all(
            "SELECT id, step, stage, state FROM conveyor_jobs WHERE pipeline_run_id = ?"
            + (f" AND state IN ({marks})" if states else "") + " ORDER BY id", (run_id, *states))
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
                rows = self.store._all("SELECT id, updated_at FROM pipeline_runs WHERE updated_at > ?", (seen - 1.0,))
            except sqlite3.Error:
                continue
            fresh = [r for r in rows if r[1] > seen]
            if fresh:
                seen = max(r[1] for r in fresh)
                self._dispatch([r[0] for r in fresh])


class SQLiteRunTransaction:
    def __init__(self, conn: sqlite3.Connection, run: RunRecord, woken: set[str]) -> None:
        self.conn = conn
        self.run = run
        self.woken = woken

    def update_run(self, *, state: str, status: dict[str, Any], error: str | None,
                   started: bool = False, finished: bool = False) -> None:
        now = time.time()
        self.conn.execute(
            "UPDATE pipeline_runs SET state = ?, status = ?, error = ?, updated_at = ?, "
            "started_at = CASE WHEN ? THEN coalesce(started_at, ?) ELSE started_at END, "
            "finished_at = CASE WHEN ? THEN ? WHEN ? = 'RUNNING' THEN NULL ELSE finished_at END WHERE id = ?",
            (state, json.dumps(status), error, now, started, now, finished, now, state, self.run.id))

    def insert_jobs(self, jobs: list[StageJob], started_cells: list[tuple[str, str]]) -> None:
        write_stage_jobs(self.conn, jobs, [(self.run.id, s, st) for s, st in started_cells])
        self.woken |= {j.queue for j in jobs}

    def cancel_outstanding(self) -> int:
        now = time.time()
        cur = self.conn.execute(
            """UPDATE conveyor_jobs SET
                   state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
                   cancel_requested = (state = 'running'),
                   finished_at = CASE WHEN state = 'running' THEN finished_at ELSE ? END, updated_at = ?
               WHERE pipeline_run_id = ? AND state IN ('scheduled', 'queued', 'running')""", (now, now, self.run.id))
        return cur.rowcount

    def requeue(self, step: str | None, states: tuple[str, ...]) -> int:
        now = time.time()
        marks = ", ".join("?" * len(states))
        rows = self.conn.execute(
            f"""UPDATE conveyor_jobs SET state = 'queued', queued_at = ?, run_at = ?, finished_at = NULL,
                    attempts = 0, cancel_requested = 0, updated_at = ?
                WHERE pipeline_run_id = ? AND (? IS NULL OR step = ?) AND state IN ({marks}) RETURNING queue""",
            (now, now, now, self.run.id, step, step, *states)).fetchall()
        self.woken |= {r[0] for r in rows}
        return len(rows)
