"""Jobs: enqueue, read, list (keyset pagination), cancel, retry, delete; the task registry."""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from conveyor.api.auth import AUTH_ERRORS, Caller, Operator, Viewer
from conveyor.api.errors import ApiError
from conveyor.api.schemas import (
    QUEUE_PATTERN,
    TENANT_PATTERN,
    TEXT_PATTERN,
    CancelOut,
    EnqueueIn,
    ErrorOut,
    JobListOut,
    JobOut,
    TaskListOut,
)
from conveyor.api.state import ApiContext, get_ctx
from conveyor.app import INTERNAL_TASK_PREFIX
from conveyor.commands import worker_command
from conveyor.errors import NoLiveWorkerError
from conveyor.maintenance import DEFAULT_QUEUES
from conveyor.model import SEED_STATE_WORDS, EnqueuePolicy, Job, JobState
from conveyor.store import JobFilter

Responses = dict[int | str, dict[str, Any]]
router = APIRouter(tags=["jobs"], responses=AUTH_ERRORS)

MAX_PAGE = 200
NOT_FOUND: Responses = {404: {"model": ErrorOut, "description": "No such job (or not one of this key's tenant)"}}
CONFLICT: Responses = {409: {"model": ErrorOut, "description": "The job's state does not allow this"}}
BAD_CURSOR: Responses = {400: {"model": ErrorOut, "description": "The cursor is not one this API produced"}}

