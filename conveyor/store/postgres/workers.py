"""PostgreSQL: workers, queues and API keys."""

from __future__ import annotations

import psycopg

from conveyor.model import QueueStats, WorkerInfo
from conveyor.store import core
from conveyor.store.base import ApiKey
from conveyor.store.postgres.connection import PostgresConnections, Q


class PostgresWorkers(PostgresConnections):
    def register_worker(self, info: WorkerInfo) -> None:
        self._fetchall(Q.register_worker, {
            "id": info.id, "hostname": info.hostname, "pid": info.pid, "queues": info.queues,
            "concurrency": info.concurrency, "version": info.version})

    def heartbeat(
        self, worker_id: str, *, state: str, jobs_in_flight: int, processed: int, failed: int
    ) -> str | None:
        row = self._fetchone(Q.heartbeat, {"state": state, "inflight": jobs_in_flight, "processed": processed,
                                           "failed": failed, "id": worker_id})
        if row:
            return row["desired_state"]  # type: ignore[no-any-return]
        found = self._fetchone(Q.worker_state, {"id": worker_id}, read=True)
        return "dead" if found else "unregistered"

    def set_worker_desired_state(self, worker_id: str, desired: str) -> bool:
        return bool(self._fetchall(Q.set_worker_desired_state, {"desired": desired, "id": worker_id}))

    def stop_worker(self, worker_id: str) -> None:
        self._fetchall(Q.stop_worker, {"id": worker_id})

    def list_workers(self, liveness_timeout: float, include_dead_since: float = 3600.0) -> list[WorkerInfo]:
        rows = self._fetchall(Q.list_workers, {"liveness": liveness_timeout, "since": include_dead_since}, read=True)
        return [
            WorkerInfo(
                id=r["id"], hostname=r["hostname"], pid=r["pid"], queues=list(r["queues"]),
                concurrency=r["concurrency"], version=r["version"], started_at=r["started_at"],
                last_heartbeat=r["last_heartbeat"], state=r["state"], desired_state=r["desired_state"],
                jobs_in_flight=r["jobs_in_flight"], processed=r["processed"], failed=r["failed"],
                current_jobs=list(r["current_jobs"]), heartbeat_age=float(r["age"]), alive=bool(r["alive"]),
                detected_by=r["detected_by"], stopped_at=r["stopped_at"],
            )
            for r in rows
        ]

    def live_worker_count(self, queue: str, liveness_timeout: float) -> tuple[int, int]:
        try:
            row = self._fetchone(Q.live_workers, {"queue": queue, "liveness": liveness_timeout}, read=True)
        except psycopg.Error as exc:
            raise core.liveness_check_failed(exc) from None
        assert row is not None
        return int(row["running"]), int(row["paused"])

    def queue_stats(self, liveness_timeout: float, tenant: str | None = None) -> list[QueueStats]:
        rows = self._fetchall(Q.queue_stats, {"liveness": liveness_timeout, "tenant": tenant}, read=True)
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
            conn.execute(Q.set_queue_paused, {"queue": queue, "paused": paused})
            if not paused:
                conn.execute(Q.wake_queue, {"queue": queue})

    # -- API keys -------------------------------------------------------------------------
    def create_api_key(self, key_id: str, key_hash: str, tenant: str, role: str, name: str | None) -> None:
        self._fetchall(Q.create_api_key, {"id": key_id, "hash": key_hash, "tenant": tenant, "role": role, "name": name})

    def find_api_key(self, key_hash: str) -> ApiKey | None:
        row = self._fetchone(Q.find_api_key, {"hash": key_hash}, read=True)
        return ApiKey(**row) if row else None

    def list_api_keys(self) -> list[ApiKey]:
        return [ApiKey(**r) for r in self._fetchall(Q.list_api_keys, read=True)]

    def revoke_api_key(self, key_id: str) -> bool:
        return bool(self._fetchall(Q.revoke_api_key, {"id": key_id}))
