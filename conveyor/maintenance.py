"""Maintenance, run by every worker and every API server: orphan rescue, overdue jobs, stranded
queues, staging of scheduled jobs, pruning, and the schedule they run on.

The store does each pass in one transaction under a lock, so any number of processes may run it;
this module decides when, with which parameters (retention, the tasks' own retry backoff), and
logs what happened."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from conveyor.commands import worker_command
from conveyor.logs import lifecycle
from conveyor.model import DEFAULT_RETRY
from conveyor.store import MaintenanceReport

if TYPE_CHECKING:
    from conveyor.app import Conveyor
    from conveyor.settings import Settings

log = logging.getLogger("conveyor.maintenance")

DEFAULT_QUEUES = ["high", "default", "low"]  # the queues a worker serves unless told otherwise
STAGE_INTERVAL = 0.5  # seconds between stagings of due scheduled jobs
# Seconds between probes of the worker locks (store.detect_exited_workers: one short transaction,
# one lock try per live worker): with the PostgreSQL grace period, a killed worker's jobs run
# again about a second after its death.
LOCK_PROBE_INTERVAL = 0.25


def retry_delays(tasks: dict[str, Any]) -> Callable[[str, int], float]:
    """(task name, attempt) -> seconds before the retry of a job that timed out, from the task's
    own retry policy (the default policy for a task this process does not know)."""

    def delay(task: str, attempt: int) -> float:
        options = getattr(tasks.get(task), "options", None)
        return getattr(options, "retry", DEFAULT_RETRY).delay(attempt)

    return delay


def run_maintenance(app: Conveyor, settings: Settings | None = None) -> MaintenanceReport | None:
    """One pass with the app's tasks and settings (or the ones given); None when another process
    holds the maintenance lock."""
    settings = settings or app.settings
    report = app.store.run_maintenance(
        liveness_timeout=settings.liveness_timeout, timeout_grace=settings.timeout_grace,
        stranded_deadline=settings.stranded_deadline, result_ttl=settings.result_ttl,
        failure_ttl=settings.failure_ttl, prune_batch=settings.prune_batch, retry_delay=retry_delays(app.tasks),
    )
    log_maintenance(report, app.app_path)
    return report


def detect_exited(app: Conveyor) -> MaintenanceReport | None:
    """The quick probe: workers whose process has exited are declared dead, their jobs rescued."""
    report = app.store.detect_exited_workers()
    log_maintenance(report, app.app_path, detected_by="exited")
    return report


def next_pass_in(report: MaintenanceReport | None, interval: float) -> float:
    """Seconds to the next pass: the interval, or sooner when the stalest live worker can be
    declared dead then, so a killed worker's jobs come back after the liveness timeout, not later."""
    expiry = getattr(report, "next_expiry", None)
    return interval if expiry is None else min(interval, max(0.0, expiry) + 0.05)


def log_maintenance(
    report: MaintenanceReport | None, app_path: str | None = None, detected_by: str = "heartbeat expired"
) -> None:
    if report is None:
        return
    if report.dead_workers:
        lifecycle("WORKER_LOST", logging.WARNING, workers=",".join(report.dead_workers), detected_by=detected_by)
    for job_id, state in report.rescued:
        lifecycle("JOB_RESCUED", logging.WARNING, job_id=job_id, state=state)
    for job_id, state in report.timed_out:
        lifecycle("JOB_TIMEOUT", logging.WARNING, job_id=job_id, state=state)
    for queue in report.stranded_queues:
        lifecycle(
            "QUEUE_STRANDED", logging.WARNING, queue=queue,
            action=f"start a worker: {worker_command(app_path, queue)}",
        )
    if report.expired:
        lifecycle("JOB_EXPIRED", logging.WARNING, count=len(report.expired))
    if report.pruned:
        logging.getLogger("conveyor.worker").info("pruned %d finished jobs", report.pruned)


class MaintenanceThread:
    """Runs maintenance (and stages due jobs) on its own thread, for a process that has no worker
    lifeline: the API server, so rescue and pruning happen even when every worker is dead."""

    def __init__(self, app: Conveyor) -> None:
        self.app = app
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="conveyor-api-maintenance", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> MaintenanceReport | None:
        report = run_maintenance(self.app)
        if self.app.pipelines:  # pipelines: act on changes no worker reported
            self.app.runs.advance_active()
        return report

    def _run(self) -> None:
        probing = self.app.settings.worker_locks
        next_pass = time.monotonic() + self.app.settings.maintenance_interval
        pause = 0.0
        while not self._stop.wait(pause + max(0.0, min(next_pass - time.monotonic(),
                                                        LOCK_PROBE_INTERVAL if probing else float("inf")))):
            pause = 0.0
            try:
                if probing:
                    detect_exited(self.app)
                if time.monotonic() >= next_pass:
                    next_pass = time.monotonic() + next_pass_in(self.run_once(), self.app.settings.maintenance_interval)
            except Exception as exc:  # the database may be down: keep trying
                log.warning("maintenance: %s: %s", type(exc).__name__, exc)
                pause = 1.0


class StageWarnings:
    """Staging fails while the database is down: say so at most every 30 s."""

    def __init__(self) -> None:
        self._last = 0.0

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last > 30:
            self._last = now
            logging.getLogger("conveyor.worker").warning("staging scheduled jobs failed: %s", exc)
