"""PostgreSQL worker locks (conveyor/store/worker_locks.py): each worker holds a session-level
advisory lock on a connection of its own; the probe declares dead, 'exited', a worker whose lock
it can take and whose lock stays free past the grace period, and rescues its jobs at once."""

from __future__ import annotations

import select
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from conveyor.store import core
from conveyor.store.base import MaintenanceReport
from conveyor.store.postgres.channels import CHANNEL_WAKE, event_notices, notify
from conveyor.store.postgres.connection import Q
from conveyor.store.postgres.maintenance import PostgresMaintenance
from conveyor.store.worker_locks import (
    LOCK_GRACE_S,
    LOCK_SPACE,
    RESTART_SETTLE_S,
    WorkerLock,
    forget_fd,
    keep_out_of_children,
)

# The lock's connection: found dead within ~10 s on a silent network too (keepalives), and named
# after the worker in pg_stat_activity.
KEEPALIVES: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}


class PostgresWorkerLock(WorkerLock):
    def __init__(self, url: str, worker_id: str) -> None:
        self.url = url
        self.worker_id = worker_id
        self.conn: psycopg.Connection[Any] | None = None
        self.key = 0
        self.retake()

    def retake(self) -> None:
        self._close()
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5,
                               application_name=f"conveyor lock {self.worker_id}"[:63], **KEEPALIVES)
        try:
            while True:  # a fresh key is free unless the sequence wrapped onto a live one
                row = conn.execute(Q.take_worker_lock, {"space": LOCK_SPACE}).fetchone()
                assert row is not None
                if row[1]:
                    break
        except BaseException:
            conn.close()
            raise
        self.conn, self.key = conn, int(row[0])
        keep_out_of_children(conn.fileno())

    def attach(self) -> str | None:
        assert self.conn is not None
        row = self.conn.execute(Q.attach_worker_lock, {"key": self.key, "id": self.worker_id}).fetchone()
        return str(row[0]) if row else None

    def wait_lost(self, timeout: float) -> bool:
        conn = self.conn
        if conn is None or conn.closed:
            return True
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], timeout)
        except (OSError, ValueError):
            return True
        if not readable:
            return False
        try:  # the server wrote to an idle session: mostly it is ending it (terminated, shut down)
            conn.execute(Q.lock_session_alive)
            return False
        except psycopg.Error:
            return True

    def release(self) -> None:
        self._close()

    def _close(self) -> None:
        if self.conn is not None:
            try:
                forget_fd(self.conn.fileno())
            except psycopg.Error:
                pass
            self.conn.close()
            self.conn = None


class PostgresLiveness(PostgresMaintenance):
    def hold_worker_lock(self, worker_id: str) -> WorkerLock:
        return PostgresWorkerLock(self.url, worker_id)

    def detect_exited_workers(self) -> MaintenanceReport | None:
        report = MaintenanceReport()
        with self._connection() as conn, conn.transaction():
            got = conn.execute(Q.probe_lock).fetchone()
            if not got or not got[0]:
                return None
            cur = conn.cursor(row_factory=dict_row)
            probed = cur.execute(Q.probe_worker_locks, {"space": LOCK_SPACE, "grace": LOCK_GRACE_S,
                                                        "settle": RESTART_SETTLE_S}).fetchall()
            report.dead_workers = sorted(r["id"] for r in probed if r["exited"])
            if not report.dead_workers:
                return report
            now = datetime.now(UTC)
            orphans = cur.execute(Q.select_jobs_of_workers, {"workers": report.dead_workers}).fetchall()
            rescues = [core.rescue_verdict(r, now, exited=True) for r in orphans]
            rescued = self._write_verdicts(cur, rescues)
            report.rescued = [(i, s) for i, s, _ in rescued]
            cur.executemany(Q.count_task_minutes, core.ended_attempts(rescues, {i for i, _, _ in rescued}))
            woken = sorted({q for _, s, q in rescued if s == "queued"})
            notify(conn, [(CHANNEL_WAKE, q) for q in woken] + event_notices("finished", [i for i, _ in report.rescued]))
        return report
