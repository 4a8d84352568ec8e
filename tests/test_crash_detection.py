"""A killed worker's jobs run again within two seconds (#18): real worker processes on both engines.

The worker lock (conveyor/store/worker_locks.py) tells at once that a process has died; the
heartbeat stays for what a lock cannot tell (a stopped process, a lost machine, a partition). The
tests for a database restart and a lost machine run their own PostgreSQL cluster (never the shared
server): see tests/test_crash_partition.py for the lost machine.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psycopg
import pytest

from conveyor import Conveyor, JobState
from conveyor.app import JobHandle
from conveyor.model import WorkerInfo
from conveyor.settings import Settings
from conveyor.store.worker_locks import EXITED, HEARTBEAT_EXPIRED
from tests import tasks
from tests.conftest import WorkerProcess, wait_for
from tests.test_engine import cli

LISTED = 3600.0  # list every worker as alive that has not been declared dead


def worker_row(app: Conveyor, worker: WorkerProcess) -> WorkerInfo | None:
    rows = [w for w in app.store.list_workers(LISTED) if w.pid == worker.proc.pid]
    return rows[0] if rows else None


def started(app: Conveyor, worker: WorkerProcess) -> WorkerInfo:
    info = wait_for(lambda: worker_row(app, worker), timeout=30, message=f"worker pid {worker.proc.pid} registered")
    return info  # type: ignore[no-any-return]


def hold_jobs(app: Conveyor, folder: Path, count: int) -> list[str]:
    """Jobs that run until their process is released (tests.tasks.hold)."""
    return [h.id for h in app.enqueue_many([tasks.hold.new_job(str(folder)) for _ in range(count)], policy="accept")]


def running_on(app: Conveyor, ids: list[str], worker_id: str) -> bool:
    jobs = app.store.get_jobs(ids)
    return len(jobs) == len(ids) and all(j.state == JobState.RUNNING and j.worker_id == worker_id for j in jobs)


def release(folder: Path, worker: WorkerProcess) -> None:
    (folder / str(worker.proc.pid)).touch()


def completed_by(app: Conveyor, ids: list[str], winner: WorkerProcess, winner_id: str, history: list[str]) -> None:
    """Every job completed once, by `winner`, after attempts ending as `history`."""
    for job_id in ids:
        job = JobHandle(app, job_id, JobState.RUNNING).wait(30)
        assert job.state == JobState.COMPLETED and job.result == winner.proc.pid, job
        assert [a.outcome for a in job.attempts_history()] == history
        assert job.attempts == len(history) and job.worker_id == winner_id


# -- SIGKILL: the lock tells at once ----------------------------------------------------------
def test_a_killed_workers_jobs_run_again_elsewhere_within_two_seconds(app, spawn_worker, tmp_path):
    """Default settings (liveness timeout 15 s): the heartbeat alone would take ~15 s."""
    assert Settings().liveness_timeout == 15.0 and Settings().worker_locks
    doomed = spawn_worker(concurrency=10, fast=False)
    a = started(app, doomed)
    ids = hold_jobs(app, tmp_path, 10)
    wait_for(lambda: running_on(app, ids, a.id), timeout=30, message="10 jobs in flight on worker A")
    rescuer = spawn_worker(concurrency=10, fast=False)
    b = started(app, rescuer)
    killed = time.monotonic()
    doomed.kill()
    wait_for(lambda: running_on(app, ids, b.id), timeout=2.0 - (time.monotonic() - killed), interval=0.01,
             message="every one of the killed worker's jobs running again on worker B within 2 s")
    release(tmp_path, rescuer)
    completed_by(app, ids, rescuer, b.id, ["orphaned", "completed"])
    dead = worker_row(app, doomed)
    assert dead is not None and (dead.state, dead.detected_by) == ("dead", EXITED) and dead.stopped_at is not None
    orphaned = app.get_job(ids[0]).attempts_history()[0]
    assert orphaned.worker_id == a.id and "exited" in orphaned.error
    listed = next(line for line in cli(app.settings, "workers").stdout.splitlines() if line.startswith(a.id))
    assert "dead" in listed and " exited " in listed and "s ago" in listed, listed


# -- a lock connection dropped under a live worker ----------------------------------------------
def _lock_session(app: Conveyor, worker_id: str) -> tuple[int | None, int | None]:
    """(backend pid of the worker's lock connection, the key its row records)."""
    with psycopg.connect(app.settings.database_url, autocommit=True) as conn:
        backend = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                               [f"conveyor lock {worker_id}"[:63]]).fetchone()
        key = conn.execute("SELECT lock_key FROM conveyor_workers WHERE id = %s", [worker_id]).fetchone()
    return (backend[0] if backend else None), (key[0] if key else None)


