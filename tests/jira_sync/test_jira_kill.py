"""SIGKILL of the extraction worker process in the middle of the issues step: the run still
finishes with every issue exactly once, and the new attempt resumes from the committed cursor
instead of paging from the start."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from conveyor import Conveyor
from conveyor.etl.db import shared_engine
from conveyor.etl.jira.pipeline import start_sync
from conveyor.etl.jira.state import cursor_of, raw_rows
from conveyor.etl.jira.tables import work_items
from conveyor.fakes.jira import FakeJira
from conveyor.integrations import Integration
from tests.conftest import live_workers, wait_for
from tests.jira_sync.conftest import live_issue_count

STEP = "jira_issues_with_changelogs"
SEARCH = "/rest/api/3/search/jql"


def test_sigkill_mid_step_loses_and_duplicates_nothing(app: Conveyor, spawn_worker: Any, jira_site: FakeJira,
                                                       integration: Integration) -> None:
    extractor = spawn_worker("extraction", concurrency=2)
    spawn_worker("transform", concurrency=4)
    wait_for(lambda: live_workers(app, "extraction") == 1 and live_workers(app, "transform") == 1, timeout=30,
             message="workers up")
    jira_site.faults.slow(0.4, path=SEARCH)  # ~5 pages of 25 issues: time to kill between two of them
    engine = shared_engine(app.settings.database_url)
    run = start_sync(app, integration.id, tenant=integration.tenant)
    wait_for(lambda: (c := cursor_of(engine, run.id, STEP)) and len(raw_rows(engine, run.id, STEP, "jira:search")) >= 2
             and not c[1], timeout=60, interval=0.01, message="two committed pages of the issues step")
    extractor.kill()
    first_pages = len(_first_pages(jira_site))
    spawn_worker("extraction", concurrency=2)
    done = wait_for(lambda: (r := app.get_run(run.id)) and r.finished and r, timeout=120, interval=0.1,
                    message="the run to end after the kill")
    assert done.state == "FINISHED", done.error
    with engine.connect() as conn:
        keys = [r[0] for r in conn.execute(select(work_items.c.key))]
    assert len(keys) == len(set(keys)) == live_issue_count(jira_site)
    # The retry resumed from the cursor: the first page (no token) was asked for once, by the killed worker.
    assert first_pages == len(_first_pages(jira_site)) == 1
    pages = raw_rows(engine, run.id, STEP, "jira:search")
    transforms = [j for j in app.list_jobs(task="jira.transform", limit=500) if j.args and isinstance(j.args[0], int) and j.args[0] in
                  {rid for rid, _ in pages}]
    assert len(transforms) == len(pages)  # each raw page transformed by exactly one job


def _first_pages(jira: FakeJira) -> list[Any]:
    """Issue searches (not the keys-only sweep) asking for the first page: no nextPageToken."""
    return [r for r in jira.requests(path=SEARCH)
            if isinstance(r.body, dict) and "nextPageToken" not in r.body and r.body.get("fields") != ["id", "key"]]
