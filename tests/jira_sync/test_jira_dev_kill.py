"""SIGKILL of the extraction worker after a dev-status batch stored its pages (cursor marked done)
but before its job completed: the retried batch job emits the stored pages without asking Jira
again, and every pull request link is stored exactly once.

The window between the batch's commit and its job's completion is a few milliseconds; the test
widens it by holding a row lock on the batch job (PostgreSQL only: SQLite has no row locks), so
the worker is provably blocked on completing it when it is killed."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select, text

from conveyor import Conveyor
from conveyor.etl.db import shared_engine
from conveyor.etl.jira.pipeline import start_sync
from conveyor.etl.jira.state import cursor_of, raw_rows
from conveyor.etl.jira.sync import STEP_DEV
from conveyor.etl.jira.tables import work_item_pull_requests
from conveyor.fakes.jira import FakeJira
from conveyor.integrations import Integration
from tests.conftest import live_workers, wait_for

SUMMARY = "/rest/dev-status/1.0/issue/summary"


@pytest.mark.parametrize("engine", ["postgres"])
def test_sigkill_after_a_stored_dev_batch_emits_it_without_asking_jira_again(
        app: Conveyor, spawn_worker: Any, jira_site: FakeJira, integration: Integration) -> None:
    extractor = spawn_worker("extraction", concurrency=2)
    spawn_worker("transform", concurrency=4)
    wait_for(lambda: live_workers(app, "extraction") == 1 and live_workers(app, "transform") == 1, timeout=30,
             message="workers up")
    jira_site.faults.slow(0.05, path=SUMMARY)  # the batch takes long enough to lock its job first
    engine = shared_engine(app.settings.database_url)
    run = start_sync(app, integration.id, tenant=integration.tenant)

    def batch_job() -> Any:
        return next((j for j in app.list_jobs(task="jira.extract", limit=500) if j.state == "running"
                     and isinstance(j.args[0], dict) and "issues" in j.args[0] and j.args[0].get("continue") == 1), None)

    job = wait_for(batch_job, timeout=90, interval=0.01, message="the first dev-status batch job running")
    blocker = engine.connect()
    tx = blocker.begin()
    blocker.execute(text("SELECT id FROM conveyor_jobs WHERE id = :id FOR UPDATE"), {"id": job.id})
    blocker_pid = blocker.execute(text("SELECT pg_backend_pid()")).scalar_one()
    try:
        wait_for(lambda: (c := cursor_of(engine, run.id, f"{STEP_DEV}#1")) and c[1], timeout=60, interval=0.02,
                 message="the batch's pages and done cursor committed")
        with engine.connect() as conn:  # the worker is stuck completing the job, behind our lock
            wait_for(lambda: conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE :blocker = ANY(pg_blocking_pids(pid))"),
                {"blocker": blocker_pid}).scalar_one() > 0, timeout=30, interval=0.02,
                message="the worker blocked on completing the batch job")
        asked = Counter(r.path for r in jira_site.requests() if r.path.startswith("/rest/dev-status/"))
        extractor.kill()
    finally:
        tx.rollback()
        blocker.close()
    spawn_worker("extraction", concurrency=2)
    done = wait_for(lambda: (r := app.get_run(run.id)) and r.finished and r, timeout=120, interval=0.1,
                    message="the run to end after the kill")
    assert done.state == "FINISHED", done.error

    retried = app.get_job(job.id)
    assert retried is not None and retried.state == "completed" and retried.attempts >= 2, retried
    # no dev-status request after the kill: the retry emitted what the killed attempt stored
    after = Counter(r.path for r in jira_site.requests() if r.path.startswith("/rest/dev-status/"))
    assert after == asked and asked[SUMMARY] == len(job.args[0]["issues"])
    summaries = Counter(r.params.get("issueId") for r in jira_site.requests(path=SUMMARY))
    assert set(summaries.values()) == {1}  # each issue asked once
    rows = [rid for rid, _ in raw_rows(engine, run.id, STEP_DEV)]
    assert len(rows) == len(set(rows)) == sum(asked.values())
    transforms = [j for j in app.list_jobs(task="jira.transform", limit=500)
                  if isinstance(j.args[0], dict) and set(j.args[0].get("raw", [])) & set(rows)]
    assert len(transforms) == 1 and transforms[0].state == "completed"  # emitted once, transformed once
    with engine.connect() as conn:
        links = conn.execute(select(work_item_pull_requests)).all()
    keys = [tuple(r._mapping[c.name] for c in work_item_pull_requests.primary_key.columns) for r in links]
    assert links and len(keys) == len(set(keys))
    expected = sum(len(i.pull_requests) for i in jira_site.dataset.issues.values())
    assert len(links) == expected
