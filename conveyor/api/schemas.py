"""Request and response models. Responses are the to_dict() shapes of the engine's model
(Job, QueueStats, WorkerInfo): these models document them in the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from conveyor.api.errors import ApiError

QUEUE_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}$"
TENANT_PATTERN = r"^[A-Za-z0-9_.:@-]{1,100}$"
TEXT_PATTERN = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
MAX_DELAY = 10 * 366 * 86400.0  # ten years
MAX_TIMEOUT = 366 * 86400.0
MAX_JSON_DEPTH = 64
DateTimeStr = Annotated[str | None, Field(json_schema_extra={"format": "date-time"})]


def check_json_value(value: Any, path: str = "", depth: int = 0) -> None:
    """Arguments must survive both databases: no NUL, no lone surrogate, bounded nesting."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{path or 'value'} is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        check_text(value, path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_json_value(item, f"{path}[{i}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(str(key), f"{path}.{key}" if path else str(key))
            check_json_value(item, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise ValueError(f"{path or 'value'} is not a finite number (JSON has no NaN or Infinity)")


def check_text(value: str, path: str = "") -> str:
    if "\x00" in value:
        raise ValueError(f"{path or 'text'} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{path or 'text'} contains an unpaired surrogate (invalid Unicode)") from None
    return value


def _json_args(value: list[Any]) -> list[Any]:
    check_json_value(value, "args")
    return value


def _json_kwargs(value: dict[str, Any]) -> dict[str, Any]:
    check_json_value(value, "kwargs")
    return value


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ValueError("run_at must include a timezone, e.g. 2030-01-01T09:00:00+00:00 or ...Z")
    return value


Text = Annotated[str, Field(max_length=200, pattern=TEXT_PATTERN), AfterValidator(check_text)]


# -- errors -------------------------------------------------------------------------------------
class FieldError(BaseModel):
    field: str
    location: str
    message: str


class ErrorOut(BaseModel):
    """Every error answer: what happened, what to do, details for debugging."""

    model_config = ConfigDict(extra="allow")

    error: str
    action: str
    technical_details: str
    job_id: str | None = Field(None, description="503 under policy record_failed: the failed job stored")
    fields: list[FieldError] | None = Field(None, description="422: the fields that were rejected")


# -- jobs ---------------------------------------------------------------------------------------
class EnqueueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: Annotated[str, Field(min_length=1, max_length=200, pattern=TEXT_PATTERN), AfterValidator(check_text)]
    args: Annotated[list[Any], AfterValidator(_json_args)] = Field(default_factory=list)
    kwargs: Annotated[dict[str, Any], AfterValidator(_json_kwargs)] = Field(default_factory=dict)
    queue: Annotated[str, Field(pattern=QUEUE_PATTERN)] | None = None
    priority: Annotated[StrictInt, Field(ge=-1_000_000, le=1_000_000)] | None = None
    delay: Annotated[float, Field(ge=0, le=MAX_DELAY, allow_inf_nan=False)] | None = Field(
        None, description="Seconds from now (>= 0). Give delay or run_at, not both."
    )
    run_at: Annotated[datetime | None, AfterValidator(_aware)] = Field(
        None, description="ISO 8601 with a timezone (e.g. 2030-01-01T09:00:00Z)."
    )
    max_attempts: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None
    timeout: Annotated[float, Field(gt=0, le=MAX_TIMEOUT, allow_inf_nan=False)] | None = None
    token: Text | None = None
    idempotency_key: Text | None = None
    policy: Literal["refuse", "record_failed", "accept"] | None = None
    tenant: Annotated[str, Field(pattern=TENANT_PATTERN)] | None = Field(
        None, description="Only for callers not bound to a tenant; a tenant key always enqueues into its own."
    )

    def check_schedule(self) -> None:
        if self.delay is not None and self.run_at is not None:
            raise ApiError(
                422, "Give either delay or run_at, not both.", action="Remove one of the two fields.",
                fields=[{"field": "run_at", "location": "body", "message": "conflicts with delay"}],
            )


class ProgressOut(BaseModel):
    percent: float | None
    processed: int
    failed: int


class AttemptOut(BaseModel):
    attempt: int
    worker_id: str | None
    started_at: DateTimeStr
    ended_at: DateTimeStr
    outcome: str
    error: str | None
    traceback: str | None


class JobOut(BaseModel):
    id: str
    task: str
    queue: str
    priority: int
    tenant: str
    args: list[Any]
    kwargs: dict[str, Any]
    state: Literal["scheduled", "queued", "running", "completed", "failed", "dead", "cancelled"]
    attempts: int
    max_attempts: int
    timeout: float | None
    run_at: DateTimeStr
    created_at: DateTimeStr
    enqueued_at: DateTimeStr
    started_at: DateTimeStr
    ended_at: DateTimeStr
    updated_at: DateTimeStr
    worker_id: str | None
    deadline: DateTimeStr
    progress: ProgressOut
    meta: dict[str, Any]
    result: Any = None
    error: str | None
    traceback: str | None
    token: str
    parent_id: str | None
    idempotency_key: str | None
    cancel_requested: bool
    attempt_history: list[AttemptOut]


class JobListOut(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page")


class CancelOut(BaseModel):
    id: str
    state: str = Field(description="cancelled, or running when the worker was asked to cancel it")


class ParameterOut(BaseModel):
    """One parameter of a task (the leading ctx left out)."""

    name: str
    required: bool
    keyword: bool = Field(description="false for a positional-only parameter (pass it in args)")
    default: Any = Field(None, description="the real default (its repr when not JSON; see default_is_json)")
    default_is_json: bool | None = None
    annotation: str | None = None


class TaskOut(BaseModel):
    name: str
    queue: str
    priority: int
    max_attempts: int
    timeout: float | None
    is_async: bool
    doc: str
    parameters: list[str]
    signature: list[ParameterOut]


class TaskListOut(BaseModel):
    items: list[TaskOut]


# -- queues -------------------------------------------------------------------------------------
class ThroughputOut(BaseModel):
    last_minute: int
    last_hour: int


class QueueOut(BaseModel):
    name: str
    counts: dict[str, int]
    live_workers: int
    paused: bool
    oldest_ready_age: float | None
    stranded: bool
    throughput: ThroughputOut


class QueueListOut(BaseModel):
    items: list[QueueOut]


# -- workers ------------------------------------------------------------------------------------
class WorkerOut(BaseModel):
    id: str
    hostname: str
    pid: int
    queues: list[str]
    concurrency: int
    version: str
    started_at: DateTimeStr
    last_heartbeat: DateTimeStr
    heartbeat_age: float
    state: str
    desired_state: str | None
    alive: bool
    jobs_in_flight: int
    processed: int
    failed: int
    current_jobs: list[str]
    supervised: bool
    detected_by: Literal["exited", "heartbeat expired"] | None = Field(
        description="A dead worker: how it was found out. 'exited': its process ended (the lock it held "
        "was released); 'heartbeat expired': it went silent (hung, partitioned, machine lost)")
    stopped_at: DateTimeStr = Field(description="When a dead worker was declared dead, or a stopped one stopped")


class WorkerListOut(BaseModel):
    items: list[WorkerOut]
    supervised: bool = Field(description="True when this server supervises a worker pool (conveyor up)")


class WorkerActionOut(BaseModel):
    id: str
    requested: Literal["paused", "running", "stopping"]


# -- task metrics -------------------------------------------------------------------------------
class DurationOut(BaseModel):
    avg: float | None
    p50: float | None = Field(description="seconds, from the duration histogram (accurate to a bucket)")
    p95: float | None
    max: float | None


class PickupOut(BaseModel):
    avg: float | None = Field(description="seconds from queued to started")
    max: float | None


class MetricPointOut(BaseModel):
    t: float = Field(description="start of the point, unix seconds")
    succeeded: int
    failed: int
    p95: float | None


class FiguresOut(BaseModel):
    processed: int = Field(description="attempts that ran and ended: succeeded + failed")
    succeeded: int
    failed: int = Field(description="attempts that failed (towards a retry or dead)")
    failure_rate: float | None
    duration: DurationOut
    pickup: PickupOut


class TaskFiguresOut(FiguresOut):
    task: str
    queues: list[str]
    series: list[MetricPointOut]


class QueueFiguresOut(FiguresOut):
    queue: str


class TaskMetricsOut(BaseModel):
    window: Literal["hour", "day", "week"]
    since: float
    until: float
    step_seconds: int
    generated_at: float
    totals: FiguresOut
    series: list[MetricPointOut]
    tasks: list[TaskFiguresOut]
    queues: list[QueueFiguresOut]


class PoolWorkerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queues: list[Annotated[str, Field(pattern=QUEUE_PATTERN)]] | None = Field(
        None, min_length=1, max_length=50, description="Queues in priority order (default: the pool's)")


class PoolWorkerOut(BaseModel):
    id: str
    supervised: bool = True


class PoolStopOut(BaseModel):
    id: str
    stopping: bool


# -- dead letters -------------------------------------------------------------------------------
class DeadGroupOut(BaseModel):
    task: str
    queue: str
    error: str
    count: int


class DeadListOut(BaseModel):
    items: list[JobOut]
    groups: list[DeadGroupOut]
    groups_complete: bool = Field(description="False when the groups were counted over the newest rows only")
    next_cursor: str | None


class BulkIn(BaseModel):
    """Which dead/failed jobs to act on: explicit ids and/or filters; all=true for every one."""

    model_config = ConfigDict(extra="forbid")

    ids: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=1000)] | None = None
    queue: Annotated[str, Field(pattern=QUEUE_PATTERN)] | None = None
    task: Text | None = None
    error: Text | None = None
    all: StrictBool = False


class CountOut(BaseModel):
    count: int


# -- meta ---------------------------------------------------------------------------------------
class MeOut(BaseModel):
    tenant: str | None = Field(description="null: every tenant")
    role: Literal["viewer", "operator", "admin"]
    auth: bool


class SchemaInfo(BaseModel):
    current: int
    required: int


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: bool
    schema_: SchemaInfo | None = Field(alias="schema")
    queues: dict[str, int]
    problems: list[str]


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["viewer", "operator", "admin"]
    tenant: Annotated[str, Field(pattern=r"^(\*|[A-Za-z0-9_.:@-]{1,100})$")] | None = Field(
        None, description="Defaults to the caller's tenant; '*' (every tenant) only for admins of every tenant"
    )
    name: Text | None = None


class ApiKeyOut(BaseModel):
    id: str
    tenant: str
    role: str
    name: str | None
    created_at: DateTimeStr
    revoked_at: DateTimeStr


class ApiKeyCreatedOut(ApiKeyOut):
    secret: str = Field(description="Shown once: send it as 'Authorization: Bearer <secret>' or 'X-API-Key'")


class ApiKeyListOut(BaseModel):
    items: list[ApiKeyOut]
