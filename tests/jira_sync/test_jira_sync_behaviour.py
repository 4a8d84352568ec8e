"""How a Jira sync behaves over time and under trouble, on both engines, against the fake Jira:
incremental runs pick up edits, new issues and deletions; a mapping change re-transforms from
raw with zero HTTP calls; a 401 fails the step with the reason; a 429 storm parks, not sleeps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from conveyor import Conveyor
from conveyor.etl.db import shared_engine
from conveyor.etl.jira.load import Owner
from conveyor.etl.jira.mappings import change_mapping, change_status_mappings, read_mapping
from conveyor.etl.jira.pipeline import start_sync
from conveyor.etl.jira.retransform import retransform
from conveyor.etl.jira.state import run_metrics, sync_run
from conveyor.etl.jira.tables import work_items
from conveyor.fakes.jira import FakeJira
from conveyor.integrations import Integration, Integrations
from tests.conftest import wait_for
from tests.jira_sync.conftest import QUEUES, count, live_issue_count, run_sync


def item(app: Conveyor, key: str) -> Any:
    with shared_engine(app.settings.database_url).connect() as conn:
        return conn.execute(select(work_items).where(work_items.c.key == key)).one()


def test_incremental_run_picks_up_edits_new_issues_and_deletions(app: Conveyor, start_worker: Any,
                                                                 jira_site: FakeJira, integration: Integration) -> None:
    start_worker(queues=QUEUES.split(","), concurrency=4)
    first = run_sync(app, integration)
    assert first.state == "FINISHED", first.error
    engine = shared_engine(app.settings.database_url)
    victim = sorted(i.key for i in jira_site.dataset.issues.values() if i.key.startswith("BETA"))[0]
    jira_site.dataset.edit_issue("ALPHA-3", summary="Renamed in Jira", status="Done")
    added = jira_site.dataset.add_issue("TEAM", "Created after the first sync")
    jira_site.dataset.delete_issue(victim)
    jira_site.clear_requests()

    second = run_sync(app, integration, sweep=True)
    assert second.state == "FINISHED", second.error
    run = sync_run(engine, second.id)
    started = sync_run(engine, first.id).started_at
    assert run.updated_since == started - timedelta(minutes=15)  # the watermark: last success minus the overlap
    assert "updated >=" in run.jql and run.deletion_sweep
    assert item(app, "ALPHA-3").summary == "Renamed in Jira" and item(app, "ALPHA-3").workflow_step == "DONE"
    assert item(app, added.key).summary == "Created after the first sync"
    assert item(app, victim).deleted is True
    assert count(app, work_items.c.deleted.is_(False)) == live_issue_count(jira_site)
    fetched = {m["step"]: m for m in run_metrics(engine, second.id) if m["stage"] == "extraction"}
    assert 2 <= fetched["jira_issues_with_changelogs"]["records"] < live_issue_count(jira_site) // 2


def test_mapping_change_retransforms_from_raw_without_http(app: Conveyor, start_worker: Any, jira_site: FakeJira,
                                                           integration: Integration) -> None:
    start_worker(queues=QUEUES.split(","), concurrency=4)
    assert run_sync(app, integration).state == "FINISHED"
    engine = shared_engine(app.settings.database_url)
    owner = Owner(integration.tenant, integration.id)
    mapping = read_mapping(engine, owner)
    first_column = mapping["columns"]["custom_field_01"]
    assert first_column is not None
    # Move the field of column 01 to column 20, and make "In Progress" count as review.
    columns = {c: f for c, f in mapping["columns"].items() if c not in ("custom_field_01", "custom_field_20")}
    columns["custom_field_20"] = first_column
    before = {r.key: (r.custom_field_01, r.custom_fields_overflow) for r in _all(app)}
    jira_site.clear_requests()
    change_mapping(engine, owner, {"team_field_id": mapping["team_field_id"],
                                   "story_points_field_ids": mapping["story_points_field_ids"],
                                   "code_changed_field_id": mapping["code_changed_field_id"], "columns": columns})
    written = retransform(engine, integration.tenant, integration.id)
    assert written == live_issue_count(jira_site)
    assert jira_site.requests() == []  # not one HTTP call
    after = {r.key: r for r in _all(app)}
    assert all(after[k].custom_field_20 == before[k][0] and after[k].custom_field_01 is None for k in before)

    in_progress = [s for s in _statuses(engine, owner) if s["workflow_step"] == "IN_PROGRESS"]
    change_status_mappings(engine, owner, {s["status_id"]: "IN_REVIEW" for s in in_progress})
    retransform(engine, integration.tenant, integration.id)
    assert jira_site.requests() == []
    assert not [r for r in _all(app) if r.workflow_step == "IN_PROGRESS"]


def _all(app: Conveyor) -> list[Any]:
    with shared_engine(app.settings.database_url).connect() as conn:
        return list(conn.execute(select(work_items)))


def _statuses(engine: Any, owner: Owner) -> list[dict[str, Any]]:
    from conveyor.etl.jira.mappings import read_status_mappings
    return read_status_mappings(engine, owner)


def test_401_fails_the_step_loudly(app: Conveyor, start_worker: Any, jira_site: FakeJira,
                                   integration: Integration) -> None:
    Integrations(app.settings.database_url).update(
        integration.id, credentials={"email": jira_site.config.email, "api_token": "revoked-token"})
    start_worker(queues=QUEUES.split(","), concurrency=4)
    run = run_sync(app, integration)
    assert run.state == "FAILED"
    assert "refused the credentials (HTTP 401)" in (run.error or "")
    step = run.status["steps"]["jira_projects_and_issue_types"]
    assert step["state"] == "failed" and count(app) == 0
    jobs = app.list_jobs(task="jira.extract")
    assert jobs and all(j.attempts == 1 for j in jobs)  # never retried
    assert "revoked-token" not in (run.error or "")


def test_a_429_storm_parks_the_step_and_resumes(app: Conveyor, start_worker: Any, jira_site: FakeJira,
                                                 integration: Integration) -> None:
    start_worker(queues=QUEUES.split(","), concurrency=4)
    jira_site.faults.rate_limit(count=None, retry_after=3, path="/rest/api/3/search/jql")
    run = start_sync(app, integration.id, tenant=integration.tenant)
    engine = shared_engine(app.settings.database_url)

    def parked() -> Any:
        rows = [m for m in run_metrics(engine, run.id) if m["parked_until"] and m["step"] == "jira_issues_with_changelogs"]
        return rows[0] if rows else None

    waiting = wait_for(parked, timeout=60, message="the issues step to park")
    job = wait_for(lambda: [j for j in app.list_jobs(task="jira.extract") if j.state.value == "scheduled"],
                   timeout=10, message="the parked job to be scheduled")
    assert job and job[0].attempts == 0  # parked: the attempt was given back
    assert "parked until" in (job[0].error or "") and waiting["rate_limit_hits"] >= 1 and waiting["waiting"]
    jira_site.faults.clear()
    done = wait_for(lambda: (r := app.get_run(run.id)) and r.finished and r, timeout=90, message="run to end")
    assert done.state == "FINISHED", done.error
    assert count(app) == live_issue_count(jira_site)
    final = app.list_jobs(task="jira.extract")
    # one job per step, plus the continuations of the paged steps; parking spent no attempt
    assert len(final) >= 4 and all(j.attempts == 1 for j in final), [(j.args, j.attempts) for j in final]
    assert any(a.outcome == "parked" for j in final for a in j.attempt_log)


def test_a_short_fetch_says_so_in_the_run_metrics(app: Conveyor, start_worker: Any, jira_site: FakeJira,
                                                  integration: Integration) -> None:
    start_worker(queues=QUEUES.split(","), concurrency=4)
    jira_site.faults.empty_page_with_token(count=1)  # Jira's "last page" anomaly on the first search page
    run = run_sync(app, integration)
    issues = [m for m in run_metrics(shared_engine(app.settings.database_url), run.id)
              if m["step"] == "jira_issues_with_changelogs" and m["stage"] == "extraction"][0]
    expected = live_issue_count(jira_site)
    assert issues["expected"] == expected and issues["records"] == 0
    assert issues["note"] == f"fetched 0 issues, fewer than the {expected} Jira expected"
