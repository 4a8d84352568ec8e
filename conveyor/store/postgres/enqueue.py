"""PostgreSQL enqueue: one job in one round trip (two when refused or its key is taken), many in
one transaction (COPY, plus INSERT ... ON CONFLICT for keyed jobs).

The one-job algorithm is a generator of statements (`_enqueue_one_steps`): it yields what to run
and receives the answer, so the sync and async forms only differ in how they send a statement."""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import psycopg

from conveyor.errors import NoLiveWorkerError
from conveyor.model import EnqueuePolicy, JobState, NewJob
from conveyor.store import core
from conveyor.store.base import EnqueueResult, dumps, validate_new_job
from conveyor.store.postgres.bulk import PostgresBulkEnqueue
from conveyor.store.postgres.connection import Q, connection_lost
from conveyor.store.prepared import PreparedStatement

SERVED = PreparedStatement("conveyor_enqueue_served", Q.enqueue_served)  # the hot path: see prepared.py
ACCEPTED = PreparedStatement("conveyor_enqueue_accepted", Q.enqueue_accepted)  # policy accept: no check


@dataclass(slots=True)
class Step:
    """One statement of the algorithm: its text, or the prepared hot-path statement."""

    sql: str
    prepared: PreparedStatement | None = None


Steps = Generator[Step, Any, EnqueueResult]


class PostgresEnqueue(PostgresBulkEnqueue):
    def _enqueue(self, jobs: list[NewJob], policy: core.PolicyChoice, liveness: float,
                 app_path: str | None) -> list[EnqueueResult]:
        if not jobs:
            return []
        if len(jobs) != 1:
            return self._enqueue_many(jobs, core.policy_of(policy), liveness, app_path)
        job, chosen, params = self._one_job(jobs[0], policy, liveness, app_path)
        for attempt in (1, 2):
            try:
                with self._connection() as conn:
                    steps = self._enqueue_one_steps(job, chosen, params, app_path)
                    step = next(steps)
                    while True:
                        if step.prepared is not None:
                            answer = step.prepared.fetchone(conn, params)
                        else:
                            answer = conn.execute(step.sql, params).fetchone()
                        step = steps.send(answer)
            except StopIteration as done:
                return [done.value]
            except psycopg.Error as exc:
                if self._retry_enqueue(exc, attempt):
                    continue
                return [self._landed_result(job.id)]
        raise AssertionError("unreachable")

    async def _enqueue_async(self, jobs: list[NewJob], policy: core.PolicyChoice, liveness: float,
                             app_path: str | None) -> list[EnqueueResult]:
        if not jobs:
            return []
        if len(jobs) != 1:  # bulk: COPY on the sync pool, in a thread
            return await super()._enqueue_async(jobs, policy, liveness, app_path)
        job, chosen, params = self._one_job(jobs[0], policy, liveness, app_path)
        for attempt in (1, 2):
            try:
                async with self.loop_connections.connection() as conn:
                    steps = self._enqueue_one_steps(job, chosen, params, app_path)
                    step = next(steps)
                    while True:
                        if step.prepared is not None:
                            answer = await step.prepared.fetchone_async(conn, params)
                        else:
                            answer = await (await conn.execute(step.sql, params)).fetchone()
                        step = steps.send(answer)
            except StopIteration as done:
                return [done.value]
            except psycopg.Error as exc:
                if self._retry_enqueue(exc, attempt):
                    await self.loop_connections.discard_idle()  # died with it, most likely
                    continue
                return [await self._landed_result_async(job.id)]
        raise AssertionError("unreachable")

    def _enqueue_one_steps(self, job: NewJob, policy: EnqueuePolicy, params: dict[str, Any],
                           app_path: str | None) -> Steps:
        """The one-job algorithm. The common case (policy refuse, no idempotency key) is the
        prepared statement that inserts only if a live worker serves the queue."""
        if job.idempotency_key is None and policy is EnqueuePolicy.ACCEPT:
            answer = yield Step(Q.enqueue_accepted, ACCEPTED)
            assert answer is not None  # an accepted job is always written
            return EnqueueResult(job.id, JobState(answer[0]), created=True)
        served = job.idempotency_key is None and policy is EnqueuePolicy.REFUSE
        if served:
            answer = yield Step(Q.enqueue_served, SERVED)
        else:
            answer = yield Step(Q.enqueue_one if job.idempotency_key is None else Q.enqueue_one_keyed)
        result = self._enqueue_one_result(job, answer, policy, app_path, served)
        if result is not None:
            return result
        if job.idempotency_key is None:  # refused: how many paused workers, for the message
            live = yield Step(Q.live_workers)
            raise NoLiveWorkerError(job.queue, app_path, paused_workers=live[1])
        holder = yield Step(Q.key_holder)
        # The holder is this very job when a first try was committed before its connection died.
        return EnqueueResult(str(holder[0]), JobState(holder[1]), created=str(holder[0]) == job.id)

    @staticmethod
    def _enqueue_one_result(
        job: NewJob, row: tuple[Any, ...] | None, policy: EnqueuePolicy, app_path: str | None, served: bool
    ) -> EnqueueResult | None:
        """The job as written, NoLiveWorkerError, or None: nothing was written (the served
        statement refused it without counting paused workers, or the idempotency key is taken)."""
        if served:  # (state, notified), or no row when refused
            return None if row is None else EnqueueResult(job.id, JobState(row[0]), created=True)
        assert row is not None
        running, paused, job_id, state = row[:4]
        if job_id is None:
            core.admit(job, policy, int(running), int(paused), app_path)  # raises when refused
            return None
        return EnqueueResult(str(job_id), JobState(state), created=True)

    @staticmethod
    def _retry_enqueue(exc: psycopg.Error, attempt: int) -> bool:
        """True: run once more on a fresh connection (the first try's connection died, and it may
        or may not have been committed). False: the retry hit the primary key, so the first try
        was committed (job ids are made here, not by the database). Otherwise raises."""
        if attempt == 1 and connection_lost(exc):
            return True
        if attempt == 2 and PostgresEnqueue._first_attempt_landed(exc):
            return False
        raise core.enqueue_failed(exc) from None

    @staticmethod
    def _one_job(
        job: NewJob, policy: core.PolicyChoice, liveness: float, app_path: str | None
    ) -> tuple[NewJob, EnqueuePolicy, dict[str, Any]]:
        """The job, its policy, and the job as the single-enqueue statements' parameters. JSON goes
        as text cast to jsonb by the statement: no Jsonb wrapper and dumper lookup per value."""
        chosen = EnqueuePolicy(policy) if isinstance(policy, str) else policy(job)
        validate_new_job(job)
        return job, chosen, {
            "id": job.id,
            "task": job.task,
            "queue": job.queue,
            "priority": job.priority,
            "tenant": job.tenant,
            "args": dumps(job.args),
            "kwargs": dumps(job.kwargs),
            "meta": dumps(job.meta),
            "max_attempts": job.max_attempts,
            "timeout": job.timeout,
            "run_at": job.run_at,
            "state": "scheduled" if job.run_at is not None and job.run_at.timestamp() > time.time() else "queued",
            "token": None if job.starts_chain else job.token,  # NULL reads as the job's own id
            "parent_id": job.parent_id,
            "idempotency_key": job.idempotency_key,
            "liveness": liveness,
            "refuse": chosen is EnqueuePolicy.REFUSE,
            # The refusal message is built only when it may be written.
            "refusal": core.refusal(job.queue, app_path) if chosen is EnqueuePolicy.RECORD_FAILED else None,
        }
