"""A worker's claims and completions on PostgreSQL: each batch one JSON value each way, sent either
through the pool (store.claim_jobs / finish_jobs, any thread) or over a connection the worker's
event loop owns (LoopBatches).

Why one JSON value: reading 15 columns of 100 rows through the driver, and adapting eight Python
lists into arrays for the completion, cost ~10 us of worker CPU per job (py-spy, issue #19);
json.loads / json.dumps of the whole batch cost well under 1 us a job.

Why a loop-owned connection: a claim or a completion from the event loop through the thread pool
costs two thread hops and the GIL handed back and forth while the loop runs jobs. Here the loop
sends the statement and waits on the socket like on any other I/O.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from conveyor.errors import DatabaseError
from conveyor.model import JobState, Outcome
from conveyor.store.base import ClaimedJob, dumps
from conveyor.store.core import finishable
from conveyor.store.postgres.connection import Q
from conveyor.store.prepared import PreparedStatement
from conveyor.store.rows import attempt_entry

CLAIM = PreparedStatement("conveyor_claim_jobs", Q.claim_jobs)
# Never prepared: a generic plan would guess the batch size (see PostgresJobs.finish_jobs).
FINISH = PreparedStatement("conveyor_finish_jobs", Q.finish_jobs, prepare=False)
APPLICATION_NAME = "conveyor-worker-loop"  # how the loop's connection shows in pg_stat_activity

_COMPLETED = JobState.COMPLETED
_from_iso = datetime.fromisoformat


def claimed_from_json(text: str | None) -> list[ClaimedJob]:
    """The claim statement's answer (a JSON array of rows in ClaimedJob's field order, or NULL)."""
    if not text:
        return []
    return [ClaimedJob(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], _from_iso(r[11]),
                       r[12], r[13], r[14]) for r in json.loads(text)]


def outcomes_json(outcomes: list[Outcome]) -> str:
    """The finish statement's %(outcomes)s. A completion's result goes as its JSON text (the worker
    checked it encodes); None is stored as JSON null, as before."""
    now = datetime.now().astimezone().isoformat()
    rows = []
    for o in outcomes:
        if o.state is _COMPLETED:
            result: str | None = "null" if o.result is None else dumps(o.result)
        else:
            result = None
        # o.state as is: a StrEnum is written as its value (no .value lookup per outcome)
        rows.append([o.job_id, o.lease_token, o.state, result, o.error, o.traceback, o.retry_delay,
                     attempt_entry(o, now) if o.error is not None else None])
    return json.dumps(rows)


def finished_ids(text: str | None) -> list[str]:
    """The finish statement's answer: the ids of the jobs it changed (a JSON array, or NULL)."""
    return json.loads(text) if text else []


class LoopBatches:
    """Claims and completions over one connection owned by the calling event loop; opened at first
    use, replaced after it fails or a statement on it is cut off (cancelled mid-answer). Not for
    two statements at once: the worker's claim loop and its flusher take turns (see Worker._batch)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def claim_jobs(self, worker_id: str, queues: list[str], limit: int) -> list[ClaimedJob]:
        row = await self._run(CLAIM, {"queues": queues, "limit": limit, "worker_id": worker_id})
        return claimed_from_json(row[0][0] if row else None)

    async def finish_jobs(self, outcomes: list[Outcome]) -> list[str]:
        """store.finish_jobs for outcomes of jobs outside pipeline runs (a stage job's completion
        writes its run's counters and emits in one transaction: the store's own call)."""
        if any(o.emits or o.run_id for o in outcomes):
            raise ValueError("stage jobs' outcomes (emits, run counters) are recorded by store.finish_jobs, not here")
        outcomes = finishable(outcomes)
        if not outcomes:
            return []
        rows = await self._run(FINISH, {"outcomes": outcomes_json(outcomes)})
        return finished_ids(rows[0][0] if rows else None)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def _run(self, statement: PreparedStatement, values: dict[str, Any]) -> list[tuple[str | None, ...]]:
        conn = self._conn
        try:
            if conn is None or conn.closed:
                conn = self._conn = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, client_encoding="utf8", application_name=APPLICATION_NAME)
            return await statement.fetchall_async(conn, values)
        except BaseException as exc:
            if conn is not None and (conn.closed or conn.pgconn.transaction_status != TransactionStatus.IDLE
                                     or isinstance(exc, psycopg.OperationalError)):
                self._conn = None  # dead, or cut off mid-answer: a fresh one next time
                conn.pgconn.finish()
            if isinstance(exc, psycopg.Error):
                raise DatabaseError.from_driver(exc) from exc
            raise