StateQuery = Annotated[
    str | None,
    Query(max_length=200, pattern=TEXT_PATTERN,
          description="Comma-separated: scheduled, queued, running, completed, failed, dead, cancelled"),
]
QueueQuery = Annotated[str | None, Query(pattern=QUEUE_PATTERN)]
TextQuery = Annotated[str | None, Query(max_length=200, pattern=TEXT_PATTERN)]
TenantQuery = Annotated[
    str | None, Query(pattern=TENANT_PATTERN, description="Only for keys of every tenant (and --no-auth)")
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Page size, 1..{MAX_PAGE}")]
CursorQuery = Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")]


# -- helpers shared with the other route modules -------------------------------------------------
def job_not_found(job_id: str) -> ApiError:
    shown = job_id if len(job_id) <= 64 else job_id[:64] + "..."
    return ApiError(404, f"No job {shown}.", action="Check the id; list jobs with GET /api/jobs.")


def parse_job_id(job_id: str) -> str:
    """The canonical form of a job id; anything that is not a UUID is simply not found."""
    try:
        return str(uuid.UUID(job_id))
    except (ValueError, TypeError):
        raise job_not_found(job_id) from None


def job_response(job: Job, status: int = 200) -> JSONResponse:
    return JSONResponse(job.to_dict(), status_code=status)


def encode_cursor(job: Job) -> str:
    raw = json.dumps([job.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The id of the last job seen. Cursors made before lists were ordered by id carry
    [created_at, id]; their id still marks the place."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(values, list) or len(values) not in (1, 2):
            raise ValueError("not a cursor")
        return str(uuid.UUID(values[-1]))
    except (ValueError, TypeError, AttributeError, UnicodeError, binascii.Error):
        raise ApiError(
            400, "The cursor is not valid.",
            action="Pass the next_cursor value of the previous page unchanged, or leave cursor out for the first page.",
            fields=[{"field": "cursor", "location": "query", "message": "not a cursor this API produced"}],
        ) from None


def page(ctx: ApiContext, filters: JobFilter, limit: int, cursor: str | None) -> tuple[list[Job], str | None]:
    before = decode_cursor(cursor) if cursor else None
    rows = ctx.store.list_jobs(filters, limit=limit + 1, before=before)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]) if more and rows else None


def parse_states(state: str | None) -> list[str]:
    if not state:
        return []
    known = {s.value for s in JobState}
    states: list[str] = []
    for word in (w.strip().lower() for w in state.split(",")):
        if not word:
            continue
        value = SEED_STATE_WORDS[word].value if word in SEED_STATE_WORDS else word
        if value not in known:
            raise ApiError(
                422, f"Unknown state {word!r}.", action=f"Use a comma-separated list of: {', '.join(sorted(known))}.",
                fields=[{"field": "state", "location": "query", "message": f"unknown state {word!r}"}],
            )
        if value not in states:
            states.append(value)
    return states


def check_queue_known(ctx: ApiContext, queue: str) -> None:
    """A queue no task uses, no live worker serves and no job is in is almost surely a typo
    (policy accept skips this check: it queues for workers that start later)."""
    if queue in DEFAULT_QUEUES or any(t.options.queue == queue for t in ctx.app.tasks.values()):
        return
    known = {s.name for s in ctx.store.queue_stats(ctx.settings.liveness_timeout)}
    if queue in known:
        return
    names = sorted(set(DEFAULT_QUEUES) | {t.options.queue for t in ctx.app.tasks.values()} | known)
    raise ApiError(
        422, f"Unknown queue {queue!r}: no task uses it, no live worker serves it and it holds no jobs.",
        action=f"Use one of: {', '.join(names)}; or start a worker for it first "
        f"({worker_command(ctx.app.app_path, queue)}), or send policy 'accept' to queue it for a worker "
        "that starts later.",
        fields=[{"field": "queue", "location": "body", "message": f"unknown queue {queue!r}"}],
    )


def enqueue_tenant(caller: Caller, requested: str | None) -> str:
    if caller.tenant is None:
        return requested or "default"
    if requested and requested != caller.tenant:
        raise ApiError(
            403, f"This API key is bound to tenant {caller.tenant!r}; it cannot enqueue for {requested!r}.",
            action="Leave tenant out: jobs go to the key's tenant.",
        )
    return caller.tenant


# -- routes -------------------------------------------------------------------------------------
@router.post(
    "/api/jobs", status_code=201, response_model=JobOut,
    responses={
        200: {"model": JobOut, "description": "The idempotency key was seen before: the first job"},
        201: {"description": "The job was written"},
        413: {"model": ErrorOut, "description": "Body over 1 MiB"},
        429: {"model": ErrorOut, "description": "Enqueue rate limit for this key (see Retry-After)"},
        503: {"model": ErrorOut, "description": "No live worker serves the queue (job_id set when the job "
              "was stored as failed under policy record_failed), or the database did not answer"},
    },
)
def enqueue(request: Request, body: EnqueueIn, caller: Operator) -> JSONResponse:
    ctx = get_ctx(request)
    ctx.limiter.check(caller.key_id or f"ip:{request.client.host if request.client else '?'}")
    body.check_schedule()
    tenant = enqueue_tenant(caller, body.tenant)
    task = ctx.app.get_task(body.task)
    queue = body.queue or task.options.queue
    if ctx.app.policy_for(task.name, queue, body.policy) is not EnqueuePolicy.ACCEPT:
        check_queue_known(ctx, queue)
    options = {
        "queue": body.queue, "priority": body.priority, "delay": body.delay, "run_at": body.run_at,
        "max_attempts": body.max_attempts, "timeout": body.timeout, "token": body.token, "tenant": tenant,
        "idempotency_key": body.idempotency_key, "policy": body.policy,
    }
    try:
        handle = ctx.app.enqueue(task.name, body.args, body.kwargs, **options)
    except NoLiveWorkerError:
        ctx.metrics.enqueued(queue, "refused")
        raise
    job = ctx.store.get_job(handle.id)
    if job is None:  # pruned or deleted in between: report what we know
        raise job_not_found(handle.id)
    if handle.created and job.state == JobState.FAILED:
        ctx.metrics.enqueued(queue, "recorded_failed")
        paused = ctx.store.live_worker_count(queue, ctx.settings.liveness_timeout)[1]
        refusal = NoLiveWorkerError(queue, ctx.app.app_path, paused_workers=paused)
        return JSONResponse({**refusal.to_dict(), "job_id": job.id}, status_code=503)
    ctx.metrics.enqueued(queue, "created" if handle.created else "duplicate")
    return job_response(job, 201 if handle.created else 200)


@router.get("/api/jobs", response_model=JobListOut, responses=BAD_CURSOR)
def list_jobs(
    request: Request,
    caller: Viewer,
    state: StateQuery = None,
    queue: QueueQuery = None,
    task: TextQuery = None,
    token: TextQuery = None,
    tenant: TenantQuery = None,
    created_after: AwareDatetime | None = None,
    created_before: AwareDatetime | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> JSONResponse:
    ctx = get_ctx(request)
    filters = JobFilter(
        states=parse_states(state), queue=queue, task=task, token=token, tenant=caller.tenant_filter(tenant),
        created_after=created_after, created_before=created_before,
    )
    rows, next_cursor = page(ctx, filters, limit, cursor)
    return JSONResponse({"items": [j.to_dict() for j in rows], "next_cursor": next_cursor})


@router.get("/api/jobs/{job_id}", response_model=JobOut, responses=NOT_FOUND)
def get_job(request: Request, job_id: str, caller: Viewer) -> JSONResponse:
    job = get_ctx(request).store.get_job(parse_job_id(job_id), caller.tenant)
    if job is None:
        raise job_not_found(job_id)
    return job_response(job)


@router.post("/api/jobs/{job_id}/cancel", response_model=CancelOut, responses={**NOT_FOUND, **CONFLICT})
def cancel_job(request: Request, job_id: str, caller: Operator) -> dict[str, str]:
    canonical = parse_job_id(job_id)
    state = get_ctx(request).store.cancel_job(canonical, caller.tenant)
    return {"id": canonical, "state": state.value}


@router.post("/api/jobs/{job_id}/retry", response_model=JobOut, responses={**NOT_FOUND, **CONFLICT})
def retry_job(request: Request, job_id: str, caller: Operator) -> JSONResponse:
    ctx = get_ctx(request)
    canonical = parse_job_id(job_id)
    ctx.store.retry_job(canonical, caller.tenant)
    job = ctx.store.get_job(canonical, caller.tenant)
    if job is None:
        raise job_not_found(job_id)
    return job_response(job)


@router.delete(
    "/api/jobs/{job_id}", status_code=204, response_class=Response, responses={**NOT_FOUND, **CONFLICT}
)
def delete_job(request: Request, job_id: str, caller: Operator) -> Response:
    ctx = get_ctx(request)
    canonical = parse_job_id(job_id)
    job = ctx.store.get_job(canonical, caller.tenant)
    if job is None:
        raise job_not_found(job_id)
    ctx.hub.remember(job)  # so the 'deleted' event reaches only this tenant's subscribers
    ctx.store.delete_job(canonical, caller.tenant)
    return Response(status_code=204)


@router.get("/api/tasks", response_model=TaskListOut, tags=["tasks"])
def list_tasks(request: Request, caller: Viewer) -> dict[str, Any]:
    items = []
    for name, task in sorted(get_ctx(request).app.tasks.items()):
        if name.startswith(INTERNAL_TASK_PREFIX):
            continue  # built-in probes are not for the Run-now form
        items.append({
            "name": name, "queue": task.options.queue, "priority": task.options.priority,
            "max_attempts": task.options.max_attempts, "timeout": task.options.timeout,
            "is_async": task.is_async, "doc": inspect.getdoc(task.fn) or "",
            "parameters": [p["name"] for p in task.signature.to_list()],
            "signature": task.signature.to_list(),
        })
    return {"items": items}
