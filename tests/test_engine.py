"""Engine behaviour on both engines: enqueue, claim order, delays, progress, failures, shutdown."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from conveyor import JobState
from conveyor.errors import (
    ConfigurationError,
    DatabaseUnavailableError,
    InvalidJobError,
    NoLiveWorkerError,
    SchemaOutdatedError,
    UnknownTaskError,
)
from conveyor.store import JobFilter, open_store
from conveyor.worker import Worker
from tests import tasks
from tests.conftest import ROOT, register_worker_row, wait_for


def run_in_new_loop(coro):
    """asyncio.run in a fresh thread: the test thread may already host another library's loop."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def count_jobs(app) -> int:
    return len(app.store.list_jobs(JobFilter(), limit=100_000))


def test_job_record_has_every_field(app, start_worker):
    start_worker()
    handle = tasks.add.configure(priority=5, meta={"source": "test"}).enqueue(2, 3)
    job = handle.wait(10)
    d = job.to_dict()
    assert d["state"] == "completed" and d["result"] == 5
    assert d["task"] == "t.add" and d["queue"] == "default" and d["priority"] == 5 and d["tenant"] == "default"
    assert d["args"] == [2, 3] and d["kwargs"] == {}
    assert d["attempts"] == 1 and d["max_attempts"] == 3
    assert d["created_at"] and d["enqueued_at"] and d["started_at"] and d["ended_at"] and d["updated_at"]
    assert d["created_at"] <= d["enqueued_at"] <= d["started_at"] <= d["ended_at"]
    assert d["worker_id"] and len(d["token"]) == 32 and d["meta"] == {"source": "test"}
    assert [a["outcome"] for a in d["attempt_history"]] == ["completed"]


def test_exactly_once_with_four_worker_processes(app, spawn_worker, tmp_path):
    log_file = tmp_path / "executions.log"
    total = 5000
    jobs = [tasks.mark.new_job(str(log_file), f"job-{i}") for i in range(total)]
    handles = app.enqueue_many(jobs, policy="accept")
    assert len(handles) == total
    workers = [spawn_worker(concurrency=8) for _ in range(4)]

    def all_done() -> bool:
        stats = {s.name: s for s in app.store.queue_stats(app.settings.liveness_timeout)}
        default = stats["default"].counts
        return default["queued"] == 0 and default["running"] == 0 and default["scheduled"] == 0

    wait_for(all_done, timeout=180, interval=0.2, message="5,000 jobs to finish")
    lines = log_file.read_text().splitlines()
    counts = Counter(lines)
    assert len(counts) == total, "some job never ran"
    assert max(counts.values()) == 1, f"ran twice: {[k for k, v in counts.items() if v > 1][:5]}"
    finished = app.store.list_jobs(JobFilter(states=["completed"]), limit=100_000)
    assert len(finished) == total
    assert {j.attempts for j in finished} == {1}
    assert len({j.worker_id for j in finished}) >= 2, "the work was not shared between processes"
    for w in workers:
        assert w.terminate() == 0


def test_priority_then_fifo_and_queue_order(app, start_worker):
    enqueue = [
        ("low", 0, "low-1"),
        ("default", 0, "default-p0-1"),
        ("default", 9, "default-p9"),
        ("default", 0, "default-p0-2"),
        ("high", 0, "high-1"),
        ("default", 5, "default-p5"),
        ("high", 0, "high-2"),
    ]
    for queue, priority, value in enqueue:
        tasks.record.configure(queue=queue, priority=priority, policy="accept").enqueue(value)
    start_worker(["high", "default", "low"], concurrency=1)
    wait_for(lambda: len(tasks.RAN) == len(enqueue), message="all jobs to run")
    assert tasks.RAN == ["high-1", "high-2", "default-p9", "default-p5", "default-p0-1", "default-p0-2", "low-1"]


