"""The library API: Conveyor app, task registry, enqueue (with the live-worker check), job handles."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from conveyor.commands import find_app_path
from conveyor.context import current_job
from conveyor.errors import (
    InvalidJobError,
    JobFailedError,
    JobNotFoundError,
    LivenessCheckError,
    UnknownTaskError,
)
from conveyor.model import DEFAULT_RETRY, EnqueuePolicy, Job, JobState, NewJob, RetryPolicy
from conveyor.settings import Settings
from conveyor.signature import TaskSignature
from conveyor.store import JobFilter, Store, open_store

if TYPE_CHECKING:
    from conveyor.etl_jobs import EtlJobs
    from conveyor.pipelines import DeclaredPipeline, PipelineRun
    from conveyor.pipelines.runs import Runs
    from conveyor.schedules import Scheduler

P = ParamSpec("P")
R = TypeVar("R")

MISSING_DEPENDENCY_ERRORS: tuple[type[BaseException], ...] = (ImportError, ModuleNotFoundError)


@dataclass(frozen=True)
class TaskOptions:
    queue: str = "default"
    priority: int = 0
    max_attempts: int = 3
    timeout: float | None = None
    retry: RetryPolicy = DEFAULT_RETRY
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    dont_retry_on: tuple[type[BaseException], ...] = ()
    policy: EnqueuePolicy | None = None  # None: the app's default
    isolation: str = "thread"  # "thread" or "process" (sync tasks only: killable on timeout)


@dataclass(frozen=True)
class CallOptions:
    """Per-call enqueue options (task.configure(...))."""

    queue: str | None = None
    priority: int | None = None
    max_attempts: int | None = None
    timeout: float | None = None
    delay: float | timedelta | None = None
    run_at: datetime | None = None
    token: str | None = None
    tenant: str | None = None
    idempotency_key: str | None = None
    policy: EnqueuePolicy | str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


NO_OPTIONS = CallOptions()  # frozen: one instance serves every plain task.enqueue()


class Task(Generic[P, R]):
    def __init__(self, app: Conveyor, fn: Callable[..., Any], name: str, options: TaskOptions) -> None:
        self.app = app
        self.fn = fn
        self.name = name
        self.options = options
        self.is_async = inspect.iscoroutinefunction(fn)
        params = list(inspect.signature(fn).parameters)
        self.takes_context = bool(params) and params[0] == "ctx"
        self.signature = TaskSignature(fn, skip_first=self.takes_context)
        if options.isolation not in ("thread", "process"):
            raise InvalidJobError(f"Unknown isolation {options.isolation!r}.", action="Use 'thread' or 'process'.")
        if options.isolation == "process" and self.is_async:
            raise InvalidJobError("isolation='process' is for sync (def) tasks.", action="Use a plain def task.")

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Calling the task runs it here and now, like the plain function."""
        return self.fn(*args, **kwargs)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.options.queue}>"

    def configure(self, **options: Any) -> BoundTask:
        return BoundTask(self, CallOptions(**options))

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        return BoundTask(self, NO_OPTIONS).enqueue(*args, **kwargs)

    async def enqueue_async(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        return await BoundTask(self, NO_OPTIONS).enqueue_async(*args, **kwargs)

    def new_job(self, *args: Any, **kwargs: Any) -> NewJob:
        return self.app.build_job(self.name, list(args), kwargs, NO_OPTIONS)


@dataclass
class BoundTask:
    task: Task[Any, Any]
    call: CallOptions

    def enqueue(self, *args: Any, **kwargs: Any) -> JobHandle:
        job = self.task.app.build_job(self.task.name, list(args), kwargs, self.call)
        return self.task.app.submit([job], self.call.policy)[0]

    async def enqueue_async(self, *args: Any, **kwargs: Any) -> JobHandle:
        job = self.task.app.build_job(self.task.name, list(args), kwargs, self.call)
        return (await self.task.app.submit_async([job], self.call.policy))[0]

    def new_job(self, *args: Any, **kwargs: Any) -> NewJob:
        return self.task.app.build_job(self.task.name, list(args), kwargs, self.call)


@dataclass
class JobHandle:
    app: Conveyor
    id: str
    state: JobState  # at enqueue time
    created: bool = True

    def get(self) -> Job:
        job = self.app.get_job(self.id)
        if job is None:
            raise JobNotFoundError(f"Job {self.id} no longer exists.", action="It may have been pruned or deleted.")
        return job

    def wait(self, timeout: float = 30.0, *, poll: float = 0.02, raise_on_failure: bool = False) -> Job:
        """Block until the job is finished; TimeoutError when it is not by `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get()
            if job.finished:
                if raise_on_failure and job.state in (JobState.DEAD, JobState.FAILED):
                    raise JobFailedError(f"Job {job.id} ended {job.state.value}: {job.error}")
                return job
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {self.id} still {job.state.value} after {timeout}s")
            time.sleep(poll)

    def result(self, timeout: float = 30.0) -> Any:
        return self.wait(timeout, raise_on_failure=True).result


INTERNAL_TASK_PREFIX = "conveyor."  # built-in tasks (the doctor's probe): not offered to users
MAX_DELAY_SECONDS = 10 * 366 * 86400.0  # ten years: beyond that a delay is a typo (and overflows datetime)


def check_delay(delay: float | timedelta) -> float:
    """Seconds of a delay, refused unless a finite, non-negative number (NaN would run at once)."""
    try:
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
    except (TypeError, ValueError):
        raise InvalidJobError(f"delay must be a number of seconds, got {delay!r}.",
                              action="Pass delay >= 0 seconds.") from None
    if seconds < 0:
        raise InvalidJobError(f"delay must not be negative, got {seconds}.", action="Pass delay >= 0 seconds.")
    if not seconds <= MAX_DELAY_SECONDS:  # also true for NaN
        raise InvalidJobError(f"delay must be a finite number of seconds from 0 to {MAX_DELAY_SECONDS:.0f}, "
                              f"got {seconds}.", action="Pass delay >= 0 seconds.")
    return seconds


def _probe(nonce: str) -> str:
    return nonce


class Conveyor:
    """The application: a task registry bound to a store.

    app = Conveyor()                       # CONVEYOR_DATABASE_URL or sqlite:///conveyor.db
    @app.task(queue="reports", timeout=60)
    def build_report(ctx, report_id): ...
    build_report.enqueue(42)
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        settings: Settings | None = None,
        app_path: str | None = None,
        enqueue_policy: EnqueuePolicy | str | None = None,
        queue_policies: dict[str, EnqueuePolicy | str] | None = None,
    ) -> None:
        base = settings or Settings.from_env()
        # Per-queue enqueue policy (e.g. {"nightly": "accept"}); per call > per task > per queue > app.
        self.queue_policies = {q: EnqueuePolicy(p) for q, p in (queue_policies or {}).items()}
        self.settings = base.with_overrides(database_url=database_url, enqueue_policy=(
            EnqueuePolicy(enqueue_policy).value if enqueue_policy else None))
        self.tasks: dict[str, Task[Any, Any]] = {}
        self._app_path = app_path  # "module:attr", used in the messages that say how to start a worker
        self._app_path_searched = False
        self._store: Store | None = None
        self._store_lock = threading.Lock()
        self.pipelines: dict[str, DeclaredPipeline] = {}  # app.pipeline(...)
        self._runs: Runs | None = None
        self._scheduler: Scheduler | None = None  # app.schedule(...), fired in maintenance
        self._etl_jobs: EtlJobs | None = None
        # "now" for schedules, ETL job intervals and reset countdowns: tests inject their own.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        # ETL jobs: (integration_id, tenant) -> is the integration active? None: the integrations table.
        self.integration_check: Callable[[str, str], bool] | None = None
        # Built in: `conveyor doctor` enqueues it to prove a worker picks jobs up and finishes them.
        self.task(name="conveyor.probe", max_attempts=1, timeout=30, policy="refuse")(_probe)

    @property
    def app_path(self) -> str | None:
        """'module:attr' of this app: as given, else found from the module its tasks live in."""
        if self._app_path is None and not self._app_path_searched:
            self._app_path_searched = True  # once: enqueue passes it on every call
            self._app_path = find_app_path(self)
        return self._app_path

    @app_path.setter
    def app_path(self, value: str | None) -> None:
        self._app_path = value

    # -- store ----------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    self._store = open_store(self.settings.database_url)
        return self._store

    def migrate(self) -> int:
        return self.store.migrate()

    def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler.stop()  # give up the scheduler's lead (its lock connection) at once
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- tasks ----------------------------------------------------------------------------
    def task(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        queue: str = "default",
        priority: int = 0,
        max_attempts: int = 3,
        timeout: float | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
        dont_retry_on: tuple[type[BaseException], ...] = (),
        policy: EnqueuePolicy | str | None = None,
        isolation: str = "thread",
    ) -> Any:
        options = TaskOptions(
            queue=queue, priority=priority, max_attempts=max_attempts, timeout=timeout, retry=retry,
            retry_on=retry_on, dont_retry_on=dont_retry_on,
            policy=EnqueuePolicy(policy) if policy else None, isolation=isolation,
        )

        def register(func: Callable[..., Any]) -> Task[Any, Any]:
            task_name = name or f"{func.__module__}.{func.__qualname__}"
            if task_name in self.tasks:
                raise InvalidJobError(f"Task {task_name!r} is registered twice.", action="Give one of them name=...")
            task: Task[Any, Any] = Task(self, func, task_name, options)
            self.tasks[task_name] = task
            return task

        return register(fn) if fn is not None else register

    def get_task(self, name: str) -> Task[Any, Any]:
        """The task registered as `name`, or the one task whose name ends in `.name`
        (`make_thumbnail` for `images.make_thumbnail`) when exactly one does."""
        task = self.tasks.get(name)
        if task is not None:
            return task
        public = sorted(n for n in self.tasks if not n.startswith(INTERNAL_TASK_PREFIX))
        matches = [n for n in public if n.rsplit(".", 1)[-1] == name] if name else []
        if len(matches) == 1:
            return self.tasks[matches[0]]
        if len(matches) > 1:
            raise UnknownTaskError(f"Task name {name!r} is ambiguous: {', '.join(matches)} match it.",
                                   action="Use the full name of one of them.")
        raise UnknownTaskError(
            f"Unknown task {name!r}.",
            action=f"Use one of the registered tasks: {', '.join(public) or 'none'}.",
        )

    # -- enqueue --------------------------------------------------------------------------
    def build_job(self, task_name: str, args: list[Any], kwargs: dict[str, Any], call: CallOptions) -> NewJob:
        task = self.get_task(task_name)
        task.signature.check(task.name, args, kwargs)
        opts = task.options
        run_at = call.run_at
        if call.delay is not None:
            seconds = check_delay(call.delay)
            run_at = datetime.now(UTC) + timedelta(seconds=seconds) if seconds > 0 else None
        if run_at is not None and run_at.tzinfo is None:
            raise InvalidJobError(
                "run_at must be timezone-aware.", action="Pass e.g. datetime.now(UTC) + timedelta(minutes=5)."
            )
        parent = current_job()
        return NewJob(
            task=task.name,
            args=list(args),
            kwargs=dict(kwargs),
            queue=call.queue or opts.queue,
            priority=call.priority if call.priority is not None else opts.priority,
            tenant=call.tenant or (parent.tenant if parent else "default"),
            max_attempts=call.max_attempts if call.max_attempts is not None else opts.max_attempts,
            timeout=call.timeout if call.timeout is not None else opts.timeout,
            run_at=run_at,
            token=call.token or (parent.token if parent else ""),
            parent_id=parent.job_id if parent else None,
            idempotency_key=call.idempotency_key,
            meta=dict(call.meta),
            policy=EnqueuePolicy(call.policy) if call.policy else None,
        )

    def submit(self, jobs: list[NewJob], policy: EnqueuePolicy | str | None = None) -> list[JobHandle]:
        """Write built jobs; the policy says what happens when no live worker serves a queue."""
        if not jobs:
            return []
        chosen = self._policies(jobs, policy)
        try:
            results = self.store.enqueue(
                jobs, policy=chosen, liveness_timeout=self.settings.liveness_timeout, app_path=self.app_path
            )
        except LivenessCheckError:
            self.store.check_schema()  # a database never upgraded: say so, with the command
            raise
        return [JobHandle(self, r.id, r.state, r.created) for r in results]

    async def submit_async(self, jobs: list[NewJob], policy: EnqueuePolicy | str | None = None) -> list[JobHandle]:
        """submit() for async code: the event loop is never blocked on the database."""
        if not jobs:
            return []
        chosen = self._policies(jobs, policy)
        try:
            results = await self.store.enqueue_async(
                jobs, policy=chosen, liveness_timeout=self.settings.liveness_timeout, app_path=self.app_path
            )
        except LivenessCheckError:
            self.store.check_schema()  # a database never upgraded: say so, with the command
            raise
        return [JobHandle(self, r.id, r.state, r.created) for r in results]

    def _policies(
        self, jobs: list[NewJob], policy: EnqueuePolicy | str | None
    ) -> EnqueuePolicy | Callable[[NewJob], EnqueuePolicy]:
        """Each job's own policy (its task's, its queue's, or the app's), unless the call gives one.
        For a batch, a function the store asks only about jobs of queues no live worker serves."""
        if policy or len(jobs) == 1:
            return self.policy_for(jobs[0].task, jobs[0].queue, policy or jobs[0].policy)
        chosen: dict[tuple[str, str, EnqueuePolicy | None], EnqueuePolicy] = {}

        def policy_of(job: NewJob) -> EnqueuePolicy:
            key = (job.task, job.queue, job.policy)
            if key not in chosen:
                chosen[key] = self.policy_for(job.task, job.queue, job.policy)
            return chosen[key]

        return policy_of

    def policy_for(self, task_name: str, queue: str, policy: EnqueuePolicy | str | None) -> EnqueuePolicy:
        if policy:
            return EnqueuePolicy(policy)
        task = self.tasks.get(task_name)
        if task and task.options.policy:
            return task.options.policy
        if queue in self.queue_policies:
            return self.queue_policies[queue]
        return EnqueuePolicy(self.settings.enqueue_policy)

    def enqueue(
        self,
        task_name: str,
        args: list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> JobHandle:
        """Enqueue by task name (CLI, API, scripts that do not import the task)."""
        call = CallOptions(**options)
        job = self.build_job(task_name, list(args or []), dict(kwargs or {}), call)
        return self.submit([job], call.policy)[0]

    def enqueue_many(
        self,
        jobs: Iterable[NewJob],
        *,
        policy: EnqueuePolicy | str | None = None,
        batch_size: int = 1000,
    ) -> list[JobHandle]:
        """Bulk enqueue (build jobs with task.new_job(...)): one transaction per batch."""
        if batch_size < 1:
            raise InvalidJobError(f"batch_size must be at least 1, got {batch_size}.",
                                  action="Pass batch_size >= 1 (default 1000).")
        handles: list[JobHandle] = []
        batch: list[NewJob] = []
        for job in jobs:
            batch.append(job)
            if len(batch) >= batch_size:
                handles += self.submit(batch, policy)
                batch = []
        if batch:
            handles += self.submit(batch, policy)
        return handles

    # -- pipelines ------------------------------------------------------------------------
    def pipeline(self, name: str, steps: list[Any], *, one_run_per: Sequence[str] = ()) -> DeclaredPipeline:
        """Declare a pipeline of ordered steps, each an ordered list of stages (registered tasks);
        see conveyor.pipelines. Refused with a clear error: unknown tasks, no steps, cycles.
        one_run_per=['integration_id']: at most one unfinished run per tenant and value of those
        params (a second start raises RunConflictError, HTTP 409)."""
        from conveyor.pipelines import DeclaredPipeline
        from conveyor.pipelines.declaration import PipelineError, build_pipeline

        if name in self.pipelines:
            raise PipelineError(f"Pipeline {name!r} is declared twice.", action="Give one of them another name.")
        declared = DeclaredPipeline(self, build_pipeline(name, steps, self.tasks, one_run_per))
        self.pipelines[name] = declared
        return declared

    @property
    def runs(self) -> Runs:
        if self._runs is None:
            from conveyor.pipelines.runs import Runs
            self._runs = Runs(self)
        return self._runs

    def get_run(self, run_id: str, tenant: str | None = None) -> PipelineRun | None:
        """A pipeline run with its status JSON; None for an unknown id."""
        return self.runs.get(run_id, tenant)

    # -- schedules and ETL jobs ------------------------------------------------------------
    def schedule(self, name: str | None = None, *, target: Any = None, **options: Any) -> Any:
        """Declare a recurring schedule in code (stored and fired by the scheduler; see
        conveyor.schedules). With target= it is declared at once; without, it decorates a task:
            @app.schedule(cron="0 2 * * *", timezone="Europe/Berlin")
            @app.task(queue="reports")
            def nightly(ctx): ...
        options: cron | interval, timezone, args, kwargs, tenant, active, misfire, misfire_max, kind."""
        from conveyor.schedules.scheduler import declare_schedule

        if target is not None:
            return declare_schedule(self, name, target, **options)

        def register(task: Any) -> Any:
            declare_schedule(self, name, task, **options)
            return task

        return register

    @property
    def scheduler(self) -> Scheduler:
        if self._scheduler is None:
            from conveyor.schedules import Scheduler
            self._scheduler = Scheduler(self)
        return self._scheduler

    @property
    def etl_jobs(self) -> EtlJobs:
        if self._etl_jobs is None:
            from conveyor.etl_jobs import EtlJobs
            self._etl_jobs = EtlJobs(self)
        return self._etl_jobs

    # -- reading --------------------------------------------------------------------------
    def get_job(self, job_id: str) -> Job | None:
        return self.store.get_job(job_id)

    def list_jobs(self, limit: int = 50, **filters: Any) -> list[Job]:
        return self.store.list_jobs(JobFilter(**filters), limit=limit)

    def with_database(self, database_url: str) -> Conveyor:
        """A copy of this app (same tasks) bound to another database."""
        clone = Conveyor(settings=replace(self.settings, database_url=database_url), app_path=self.app_path,
                         queue_policies=dict(self.queue_policies))
        clone.tasks = {name: Task(clone, t.fn, name, t.options) for name, t in self.tasks.items()}
        clone.pipelines = {name: replace(p, app=clone) for name, p in self.pipelines.items()}
        clone.clock, clone.integration_check = self.clock, self.integration_check
        if self._scheduler is not None:
            for spec in self._scheduler.declared.values():
                clone.scheduler.declare(spec)
        return clone
