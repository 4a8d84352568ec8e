"""SQLite: reading jobs, claiming and finishing them, progress, staging, operator actions."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from conveyor.model import Job, JobState, Outcome
from conveyor.store import core, filters
from conveyor.store.actions import OperatorActions
from conveyor.store.base import ClaimedJob, JobFilter, dumps
from conveyor.store.rows import attempt_entry
from conveyor.store.sqlite.connection import Q, ts
from conveyor.store.sqlite.poller import SQLiteEvents
from conveyor.task_metrics import MinuteTally

RAN_STATES = (JobState.COMPLETED, JobState.SCHEDULED, JobState.DEAD)  # attempts that ran and ended

FILTER = filters.conditions(Q.job_filter)


def _where(f: JobFilter, before: str | None = None) -> tuple[str, dict[str, Any]]:
    return filters.where(f, FILTER, time=lambda t: t.timestamp(), array=json.dumps, before=before)


class SQLiteJobs(SQLiteEvents, OperatorActions):
    def get_job(self, job_id: str, tenant: str | None = None) -> Job | None:
        rows = self._all(Q.get_job, {"id": job_id, "tenant": tenant})
        return self._job(rows[0]) if rows else None

    def get_jobs(self, job_ids: list[str]) -> list[Job]:
        return [self._job(r) for r in self._all(Q.get_jobs, {"ids": json.dumps(job_ids)})] if job_ids else []

    def _find_job_ids(self, params: dict[str, Any]) -> list[str]:
        return [str(r["id"]) for r in self._all(Q.find_job_ids, params)]

    def task_metric_rows(self, since: float, step: int, tenant: str | None = None) -> list[dict[str, Any]]:
        return [dict(r) for r in self._all(Q.task_metric_rows, {"since": since, "step": step, "tenant": tenant})]

    def list_jobs(self, filters: JobFilter, *, limit: int = 50, before: str | None = None) -> list[Job]:
        where, params = _where(filters, before)
        params["limit"] = limit
        return [self._job(r) for r in self._all(Q.list_jobs.format(where=where), params)]

    def claim_jobs(self, worker_id: str, queues: list[str], limit: int) -> list[ClaimedJob]:
        claimed: list[ClaimedJob] = []
        # A read first: an idle worker polls often, and a poll that finds nothing must not take
        # the write lock that enqueuers need.
        if not self._all(Q.any_ready, {"queues": json.dumps(queues)}):
            return claimed
        with self._write() as conn:
            now = time.time()
            paused = {r[0] for r in conn.execute(Q.paused_queues)}
            for queue in queues:
                if len(claimed) >= limit or queue in paused:
                    continue
                rows = conn.execute(Q.claim_jobs, {"now": now, "worker": worker_id, "queue": queue,
                                                   "limit": limit - len(claimed)}).fetchall()
                rows.sort(key=lambda r: (-r["priority"], r["run_at"], r["id"]))
                claimed.extend(
                    ClaimedJob(
                        id=r["id"], task=r["task"], queue=r["queue"], tenant=r["tenant"],
                        args=json.loads(r["args"]), kwargs=json.loads(r["kwargs"]), attempts=r["attempts"],
                        max_attempts=r["max_attempts"], timeout=r["timeout"], lease_token=r["lease_token"],
                        token=r["token"], started_at=ts(r["started_at"]),  # type: ignore[arg-type]
                        pipeline_run_id=r["pipeline_run_id"], step=r["step"], stage=r["stage"],
                    )
                    for r in rows
                )
        return claimed

    def finish_jobs(self, outcomes: list[Outcome]) -> list[str]:
        outcomes = core.finishable(outcomes)
        done: list[str] = []
        woken: set[str] = set()
        completed: dict[tuple[str, str, str], int] = {}
        minutes = MinuteTally()
        with self._write() as conn:
            now = time.time()
            finished_iso = datetime.fromtimestamp(now, UTC).isoformat()
            for o in outcomes:
                row = conn.execute(Q.finish_jobs, {
                    "state": o.state.value,
                    "result": dumps(o.result) if o.state == JobState.COMPLETED else None,
                    "error": o.error, "traceback": o.traceback, "now": now, "delay": o.retry_delay,
                    "entry": dumps(attempt_entry(o, finished_iso)) if o.error is not None else None,
                    "id": o.job_id, "lease": o.lease_token,
                }).fetchone()
                if row is not None:
                    done.append(o.job_id)
                    if o.state == JobState.QUEUED:
                        woken.add(row["queue"])
                    elif o.state == JobState.COMPLETED:
                        key = (row["tenant"], row["queue"], row["worker_id"] or "")
                        completed[key] = completed.get(key, 0) + 1
                    if o.state in RAN_STATES and row["started_at"] is not None:
                        pickup = row["started_at"] - row["queued_at"] if row["queued_at"] is not None else None
                        minutes.add((row["tenant"], row["queue"], row["task"], row["worker_id"] or ""),
                                    o.state == JobState.COMPLETED, now - row["started_at"], pickup)
            # Throughput counters: one row per 10-second bucket, queue and worker.
            conn.executemany(Q.count_completions, [(now // 10 * 10, *key, n) for key, n in completed.items()])
            # Per-minute task figures (migration 0007, conveyor/task_metrics.py).
            conn.executemany(Q.count_task_minutes, [(now // 60 * 60, *row) for row in minutes.rows()])
            if any(o.emits for o in outcomes):  # pipelines hook: emits commit with their completions
                from conveyor.store.pipelines_sqlite import insert_emits
                woken |= insert_emits(conn, outcomes, set(done))
        self._wake(woken)
        return done

    def _write_progress(self, params: dict[str, Any]) -> bool:
        with self._write() as conn:
            return conn.execute(Q.update_progress, {**params, "now": time.time()}).rowcount == 1

    def extend_deadline(self, job_id: str, lease_token: str, seconds: float) -> bool:
        with self._write() as conn:
            cur = conn.execute(Q.extend_deadline, {"now": time.time(), "seconds": seconds, "id": job_id,
                                                   "lease": lease_token})
            return cur.rowcount == 1

    def cancel_requested_jobs(self, worker_id: str) -> list[str]:
        return [r["id"] for r in self._all(Q.cancel_requested_jobs, {"worker_id": worker_id})]

    def running_jobs(self, worker_id: str, started_before_seconds: float) -> list[tuple[str, str]]:
        rows = self._all(Q.running_jobs, {"worker_id": worker_id, "seconds": started_before_seconds})
        return [(r["id"], r["lease_token"]) for r in rows]

    def stage_scheduled(self, limit: int = 1000) -> int:
        now = time.time()
        if not self._all(Q.any_due, {"now": now}):  # the common case (nothing due) takes no write lock
            return 0
        rows = self._run(Q.stage_scheduled, {"now": now, "limit": limit})
        self._wake({r["queue"] for r in rows})
        return len(rows)

    # -- operator actions (see actions.py) ----------------------------------------------------
    def _change_state(self, statement: str, job_id: str, from_states: list[str]) -> tuple[str, str] | None:
        rows = self._run(getattr(Q, statement), {"id": job_id, "from": json.dumps(from_states)})
        return (rows[0]["state"], rows[0]["queue"]) if rows else None

    def _change_dead_letters(self, statement: str, filters: JobFilter) -> list[tuple[str, str]]:
        where, params = _where(filters)
        return [(r["id"], r["queue"]) for r in self._run(getattr(Q, statement).format(where=where), params)]