def test_delayed_job_does_not_run_early(app, start_worker):
    start_worker()
    before = datetime.now(UTC)
    handle = tasks.add.configure(delay=1.0).enqueue(1, 1)
    assert handle.state == JobState.SCHEDULED
    assert app.get_job(handle.id).state == JobState.SCHEDULED
    job = handle.wait(10)
    assert job.state == JobState.COMPLETED
    assert job.started_at >= job.run_at >= before + timedelta(seconds=1)
    at = datetime.now(UTC) + timedelta(seconds=0.5)
    job = tasks.add.configure(run_at=at).enqueue(2, 2).wait(10)
    assert job.started_at >= at


def test_progress_and_meta_are_visible_while_running(app, start_worker, tmp_path):
    start_worker()
    marker = tmp_path / "release"
    handle = tasks.progress.enqueue(steps=3, step_seconds=0.01, marker=str(marker))
    job = wait_for(
        lambda: (j := app.get_job(handle.id)) and j.progress.processed == 3 and j,
        message="progress to reach 3",
    )
    assert job.state == JobState.RUNNING
    assert job.progress.percent == 100.0 and job.progress.failed == 0
    assert job.meta == {"step": 3}
    # A reader with its own connection sees it too.
    other = open_store(app.settings.database_url)
    try:
        assert other.get_job(handle.id).progress.processed == 3
    finally:
        other.close()
    marker.touch()
    assert handle.wait(10).state == JobState.COMPLETED


def test_failing_job_records_error_and_traceback(app, start_worker):
    start_worker()
    job = tasks.fail.configure(max_attempts=1).enqueue("disk full").wait(10)
    assert job.state == JobState.DEAD
    assert job.error == "RuntimeError: disk full"
    assert "Traceback" in job.traceback and "raise RuntimeError(message)" in job.traceback
    [attempt] = job.attempts_history()
    assert attempt.outcome == "failed" and attempt.error == "RuntimeError: disk full" and attempt.traceback


def test_graceful_shutdown_hands_back_unfinished_jobs(app, settings, start_worker):
    app.settings = settings.with_overrides(shutdown_grace=0.3)
    worker = start_worker(concurrency=4)
    quick = tasks.add.enqueue(1, 2)
    assert quick.wait(10).state == JobState.COMPLETED
    slow = [tasks.async_forever.enqueue() for _ in range(2)] + [tasks.wait_cancel.enqueue(limit=30)]
    wait_for(lambda: all(app.get_job(h.id).state == JobState.RUNNING for h in slow), message="jobs running")
    worker.stop()
    for h in slow:
        job = app.get_job(h.id)
        assert job.state == JobState.QUEUED, job
        assert job.attempts == 0, "a handed-back attempt is not counted against the job"
        assert job.lease_token is None
    # Another worker takes them over: nothing was lost.
    start_worker(concurrency=4)
    wait_for(lambda: all(app.get_job(h.id).state == JobState.RUNNING for h in slow), message="re-run")


def test_bulk_enqueue_and_async_enqueue(app, start_worker):
    start_worker(concurrency=20)
    handles = app.enqueue_many((tasks.add.new_job(i, i) for i in range(2500)), batch_size=1000)
    assert len(handles) == 2500 and len({h.id for h in handles}) == 2500

    async def enqueue_async():
        return await tasks.add.enqueue_async(20, 22)

    handle = run_in_new_loop(enqueue_async())
    assert handle.wait(10).result == 42
    wait_for(lambda: handles[-1].get().state == JobState.COMPLETED, timeout=60)
    assert handles[0].wait(30).result == 0


