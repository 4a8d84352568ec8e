"""`conveyor doctor`: the database, the schema, live workers per queue, and a real probe job
through every queue a live worker serves (or the queues given)."""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable

from conveyor.app import INTERNAL_TASK_PREFIX, Conveyor
from conveyor.commands import worker_command
from conveyor.errors import DatabaseUnavailableError, SchemaOutdatedError

EXIT_OK, EXIT_FAILED, EXIT_DATABASE = 0, 1, 3


def queues_to_check(app: Conveyor, given: str | None) -> list[str]:
    if given:
        return [q.strip() for q in given.split(",") if q.strip()]
    names = {t.options.queue for n, t in app.tasks.items() if not n.startswith(INTERNAL_TASK_PREFIX)}
    for worker in app.store.list_workers(app.settings.liveness_timeout):
        if worker.alive and worker.state in ("running", "paused"):
            names |= set(worker.queues)
    return sorted(names or {"default"})


def run_doctor(load: Callable[[], Conveyor], args: argparse.Namespace) -> int:
    problems = 0

    def report(ok: bool, what: str, fix: str = "") -> None:
        nonlocal problems
        problems += 0 if ok else 1
        print(f"[{'ok' if ok else 'FAIL'}] {what}" + (f"\n       fix: {fix}" if fix and not ok else ""), flush=True)

    try:
        app = load()
        store = app.store
        report(True, f"database reachable: {store.redacted_url()} ({store.engine})")
    except DatabaseUnavailableError as exc:
        report(False, f"database unreachable: {exc.message}", exc.action)
        return EXIT_DATABASE
    try:
        store.check_schema()
        report(True, f"schema current (version {store.schema_version()})")
    except SchemaOutdatedError as exc:
        report(False, exc.message, exc.action)
        return EXIT_FAILED
    queues = queues_to_check(app, args.queues)
    liveness = app.settings.liveness_timeout
    for queue in queues:
        running, paused = store.live_worker_count(queue, liveness)
        report(running > 0, f"queue '{queue}': {running} live worker(s)" + (f", {paused} paused" if paused else ""),
               worker_command(app.app_path, queue))
    for s in store.queue_stats(liveness):
        if s.stranded:
            report(False, f"queue '{s.name}' is stranded: {s.counts['queued']} ready job(s), no live worker",
                   worker_command(app.app_path, s.name))
    for queue in queues:
        if store.live_worker_count(queue, liveness)[0]:
            problems += 0 if probe(app, queue, args.timeout, report) else 1
    print("all checks passed" if problems == 0 else f"{problems} problem(s) found")
    return EXIT_OK if problems == 0 else EXIT_FAILED


def probe(app: Conveyor, queue: str, timeout: float, report: Callable[[bool, str, str], None]) -> bool:
    """A real job through `queue`: proves a worker picks it up and finishes it. True when it did
    (a failure is reported, and counted, by the caller through the return value)."""
    nonce = uuid.uuid4().hex
    started = time.monotonic()
    try:
        handle = app.enqueue("conveyor.probe", [nonce], queue=queue, policy="refuse", max_attempts=1)
        job = handle.wait(timeout)
    except TimeoutError:
        print(f"[FAIL] queue '{queue}': the probe job was not finished within {timeout}s\n"
              "       fix: the workers are alive but not picking jobs up: check their logs (paused or busy?)")
        return False
    elapsed = (time.monotonic() - started) * 1000
    if job.state.value != "completed" or job.result != nonce:
        print(f"[FAIL] queue '{queue}': probe ended {job.state.value}: {job.error}\n"
              "       fix: make sure the worker runs this app's code (conveyor.probe is built in)")
        return False
    pickup = (job.started_at - job.queued_at).total_seconds() * 1000 if job.started_at and job.queued_at else 0.0
    report(True, f"queue '{queue}': probe job picked up in {pickup:.1f} ms and finished in {elapsed:.0f} ms "
                 f"by {job.worker_id}", "")
    app.store.delete_job(job.id)
    return True
