"""Scratch databases and the direct SQL the harness measures with.

The store API is paged and built for users, so aggregates over the job records (first claim,
last completion, pickup latencies) are read here with plain SQL. Each engine gets a throw-away
database: `conveyor_bench_<pid>_<time>` on the PostgreSQL server, a file in a temporary folder
for SQLite. Rows created in the last hour are "this run"; the scale section's history rows are
older than that, so the same queries serve both.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import psycopg

RECENT_S = 3600.0  # rows created more recently than this belong to the running benchmark
HISTORY_AGE_S = 2 * 3600.0  # the scale section's finished rows are created at least this long ago


class ScratchDatabase(ABC):
    engine: str
    url: str  # what Conveyor is given

    @abstractmethod
    def create(self) -> None: ...

    @abstractmethod
    def drop(self) -> None: ...

    @abstractmethod
    def server_version(self) -> str: ...

    @abstractmethod
    def reset(self) -> None:
        """Empty the jobs, workers and queues tables."""

    @abstractmethod
    def clear_jobs(self) -> None:
        """Empty the jobs table only (registered workers stay)."""

    @abstractmethod
    def delete_recent(self) -> None:
        """Delete the jobs this run created, keep the scale section's history."""

    @abstractmethod
    def analyze(self) -> None:
        """Refresh planner statistics after a bulk load (autovacuum would, given time)."""

    @abstractmethod
    def unfinished(self) -> int:
        """Jobs still scheduled, queued or running."""

    @abstractmethod
    def state_counts(self) -> dict[str, int]:
        """Recent jobs per state."""

    @abstractmethod
    def span(self) -> tuple[int, float | None, float | None]:
        """(completed recent jobs, first started_at, last finished_at) in unix seconds."""

    @abstractmethod
    def pickup_latencies_ms(self) -> list[float]:
        """started_at - queued_at of every completed recent job, in milliseconds."""

    @abstractmethod
    def jobs(self, ids: Sequence[str]) -> list[tuple[str, str, str | None, float | None]]:
        """(id, state, worker_id, started_at unix seconds) of these jobs."""

    @abstractmethod
    def insert_history(self, rows: int) -> None:
        """Insert `rows` completed jobs, finished more than an hour ago."""

    @abstractmethod
    def job_count(self) -> int: ...


