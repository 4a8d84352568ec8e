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

# PostgreSQL's one-job enqueue fast paths (one round trip each), its NOTIFY and lock helpers, and
# its worker locks (advisory locks; SQLite's are files, tried in Python).
POSTGRES_ONLY = {"enqueue_served", "enqueue_accepted", "enqueue_one", "enqueue_one_keyed", "jobs_by_key",
                 "jobs_written", "live_per_queue", "maintenance_lock", "migration_lock", "notify", "wake_queue",
                 "take_worker_lock", "probe_worker_locks", "probe_lock", "lock_session_alive",
                 # The run's row lock and its counter-row lock (SQLite's write lock is the run's lock),
                 # and live workers of many queues in one statement (SQLite asks live_workers per queue).
                 "pipeline_run_lock", "pipeline_counts_lock", "pipeline_live_workers",
                 # A completion batch counts its stage jobs in one statement, telling the trigger to
                 # skip them (SQLite's trigger runs in the worker's own process: cheap as it is).
                 "pipeline_batch_counted", "pipeline_count_finished"}
# SQLite's read-before-write checks, the poller's read, the queries PostgreSQL folds into one, its
# worker-lock bookkeeping and its wake-up addresses.
SQLITE_ONLY = {"any_due", "any_ready", "clear_stranded", "count_completions", "live_worker_queues",
               "paused_queues", "prune_deletions", "queue_flags", "recent_changes", "recent_completions",
               "locked_workers", "mark_exited_workers", "wake_addresses",
               # Pipelines: PostgreSQL's fold deletes the deltas in the same statement and notifies
               # runs instead of bumping updated_at, which SQLite's run-feed poller reads.
               "pipeline_deltas_delete", "pipeline_run_touch", "pipeline_runs_changed", "pipeline_runs_pending"}


def test_both_engines_name_their_shared_statements_the_same():
    assert POSTGRES.names() - SQLITE.names() == POSTGRES_ONLY
    assert SQLITE.names() - POSTGRES.names() == SQLITE_ONLY
    assert len(POSTGRES.names() & SQLITE.names()) >= 40


def test_the_engines_python_holds_no_statement():
    """Every statement of the engine packages, and of the pipelines and schedules store modules
    beside them, is a named file in queries/ (connection set-up and transaction control aside:
    PRAGMA, BEGIN, COMMIT, ROLLBACK, SET TRANSACTION)."""
    import re
    from pathlib import Path

    import conveyor.store

    root = Path(conveyor.store.__file__).parent
    # A keyword opening a string, not a keyword alone in quotes (schedules_sql asks startswith("SELECT")).
    statement = re.compile(r"[\"']\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP)\b(?![\"'])")
    modules = [*root.glob("postgres/*.py"), *root.glob("sqlite/*.py"), *root.glob("pipelines_*.py"),
               root / "schedules_sql.py"]
    assert len(modules) > 10 and all(path.exists() for path in modules)
    found = [f"{path.relative_to(root)}:{n}" for path in modules
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if statement.search(line)]
    assert found == []


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




def test_postgres_finds_a_job_by_the_start_of_its_id_through_the_primary_key(postgres_server):
    """A fragment that can start an id becomes a range of the primary key, read newest first up to
    the limit: no scan, whatever the table's size. (A tail has no index: see find_job_ids.sql.)"""
    from conveyor.store import open_store
    from conveyor.store.core import id_lookup

    store = open_store(postgres_server.create_database("conveyor_ids"))
    try:
        store.migrate()
        made = store.enqueue([NewJob(task="t.add") for _ in range(20_000)], policy="accept", liveness_timeout=3)
        wanted = made[12_345].id
        with store._connection() as conn:  # type: ignore[attr-defined]
            conn.execute("ANALYZE conveyor_jobs")
            for fragment in (wanted[:13], wanted[:19], wanted[:-1]):  # a dash where no id's tail has one
                params = {**id_lookup(fragment), "limit": 3}  # type: ignore[dict-item]
                plan = "\n".join(r[0] for r in conn.execute("EXPLAIN ANALYZE " + POSTGRES.find_job_ids, params))
                assert "conveyor_jobs_pkey" in plan and "Seq Scan" not in plan, plan
                assert "Rows Removed by Filter" not in plan, plan  # read only what matches
        assert store.find_job_ids(wanted[-8:]) == [wanted]
        assert wanted in store.find_job_ids(wanted[:-1], limit=16)
    finally:
        store.close()
