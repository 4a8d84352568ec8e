"""A worker's lifeline: its own thread, so a task that hogs the event loop (or the GIL) cannot make
the worker look dead. It heartbeats, applies pause/resume/stop requests, notices cancellations,
hands back jobs whose claim was lost, and runs the maintenance pass (conveyor/maintenance.py)."""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

from conveyor.maintenance import LOCK_PROBE_INTERVAL, detect_exited, next_pass_in
from conveyor.model import JobState, Outcome

if TYPE_CHECKING:
    from conveyor.worker import Worker

log = logging.getLogger("conveyor.worker")


def run_lifeline(worker: Worker) -> None:
    """The lifeline thread's loop: heartbeats, the maintenance pass on its schedule, and between
    them the quick probe for workers whose process has exited (their lock is free)."""
    now = time.monotonic()
    next_heartbeat = now + worker.settings.heartbeat_interval
    next_maintenance = now + worker.settings.maintenance_interval * 0.5
    probing = worker.settings.worker_locks
    next_probe = now + LOCK_PROBE_INTERVAL if probing else float("inf")
    while not worker._lifeline_stop.wait(
        max(0.0, min(next_heartbeat, next_maintenance, next_probe) - time.monotonic())
    ):
        try:
            if time.monotonic() >= next_probe:
                next_probe = time.monotonic() + LOCK_PROBE_INTERVAL
                detect_exited(worker.app)
            if time.monotonic() >= next_heartbeat:
                next_heartbeat = time.monotonic() + worker.settings.heartbeat_interval
                heartbeat_once(worker)
            if time.monotonic() >= next_maintenance:
                release_unknown_jobs(worker)
                report = worker.run_maintenance()
                if worker.app.pipelines:  # pipelines: a rescue or timeout may have ended a stage
                    worker.app.runs.advance_active()
                next_maintenance = time.monotonic() + next_pass_in(report, worker.settings.maintenance_interval)
        except Exception as exc:  # the database may be down: keep trying
            log.warning("lifeline: %s: %s", type(exc).__name__, exc)
            next_heartbeat = min(next_heartbeat, time.monotonic() + 1.0)
            next_maintenance = max(next_maintenance, time.monotonic() + 1.0)
            next_probe = max(next_probe, time.monotonic() + 1.0)

def heartbeat_once(worker: Worker) -> None:
    """Refresh liveness; apply what an operator asked for; notice requested cancellations."""
    desired = worker.store.heartbeat(
        worker.id, state=worker.state if worker.state != "stopped" else "stopping",
        jobs_in_flight=len(worker._running), processed=worker.processed, failed=worker.failed,
    )
    loop = worker._loop
    if loop is None or loop.is_closed():
        return
    if worker.supervisor_pid is not None and os.getppid() != worker.supervisor_pid and worker.state != "stopping":
        log.warning("supervisor (pid %d) is gone: stopping gracefully", worker.supervisor_pid)
        worker.supervisor_pid = None
        loop.call_soon_threadsafe(worker._begin_stop, False)
        return
    if worker.liveness.heartbeat_answered(desired):
        return  # it was declared dead: it has handed back its jobs and registered again
    if desired in ("paused", "running", "stopping") and desired != worker.state and worker.state != "stopping":
        loop.call_soon_threadsafe(worker._apply_desired, desired)
    if worker._running:
        for job_id in worker.store.cancel_requested_jobs(worker.id):
            loop.call_soon_threadsafe(worker._cancel_job, job_id)

def release_unknown_jobs(worker: Worker) -> None:
    """Hand back jobs leased to this worker that it does not run: their claim's answer was
    lost with a dropped connection. Only leases older than a few seconds are considered, so a
    claim whose answer is still on its way is never touched."""
    known = set(worker._running) | {o.job_id for o in list(worker._outcomes) + list(worker._flushing)}
    grace = max(5.0, 2 * worker.settings.heartbeat_interval)
    unknown = [(i, lease) for i, lease in worker.store.running_jobs(worker.id, grace) if i not in known]
    if unknown:
        log.warning("handing back %d job(s) whose claim was lost with a connection", len(unknown))
        worker.store.finish_jobs([
            Outcome(job_id=i, lease_token=lease, state=JobState.QUEUED, worker_id=worker.id) for i, lease in unknown
        ])