def test_bulk_enqueue_writes_every_field_whichever_columns_a_batch_sends(app):
    """Bulk enqueue leaves columns to their defaults when no job of a batch needs them; a batch of
    plain jobs and a batch mixing kwargs, meta, delays and tokens must both read back exactly."""
    register_worker_row(app.store, "w-bulk")
    plain = app.enqueue_many([tasks.add.new_job(i, i) for i in range(3)])
    later = datetime.now(UTC) + timedelta(hours=1)
    mixed = app.enqueue_many([
        tasks.add.new_job(1, 2),
        tasks.add.configure(meta={"m": 1}, priority=7, max_attempts=5, timeout=9.5).new_job(a=1, b=2),
        tasks.add.configure(run_at=later, token="chain-9", tenant="t2").new_job(3, 4),
    ])
    for handle in plain:
        job = handle.get()
        assert job.state == JobState.QUEUED and job.queued_at == job.created_at == job.run_at
        assert job.kwargs == {} and job.meta == {} and job.token == job.id.replace("-", "")
        assert job.finished_at is None and job.error is None and job.idempotency_key is None
    first, second, third = (h.get() for h in mixed)
    assert (first.args, first.kwargs, first.meta, first.state) == ([1, 2], {}, {}, JobState.QUEUED)
    assert first.queued_at == first.created_at == first.run_at
    assert (second.kwargs, second.meta, second.priority, second.max_attempts, second.timeout) == (
        {"a": 1, "b": 2}, {"m": 1}, 7, 5, 9.5)
    assert (third.state, third.token, third.tenant, third.queued_at) == (JobState.SCHEDULED, "chain-9", "t2", None)
    assert abs((third.run_at - later).total_seconds()) < 0.01


def test_a_root_jobs_token_is_its_id_and_finds_its_children(app, start_worker):
    start_worker()
    parent = tasks.spawn_child.enqueue().wait(10)
    child = app.get_job(parent.result)
    assert parent.token == parent.id.replace("-", "") and child.token == parent.token
    assert {j.id for j in app.list_jobs(token=parent.token)} == {parent.id, child.id}
    assert app.list_jobs(token=parent.token.upper()) == []  # tokens are compared exactly
    if app.store.engine == "postgres":
        # Stored as NULL (no entry in the token index); the child stores the token it inherited.
        with app.store.pool.connection() as conn:
            stored = dict(conn.execute("SELECT id::text, token FROM conveyor_jobs").fetchall())
        assert stored == {parent.id: None, child.id: parent.token}


def test_jobs_list_newest_first_in_the_order_they_were_made(app):
    register_worker_row(app.store, "w-order")
    ids = [tasks.add.enqueue(i, i).id for i in range(30)]  # many within one millisecond
    ids += [h.id for h in app.enqueue_many([tasks.add.new_job(i, 0) for i in range(30)])]
    listed = [j.id for j in app.list_jobs(limit=100)]
    assert listed == ids[::-1]
    page, seen = app.store.list_jobs(JobFilter(), limit=7), []
    while page:
        seen += [j.id for j in page]
        page = app.store.list_jobs(JobFilter(), limit=7, before=page[-1].id)
    assert seen == listed


def test_bulk_enqueue_mixes_keys_delays_and_unserved_queues(app, start_worker):
    start_worker(["default"])
    earlier = tasks.add.configure(idempotency_key="k-old", delay=3600).enqueue(0, 0)
    later = datetime.now(UTC) + timedelta(hours=1)
    jobs = [
        tasks.add.new_job(1, 1),
        tasks.add.configure(idempotency_key="k-old").new_job(2, 2),  # taken before this batch
        tasks.add.configure(idempotency_key="k-new").new_job(3, 3),
        tasks.add.configure(idempotency_key="k-new").new_job(4, 4),  # taken earlier in this batch
        tasks.add.configure(run_at=later).new_job(5, 5),
        tasks.reports.new_job(),  # no worker serves "reports"
    ]
    handles = app.enqueue_many(jobs, policy="record_failed")
    assert [h.created for h in handles] == [True, False, True, False, True, True]
    assert handles[1].id == earlier.id and handles[3].id == handles[2].id
    # (handles[3] reports the current state of the job holding its key: a worker may have it.)
    assert [h.state for i, h in enumerate(handles) if i != 3] == [
        JobState.QUEUED, JobState.SCHEDULED, JobState.QUEUED, JobState.SCHEDULED, JobState.FAILED]
    delayed, refused = app.get_job(handles[4].id), app.get_job(handles[5].id)
    assert abs((delayed.run_at - later).total_seconds()) < 0.01
    assert "No live worker serves queue 'reports'" in refused.error and refused.finished_at
    assert handles[0].wait(10).result == 2 and handles[2].wait(10).result == 6
    assert len(app.list_jobs(limit=100)) == 5


