"""Rules decided once above the engines: each job's own enqueue policy, the task's own backoff
for a job the database timed out, and one set of statement names for both engines."""

from __future__ import annotations

import pytest

from conveyor.errors import DatabaseError, NoLiveWorkerError
from conveyor.model import EnqueuePolicy, JobState, NewJob, RetryPolicy
from conveyor.store.postgres.connection import Q as POSTGRES
from conveyor.store.sqlite.connection import Q as SQLITE
from tests import tasks
from tests.conftest import register_worker_row, wait_for

# PostgreSQL's one-job enqueue fast paths (one round trip each) and its NOTIFY and lock helpers.
POSTGRES_ONLY = {"enqueue_served", "enqueue_one", "enqueue_one_keyed", "jobs_by_key", "jobs_written",
                 "live_per_queue", "maintenance_lock", "migration_lock", "wake_queue"}
# SQLite's read-before-write checks, the poller's read and the queries PostgreSQL folds into one.
SQLITE_ONLY = {"any_due", "any_ready", "clear_stranded", "count_completions", "live_worker_queues",
               "paused_queues", "prune_deletions", "queue_flags", "recent_changes", "recent_completions"}


def test_both_engines_name_their_shared_statements_the_same():
    assert POSTGRES.names() - SQLITE.names() == POSTGRES_ONLY
    assert SQLITE.names() - POSTGRES.names() == SQLITE_ONLY
    assert len(POSTGRES.names() & SQLITE.names()) >= 40


def test_a_batch_spanning_queues_follows_each_queues_policy(app):
    """The old enqueue_many took the first job's policy for the whole batch."""
    app.queue_policies = {"reports": EnqueuePolicy.ACCEPT}
    try:
        register_worker_row(app.store, "w", ("default",))
        handles = app.enqueue_many([tasks.add.new_job(1, 1), tasks.add.configure(queue="reports").new_job(2, 2)])
        assert [h.state for h in handles] == [JobState.QUEUED, JobState.QUEUED]
        # And the other way round: the served queue first, then one whose policy refuses.
        with pytest.raises(NoLiveWorkerError, match="nightly"):
            app.enqueue_many([tasks.add.configure(queue="reports").new_job(3, 3),
                              tasks.add.configure(queue="nightly").new_job(4, 4)])
        assert len(app.list_jobs(limit=10)) == 2  # the refused batch wrote nothing
    finally:
        app.queue_policies = {}


def test_a_job_timed_out_by_the_database_retries_after_its_tasks_backoff(app):
    store = app.store
    register_worker_row(store, "wedged")
    store.enqueue([NewJob(task="t.add", timeout=0.1, max_attempts=3)], policy="accept", liveness_timeout=3)  # type: ignore[arg-type]
    [claimed] = store.claim_jobs("wedged", ["default"], 1)
    slow = RetryPolicy(base=900.0, jitter=False)
    asked: list[tuple[str, int]] = []

    def delay(task: str, attempt: int) -> float:
        asked.append((task, attempt))
        return slow.delay(attempt)

    def timed_out() -> bool:
        store.heartbeat("wedged", state="running", jobs_in_flight=1, processed=0, failed=0)
        report = store.run_maintenance(liveness_timeout=30, timeout_grace=0.05, stranded_deadline=0,
                                       result_ttl=3600, failure_ttl=3600, prune_batch=100, retry_delay=delay)
        return bool(report and report.timed_out)

    wait_for(timed_out, timeout=5)
    job = app.get_job(claimed.id)
    assert asked == [("t.add", 1)]
    assert job.state == JobState.SCHEDULED
    assert 890 < (job.run_at - job.updated_at).total_seconds() < 910


def execute(app, sql: str) -> None:
    if app.store.engine == "sqlite":
        app.store._conn().execute(sql)
    else:
        with app.store.pool.connection() as conn:
            conn.execute(sql)


def test_driver_errors_leave_the_store_as_conveyors_own(app):
    """Nothing above the store imports psycopg or sqlite3 to recognise a database error."""
    execute(app, "ALTER TABLE conveyor_queues RENAME TO conveyor_queues_away")
    try:
        with pytest.raises(DatabaseError) as caught:
            app.store.queue_stats(5)
        assert "conveyor_queues" in caught.value.driver_error
        assert isinstance(caught.value.__cause__, Exception)
    finally:
        execute(app, "ALTER TABLE conveyor_queues_away RENAME TO conveyor_queues")


def test_an_empty_enqueue_returns_nothing_on_both_engines(app):
    assert app.store.enqueue([], policy=EnqueuePolicy.REFUSE, liveness_timeout=5) == []


def test_finish_jobs_writes_only_states_a_running_job_may_move_to(app):
    from conveyor.model import Outcome

    store = app.store
    register_worker_row(store, "w")
    store.enqueue([NewJob(task="t.add")], policy="accept", liveness_timeout=5)  # type: ignore[arg-type]
    [claimed] = store.claim_jobs("w", ["default"], 1)
    for state in (JobState.FAILED, JobState.RUNNING):
        assert store.finish_jobs([Outcome(job_id=claimed.id, lease_token=claimed.lease_token, state=state)]) == []
    job = app.get_job(claimed.id)
    assert job.state == JobState.RUNNING and job.lease_token == claimed.lease_token


def test_meta_updates_set_each_key_the_same_way_on_both_engines(app):
    store = app.store
    register_worker_row(store, "w")
    store.enqueue([NewJob(task="t.add", meta={"nested": {"x": 1}, "gone": 1, "keep": True})],  # type: ignore[arg-type]
                  policy="accept", liveness_timeout=5)
    [claimed] = store.claim_jobs("w", ["default"], 1)
    assert store.update_progress(claimed.id, claimed.lease_token, meta={"nested": {"y": 2}, "gone": None, "f": False})
    assert app.get_job(claimed.id).meta == {"nested": {"y": 2}, "gone": None, "keep": True, "f": False}


def test_progress_is_announced_as_progress_on_both_engines(app):
    store = app.store
    seen: list[tuple[str, str]] = []
    unsubscribe = store.subscribe_events(lambda state, ids: seen.extend((state, i) for i in ids))
    try:
        register_worker_row(store, "w")
        store.enqueue([NewJob(task="t.add")], policy="accept", liveness_timeout=5)  # type: ignore[arg-type]
        [claimed] = store.claim_jobs("w", ["default"], 1)
        wait_for(lambda: ("running", claimed.id) in seen, timeout=5)
        store.update_progress(claimed.id, claimed.lease_token, percent=50)
        wait_for(lambda: ("progress", claimed.id) in seen, timeout=5)
    finally:
        unsubscribe()
