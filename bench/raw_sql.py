"""Raw-SQL limit of PostgreSQL for a job-queue workload.

Measures what hand-written SQL over psycopg 3 achieves on this machine for the operations a job
queue performs (bulk enqueue, enqueue + NOTIFY, claim/complete, LISTEN/NOTIFY latency), so that
Conveyor's own figures can be reported as ratios to it.

    python -m bench.raw_sql --dsn postgresql://postgres@127.0.0.1:5432/postgres

Only tables prefixed ``raw_bench_`` are created, and they are dropped at the end. Server settings
(fsync, synchronous_commit, ...) are left untouched.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable, Sequence

import psycopg

TABLE = "raw_bench_jobs"
CHANNEL = "raw_bench_channel"
QUEUE = "default"

SINGLE_INSERT_MAX = 3000
CLAIM_ONE_MAX = 5000
EXECUTEMANY_BATCH = 1000
CLAIM_BATCH = 100
LATENCY_SAMPLES = 500
LATENCY_INTERVAL_S = 0.002

KEYS = (
    "bulk_insert_copy_jobs_per_s",
    "bulk_insert_executemany_jobs_per_s",
    "single_insert_notify_per_s",
    "claim_one_at_a_time_jobs_per_s",
    "claim_batch_100_jobs_per_s",
    "listen_notify_latency_ms_p50",
    "listen_notify_latency_ms_p95",
    "listen_notify_latency_ms_p99",
)

Row = tuple[str, int, str]  # (queue, priority, args as JSON text)

DDL = f"""
CREATE TABLE {TABLE} (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    queue       text        NOT NULL,
    priority    int         NOT NULL DEFAULT 0,
    state       text        NOT NULL DEFAULT 'queued',
    args        jsonb       NOT NULL DEFAULT '{{}}',
    run_at      timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz,
    result      jsonb
);
CREATE INDEX {TABLE}_queued_idx ON {TABLE} (queue, priority DESC, run_at) WHERE state = 'queued'
"""

INSERT_SQL = f"INSERT INTO {TABLE} (queue, priority, args) VALUES (%s, %s, %s::jsonb)"
COPY_SQL = f"COPY {TABLE} (queue, priority, args) FROM STDIN"
INSERT_NOTIFY_SQL = f"""
WITH ins AS ({INSERT_SQL} RETURNING id)
SELECT pg_notify('{CHANNEL}', ins.id::text) FROM ins
"""
# Oldest highest-priority due job; the ORDER BY matches the partial index.
PICK_SQL = f"""
SELECT id FROM {TABLE}
WHERE state = 'queued' AND queue = %(queue)s AND run_at <= now()
ORDER BY priority DESC, run_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
"""
CLAIM_ONE_SQL = f"""
UPDATE {TABLE} SET state = 'running', started_at = now()
WHERE id = ({PICK_SQL})
RETURNING id, args
"""
CLAIM_BATCH_SQL = f"""
WITH picked AS ({PICK_SQL})
UPDATE {TABLE} AS j SET state = 'running', started_at = now()
FROM picked WHERE j.id = picked.id
RETURNING j.id, j.args
"""
COMPLETE_ONE_SQL = f"""
UPDATE {TABLE} SET state = 'completed', finished_at = now(), result = %s::jsonb WHERE id = %s
"""
COMPLETE_MANY_SQL = f"""
UPDATE {TABLE} SET state = 'completed', finished_at = now(), result = %s::jsonb WHERE id = ANY(%s)
"""
RESULT = '{"ok": true}'


def _make_rows(n: int) -> list[Row]:
    return [(QUEUE, i % 10, json.dumps({"n": i, "payload": "x" * 32})) for i in range(n)]


def _timed(fn: Callable[[], int]) -> float:
    """Run ``fn`` (which returns the number of jobs it handled) and return jobs per second."""
    t0 = time.perf_counter()
    count = fn()
    elapsed = time.perf_counter() - t0
    return count / elapsed


def _reset(conn: psycopg.Connection) -> None:
    conn.execute(f"TRUNCATE {TABLE}")


def _copy(conn: psycopg.Connection, rows: Sequence[Row]) -> int:
    with conn.transaction(), conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
        for row in rows:
            copy.write_row(row)
    return len(rows)


def _executemany(conn: psycopg.Connection, rows: Sequence[Row]) -> int:
    with conn.transaction(), conn.cursor() as cur:
        for start in range(0, len(rows), EXECUTEMANY_BATCH):
            cur.executemany(INSERT_SQL, rows[start : start + EXECUTEMANY_BATCH])
    return len(rows)


def _insert_notify(conn: psycopg.Connection, rows: Sequence[Row]) -> int:
    for row in rows:
        conn.execute(INSERT_NOTIFY_SQL, row)
    return len(rows)


LIBPQ_STATEMENT = b"raw_bench_insert_notify"


def _insert_notify_libpq(conn: psycopg.Connection, rows: Sequence[Row]) -> int:
    """The same statement through libpq's own prepared-statement call (psycopg.pq), as Conveyor's
    single enqueue sends its statement: no cursor, no per-parameter adaptation. The floor of a
    round trip from Python."""
    pgconn = conn.pgconn
    if not conn.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s",
                        [LIBPQ_STATEMENT.decode()]).fetchone():
        sql = INSERT_NOTIFY_SQL.replace("%s", "$1", 1).replace("%s", "$2", 1).replace("%s", "$3", 1)
        pgconn.prepare(LIBPQ_STATEMENT, sql.encode())
    params = [[queue.encode(), str(priority).encode(), args.encode()] for queue, priority, args in rows]
    for values in params:
        result = pgconn.exec_prepared(LIBPQ_STATEMENT, values)
        if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
            raise psycopg.errors.error_from_result(result)
    return len(rows)


def _load_queue(conn: psycopg.Connection, rows: Sequence[Row]) -> None:
    _reset(conn)
    _copy(conn, rows)
    conn.execute(f"ANALYZE {TABLE}")


def _claim_one_at_a_time(conn: psycopg.Connection, limit: int) -> int:
    params = {"queue": QUEUE, "limit": 1}
    done = 0
    while done < limit:
        job = conn.execute(CLAIM_ONE_SQL, params).fetchone()
        if job is None:
            break
        conn.execute(COMPLETE_ONE_SQL, (RESULT, job[0]))
        done += 1
    return done


def _claim_batches(conn: psycopg.Connection) -> int:
    params = {"queue": QUEUE, "limit": CLAIM_BATCH}
    done = 0
    while True:
        jobs = conn.execute(CLAIM_BATCH_SQL, params).fetchall()
        if not jobs:
            return done
        conn.execute(COMPLETE_MANY_SQL, (RESULT, [job[0] for job in jobs]))
        done += len(jobs)


def _percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Percentile (0-100) of already sorted data, linearly interpolated between closest ranks."""
    pos = (len(sorted_values) - 1) * pct / 100
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _notify_latencies_ms(dsn: str, samples: int = LATENCY_SAMPLES) -> list[float]:
    """NOTIFY on one connection, receive on a LISTENing connection in another thread.

    The payload carries the sender's ``perf_counter()`` taken just before the NOTIFY is sent, so the
    latency covers the sender's round trip/commit, server delivery and the listener's wake-up.
    """
    latencies: list[float] = []
    ready = threading.Event()
    errors: list[Exception] = []

    def listen() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                ready.set()
                for note in conn.notifies(timeout=samples * LATENCY_INTERVAL_S + 30, stop_after=samples):
                    latencies.append((time.perf_counter() - float(note.payload)) * 1000)
        except Exception as exc:
            errors.append(exc)
            ready.set()

    listener = threading.Thread(target=listen, name="raw-bench-listener", daemon=True)
    listener.start()
    if not ready.wait(30):
        raise RuntimeError("listener did not start")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(samples):
            if errors:
                break
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, repr(time.perf_counter())))
            time.sleep(LATENCY_INTERVAL_S)
    listener.join()
    if errors:
        raise errors[0]
    if len(latencies) != samples:
        raise RuntimeError(f"received {len(latencies)} of {samples} notifications")
    return sorted(latencies)