def test_bulk_enqueue_with_one_bad_job_writes_nothing(app, start_worker):
    start_worker()
    jobs = [tasks.add.new_job(i, i) for i in range(10)]
    jobs.insert(5, tasks.add.new_job(object(), 1))
    with pytest.raises(InvalidJobError, match="not JSON-serialisable"):
        app.enqueue_many(jobs)
    with pytest.raises(InvalidJobError, match="Invalid queue name"):
        app.enqueue_many([tasks.add.new_job(1, 1), tasks.add.configure(queue="no spaces").new_job(1, 1)])
    with pytest.raises(InvalidJobError, match="batch_size must be at least 1"):
        app.enqueue_many([tasks.add.new_job(1, 1)], batch_size=0)
    assert count_jobs(app) == 0


@pytest.mark.parametrize("options, message", [
    ({"timeout": float("nan")}, "timeout must be a finite number"),
    ({"timeout": float("inf")}, "timeout must be a finite number"),
    ({"timeout": 0}, "timeout must be a finite number"),
    ({"timeout": "10"}, "timeout must be a finite number"),
    ({"priority": "high"}, "priority must be an integer"),
    ({"priority": 1.5}, "priority must be an integer"),
    ({"max_attempts": 0}, "max_attempts must be an integer of at least 1"),
    ({"max_attempts": True}, "max_attempts must be an integer of at least 1"),
])
def test_enqueue_with_a_bad_option_is_refused_and_writes_nothing(app, start_worker, options, message):
    start_worker()
    bound = tasks.add.configure(**options)
    with pytest.raises(InvalidJobError, match=message):
        bound.enqueue(1, 2)
    with pytest.raises(InvalidJobError, match=message):
        run_in_new_loop(bound.enqueue_async(1, 2))
    with pytest.raises(InvalidJobError, match=message):
        app.enqueue_many([tasks.add.new_job(1, 1), bound.new_job(1, 2)])
    assert count_jobs(app) == 0


def test_async_enqueue_refuses_dedups_and_closes_its_connections(app, start_worker):
    start_worker(["default"])

    def async_backends() -> int:
        if app.store.engine != "postgres":
            return 0
        with app.store.pool.connection() as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                "AND application_name = 'conveyor-async'").fetchone()[0]

    async def scenario():
        with pytest.raises(NoLiveWorkerError, match="'reports'"):
            await tasks.reports.enqueue_async()
        first = await tasks.add.configure(idempotency_key="a-1").enqueue_async(1, 2)
        again = await tasks.add.configure(idempotency_key="a-1").enqueue_async(1, 2)
        many = await asyncio.gather(*(tasks.add.enqueue_async(i, 0) for i in range(20)))
        return first, again, many

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first, again, many = run_in_new_loop(scenario())
        gc.collect()
    assert not [w for w in caught if "deleted while still open" in str(w.message)]
    assert first.created and not again.created and again.id == first.id
    assert [h.wait(10).result for h in many] == list(range(20))
    assert count_jobs(app) == 21
    # The loop's connections were closed when it shut down.
    wait_for(lambda: async_backends() == 0, message="async connections closed")


def test_jobs_enqueued_by_a_task_inherit_its_token(app, start_worker):
    start_worker()
    parent = tasks.spawn_child.configure(token="run-42").enqueue().wait(10)
    child = app.get_job(parent.result)
    assert child.token == "run-42" and child.parent_id == parent.id
    assert child.tenant == parent.tenant
    assert {j.id for j in app.list_jobs(token="run-42")} == {parent.id, child.id}


def test_idempotency_key_returns_the_first_job(app, start_worker):
    start_worker()
    first = tasks.add.configure(idempotency_key="order-7").enqueue(1, 1)
    second = tasks.add.configure(idempotency_key="order-7").enqueue(1, 1)
    assert first.created and not second.created and first.id == second.id
    assert len(app.list_jobs(task="t.add")) == 1


