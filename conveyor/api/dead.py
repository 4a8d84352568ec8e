"""Dead letters: dead and failed jobs, grouped by (task, queue, error); requeue and purge."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from conveyor.api.auth import AUTH_ERRORS, Caller, Operator, Viewer
from conveyor.api.errors import ApiError
from conveyor.api.jobs import BAD_CURSOR, MAX_PAGE, CursorQuery, LimitQuery, QueueQuery, TextQuery, page
from conveyor.api.schemas import BulkIn, CountOut, DeadListOut
from conveyor.api.state import ApiContext, get_ctx
from conveyor.errors import InvalidTransitionError, JobNotFoundError
from conveyor.model import Job, JobState
from conveyor.store import JobFilter

router = APIRouter(tags=["dead letters"], responses=AUTH_ERRORS)
DEAD_STATES = [JobState.DEAD.value, JobState.FAILED.value]
GROUP_SCAN = 2000  # groups are counted over at most this many of the newest matching rows
ERROR_KEY_LENGTH = 200


def error_key(error: str | None) -> str:
    first = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    return first[:ERROR_KEY_LENGTH]


def dead_filter(caller: Caller, queue: str | None, task: str | None, error: str | None) -> JobFilter:
    return JobFilter(states=list(DEAD_STATES), queue=queue, task=task, error_contains=error or None,
                     tenant=caller.tenant)


def count_groups(ctx: ApiContext, filters: JobFilter) -> tuple[list[dict[str, Any]], bool]:
    counts: dict[tuple[str, str, str], int] = {}
    before = None
    scanned = 0
    complete = True
    while scanned < GROUP_SCAN:
        rows = ctx.store.list_jobs(filters, limit=MAX_PAGE, before=before)
        for job in rows:
            key = (job.task, job.queue, error_key(job.error))
            counts[key] = counts.get(key, 0) + 1
        scanned += len(rows)
        if len(rows) < MAX_PAGE:
            break
        before = rows[-1].id
        if scanned >= GROUP_SCAN:
            complete = len(ctx.store.list_jobs(filters, limit=1, before=before)) == 0
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"task": t, "queue": q, "error": e, "count": n} for (t, q, e), n in ordered], complete


@router.get("/api/dead", response_model=DeadListOut, responses=BAD_CURSOR)
def list_dead(
    request: Request,
    caller: Viewer,
    queue: QueueQuery = None,
    task: TextQuery = None,
    error: TextQuery = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    ctx = get_ctx(request)
    filters = dead_filter(caller, queue, task, error)
    rows, next_cursor = page(ctx, filters, limit, cursor)
    groups, complete = count_groups(ctx, filters)
    return {"items": [j.to_dict() for j in rows], "groups": groups, "groups_complete": complete,
            "next_cursor": next_cursor}


def _check_body(body: BulkIn) -> None:
    if not (body.ids or body.queue or body.task or body.error or body.all):
        raise ApiError(
            422, "Refusing to act on every dead job without saying so.",
            action="Pass ids, or a queue/task/error filter, or all: true.",
            fields=[{"field": "all", "location": "body", "message": "no ids, no filter and all is not true"}],
        )
    for i, raw in enumerate(body.ids or []):
        try:
            uuid.UUID(raw)
        except ValueError:
            raise ApiError(
                422, f"ids[{i}] is not a job id: {raw[:64]!r}.", action="Pass job ids as returned by the API.",
                fields=[{"field": f"ids.{i}", "location": "body", "message": "not a job id"}],
            ) from None


def _selected(ctx: ApiContext, body: BulkIn, caller: Caller) -> list[Job]:
    jobs = []
    for raw in dict.fromkeys(str(uuid.UUID(i)) for i in body.ids or []):
        job = ctx.store.get_job(raw, caller.tenant)
        if job is None or job.state.value not in DEAD_STATES:
            continue
        if (body.queue and job.queue != body.queue) or (body.task and job.task != body.task):
            continue
        if body.error and body.error.lower() not in (job.error or "").lower():
            continue
        jobs.append(job)
    return jobs


def _apply_to_selected(ctx: ApiContext, body: BulkIn, caller: Caller, action: Callable[[Job], None]) -> int:
    """Run `action` on each selected dead job; a job that changed in between is skipped."""
    count = 0
    for job in _selected(ctx, body, caller):
        try:
            action(job)
            count += 1
        except (InvalidTransitionError, JobNotFoundError):
            continue
    return count


@router.post("/api/dead/requeue", response_model=CountOut)
def requeue(request: Request, body: BulkIn, caller: Operator) -> dict[str, int]:
    """Dead and failed jobs go back to queued (one more attempt allowed)."""
    _check_body(body)
    ctx = get_ctx(request)
    if body.ids:
        return {"count": _apply_to_selected(ctx, body, caller, lambda job: ctx.store.retry_job(job.id, caller.tenant))}
    return {"count": ctx.store.requeue_dead(dead_filter(caller, body.queue, body.task, body.error))}


@router.post("/api/dead/purge", response_model=CountOut)
def purge(request: Request, body: BulkIn, caller: Operator) -> dict[str, int]:
    """Delete dead and failed jobs for good."""
    _check_body(body)
    ctx = get_ctx(request)
    if body.ids:

        def delete(job: Job) -> None:
            ctx.hub.remember(job)  # so the deletion event can still be routed to its tenant
            ctx.store.delete_job(job.id, caller.tenant)

        return {"count": _apply_to_selected(ctx, body, caller, delete)}
    return {"count": ctx.store.purge_dead(dead_filter(caller, body.queue, body.task, body.error))}
