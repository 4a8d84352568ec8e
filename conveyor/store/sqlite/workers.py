"""SQLite: workers, queues and API keys."""

from __future__ import annotations

import json
import sqlite3
import time

from conveyor.model import QueueStats, WorkerInfo
from conveyor.store import core
from conveyor.store.base import ApiKey
from conveyor.store.sqlite.connection import Q, ts
from conveyor.store.sqlite.poller import SQLiteEvents


def _key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        id=row["id"], tenant=row["tenant"], role=row["role"], name=row["name"],
        created_at=ts(row["created_at"]), revoked_at=ts(row["revoked_at"]),  # type: ignore[arg-type]
    )


class SQLiteWorkers(SQLiteEvents):
    def register_worker(self, info: WorkerInfo) -> None:
        self._run(Q.register_worker, {"id": info.id, "hostname": info.hostname, "pid": info.pid,
                                      "queues": json.dumps(info.queues), "concurrency": info.concurrency,
                                      "version": info.version, "wake_address": self._wake_address()})

    def heartbeat(
        self, worker_id: str, *, state: str, jobs_in_flight: int, processed: int, failed: int
    ) -> str | None:
        rows = self._run(Q.heartbeat, {"state": state, "inflight": jobs_in_flight, "processed": processed,
                                       "failed": failed, "id": worker_id})
        if rows:
            return rows[0]["desired_state"]  # type: ignore[no-any-return]
        return "dead" if self._all(Q.worker_state, {"id": worker_id}) else "unregistered"

    def set_worker_desired_state(self, worker_id: str, desired: str) -> bool:
        return bool(self._run(Q.set_worker_desired_state, {"desired": desired, "id": worker_id}))

    def stop_worker(self, worker_id: str) -> None:
        self._run(Q.stop_worker, {"id": worker_id})

    def list_workers(self, liveness_timeout: float, include_dead_since: float = 3600.0) -> list[WorkerInfo]:
        now = time.time()
        rows = self._all(Q.list_workers, {"now": now, "since": include_dead_since})
        return [
            WorkerInfo(
                id=r["id"], hostname=r["hostname"], pid=r["pid"], queues=json.loads(r["queues"]),
                concurrency=r["concurrency"], version=r["version"],
                started_at=ts(r["started_at"]), last_heartbeat=ts(r["last_heartbeat"]),  # type: ignore[arg-type]
                state=r["state"], desired_state=r["desired_state"], jobs_in_flight=r["jobs_in_flight"],
                processed=r["processed"], failed=r["failed"], current_jobs=json.loads(r["current_jobs"]),
                heartbeat_age=now - r["last_heartbeat"],
                alive=r["state"] not in ("stopped", "dead") and r["last_heartbeat"] > now - liveness_timeout,
                detected_by=r["detected_by"], stopped_at=ts(r["stopped_at"]),
            )
            for r in rows
        ]

    def live_worker_count(self, queue: str, liveness_timeout: float) -> tuple[int, int]:
        try:
            row = self._all(Q.live_workers, {"liveness": liveness_timeout, "queue": queue})[0]
        except sqlite3.Error as exc:
            raise core.liveness_check_failed(exc, where="database file") from None
        return int(row["running"]), int(row["paused"])

    def queue_stats(self, liveness_timeout: float, tenant: str | None = None) -> list[QueueStats]:
        now = time.time()
        active = self._all(Q.queue_stats, {"tenant": tenant, "now": now})
        recent = self._all(Q.recent_completions, {"now": now, "tenant": tenant})
        live: dict[str, int] = {}
        for w in self._all(Q.live_worker_queues, {"now": now, "liveness": liveness_timeout}):
            for q in json.loads(w["queues"]):
                live[q] = live.get(q, 0) + (1 if w["state"] == "running" else 0)
        paused = {r["name"]: bool(r["paused"]) for r in self._all(Q.queue_flags)}
        names = {r["queue"] for r in active} | {r["queue"] for r in recent} | set(live)
        if tenant is None:
            names |= set(paused)
        stats = []
        for name in sorted(names):
            counts = {s: 0 for s in ("scheduled", "queued", "running", "dead", "failed")}
            oldest: float | None = None
            for r in active:
                if r["queue"] == name:
                    counts[r["state"]] = r["n"]
                    if r["oldest"] is not None:
                        oldest = r["oldest"]
            minute = hour = 0
            for r in recent:
                if r["queue"] == name:
                    minute, hour = int(r["last_minute"] or 0), int(r["last_hour"])
            stats.append(
                QueueStats(
                    name=name, counts=counts, live_workers=live.get(name, 0), paused=paused.get(name, False),
                    oldest_ready_age=(now - oldest) if oldest is not None else None,
                    stranded=counts["queued"] > 0 and live.get(name, 0) == 0,
                    completed_last_minute=minute, completed_last_hour=hour,
                )
            )
        return stats

    def set_queue_paused(self, queue: str, paused: bool) -> None:
        self._run(Q.set_queue_paused, {"queue": queue, "paused": int(paused)})
        if not paused:
            self._wake({queue})

    # -- API keys -------------------------------------------------------------------------
    def create_api_key(self, key_id: str, key_hash: str, tenant: str, role: str, name: str | None) -> None:
        self._run(Q.create_api_key, {"id": key_id, "hash": key_hash, "tenant": tenant, "role": role, "name": name})

    def find_api_key(self, key_hash: str) -> ApiKey | None:
        rows = self._all(Q.find_api_key, {"hash": key_hash})
        return _key(rows[0]) if rows else None

    def list_api_keys(self) -> list[ApiKey]:
        return [_key(r) for r in self._all(Q.list_api_keys, {})]

    def revoke_api_key(self, key_id: str) -> bool:
        return bool(self._run(Q.revoke_api_key, {"id": key_id}))
