"""PostgreSQL bulk enqueue: one transaction with the live-worker check for every queue, a COPY of
the jobs without an idempotency key, an INSERT ... ON CONFLICT for those with one, and the NOTIFYs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from operator import itemgetter
from typing import Any

import psycopg

from conveyor.model import JobState, NewJob
from conveyor.store import core
from conveyor.store.base import EnqueueResult, dumps, validate_new_job
from conveyor.store.postgres.channels import CHANNEL_WAKE, PostgresListeners, event_notices, notify
from conveyor.store.postgres.connection import Q, connection_lost

# The columns a job can be written with, in the order of _copy_row (and of insert_keyed.sql).
COPY_COLUMNS = ("id", "task", "queue", "priority", "tenant", "args", "kwargs", "state", "max_attempts",
                "timeout", "run_at", "queued_at", "finished_at", "token", "parent_id", "idempotency_key",
                "meta", "error")


class PostgresBulkEnqueue(PostgresListeners):
    def _enqueue_many(
        self, jobs: list[NewJob], policy: core.PolicyOfJob, liveness: float, app_path: str | None
    ) -> list[EnqueueResult]:
        for job in jobs:
            validate_new_job(job)
        for attempt in (1, 2):
            try:
                created = self._write_many(jobs, policy, liveness, app_path)
                break
            except psycopg.Error as exc:
                if attempt == 2 and self._first_attempt_landed(exc):
                    created = {r["id"]: (r["state"], r["queue"]) for r in self._fetchall(
                        Q.jobs_written, {"ids": [j.id for j in jobs]}, read=True)}
                    break
                if not (attempt == 1 and connection_lost(exc)):
                    raise core.enqueue_failed(exc, len(jobs)) from None
        existing = self._existing_by_key([j for j in jobs if j.id not in created])
        results = []
        states = {value: JobState(value) for value, _ in set(created.values())}  # one enum lookup each
        for job in jobs:
            if job.id in created:
                results.append(EnqueueResult(job.id, states[created[job.id][0]], True))
            elif (job.tenant, job.idempotency_key) in existing:
                job_id, state = existing[(job.tenant, job.idempotency_key)]
                # The holder is this very job when a first try was committed before its connection died.
                results.append(EnqueueResult(job_id, JobState(state), job_id == job.id))
        return results

    @staticmethod
    def _first_attempt_landed(exc: psycopg.Error) -> bool:
        """A retry that hits the primary key: the first try was committed before its reply was
        lost (job ids are made here, not by the database)."""
        return isinstance(exc, psycopg.errors.UniqueViolation) and exc.diag.constraint_name == "conveyor_jobs_pkey"

    def _landed_result(self, job_id: str) -> EnqueueResult:
        job = self.get_job(job_id)
        assert job is not None, "the first attempt was committed"
        return EnqueueResult(job_id, job.state, created=True)

    async def _landed_result_async(self, job_id: str) -> EnqueueResult:
        return await asyncio.to_thread(self._landed_result, job_id)

    def _write_many(
        self, jobs: list[NewJob], policy: core.PolicyOfJob, liveness: float, app_path: str | None
    ) -> dict[str, tuple[str, str]]:
        """The bulk enqueue transaction; returns id -> (state, queue) of the jobs it wrote."""
        with self._connection() as conn, conn.transaction():
            live = conn.execute(Q.live_per_queue, {"queues": list({j.queue for j in jobs}),
                                                   "liveness": liveness}).fetchall()
            now = live[0][3]
            workers = {queue: (running, paused) for queue, running, paused, _ in live}
            # Each job's own policy decides (all refusals raise before anything is written).
            refusals = core.refusals_for(jobs, policy, workers, app_path)
            keyed = [(j, r) for j, r in zip(jobs, refusals, strict=True) if j.idempotency_key is not None]
            plain = jobs if not keyed else [j for j in jobs if j.idempotency_key is None]
            plain_refusals = refusals if not keyed else [r for j, r in zip(jobs, refusals, strict=True)
                                                         if j.idempotency_key is None]
            created: dict[str, tuple[str, str]] = {}
            if plain:
                copy_sql, pick = self._copy_plan(plain, any(r is not None for r in plain_refusals))
                with conn.cursor().copy(copy_sql) as copy:
                    # Rows are built while the server parses the ones already sent.
                    for job, refusal in zip(plain, plain_refusals, strict=True):
                        row = self._copy_row(job, now, refusal)
                        copy.write_row(pick(row))
                        created[job.id] = (row[7], job.queue)
            if keyed:
                created.update(self._insert_keyed(conn, [self._copy_row(j, now, r) for j, r in keyed]))
            self._announce_written(conn, created)
        return created

    @staticmethod
    def _copy_plan(jobs: list[NewJob], refused: bool) -> tuple[str, Callable[[tuple[Any, ...]], Any]]:
        """The COPY statement for these jobs (none has an idempotency key) and the function picking
        its values from a _copy_row row. Columns no job needs are left to their defaults: fewer
        values to send and parse (timestamps and JSON cost most; bench: 137k -> 174k rows/s).
        The column list depends on the jobs, hence built here."""
        skipped = {"idempotency_key"}
        if not refused and all(j.run_at is None for j in jobs):
            skipped.update(("run_at", "queued_at", "finished_at", "error"))  # all ready now: default now()
        if not any(j.kwargs for j in jobs):
            skipped.add("kwargs")
        if not any(j.meta for j in jobs):
            skipped.add("meta")
        columns = [c for c in COPY_COLUMNS if c not in skipped]
        pick = itemgetter(*(COPY_COLUMNS.index(c) for c in columns))
        return f"COPY conveyor_jobs ({', '.join(columns)}) FROM STDIN", pick

    @staticmethod
    def _copy_row(job: NewJob, now: datetime, refusal: str | None) -> tuple[Any, ...]:
        """A job as a row of COPY_COLUMNS. Times come from the transaction's now(), so "scheduled or
        queued" is decided by the database clock, like every other statement."""
        run_at = job.run_at if job.run_at is not None else now
        state = "failed" if refusal is not None else "scheduled" if run_at > now else "queued"
        return (
            job.id, job.task, job.queue, job.priority, job.tenant, dumps(job.args),
            dumps(job.kwargs) if job.kwargs else "{}",  # most jobs: no encoder call
            state, job.max_attempts, job.timeout, run_at, now if state == "queued" else None,
            now if state == "failed" else None, None if job.starts_chain else job.token, job.parent_id,
            job.idempotency_key, dumps(job.meta) if job.meta else "{}", refusal,
        )

    @staticmethod
    def _insert_keyed(conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> dict[str, tuple[str, str]]:
        """Insert jobs that carry an idempotency key; a key already taken inserts nothing."""
        columns = list(zip(*rows, strict=True))
        params = {name: list(values) for name, values in zip(COPY_COLUMNS, columns, strict=True)}
        # Unprepared: a generic plan for unnest guesses 10 rows (see finish_jobs).
        cur = conn.execute(Q.insert_keyed, params, prepare=False)
        return {str(r[0]): (r[1], r[2]) for r in cur.fetchall()}

    def _existing_by_key(self, jobs: list[NewJob]) -> dict[tuple[str, str | None], tuple[str, str]]:
        """(tenant, key) -> (id, state) of the jobs that already hold these idempotency keys."""
        if not jobs:
            return {}
        rows = self._fetchall(Q.jobs_by_key, {"tenants": [j.tenant for j in jobs],
                                              "keys": [j.idempotency_key for j in jobs]}, read=True)
        return {(r["tenant"], r["idempotency_key"]): (r["id"], r["state"]) for r in rows}

    @staticmethod
    def _announce_written(conn: psycopg.Connection[Any], created: dict[str, tuple[str, str]]) -> None:
        """Wake the workers of every queue that got ready jobs and announce the new jobs, in one
        statement inside the enqueue transaction (delivered at commit, never before)."""
        by_state: dict[str, list[str]] = {}
        woken: set[str] = set()
        for job_id, (state, queue) in created.items():
            by_state.setdefault(state, []).append(job_id)
            if state == "queued":
                woken.add(queue)
        notices = [(CHANNEL_WAKE, queue) for queue in woken]
        for state, ids in by_state.items():
            notices += event_notices(state, ids)
        notify(conn, notices)
