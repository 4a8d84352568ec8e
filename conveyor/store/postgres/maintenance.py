"""PostgreSQL maintenance pass: one transaction under an advisory lock, so one pass runs at a
time across workers and servers. What becomes of each job comes from store/core.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from conveyor.store import core
from conveyor.store.base import MaintenanceReport, MaintenanceSettings
from conveyor.store.postgres.channels import CHANNEL_WAKE, PostgresListeners, event_notices, notify
from conveyor.store.postgres.connection import Q
from conveyor.task_metrics import RETENTION_SECONDS


class PostgresMaintenance(PostgresListeners):
    def _maintain(self, s: MaintenanceSettings) -> MaintenanceReport | None:
        report = MaintenanceReport()
        with self._connection() as conn, conn.transaction():
            got = conn.execute(Q.maintenance_lock).fetchone()
            if not got or not got[0]:
                return None
            cur = conn.cursor(row_factory=dict_row)
            now = datetime.now(UTC)
            live = {"liveness": s.liveness_timeout}
            report.dead_workers = [r["id"] for r in cur.execute(Q.mark_lost_workers, live).fetchall()]
            expiry = cur.execute(Q.next_heartbeat_expiry, live).fetchone()
            report.next_expiry = float(expiry["seconds"]) if expiry and expiry["seconds"] is not None else None
            rescues = [core.rescue_verdict(r, now) for r in cur.execute(Q.select_orphans, live).fetchall()]
            rescued = self._write_verdicts(cur, rescues)
            report.rescued = [(i, state) for i, state, _ in rescued]
            overdue = cur.execute(Q.select_overdue, {"grace": s.timeout_grace}).fetchall()
            timeouts = [core.timeout_verdict(r, now, s.retry_delay) for r in overdue]
            timed_out = self._write_verdicts(cur, timeouts)
            report.timed_out = [(i, state) for i, state, _ in timed_out]
            written = {i for i, _, _ in rescued + timed_out}
            cur.executemany(Q.count_task_minutes, core.ended_attempts(rescues + timeouts, written))
            woken = {q for _, state, q in rescued if state == "queued"}
            report.stranded_queues = sorted(r["queue"] for r in cur.execute(Q.stranded_queues, live).fetchall())
            cur.execute(Q.mark_stranded, {"queues": report.stranded_queues})
            if s.stranded_deadline > 0 and report.stranded_queues:
                late = cur.execute(Q.select_expired, {"queues": report.stranded_queues,
                                                      "deadline": s.stranded_deadline}).fetchall()
                if late:
                    errors = [core.expired_error(r["queue"], r["waited"], s.stranded_deadline) for r in late]
                    expired = cur.execute(Q.write_expired, {"id": [r["id"] for r in late], "error": errors})
                    report.expired = [r["id"] for r in expired.fetchall()]
            report.pruned = cur.execute(Q.prune_jobs, {"result_ttl": s.result_ttl, "failure_ttl": s.failure_ttl,
                                                       "batch": s.prune_batch}).rowcount
            cur.execute(Q.prune_workers, {"kept": core.WORKERS_KEPT_S})
            cur.execute(Q.prune_counters, {"kept": core.COMPLETION_COUNTS_KEPT_S,
                                           "deletions_kept": core.DELETIONS_KEPT_S})
            cur.execute(Q.prune_task_minutes, {"kept": RETENTION_SECONDS})
            changed = [i for i, _ in report.rescued + report.timed_out] + report.expired
            notify(conn, [(CHANNEL_WAKE, q) for q in sorted(woken)] + event_notices("finished", changed))
        return report

    @staticmethod
    def _write_verdicts(cur: psycopg.Cursor[Any], verdicts: list[core.Verdict]) -> list[tuple[str, str, str]]:
        """Write what maintenance decided; (id, state, queue) of each job written."""
        if not verdicts:
            return []
        rows = cur.execute(Q.write_verdicts, {
            "id": [v.id for v in verdicts], "state": [v.state for v in verdicts],
            "error": [v.error for v in verdicts], "entry": [Jsonb(v.entry) for v in verdicts],
            "delay": [v.delay for v in verdicts]}, prepare=False).fetchall()
        return [(r["id"], r["state"], r["queue"]) for r in rows]
