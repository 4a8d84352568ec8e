"""A database made by the release before the store split (migrations 0001-0004, rows written the
way that release wrote them) upgrades to this schema and keeps working, on both engines."""

from __future__ import annotations

import sqlite3
import time
import uuid

import psycopg
import pytest

from conveyor.model import JobState, NewJob, Outcome, root_token
from conveyor.store import JobFilter, open_store
from conveyor.store.base import latest_schema_version, load_migrations

RELEASED = 4  # the newest migration of the release before migration 0005


def released_migrations(engine: str) -> list[tuple[int, str, str]]:
    return [m for m in load_migrations(engine) if m[0] <= RELEASED]


def write_old_rows(engine: str, url: str, root: str, child: str, done: str) -> None:
    """A ready root job and its child, with root tokens spelled out as that release's SQLite (and
    PostgreSQL before 0004) stored them, and a completed job."""
    rows = [(root, "queued", root_token(root)), (child, "queued", root_token(root)), (done, "completed", root_token(done))]
    if engine == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        now = time.time()
        with conn:
            for job_id, state, token in rows:
                conn.execute(
                    "INSERT INTO conveyor_jobs (id, task, queue, state, run_at, created_at, queued_at, updated_at, "
                    "finished_at, token, args) VALUES (?, 't.add', 'default', ?, ?, ?, ?, ?, ?, ?, '[1, 2]')",
                    (job_id, state, now, now, now, now, now if state == "completed" else None, token))
        conn.close()
        return
    with psycopg.connect(url, autocommit=True) as pg:
        for job_id, state, token in rows:
            pg.execute(
                "INSERT INTO conveyor_jobs (id, task, queue, state, token, args, finished_at) "
                "VALUES (%s, 't.add', 'default', %s, %s, '[1, 2]', CASE WHEN %s THEN now() END)",
                (job_id, state, token, state == "completed"))


@pytest.fixture
def old_database(engine, postgres_server, tmp_path, monkeypatch):
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'released.db'}"
    else:
        url = postgres_server.create_database(f"conveyor_released_{uuid.uuid4().hex[:8]}")
    module = "conveyor.store.sqlite" if engine == "sqlite" else "conveyor.store.postgres"
    with monkeypatch.context() as patched:
        patched.setattr(f"{module}.load_migrations", released_migrations)
        store = open_store(url)
        assert store.migrate() == RELEASED
        store.close()
    return url


def test_a_released_database_upgrades_and_keeps_its_jobs(engine, old_database):
    root, child, done = (str(uuid.uuid4()) for _ in range(3))
    write_old_rows(engine, old_database, root, child, done)
    store = open_store(old_database)
    try:
        assert store.schema_version() == RELEASED
        assert store.migrate() == latest_schema_version(engine) >= 5
        store.check_schema()
        # Root tokens now read from the id on both engines, and a token search finds the chain.
        assert store.get_job(root).token == root_token(root)
        assert store.get_job(child).token == root_token(root)
        chain = store.list_jobs(JobFilter(token=root_token(root)))
        assert {j.id for j in chain} == {root, child}
        # The upgraded table takes new jobs, leases them and records their outcome.
        [written] = store.enqueue([NewJob(task="t.add", args=[3, 4])], policy="accept", liveness_timeout=5)  # type: ignore[arg-type]
        assert store.get_job(written.id).token == root_token(written.id)
        claimed = store.claim_jobs("w1", ["default"], 10)
        assert {c.id for c in claimed} == {root, child, written.id}
        assert {c.id: c.token for c in claimed}[root] == root_token(root)
        finished = store.finish_jobs([Outcome(job_id=c.id, lease_token=c.lease_token, state=JobState.COMPLETED,
                                              result=1) for c in claimed])
        assert sorted(finished) == sorted(c.id for c in claimed)
        store.delete_job(done)
        assert store.get_job(done) is None
    finally:
        store.close()
    if engine == "sqlite":  # the deletion trigger was rebuilt with the table
        conn = sqlite3.connect(old_database.removeprefix("sqlite:///"))
        assert conn.execute("SELECT count(*) FROM conveyor_deletions WHERE id = ?", (done,)).fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM conveyor_jobs WHERE token IS NULL").fetchone()[0] == 2
        conn.close()