def _run_once(conn: psycopg.Connection, dsn: str, rows: Sequence[Row]) -> dict[str, float]:
    n_jobs = len(rows)
    out: dict[str, float] = {}

    _reset(conn)
    out["bulk_insert_copy_jobs_per_s"] = _timed(lambda: _copy(conn, rows))
    _reset(conn)
    out["bulk_insert_executemany_jobs_per_s"] = _timed(lambda: _executemany(conn, rows))
    _reset(conn)
    single = rows[: min(n_jobs, SINGLE_INSERT_MAX)]
    out["single_insert_notify_per_s"] = _timed(lambda: _insert_notify(conn, single))

    _load_queue(conn, rows)
    claim_limit = min(n_jobs, CLAIM_ONE_MAX)
    out["claim_one_at_a_time_jobs_per_s"] = _timed(lambda: _claim_one_at_a_time(conn, claim_limit))
    _load_queue(conn, rows)
    out["claim_batch_100_jobs_per_s"] = _timed(lambda: _claim_batches(conn))
    _reset(conn)

    latencies = _notify_latencies_ms(dsn)
    for pct in (50, 95, 99):
        out[f"listen_notify_latency_ms_p{pct}"] = _percentile(latencies, pct)
    return out


def run_raw_baseline(dsn: str, n_jobs: int = 20000, repeats: int = 3) -> dict[str, float]:
    """Measure raw-SQL job-queue throughput and LISTEN/NOTIFY latency; return medians over ``repeats``.

    Creates ``raw_bench_*`` tables in the database of ``dsn`` and drops them before returning.
    Throughputs are in jobs/s, latencies in milliseconds.
    """
    if n_jobs < 1 or repeats < 1:
        raise ValueError("n_jobs and repeats must be >= 1")
    rows = _make_rows(n_jobs)
    runs: list[dict[str, float]] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(DDL)
        try:
            for _ in range(repeats):
                runs.append(_run_once(conn, dsn, rows))
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    return {key: float(statistics.median(run[key] for run in runs)) for key in KEYS}


def _format(results: dict[str, float]) -> str:
    width = max(len(key) for key in results)
    lines = [f"{'metric':<{width}}  {'median':>12}", f"{'-' * width}  {'-' * 12}"]
    lines += [f"{key:<{width}}  {value:>12,.2f}" for key, value in results.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--jobs", type=int, default=20000, help="jobs per throughput run (default 20000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs to take the median over (default 3)")
    args = parser.parse_args(argv)
    results = run_raw_baseline(args.dsn, n_jobs=args.jobs, repeats=args.repeats)
    print(f"raw SQL baseline: n_jobs={args.jobs}, repeats={args.repeats}, median shown")
    print(_format(results))


if __name__ == "__main__":
    main()
