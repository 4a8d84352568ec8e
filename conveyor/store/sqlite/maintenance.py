"""SQLite maintenance pass: one write transaction (the write lock is the maintenance lock). What
becomes of each job comes from store/core.py."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime

from conveyor.store import core
from conveyor.store.base import MaintenanceReport, MaintenanceSettings
from conveyor.store.sqlite.connection import Q, ts
from conveyor.store.sqlite.poller import SQLiteEvents
from conveyor.task_metrics import RETENTION_SECONDS


class SQLiteMaintenance(SQLiteEvents):
    def _maintain(self, s: MaintenanceSettings) -> MaintenanceReport | None:
        report = MaintenanceReport()
        with self._write() as conn:
            now = time.time()
            clock = datetime.fromtimestamp(now, UTC)
            live = {"now": now, "liveness": s.liveness_timeout}
            report.dead_workers = [r["id"] for r in conn.execute(Q.mark_lost_workers, live)]
            report.next_expiry = conn.execute(Q.next_heartbeat_expiry, live).fetchone()["seconds"]
            rescues = [core.rescue_verdict(self._taken(r), clock) for r in conn.execute(Q.select_orphans, live)]
            rescued = self._write_verdicts(conn, now, rescues)
            report.rescued = [(i, state) for i, state, _ in rescued]
            overdue = conn.execute(Q.select_overdue, {"now": now, "grace": s.timeout_grace})
            timeouts = [core.timeout_verdict(self._taken(r), clock, s.retry_delay) for r in overdue]
            timed_out = self._write_verdicts(conn, now, timeouts)
            report.timed_out = [(i, state) for i, state, _ in timed_out]
            written = {i for i, _, _ in rescued + timed_out}
            conn.executemany(Q.count_task_minutes, [(now // 60 * 60, *row)
                                                    for row in core.ended_attempts(rescues + timeouts, written)])
            report.stranded_queues = sorted(r[0] for r in conn.execute(Q.stranded_queues, live))
            stranded = {"now": now, "queues": json.dumps(report.stranded_queues)}
            conn.execute(Q.clear_stranded, stranded)
            conn.execute(Q.mark_stranded, stranded)
            if s.stranded_deadline > 0 and report.stranded_queues:
                late = conn.execute(Q.select_expired, {**stranded, "deadline": s.stranded_deadline}).fetchall()
                expired = [{"id": r["id"], "error": core.expired_error(r["queue"], r["waited"], s.stranded_deadline)}
                           for r in late]
                if expired:
                    rows = conn.execute(Q.write_expired, {"now": now, "expired": json.dumps(expired)})
                    report.expired = [r["id"] for r in rows]
            report.pruned = conn.execute(Q.prune_jobs, {"now": now, "result_ttl": s.result_ttl,
                                                        "failure_ttl": s.failure_ttl, "batch": s.prune_batch}).rowcount
            conn.execute(Q.prune_workers, {"now": now, "kept": core.WORKERS_KEPT_S})
            conn.execute(Q.prune_counters, {"now": now, "kept": core.COMPLETION_COUNTS_KEPT_S})
            conn.execute(Q.prune_task_minutes, {"now": now, "kept": RETENTION_SECONDS})
            conn.execute(Q.prune_deletions, {"now": now, "deletions_kept": core.DELETIONS_KEPT_S})
        self._wake({q for _, state, q in rescued if state == "queued"})
        return report

    @staticmethod
    def _taken(row: sqlite3.Row) -> dict[str, object]:
        taken = dict(row)
        taken["started_at"] = ts(taken["started_at"])
        return taken

    @staticmethod
    def _write_verdicts(conn: sqlite3.Connection, now: float, verdicts: list[core.Verdict]) -> list[tuple[str, str, str]]:
        """Write what maintenance decided; (id, state, queue) of each job written."""
        if not verdicts:
            return []
        payload = json.dumps([{"id": v.id, "state": v.state, "error": v.error, "entry": v.entry, "delay": v.delay}
                              for v in verdicts])
        return [(r[0], r[1], r[2]) for r in conn.execute(Q.write_verdicts, {"now": now, "verdicts": payload})]