def test_bad_input_writes_nothing(app, start_worker):
    start_worker()
    with pytest.raises(UnknownTaskError, match="Unknown task 't.nope'"):
        app.enqueue("t.nope")
    with pytest.raises(InvalidJobError, match="not JSON-serialisable"):
        tasks.add.enqueue(object(), 1)
    with pytest.raises(InvalidJobError, match="delay must not be negative"):
        tasks.add.configure(delay=-1).enqueue(1, 1)
    with pytest.raises(InvalidJobError, match="Invalid queue name"):
        tasks.add.configure(queue="bad queue!").enqueue(1, 1)
    with pytest.raises(InvalidJobError, match="timezone-aware"):
        tasks.add.configure(run_at=datetime.now()).enqueue(1, 1)
    with pytest.raises(InvalidJobError, match="max_attempts"):
        tasks.add.configure(max_attempts=0).enqueue(1, 1)
    assert count_jobs(app) == 0


def test_non_json_result_fails_the_attempt_not_the_worker(app, start_worker):
    start_worker()
    job = app.enqueue("t.bad_result").wait(10)
    assert job.state == JobState.DEAD and "not JSON-serialisable" in job.error
    assert tasks.add.enqueue(1, 1).wait(10).result == 2


def test_malformed_and_unreachable_databases(tmp_path):
    with pytest.raises(ConfigurationError, match="Unsupported database URL"):
        open_store("mysql://localhost/x")
    with pytest.raises(ConfigurationError, match="Malformed SQLite URL"):
        open_store("sqlite://")
    with pytest.raises(DatabaseUnavailableError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path}/missing/folder/x.db")
    with pytest.raises(DatabaseUnavailableError, match="Cannot connect to PostgreSQL"):
        open_store("postgresql://postgres@127.0.0.1:1/none", connect_timeout=2)


def test_worker_refuses_an_outdated_schema(tmp_path):
    app = tasks.app.with_database(f"sqlite:///{tmp_path / 'fresh.db'}")
    with pytest.raises(SchemaOutdatedError, match="conveyor db upgrade"):
        run_in_new_loop(Worker(app, ["default"], 1).run_async())


def test_wait_times_out_for_a_job_nobody_runs(app):
    handle = tasks.add.configure(policy="accept").enqueue(1, 1)
    with pytest.raises(TimeoutError, match="still queued"):
        handle.wait(0.2)


def _cli_env(settings) -> dict[str, str]:
    return {**os.environ, "CONVEYOR_DATABASE_URL": settings.database_url, "PYTHONPATH": str(ROOT),
            "CONVEYOR_APP": "tests.tasks:app", "CONVEYOR_LIVENESS_TIMEOUT": "3",
            "CONVEYOR_HEARTBEAT_INTERVAL": "0.5"}


