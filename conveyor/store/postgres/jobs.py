"""PostgreSQL: reading jobs, claiming and finishing them, progress, staging, operator actions."""

from __future__ import annotations

from typing import Any

from conveyor.model import Job, Outcome
from conveyor.store import core, filters
from conveyor.store.actions import OperatorActions
from conveyor.store.base import ClaimedJob, JobFilter
from conveyor.store.postgres.batches import LoopBatches, claimed_from_json, finished_ids, outcomes_json
from conveyor.store.postgres.channels import CHANNEL_WAKE, event_notices, notify
from conveyor.store.postgres.connection import PostgresConnections, Q

FILTER = filters.conditions(Q.job_filter)


def _where(f: JobFilter, before: str | None = None) -> tuple[str, dict[str, Any]]:
    return filters.where(f, FILTER, time=lambda t: t, array=list, before=before)


class PostgresJobs(PostgresConnections, OperatorActions):
    def get_job(self, job_id: str, tenant: str | None = None) -> Job | None:
        if not filters.is_uuid(job_id):
            return None
        row = self._fetchone(Q.get_job, {"id": job_id, "tenant": tenant}, read=True)
        return self._job(row) if row else None

    def get_jobs(self, job_ids: list[str]) -> list[Job]:
        valid = [i for i in job_ids if filters.is_uuid(i)]
        if not valid:
            return []
        return [self._job(r) for r in self._fetchall(Q.get_jobs, {"ids": valid}, read=True)]

    def _find_job_ids(self, params: dict[str, Any]) -> list[str]:
        return [str(r["id"]) for r in self._fetchall(Q.find_job_ids, params, read=True)]

    def task_metric_rows(self, since: float, step: int, tenant: str | None = None) -> list[dict[str, Any]]:
        return self._fetchall(Q.task_metric_rows, {"since": since, "step": step, "tenant": tenant}, read=True)

    def list_jobs(self, filters: JobFilter, *, limit: int = 50, before: str | None = None) -> list[Job]:
        where, params = _where(filters, before)
        params["limit"] = limit
        return [self._job(r) for r in self._fetchall(Q.list_jobs.format(where=where), params, read=True)]

    def claim_jobs(self, worker_id: str, queues: list[str], limit: int) -> list[ClaimedJob]:
        with self._connection() as conn:
            row = conn.execute(Q.claim_jobs, {"queues": queues, "limit": limit, "worker_id": worker_id}).fetchone()
        return claimed_from_json(row[0] if row else None)  # one JSON value: see batches.py

    def finish_jobs(self, outcomes: list[Outcome]) -> list[str]:
        outcomes = core.finishable(outcomes)
        if not outcomes:
            return []
        params = {"outcomes": outcomes_json(outcomes)}
        if any(o.run_id for o in outcomes):  # pipelines hook: stage jobs counted, emits written, in one transaction
            from conveyor.store.pipelines_postgres import finish_stage_batch
            return finish_stage_batch(self, Q.finish_jobs, params, outcomes)  # type: ignore[arg-type]
        # Never prepared: a generic plan guessed 10 rows from the batch (then an unnest) and picked a
        # nested loop that re-ran it per running job (100-370 ms for a 500-outcome batch, not ~2 ms).
        [row] = self._fetchall(Q.finish_jobs, params, prepare=False)
        return finished_ids(row["ids"])

    def loop_batches(self) -> LoopBatches:
        return LoopBatches(self.url)

    def _write_progress(self, params: dict[str, Any]) -> bool:
        with self._connection() as conn:
            changed = conn.execute(Q.update_progress, params).rowcount == 1
            if changed:
                notify(conn, event_notices("progress", [params["id"]]))
            return changed

    def extend_deadline(self, job_id: str, lease_token: str, seconds: float) -> bool:
        with self._connection() as conn:
            cur = conn.execute(Q.extend_deadline, {"seconds": seconds, "id": job_id, "lease": lease_token})
            return cur.rowcount == 1

    def cancel_requested_jobs(self, worker_id: str) -> list[str]:
        rows = self._fetchall(Q.cancel_requested_jobs, {"worker_id": worker_id}, read=True)
        return [str(r["id"]) for r in rows]

    def running_jobs(self, worker_id: str, started_before_seconds: float) -> list[tuple[str, str]]:
        rows = self._fetchall(Q.running_jobs, {"worker_id": worker_id, "seconds": started_before_seconds}, read=True)
        return [(str(r["id"]), str(r["lease_token"])) for r in rows]

    def stage_scheduled(self, limit: int = 1000) -> int:
        row = self._fetchone(Q.stage_scheduled, {"limit": limit})
        return int(row["n"]) if row else 0

    # -- operator actions (see actions.py) ----------------------------------------------------
    def _change_state(self, statement: str, job_id: str, from_states: list[str]) -> tuple[str, str] | None:
        row = self._fetchone(getattr(Q, statement), {"id": job_id, "from": from_states})
        return (row["state"], row["queue"]) if row else None

    def _change_dead_letters(self, statement: str, filters: JobFilter) -> list[tuple[str, str]]:
        where, params = _where(filters)
        return [(str(r["id"]), r["queue"]) for r in self._fetchall(getattr(Q, statement).format(where=where), params)]

    def _announce(self, event: str, ids: list[str], wake: set[str]) -> None:
        if ids:
            with self._connection() as conn:
                notify(conn, [(CHANNEL_WAKE, q) for q in wake] + event_notices(event, ids))
