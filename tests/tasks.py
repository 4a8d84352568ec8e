"""Tasks the test suite runs, in-process and in worker subprocesses (--app tests.tasks:app)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

from conveyor import Conveyor, JobContext, PermanentError, RetryPolicy

app = Conveyor(app_path="tests.tasks:app")
FAST_RETRY = RetryPolicy(base=0.05, factor=2.0, cap=0.2)
RAN: list[Any] = []  # in-process record of executions (thread-safe enough for appends)
_release = threading.Event()


@app.task(name="t.add")
def add(a: int, b: int) -> int:
    return a + b


@app.task(name="t.record", queue="default")
async def record(value: Any) -> Any:
    RAN.append(value)
    return value


@app.task(name="t.noop")
async def noop(value: Any = None) -> Any:
    return value


@app.task(name="t.mark", queue="default")
def mark(path: str, value: str) -> str:
    """Appends `value` to the file at `path`: a record that survives the worker process."""
    with open(path, "a") as f:
        f.write(value + "\n")
    return value


@app.task(name="t.sleep")
async def sleep(seconds: float, value: Any = None) -> Any:
    await asyncio.sleep(seconds)
    return value


@app.task(name="t.sync_sleep")
def sync_sleep(seconds: float, value: Any = None) -> Any:
    time.sleep(seconds)
    return value


@app.task(name="t.fail", max_attempts=3, retry=FAST_RETRY)
def fail(message: str = "boom") -> None:
    raise RuntimeError(message)


@app.task(name="t.flaky", max_attempts=3, retry=FAST_RETRY)
def flaky(ctx: JobContext, fail_times: int) -> int:
    if ctx.attempt <= fail_times:
        raise ConnectionError(f"attempt {ctx.attempt} fails")
    return ctx.attempt


@app.task(name="t.permanent", max_attempts=5, retry=FAST_RETRY)
def permanent() -> None:
    raise PermanentError("bad arguments: customer id missing")


@app.task(name="t.missing_dep", max_attempts=5, retry=FAST_RETRY)
def missing_dep() -> None:
    import conveyor_module_that_does_not_exist  # type: ignore[import-not-found]  # noqa: F401


@app.task(name="t.progress")
def progress(ctx: JobContext, steps: int, step_seconds: float, marker: str | None = None) -> str:
    """Reports progress, then waits until `marker` file exists (if given) before finishing."""
    for i in range(steps):
        ctx.progress(percent=100.0 * (i + 1) / steps, processed=i + 1, failed=0, meta={"step": i + 1})
        time.sleep(step_seconds)
    while marker and not os.path.exists(marker) and not ctx.cancelled:
        time.sleep(0.01)
    return "done"


@app.task(name="t.hold")
def hold(ctx: JobContext, folder: str) -> int:
    """Runs until the file `folder`/<this process's pid> exists, writing progress (meta: the pid)
    every 50 ms and one line per write to `folder`/progress.log: "<time> <pid> <job id> ok|refused|
    error"; returns the pid. Ignores cancellation, as code that never checks it does."""
    pid = os.getpid()
    while True:
        started = time.time()
        try:
            answer = "ok" if ctx.progress(meta={"pid": pid}) else "refused"
        except Exception:  # the database is out of reach
            answer = "error"
        with open(os.path.join(folder, "progress.log"), "a") as log:
            log.write(f"{started} {pid} {ctx.job_id} {answer}\n")
        if os.path.exists(os.path.join(folder, str(pid))):
            return pid
        time.sleep(0.05)


@app.task(name="t.wait_cancel")
def wait_cancel(ctx: JobContext, limit: float = 30.0) -> str:
    deadline = time.monotonic() + limit
    while not ctx.cancelled and time.monotonic() < deadline:
        time.sleep(0.01)
    return "saw cancel" if ctx.cancelled else "no cancel"


@app.task(name="t.async_forever")
async def async_forever() -> None:
    await asyncio.sleep(3600)


@app.task(name="t.timeout_async", timeout=0.3, max_attempts=2, retry=FAST_RETRY)
async def timeout_async() -> None:
    await asyncio.sleep(30)


@app.task(name="t.timeout_sync", timeout=0.3, max_attempts=2, retry=FAST_RETRY)
def timeout_sync(ctx: JobContext) -> str:
    while not ctx.cancelled:
        time.sleep(0.01)
    return "late"


@app.task(name="t.timeout_process", timeout=0.5, max_attempts=1, isolation="process")
def timeout_process() -> None:
    time.sleep(60)


@app.task(name="t.process_add", isolation="process")
def process_add(a: int, b: int) -> int:
    return a + b


@app.task(name="t.hog_loop")
async def hog_loop(seconds: float) -> str:
    """Blocks the event loop (bad async code): the worker must still heartbeat."""
    time.sleep(seconds)
    return "hogged"


@app.task(name="t.hog_gil")
def hog_gil(seconds: float) -> int:
    """Pure-Python CPU loop holding the GIL between switches."""
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
    return n


@app.task(name="t.extend", timeout=0.4, max_attempts=1)
def extend(ctx: JobContext) -> str:
    ctx.extend_timeout(2.0)
    time.sleep(0.8)
    return "extended"


@app.task(name="t.spawn_child")
def spawn_child(ctx: JobContext) -> str:
    handle = child.configure(policy="accept").enqueue()
    return handle.id


@app.task(name="t.child")
def child() -> str:
    return "child"


@app.task(name="t.reports", queue="reports")
def reports() -> str:
    return "report"


@app.task(name="t.bad_result")
def bad_result() -> object:
    return object()


from conveyor.etl.jira.pipeline import register_jira  # noqa: E402 - the Jira pipeline on this app

# Stage tasks and pipelines on this app: the pipeline tests', and the embedding stage's.
from tests import embedding_tasks, pipeline_tasks  # noqa: E402,F401

register_jira(app, embedding=False)  # the sync alone: tests/etl_search runs it with the embedding stage
