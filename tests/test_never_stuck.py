"""Nothing silently stuck or lost: liveness, fail-fast enqueue, orphan rescue, timeouts, retries,
dead letters, cancellation, retention. Both engines, real PostgreSQL."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from conveyor import EnqueuePolicy, JobState, NoLiveWorkerError
from conveyor.commands import cli_command
from conveyor.errors import LivenessCheckError
from conveyor.model import NewJob, Outcome
from conveyor.store import JobFilter
from tests import tasks
from tests.conftest import live_workers, register_worker_row, wait_for
from tests.test_engine import cli, count_jobs


def maintain(app):
    s = app.settings
    return app.store.run_maintenance(
        liveness_timeout=s.liveness_timeout, timeout_grace=s.timeout_grace, stranded_deadline=s.stranded_deadline,
        result_ttl=s.result_ttl, failure_ttl=s.failure_ttl, prune_batch=s.prune_batch,
    )


# -- fail fast ------------------------------------------------------------------------------
def test_no_worker_refuse_writes_nothing_with_an_actionable_message(app):
    started = time.monotonic()
    with pytest.raises(NoLiveWorkerError) as caught:
        tasks.add.enqueue(1, 2)
    assert time.monotonic() - started < 1.0
    err = caught.value
    assert err.queue == "default"
    assert "No live worker serves queue 'default'" in err.message
    assert err.action == f"Start one with: {cli_command()} worker --app tests.tasks:app --queues default"
    assert err.to_dict().keys() == {"error", "action", "technical_details", "queue"}
    assert count_jobs(app) == 0
    with pytest.raises(NoLiveWorkerError):
        app.enqueue_many([tasks.add.new_job(1, 1), tasks.reports.new_job()])
    assert count_jobs(app) == 0


def test_worker_for_another_queue_does_not_count(app, start_worker):
    start_worker(["default"])
    with pytest.raises(NoLiveWorkerError, match="'reports'"):
        tasks.reports.enqueue()
    assert tasks.add.enqueue(1, 1).wait(10).result == 2


def test_record_failed_writes_a_failed_job_with_the_message(app):
    handle = tasks.add.configure(policy="record_failed").enqueue(1, 2)
    assert handle.state == JobState.FAILED
    job = handle.get()
    assert job.state == JobState.FAILED and job.finished_at is not None
    assert "No live worker serves queue 'default'" in job.error
    assert "conveyor worker --app tests.tasks:app --queues default" in job.error
    assert [j.id for j in app.store.list_jobs(JobFilter(states=["failed"]))] == [handle.id]


def test_accept_queues_and_the_queue_is_reported_stranded(app, start_worker):
    handle = tasks.add.configure(policy="accept").enqueue(1, 2)
    assert handle.state == JobState.QUEUED
    [stats] = [s for s in app.store.queue_stats(app.settings.liveness_timeout) if s.name == "default"]
    assert stats.stranded and stats.counts["queued"] == 1 and stats.live_workers == 0
    assert stats.oldest_ready_age is not None and stats.oldest_ready_age >= 0
    report = maintain(app)
    assert report.stranded_queues == ["default"]
    start_worker()
    assert handle.wait(10).result == 3
    report = maintain(app)
    assert report.stranded_queues == []


def test_policy_precedence_call_over_task_over_queue_over_app(app):
    app.queue_policies = {"reports": EnqueuePolicy.ACCEPT}
    try:
        assert tasks.reports.enqueue().state == JobState.QUEUED  # the queue's policy
        with pytest.raises(NoLiveWorkerError):
            tasks.reports.configure(policy="refuse").enqueue()  # the call wins
        with pytest.raises(NoLiveWorkerError):
            app.enqueue("conveyor.probe", ["x"], queue="reports")  # the task's own policy wins
        app.settings = app.settings.with_overrides(enqueue_policy="record_failed")
        assert tasks.add.enqueue(1, 1).state == JobState.FAILED  # the app default
    finally:
        app.queue_policies = {}


def test_paused_workers_are_named_in_the_refusal(app, start_worker):
    worker = start_worker()
    assert app.store.set_worker_desired_state(worker.worker.id, "paused")
    wait_for(lambda: worker.worker.state == "paused" and live_workers(app) == 0, message="worker paused")
    with pytest.raises(NoLiveWorkerError, match="1 paused worker"):
        tasks.add.enqueue(1, 1)
    app.store.set_worker_desired_state(worker.worker.id, "running")
    wait_for(lambda: live_workers(app) == 1, message="worker resumed")
    assert tasks.add.enqueue(1, 1).wait(10).result == 2


def test_stranded_deadline_sends_waiting_jobs_to_dead(app):
    app.settings = app.settings.with_overrides(stranded_deadline=0.2)
    handle = tasks.add.configure(policy="accept").enqueue(1, 2)
    wait_for(lambda: (maintain(app), app.get_job(handle.id).state == JobState.DEAD)[1], timeout=5)
    job = app.get_job(handle.id)
    assert "with no live worker" in job.error and "requeue" in job.error


def test_a_broken_liveness_check_does_not_let_jobs_through(app, start_worker):
    start_worker()
    rename = "ALTER TABLE conveyor_workers RENAME TO conveyor_workers_gone"
    restore = "ALTER TABLE conveyor_workers_gone RENAME TO conveyor_workers"
    _execute(app, rename)
    try:
        with pytest.raises(LivenessCheckError, match="Nothing was queued"):
            tasks.add.enqueue(1, 1)
        with pytest.raises(LivenessCheckError):
            app.enqueue_many([tasks.add.new_job(1, 1), tasks.add.new_job(2, 2)])
    finally:
        _execute(app, restore)
    assert count_jobs(app) == 0


def _execute(app, sql: str) -> None:
    if app.store.engine == "postgres":
        with psycopg.connect(app.settings.database_url, autocommit=True) as conn:
            conn.execute(sql)
    else:
        app.store._conn().execute(sql)


# -- liveness -------------------------------------------------------------------------------
def test_heartbeats_keep_a_worker_alive_while_a_task_hogs_the_loop(app, start_worker):
    worker = start_worker(concurrency=2)
    hog = tasks.hog_loop.enqueue(app.settings.liveness_timeout * 1.4)
    gil = tasks.hog_gil.enqueue(app.settings.liveness_timeout * 1.4)
    wait_for(lambda: app.get_job(hog.id).state == JobState.RUNNING, message="hog running")
    deadline = time.monotonic() + app.settings.liveness_timeout * 1.2
    while time.monotonic() < deadline:
        [info] = [w for w in app.store.list_workers(app.settings.liveness_timeout) if w.id == worker.worker.id]
        assert info.alive and info.heartbeat_age < app.settings.liveness_timeout, info
        time.sleep(0.2)
    job = hog.wait(15)
    assert job.state == JobState.COMPLETED and job.attempts == 1
    assert gil.wait(15).attempts == 1


def test_workers_table_and_cli_list(app, start_worker, settings):
    worker = start_worker(["default", "reports"], concurrency=3)
    [info] = app.store.list_workers(app.settings.liveness_timeout)
    assert info.id == worker.worker.id and info.queues == ["default", "reports"] and info.concurrency == 3
    assert info.state == "running" and info.alive and info.pid > 0 and info.hostname
    out = cli(settings, "workers")
    assert worker.worker.id in out.stdout and "default,reports" in out.stdout
    worker.stop()
    [info] = app.store.list_workers(app.settings.liveness_timeout)
    assert info.state == "stopped" and not info.alive


# -- leases and orphan rescue ---------------------------------------------------------------
def test_sigkill_with_ten_jobs_in_flight(app, spawn_worker, start_worker, tmp_path):
    marker = tmp_path / "release"
    doomed = spawn_worker(concurrency=10)
    wait_for(lambda: live_workers(app) == 1, message="worker process up")
    handles = [tasks.progress.enqueue(steps=1, step_seconds=0, marker=str(marker)) for _ in range(10)]
    wait_for(lambda: all(app.get_job(h.id).state == JobState.RUNNING for h in handles), message="10 in flight")
    doomed_id = app.get_job(handles[0].id).worker_id
    killed_at = time.monotonic()
    doomed.kill()
    marker.touch()
    start_worker(concurrency=10)
    limit = app.settings.liveness_timeout + app.settings.maintenance_interval + 3
    jobs = [h.wait(limit + 10) for h in handles]
    elapsed = time.monotonic() - killed_at
    assert elapsed < limit + 5, f"rescue took {elapsed:.1f}s"
    for job in jobs:
        assert job.state == JobState.COMPLETED and job.result == "done"
        assert job.attempts == 2 and job.worker_id != doomed_id
        first, second = job.attempts_history()
        assert first.outcome == "orphaned" and first.worker_id == doomed_id and first.attempt == 1
        assert second.outcome == "completed" and second.attempt == 2
    dead = [w for w in app.store.list_workers(app.settings.liveness_timeout) if w.id == doomed_id]
    assert dead and dead[0].state == "dead"


def test_a_lost_lease_cannot_overwrite_the_attempt_that_replaced_it(app):
    store = app.store
    for worker_id in ("w-old", "w-new"):
        register_worker_row(store, worker_id)
    store.enqueue([NewJob(task="t.add", args=[1, 1], token="tok")], policy="accept", liveness_timeout=3)  # type: ignore[arg-type]
    [first] = store.claim_jobs("w-old", ["default"], 1)
    # w-old stops heartbeating; w-new stays alive.
    _age_worker(app, "w-old", 60)
    report = maintain(app)
    assert report.rescued == [(first.id, "queued")] and report.dead_workers == ["w-old"]
    [second] = store.claim_jobs("w-new", ["default"], 1)
    assert second.id == first.id and second.lease_token != first.lease_token and second.attempts == 2
    late = Outcome(job_id=first.id, lease_token=first.lease_token, state=JobState.COMPLETED, result="stale")
    assert store.finish_jobs([late]) == []
    assert not store.update_progress(first.id, first.lease_token, percent=50)
    fresh = Outcome(job_id=second.id, lease_token=second.lease_token, state=JobState.COMPLETED, result=2)
    assert store.finish_jobs([fresh]) == [first.id]
    job = app.get_job(first.id)
    assert job.result == 2 and job.state == JobState.COMPLETED
    assert store.finish_jobs([late]) == []
    assert app.get_job(first.id).result == 2


def _age_worker(app, worker_id: str, seconds: float) -> None:
    if app.store.engine == "postgres":
        with psycopg.connect(app.settings.database_url, autocommit=True) as conn:
            conn.execute("UPDATE conveyor_workers SET last_heartbeat = now() - make_interval(secs => %s) "
                         "WHERE id = %s", (seconds, worker_id))
    else:
        conn = app.store._conn()
        conn.execute("UPDATE conveyor_workers SET last_heartbeat = last_heartbeat - ? WHERE id = ?",
                     (seconds, worker_id))


def test_orphan_with_attempts_spent_goes_to_dead(app):
    store = app.store
    register_worker_row(store, "w1")
    store.enqueue([NewJob(task="t.add", max_attempts=1)], policy="accept", liveness_timeout=3)  # type: ignore[arg-type]
    [claimed] = store.claim_jobs("w1", ["default"], 1)
    _age_worker(app, "w1", 60)
    maintain(app)
    job = app.get_job(claimed.id)
    assert job.state == JobState.DEAD and "stopped heartbeating" in job.error
    assert [a.outcome for a in job.attempts_history()] == ["orphaned"]


@pytest.mark.parametrize("engine", ["postgres"], indirect=False)
def test_postgres_connections_terminated_under_load(app, spawn_worker, tmp_path, engine):
    log_file = tmp_path / "executions.log"
    workers = [spawn_worker(concurrency=8) for _ in range(2)]
    wait_for(lambda: live_workers(app) == 2, message="workers up")
    total = 600
    stop = threading.Event()
    kills = []

    def terminate_backends() -> None:
        while not stop.wait(0.4):
            with psycopg.connect(app.settings.database_url, autocommit=True) as conn:
                n = conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchone()[0]
                kills.append(n)

    killer = threading.Thread(target=terminate_backends)
    killer.start()
    try:
        for i in range(total):
            job = tasks.mark.new_job(str(log_file), f"job-{i}")
            for _ in range(50):  # our own connections die too: retry like a client would
                try:
                    app.enqueue_many([job], policy="accept")
                    break
                except Exception:
                    time.sleep(0.05)
            if i % 50 == 0:
                time.sleep(0.05)
    finally:
        time.sleep(1.0)
        stop.set()
        killer.join()
    assert sum(kills) >= 5, "the test did not really terminate connections"

    def finished() -> bool:
        try:
            return len(app.store.list_jobs(JobFilter(states=["completed"]), limit=10_000)) == total
        except Exception:
            return False

    wait_for(finished, timeout=90, interval=0.3, message="all jobs completed after reconnects")
    lines = log_file.read_text().splitlines()
    assert len(set(lines)) == total, "a job was lost"
    # At-least-once: a job whose completion was lost with its connection may run again after
    # rescue, but it is never lost and its record shows every attempt.
    for w in workers:
        assert w.proc.poll() is None, f"a worker died on a lost connection:\n{w.output()[-2000:]}"
    assert any("LISTEN connection lost" in w.output() for w in workers), "workers did not re-LISTEN"


# -- timeouts -------------------------------------------------------------------------------
@pytest.mark.parametrize("task_name", ["t.timeout_async", "t.timeout_sync"])
def test_timeout_fails_the_attempt_retries_and_the_worker_keeps_serving(app, start_worker, task_name):
    start_worker(concurrency=3)
    handle = app.enqueue(task_name)
    others = [tasks.add.enqueue(i, i) for i in range(5)]
    assert [h.wait(10).result for h in others] == [0, 2, 4, 6, 8]
    job = handle.wait(15)
    assert job.state == JobState.DEAD and job.attempts == 2
    assert job.error == "timed out after 0.3 s"
    assert [a.outcome for a in job.attempts_history()] == ["timed_out", "timed_out"]


def test_process_isolation_kills_a_task_past_its_timeout(app, start_worker):
    start_worker()
    assert app.enqueue("t.process_add", [2, 3]).wait(20).result == 5
    job = app.enqueue("t.timeout_process").wait(20)
    assert job.state == JobState.DEAD and "killed" in job.error


def test_extend_timeout_gives_a_long_job_more_time(app, start_worker):
    start_worker()
    job = app.enqueue("t.extend").wait(10)
    assert job.state == JobState.COMPLETED and job.result == "extended"


def test_database_enforces_timeouts_when_the_worker_is_wedged(app):
    store = app.store
    register_worker_row(store, "wedged")
    store.enqueue([NewJob(task="t.add", timeout=0.2, max_attempts=2)], policy="accept", liveness_timeout=3)  # type: ignore[arg-type]
    [claimed] = store.claim_jobs("wedged", ["default"], 1)
    app.settings = app.settings.with_overrides(timeout_grace=0.1)

    def timed_out() -> bool:
        store.heartbeat("wedged", state="running", jobs_in_flight=1, processed=0, failed=0)
        return bool(maintain(app).timed_out)

    wait_for(timed_out, timeout=5)
    job = app.get_job(claimed.id)
    assert job.state == JobState.SCHEDULED and "timed out after 0.2 s" in job.error
    assert [a.outcome for a in job.attempts_history()] == ["timed_out"]
    late = Outcome(job_id=claimed.id, lease_token=claimed.lease_token, state=JobState.COMPLETED, result=1)
    assert store.finish_jobs([late]) == []


# -- retries and dead letters ---------------------------------------------------------------
def test_retries_back_off_then_succeed(app, start_worker):
    start_worker()
    job = app.enqueue("t.flaky", kwargs={"fail_times": 2}).wait(15)
    assert job.state == JobState.COMPLETED and job.result == 3 and job.attempts == 3
    history = job.attempts_history()
    assert [a.outcome for a in history] == ["failed", "failed", "completed"]
    assert all("ConnectionError" in a.error and a.traceback for a in history[:2])
    assert history[1].started_at >= history[0].finished_at


@pytest.mark.parametrize("task_name", ["t.permanent", "t.missing_dep"])
def test_permanent_and_missing_dependency_errors_do_not_retry(app, start_worker, task_name):
    start_worker()
    job = app.enqueue(task_name).wait(10)
    assert job.state == JobState.DEAD and job.attempts == 1
    assert job.attempts_history()[0].outcome == "permanent_error"


def test_poison_job_dead_letter_and_requeue(app, start_worker, settings):
    start_worker()
    job = tasks.fail.enqueue("poison").wait(15)
    assert job.state == JobState.DEAD and job.attempts == 3
    history = job.attempts_history()
    assert len(history) == 3 and all(a.traceback and "RuntimeError: poison" in a.traceback for a in history)
    dead = app.store.list_jobs(JobFilter(states=["dead"], task="t.fail", error_contains="poison"))
    assert [j.id for j in dead] == [job.id]
    # conveyor retry JOB_ID runs it again (and it fails again: one more attempt is allowed).
    assert cli(settings, "retry", job.id).returncode == 0
    wait_for(lambda: app.get_job(job.id).attempts == 4 and app.get_job(job.id).state == JobState.DEAD)
    # Bulk requeue from the CLI, then purge.
    out = cli(settings, "dead", "requeue", "--task", "t.fail")
    assert out.returncode == 0 and "requeued 1 job(s)" in out.stdout
    wait_for(lambda: app.get_job(job.id).attempts == 5 and app.get_job(job.id).state == JobState.DEAD)
    assert cli(settings, "dead", "purge").returncode == 2  # a filter is required
    out = cli(settings, "dead", "purge", "--all")
    assert "purged 1 job(s)" in out.stdout
    assert app.get_job(job.id) is None


# -- cancel ---------------------------------------------------------------------------------
def test_cancel_queued_and_running_jobs(app, start_worker):
    queued = tasks.add.configure(policy="accept").enqueue(1, 1)
    assert app.store.cancel_job(queued.id) == JobState.CANCELLED
    assert app.get_job(queued.id).state == JobState.CANCELLED
    start_worker()
    running_async = tasks.async_forever.enqueue()
    running_sync = tasks.wait_cancel.enqueue(limit=30)
    wait_for(lambda: all(app.get_job(h.id).state == JobState.RUNNING for h in (running_async, running_sync)))
    assert app.store.cancel_job(running_async.id) == JobState.RUNNING  # requested; the worker acts
    assert app.store.cancel_job(running_sync.id) == JobState.RUNNING
    assert running_async.wait(10).state == JobState.CANCELLED
    job = running_sync.wait(10)
    assert job.state == JobState.CANCELLED
    assert tasks.add.enqueue(2, 2).wait(10).result == 4
    assert app.get_job(queued.id).state == JobState.CANCELLED  # never ran


# -- retention ------------------------------------------------------------------------------
def test_finished_jobs_are_pruned_in_batches(app, start_worker):
    start_worker()
    handles = [tasks.add.enqueue(i, 0) for i in range(5)]
    for h in handles:
        h.wait(10)
    dead = tasks.fail.configure(max_attempts=1).enqueue().wait(10)
    app.settings = app.settings.with_overrides(result_ttl=0.0, failure_ttl=3600.0, prune_batch=2)
    time.sleep(0.01)  # finished_at must lie strictly before "now - 0 s"
    assert maintain(app).pruned == 2
    wait_for(lambda: maintain(app).pruned == 0)
    remaining = app.store.list_jobs(JobFilter())
    assert [j.id for j in remaining] == [dead.id], "failed and dead jobs are kept longer"


def test_doctor(app, settings, spawn_worker):
    out = cli(settings, "doctor", "--queues", "default")
    assert out.returncode == 1
    assert "[FAIL] queue 'default': 0 live worker(s)" in out.stdout
    assert "conveyor worker --app tests.tasks:app --queues default" in out.stdout
    spawn_worker()
    wait_for(lambda: live_workers(app) == 1)
    out = cli(settings, "doctor", "--queues", "default")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "probe job picked up" in out.stdout and "all checks passed" in out.stdout


def test_doctor_without_queues_probes_every_queue_a_live_worker_serves(app, settings, spawn_worker):
    spawn_worker("default,extra")
    wait_for(lambda: live_workers(app, "extra") == 1)
    out = cli(settings, "doctor")
    for queue in ("default", "extra"):  # "extra" is served by the worker only: no task names it
        assert f"[ok] queue '{queue}': probe job picked up" in out.stdout, out.stdout + out.stderr
    assert "[FAIL] queue 'reports': 0 live worker(s)" in out.stdout  # a task's queue nobody serves


@pytest.mark.parametrize("engine", ["postgres"])
def test_calls_survive_a_database_restart_without_an_error(app, start_worker):
    """Every pooled connection dies at once (a server restart, idle connections cut by a proxy):
    the next enqueue (sync, async, bulk) and reads still succeed, and each job is written once."""
    import asyncio

    from tests.test_engine import run_in_new_loop

    start_worker()

    async def warm_async() -> None:  # keeps async connections of this loop idle in the cache
        await asyncio.gather(*(tasks.add.enqueue_async(0, i) for i in range(4)))

    def kill_every_connection() -> int:
        # Like a server restart: every backend is gone before the next call (pg_terminate_backend
        # alone only signals them, so a backend could still answer a moment later, then die).
        with psycopg.connect(app.settings.database_url, autocommit=True) as conn:
            return conn.execute(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]

    async def after_restart() -> list:
        await warm_async()
        assert kill_every_connection() >= 1
        return [await tasks.add.enqueue_async(2, 2)]

    # Have the pool open a few connections at once, then kill them all.
    held = [app.store.pool.getconn() for _ in range(3)]
    for conn in held:
        app.store.pool.putconn(conn)
    assert kill_every_connection() >= 3
    handles = [tasks.add.enqueue(1, 1)]
    assert kill_every_connection() >= 1
    handles += app.enqueue_many([tasks.add.new_job(i, 10) for i in range(5)])
    assert kill_every_connection() >= 1
    assert app.get_job(handles[0].id) is not None and len(app.list_jobs(limit=100)) == 6
    handles += run_in_new_loop(after_restart())
    assert [h.wait(15).result for h in handles] == [2, 10, 11, 12, 13, 14, 4]
    assert count_jobs(app) == 11  # the 4 warm-up jobs and the 7 above, each once


@pytest.mark.parametrize("engine", ["postgres"])
def test_enqueue_whose_reply_is_lost_after_commit_is_not_written_twice(app, start_worker, monkeypatch):
    """The connection dies after the server committed the job but before the reply arrived: the
    retry finds the job by its id instead of writing it again (or failing)."""
    from conveyor.store.postgres import PostgresStore

    start_worker()
    original = PostgresStore._write_many
    lost = {"one": False, "many": False}

    def reply_lost_once(kind):
        def decorate(fn):
            def wrapper(*args, **kwargs):
                result = fn(*args, **kwargs)  # committed by now
                if not lost[kind]:
                    lost[kind] = True
                    raise psycopg.OperationalError("server closed the connection unexpectedly")
                return result
            return wrapper
        return decorate

    monkeypatch.setattr(PostgresStore, "_write_many", reply_lost_once("many")(original))
    monkeypatch.setattr(PostgresStore, "_enqueue_one_result",
                        staticmethod(reply_lost_once("one")(PostgresStore._enqueue_one_result)))
    single = tasks.add.enqueue(20, 22)
    batch = app.enqueue_many([tasks.add.new_job(i, 0) for i in range(3)])
    assert lost == {"one": True, "many": True}
    assert single.created and all(h.created for h in batch)
    assert single.wait(10).result == 42 and [h.wait(10).result for h in batch] == [0, 1, 2]
    assert count_jobs(app) == 4