class PostgresScratch(ScratchDatabase):
    engine = "postgres"

    def __init__(self, server_dsn: str) -> None:
        self.server_dsn = server_dsn
        self.name = f"conveyor_bench_{os.getpid()}_{int(time.time())}"
        self.url = urlsplit(server_dsn)._replace(path=f"/{self.name}").geturl()
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True)
        return self._conn

    def create(self) -> None:
        with psycopg.connect(self.server_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        with psycopg.connect(self.server_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def server_version(self) -> str:
        row = self.conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def _scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        row = self.conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None

    def reset(self) -> None:
        self.conn.execute("TRUNCATE conveyor_jobs, conveyor_workers, conveyor_queues, conveyor_completions")

    def clear_jobs(self) -> None:
        self.conn.execute("TRUNCATE conveyor_jobs, conveyor_completions")

    def delete_recent(self) -> None:
        self.conn.execute("DELETE FROM conveyor_jobs WHERE created_at > now() - make_interval(secs => %s)",
                          (RECENT_S,))
        self.conn.execute("VACUUM ANALYZE conveyor_jobs")

    def analyze(self) -> None:
        self.conn.execute("ANALYZE conveyor_jobs")

    def unfinished(self) -> int:
        # One count per state, so each is answered from that state's small partial index: a plain
        # `state IN (...)` count can become a parallel scan of the whole table (seen with 1M
        # history rows), which the harness would then run ten times a second during a measurement.
        return int(self._scalar(
            "SELECT (SELECT count(*) FROM conveyor_jobs WHERE state = 'queued')"
            " + (SELECT count(*) FROM conveyor_jobs WHERE state = 'running')"
            " + (SELECT count(*) FROM conveyor_jobs WHERE state = 'scheduled')"
        ))

    def state_counts(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT state, count(*) FROM conveyor_jobs WHERE created_at > now() - make_interval(secs => %s) "
            "GROUP BY state", (RECENT_S,),
        ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def span(self) -> tuple[int, float | None, float | None]:
        row = self.conn.execute(
            """SELECT count(*), extract(epoch FROM min(started_at)), extract(epoch FROM max(finished_at))
               FROM conveyor_jobs
               WHERE state = 'completed' AND created_at > now() - make_interval(secs => %s)""",
            (RECENT_S,),
        ).fetchone()
        assert row is not None
        return int(row[0]), _float(row[1]), _float(row[2])

    def pickup_latencies_ms(self) -> list[float]:
        rows = self.conn.execute(
            """SELECT extract(epoch FROM started_at - queued_at) * 1000 FROM conveyor_jobs
               WHERE state = 'completed' AND created_at > now() - make_interval(secs => %s)""",
            (RECENT_S,),
        ).fetchall()
        return [float(r[0]) for r in rows]

    def jobs(self, ids: Sequence[str]) -> list[tuple[str, str, str | None, float | None]]:
        rows = self.conn.execute(
            "SELECT id::text, state, worker_id, extract(epoch FROM started_at) FROM conveyor_jobs "
            "WHERE id = ANY(%s::uuid[])",
            (list(ids),),
        ).fetchall()
        return [(r[0], r[1], r[2], _float(r[3])) for r in rows]

    def insert_history(self, rows: int) -> None:
        # One statement; finished 2 h+ ago (outside the "last hour" throughput window and the
        # one-hour retention floor), spread 10 ms apart going back in time.
        self.conn.execute(
            """INSERT INTO conveyor_jobs (id, task, queue, priority, tenant, args, kwargs, state, attempts,
                   max_attempts, run_at, created_at, queued_at, started_at, finished_at, updated_at,
                   worker_id, result, token, attempt_log)
               SELECT id::uuid, 'demo.noop', 'default', 0, 'default', '[{"n": 1}]', '{}',
                   'completed', 1, 3, t, t, t, t + interval '1 ms', t + interval '2 ms', t + interval '2 ms',
                   'bench-history', 'null', replace(id, '-', ''), '[]'
               FROM generate_series(1, %(rows)s) AS g,
                    LATERAL (SELECT now() - make_interval(secs => %(age)s) - g * interval '10 ms' AS t) AS x,
                    -- A UUIDv7 of t, as Conveyor gives its jobs (the token of a root job is its id).
                    LATERAL (SELECT lpad(to_hex(floor(extract(epoch FROM t) * 1000)::bigint), 12, '0')
                                    || '7' || substr(md5(g::text), 1, 3) || '8' || substr(md5(g::text), 4, 15)
                             AS hex) AS h,
                    LATERAL (SELECT substr(hex, 1, 8) || '-' || substr(hex, 9, 4) || '-' || substr(hex, 13, 4)
                                    || '-' || substr(hex, 17, 4) || '-' || substr(hex, 21, 12) AS id) AS i""",
            {"rows": rows, "age": HISTORY_AGE_S},
        )
        self.conn.execute("VACUUM ANALYZE conveyor_jobs")

    def job_count(self) -> int:
        return int(self._scalar("SELECT count(*) FROM conveyor_jobs"))


class SQLiteScratch(ScratchDatabase):
    engine = "sqlite"

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="conveyor_bench_")
        self.path = os.path.join(self.folder, "bench.db")
        self.url = f"sqlite:///{self.path}"
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=60.0)
            self._conn.execute("PRAGMA busy_timeout=60000")
        return self._conn

    def create(self) -> None:
        """The file is created by Conveyor's store on first open."""

    def drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def server_version(self) -> str:
        return sqlite3.sqlite_version

    def _write(self, *statements: tuple[str, Sequence[Any] | dict[str, Any]]) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                conn.execute(sql, params)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def reset(self) -> None:
        self._write(("DELETE FROM conveyor_jobs", ()), ("DELETE FROM conveyor_workers", ()),
                    ("DELETE FROM conveyor_queues", ()), ("DELETE FROM conveyor_completions", ()))

    def clear_jobs(self) -> None:
        self._write(("DELETE FROM conveyor_jobs", ()), ("DELETE FROM conveyor_completions", ()))

    def delete_recent(self) -> None:
        self._write(("DELETE FROM conveyor_jobs WHERE created_at > ?", (time.time() - RECENT_S,)))

    def analyze(self) -> None:
        """Conveyor never runs ANALYZE on SQLite, so neither does the benchmark."""

    def unfinished(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM conveyor_jobs WHERE state IN ('scheduled', 'queued', 'running')"
        ).fetchone()
        return int(row[0])

    def state_counts(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT state, count(*) FROM conveyor_jobs WHERE created_at > ? GROUP BY state",
            (time.time() - RECENT_S,),
        ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def span(self) -> tuple[int, float | None, float | None]:
        row = self.conn.execute(
            "SELECT count(*), min(started_at), max(finished_at) FROM conveyor_jobs "
            "WHERE state = 'completed' AND created_at > ?",
            (time.time() - RECENT_S,),
        ).fetchone()
        return int(row[0]), _float(row[1]), _float(row[2])

    def pickup_latencies_ms(self) -> list[float]:
        rows = self.conn.execute(
            "SELECT (started_at - queued_at) * 1000 FROM conveyor_jobs WHERE state = 'completed' AND created_at > ?",
            (time.time() - RECENT_S,),
        ).fetchall()
        return [float(r[0]) for r in rows]

    def jobs(self, ids: Sequence[str]) -> list[tuple[str, str, str | None, float | None]]:
        marks = ", ".join("?" for _ in ids)
        rows = self.conn.execute(
            f"SELECT id, state, worker_id, started_at FROM conveyor_jobs WHERE id IN ({marks})", tuple(ids)
        ).fetchall()
        return [(r[0], r[1], r[2], _float(r[3])) for r in rows]

    def insert_history(self, rows: int) -> None:
        start = time.time() - HISTORY_AGE_S
        self._write((
            """WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :rows)
               INSERT INTO conveyor_jobs (id, task, queue, priority, tenant, args, kwargs, state, attempts,
                   max_attempts, run_at, created_at, queued_at, started_at, finished_at, updated_at,
                   worker_id, result, token, attempt_log)
               SELECT substr(ms, 1, 8) || '-' || substr(ms, 9, 4) || '-7' || substr(r, 1, 3) || '-8'
                          || substr(r, 4, 3) || '-' || substr(r, 7, 12),
                   'demo.noop', 'default', 0, 'default', '[{"n":1}]', '{}',
                   'completed', 1, 3, t, t, t, t + 0.001, t + 0.002, t + 0.002, 'bench-history', 'null',
                   ms || '7' || substr(r, 1, 3) || '8' || substr(r, 4, 15), '[]'
               -- A UUIDv7 of t, as Conveyor gives its jobs (the token of a root job is its id).
               FROM (SELECT t, printf('%012x', CAST(t * 1000 AS INTEGER)) AS ms, lower(hex(randomblob(9))) AS r
                     FROM (SELECT n, :start - n * 0.01 AS t FROM g))""",
            {"rows": rows, "start": start},
        ))

    def vacuum(self) -> None:
        self.conn.execute("VACUUM")

    def job_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM conveyor_jobs").fetchone()[0])


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def open_scratch(engine: str, server_dsn: str) -> ScratchDatabase:
    if engine == "postgres":
        return PostgresScratch(server_dsn)
    if engine == "sqlite":
        return SQLiteScratch()
    raise ValueError(f"unknown engine {engine!r}")
