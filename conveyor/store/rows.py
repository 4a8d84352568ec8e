"""Rows as Conveyor's objects: a job row as a Job, an attempt-log entry both ways."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from conveyor.model import Attempt, Job, JobState, Outcome, Progress, root_token


def attempt_from_dict(raw: dict[str, Any], parse_time: Callable[[Any], datetime | None]) -> Attempt:
    return Attempt(
        attempt=int(raw.get("attempt", 0)),
        worker_id=raw.get("worker_id"),
        started_at=parse_time(raw.get("started_at")),
        finished_at=parse_time(raw.get("finished_at")),
        outcome=raw.get("outcome", "failed"),
        error=raw.get("error"),
        traceback=raw.get("traceback"),
    )


def job_from_row(row: dict[str, Any], parse_time: Callable[[Any], datetime | None], load: Callable[[Any], Any]) -> Job:
    """Build a Job from a row mapping. `load` decodes JSON columns (identity on PostgreSQL)."""
    log = load(row["attempt_log"]) or []
    job_id = str(row["id"])
    return Job(
        id=job_id,
        task=row["task"],
        queue=row["queue"],
        priority=row["priority"],
        tenant=row["tenant"],
        args=load(row["args"]),
        kwargs=load(row["kwargs"]),
        state=JobState(row["state"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        timeout=row["timeout"],
        run_at=parse_time(row["run_at"]),  # type: ignore[arg-type]
        created_at=parse_time(row["created_at"]),  # type: ignore[arg-type]
        queued_at=parse_time(row["queued_at"]),
        started_at=parse_time(row["started_at"]),
        finished_at=parse_time(row["finished_at"]),
        updated_at=parse_time(row["updated_at"]),  # type: ignore[arg-type]
        worker_id=row["worker_id"],
        lease_token=str(row["lease_token"]) if row["lease_token"] else None,
        deadline=parse_time(row["deadline"]),
        progress=Progress(row["progress_percent"], row["progress_processed"], row["progress_failed"]),
        meta=load(row["meta"]) or {},
        result=load(row["result"]) if row["result"] is not None else None,
        error=row["error"],
        traceback=row["traceback"],
        token=row["token"] or root_token(job_id),
        parent_id=str(row["parent_id"]) if row["parent_id"] else None,
        idempotency_key=row["idempotency_key"],
        cancel_requested=bool(row["cancel_requested"]),
        attempt_log=[attempt_from_dict(a, parse_time) for a in log],
    )


def attempt_entry(outcome: Outcome, finished_at: str) -> dict[str, Any]:
    return {
        "attempt": outcome.attempt,
        "worker_id": outcome.worker_id,
        "started_at": outcome.started_at.isoformat() if outcome.started_at else None,
        "finished_at": finished_at,
        "outcome": outcome.attempt_outcome,
        "error": outcome.error,
        "traceback": outcome.traceback,
    }