@pytest.mark.parametrize("engine", ["postgres"])
def test_a_worker_whose_lock_connection_is_terminated_is_not_rescued_from_under_itself(app, spawn_worker, tmp_path):
    worker = spawn_worker(concurrency=5, fast=False)
    w = started(app, worker)
    watcher = spawn_worker(queues="elsewhere", concurrency=1, fast=False)  # probes from another process
    started(app, watcher)
    ids = hold_jobs(app, tmp_path, 5)
    wait_for(lambda: running_on(app, ids, w.id), timeout=30, message="5 jobs in flight")
    for _ in range(5):
        backend, key = _lock_session(app, w.id)
        assert backend is not None and key is not None
        with psycopg.connect(app.settings.database_url, autocommit=True) as conn:
            assert conn.execute("SELECT pg_terminate_backend(%s, 5000)", [backend]).fetchone()[0]
        wait_for(lambda b=backend, k=key: (lambda s: s[0] not in (None, b) and s[1] != k)(_lock_session(app, w.id)),
                 timeout=5, message="a new lock taken on a new connection")
    # Several probes and the grace period later, the worker and its jobs are untouched.
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        info = worker_row(app, worker)
        assert info is not None and (info.state, info.detected_by) == ("running", None), info
        assert running_on(app, ids, w.id)
        time.sleep(0.1)
    release(tmp_path, worker)
    completed_by(app, ids, worker, w.id, ["completed"])
    lines = (tmp_path / "progress.log").read_text().split("\n")
    assert {line.split()[1] for line in lines if line} == {str(worker.proc.pid)}, "a job ran in another process"
    assert not any(line.endswith("refused") for line in lines), "a progress write lost its lease"
    output = worker.output()
    assert output.count("worker lock lost") == 5 and output.count("worker lock taken again") == 5, output[-3000:]


# -- SIGSTOP: the lock is held, the heartbeat tells -------------------------------------------
def _process_state(pid: int) -> str:
    """The state letter in /proc/PID/stat ('T': stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_stopped_process_is_caught_by_its_heartbeat_and_registers_again_after(app, spawn_worker, tmp_path):
    frozen = spawn_worker(concurrency=3)
    a = started(app, frozen)
    ids = hold_jobs(app, tmp_path, 3)
    wait_for(lambda: running_on(app, ids, a.id), timeout=30, message="3 jobs in flight")
    rescuer = spawn_worker(concurrency=3)
    b = started(app, rescuer)
    liveness = app.settings.liveness_timeout
    frozen.proc.send_signal(signal.SIGSTOP)
    wait_for(lambda: _process_state(frozen.proc.pid) == "T", timeout=5, message="the process stopped")
    stopped = time.time()  # its last writes began before this
    try:
        wait_for(lambda: running_on(app, ids, b.id), timeout=liveness + 10, message="jobs running again on B")
        info = worker_row(app, frozen)  # found out by its heartbeat: its lock is still held
        assert info is not None and (info.state, info.detected_by) == ("dead", HEARTBEAT_EXPIRED)
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
    # Woken, it learns it was declared dead, hands back what it ran and registers again.
    wait_for(lambda: "WORKER_REJOINED" in frozen.output(), timeout=20, message="the woken worker to register again")
    info = worker_row(app, frozen)
    assert info is not None and (info.state, info.detected_by) == ("running", None)
    release(tmp_path, frozen)
    release(tmp_path, rescuer)
    completed_by(app, ids, rescuer, b.id, ["orphaned", "completed"])
    lines = (tmp_path / "progress.log").read_text().split("\n")
    late = [line for line in lines if line and line.split()[1] == str(frozen.proc.pid) and float(line.split()[0]) > stopped]
    assert late and all(line.endswith("refused") for line in late), late
