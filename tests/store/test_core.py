"""Rules decided once above the engines (tests/store/test_conformance.py holds the engines to the
Store contract): one set of statement names, the task's own backoff for a job the database timed
out, driver errors as Conveyor's own."""

from __future__ import annotations

import pytest

from conveyor.errors import DatabaseError
from conveyor.model import JobState, NewJob, RetryPolicy
from conveyor.store.postgres.connection import Q as POSTGRES
from conveyor.store.sqlite.connection import Q as SQLITE
from tests.conftest import register_worker_row, wait_for

# PostgreSQL's one-job enqueue fast paths (one round trip each) and its NOTIFY and lock helpers.
POSTGRES_ONLY = {"enqueue_served", "enqueue_accepted", "enqueue_one", "enqueue_one_keyed", "jobs_by_key", "jobs_written",
                 "live_per_queue", "maintenance_lock", "migration_lock", "wake_queue"}
# SQLite's read-before-write checks, the poller's read and the queries PostgreSQL folds into one.
SQLITE_ONLY = {"any_due", "any_ready", "clear_stranded", "count_completions", "count_task_minutes", "live_worker_queues",
               "paused_queues", "prune_deletions", "queue_flags", "recent_changes", "recent_completions", "wake_addresses"}


def test_both_engines_name_their_shared_statements_the_same():
    assert POSTGRES.names() - SQLITE.names() == POSTGRES_ONLY
    assert SQLITE.names() - POSTGRES.names() == SQLITE_ONLY
    assert len(POSTGRES.names() & SQLITE.names()) >= 40


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


