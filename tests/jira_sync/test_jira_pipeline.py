"""The Jira pipeline end to end against the fake Jira over real HTTP, on both engines."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from conveyor import Conveyor
from conveyor.etl.db import declared_columns_missing, shared_engine
from conveyor.etl.jira.state import run_metrics
from conveyor.etl.jira.tables import JIRA_TABLES, work_item_changelogs, work_items
from conveyor.fakes.jira import FakeJira
from conveyor.integrations import Integration
from tests.jira_sync.conftest import QUEUES, count, live_issue_count, run_sync


def test_tables_match_their_declarations(app: Conveyor) -> None:
    assert declared_columns_missing(shared_engine(app.settings.database_url), JIRA_TABLES) == {}


def test_full_sync_loads_every_issue_with_complete_changelogs(app: Conveyor, start_worker: Any, jira_site: FakeJira,
                                                              integration: Integration) -> None:
    start_worker(queues=QUEUES.split(","), concurrency=4)
    run = run_sync(app, integration)
    assert run.state == "FINISHED", run.error
    steps = run.status["steps"]
    assert list(steps) == ["jira_projects_and_issue_types", "jira_statuses_and_relationships",
                           "jira_issues_with_changelogs", "jira_dev_status"]
    assert steps["jira_issues_with_changelogs"]["display_name"] == "Issues & Changelogs"
    assert count(app) == live_issue_count(jira_site)
    engine = shared_engine(app.settings.database_url)
    key = jira_site.dataset.long_changelog_key
    with engine.connect() as conn:
        item = conn.execute(select(work_items).where(work_items.c.key == key)).one()
        histories = conn.execute(select(work_item_changelogs.c.history_id).distinct().where(
            work_item_changelogs.c.issue_external_id == item.external_id)).all()
        with_metrics = conn.execute(select(work_items.c.total_lead_time_seconds).where(
            work_items.c.workflow_step == "DONE")).all()
    assert item.history_count == 220 and len(histories) == 220
    assert with_metrics and all(r[0] is not None for r in with_metrics)
    assert not jira_site.requests(path="/rest/api/3/search") and not jira_site.requests(path="/rest/api/2/search")
    metrics = {(m["step"], m["stage"]): m for m in run_metrics(engine, run.id)}
    issues = metrics[("jira_issues_with_changelogs", "extraction")]
    assert issues["records"] == live_issue_count(jira_site) and issues["expected"] == live_issue_count(jira_site)
    assert issues["api_calls"] >= 5 and issues["note"] is None
    # the same figures, per step, inside the run's status JSON
    status = app.get_run(run.id).status["steps"]
    shown = status["jira_issues_with_changelogs"]["metrics"]
    assert shown["records"] == shown["expected"] == live_issue_count(jira_site) and shown["short"] is False
    assert shown["api_calls"] >= issues["api_calls"] and shown["pages"] >= 5 and shown["note"] is None
    assert shown["items"]["transform"] >= 1 and shown["seconds"] > 0
    assert all(status[step]["metrics"]["api_calls"] >= 1 for step in status), status