def cli(settings, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conveyor", *args], env=_cli_env(settings), capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def clis(settings, *commands: list[str], timeout: float = 60) -> list[subprocess.CompletedProcess[str]]:
    """Independent CLI calls run side by side, as many at a time as there are cores (each process
    spends most of its time importing); their results in the order given."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(lambda args: cli(settings, *args, timeout=timeout), commands))


def test_cli_round_trip(app, settings, spawn_worker):
    refused = cli(settings, "enqueue", "t.add", "--args", "[20, 22]")
    assert refused.returncode == 4
    assert "No live worker serves queue 'default'" in refused.stderr
    assert "conveyor worker --app tests.tasks:app --queues default" in refused.stderr
    assert count_jobs(app) == 0

    spawn_worker(concurrency=2)
    wait_for(lambda: app.store.live_worker_count("default", 3)[0] == 1, message="worker process up")
    done = cli(settings, "enqueue", "t.add", "--args", "[20, 22]", "--wait", "20")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.splitlines()[0]
    bad_calls = [
        (["enqueue", "t.nope"], "Unknown task 't.nope'"),
        (["enqueue", "t.add", "--args", "[1,"], "--args is not valid JSON"),
        (["enqueue", "t.add", "--queue", "nosuch"], "Unknown queue 'nosuch'"),
        (["enqueue", "t.add", "--delay", "-5"], "--delay must not be negative"),
        (["jobs", "--state", "weird"], "Unknown state"),
        (["jobs", "--database-url", "mysql://x/y"], "Unsupported database URL"),
    ]
    # The reads and the refused calls below change nothing: they run side by side.
    status, human, missing, jobs, queues, workers, *refusals = clis(
        settings, ["status", job_id, "--json"], ["status", job_id], ["status", "00000000-0000-0000-0000-000000000000"],
        ["jobs", "--state", "completed"], ["queues"], ["workers"], *(bad for bad, _ in bad_calls))
    assert status.returncode == 0
    import json

    record = json.loads(status.stdout)
    assert record["state"] == "completed" and record["result"] == 42 and record["attempts"] == 1
    assert "state       completed" in human.stdout
    assert missing.returncode == 5
    assert job_id in jobs.stdout
    assert queues.returncode == 0 and "default" in queues.stdout
    assert workers.returncode == 0 and "running" in workers.stdout

    for (bad, message), result in zip(bad_calls, refusals, strict=True):
        assert result.returncode == 2, (bad, result.stderr)
        assert message in result.stderr, (bad, result.stderr)
    assert count_jobs(app) == 1


def test_lifecycle_logs_as_json_lines(app, spawn_worker):
    worker = spawn_worker(concurrency=2, CONVEYOR_LOG_FORMAT="json")
    wait_for(lambda: app.store.live_worker_count("default", 3)[0] == 1, message="worker up")
    ok = tasks.add.configure(token="tok-1").enqueue(1, 2)
    bad = tasks.fail.configure(max_attempts=1).enqueue("nope")
    ok.wait(10), bad.wait(10)
    assert worker.terminate() == 0
    import json

    events = [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]
    by_event = {}
    for e in events:
        by_event.setdefault(e.get("event"), []).append(e)
    assert {"WORKER_START", "JOB_START", "JOB_DONE", "JOB_FAIL", "JOB_DEAD", "WORKER_STOP"} <= set(by_event)
    [done] = [e for e in by_event["JOB_DONE"] if e["job_id"] == ok.id]
    assert done["task"] == "t.add" and done["queue"] == "default" and done["attempt"] == 1
    assert done["token"] == "tok-1" and done["duration"] >= 0
    [fail] = [e for e in by_event["JOB_FAIL"] if e["job_id"] == bad.id]
    assert fail["error"] == "RuntimeError: nope"


def test_upgrade_from_an_older_schema(postgres_server, tmp_path):
    """A database at version 1 is refused by workers and CLI, then `conveyor db upgrade` fixes it."""
    import psycopg

    from conveyor.store.base import latest_schema_version, load_migrations

    url = postgres_server.create_database("conveyor_upgrade")
    version, name, sql = load_migrations("postgres")[0]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)
        conn.execute("CREATE TABLE conveyor_schema_version (version integer PRIMARY KEY, name text NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        conn.execute("INSERT INTO conveyor_schema_version (version, name) VALUES (%s, %s)", (version, name))
    store = open_store(url)
    try:
        assert store.schema_version() == 1 < latest_schema_version("postgres")
        with pytest.raises(SchemaOutdatedError, match="conveyor db upgrade"):
            store.check_schema()
    finally:
        store.close()
    from conveyor.settings import Settings

    settings = Settings(database_url=url)
    refused = cli(settings, "jobs")
    assert refused.returncode == 2 and "conveyor db upgrade" in refused.stderr
    upgraded = cli(settings, "db", "upgrade")
    assert upgraded.returncode == 0 and f"-> {latest_schema_version('postgres')}" in upgraded.stdout
    assert cli(settings, "jobs").returncode == 0
