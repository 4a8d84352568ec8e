"""SQLite enqueue: one write transaction for a batch of any size (one job or many): the
live-worker check per queue, each job's own policy, one insert per job."""

from __future__ import annotations

import sqlite3
import time

from conveyor.model import JobState, NewJob
from conveyor.store import core
from conveyor.store.base import EnqueueResult, dumps, validate_new_job
from conveyor.store.sqlite.connection import Q
from conveyor.store.sqlite.poller import SQLiteEvents


class SQLiteEnqueue(SQLiteEvents):
    def _enqueue(self, jobs: list[NewJob], policy: core.PolicyChoice, liveness: float,
                 app_path: str | None) -> list[EnqueueResult]:
        chosen = core.policy_of(policy)
        for job in jobs:
            validate_new_job(job)
        encoded = [(j, dumps(j.args), dumps(j.kwargs), dumps(j.meta)) for j in jobs]
        results: list[EnqueueResult] = []
        woken: set[str] = set()
        try:
            with self._write() as conn:
                now = time.time()
                workers = {}
                for queue in {j.queue for j in jobs}:
                    row = conn.execute(Q.live_workers, {"now": now, "liveness": liveness, "queue": queue}).fetchone()
                    workers[queue] = (int(row["running"]), int(row["paused"]))
                # Each job's own policy decides (all refusals raise before anything is written).
                refusals = core.refusals_for(jobs, chosen, workers, app_path)
                for (job, args, kwargs, meta), refusal in zip(encoded, refusals, strict=True):
                    run_at = job.run_at.timestamp() if job.run_at is not None else now
                    state = "failed" if refusal is not None else "scheduled" if run_at > now else "queued"
                    cur = conn.execute(Q.insert_keyed, {
                        "id": job.id, "task": job.task, "queue": job.queue, "priority": job.priority,
                        "tenant": job.tenant, "args": args, "kwargs": kwargs, "state": state,
                        "max_attempts": job.max_attempts, "timeout": job.timeout, "run_at": run_at,
                        "now": now, "queued_at": now if state == "queued" else None,
                        "finished_at": now if state == "failed" else None,
                        "token": None if job.starts_chain else job.token,  # NULL reads as the job's own id
                        "parent_id": job.parent_id, "idempotency_key": job.idempotency_key, "meta": meta,
                        "error": refusal,
                    })
                    if cur.rowcount == 1:
                        results.append(EnqueueResult(job.id, JobState(state), True))
                        if state == "queued":
                            woken.add(job.queue)
                    else:
                        holder = conn.execute(Q.key_holder, {"tenant": job.tenant,
                                                             "idempotency_key": job.idempotency_key}).fetchone()
                        results.append(EnqueueResult(holder["id"], JobState(holder["state"]), False))
        except sqlite3.Error as exc:
            raise core.enqueue_failed(exc, where="database file") from None
        self._wake(woken)
        self._wake_other_processes(woken, liveness)
        return results
