"""The Jira routes over real HTTP with an in-process worker, both engines: sync from the API,
read work items by keyset pages, one item with its changelog, change the mapping (bad input
changes nothing), run metrics; the API token appears in no answer, raw row or log line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from conveyor import Conveyor
from conveyor.etl.db import shared_engine
from conveyor.etl.jira.state import raw_table
from conveyor.etl.jira.tables import work_items
from conveyor.fakes.jira import FakeJira
from tests.conftest import wait_for
from tests.integrations.test_integrations_api import jira_body


def sync_over_http(client: httpx.Client, integration_id: str) -> str:
    """POST /sync -> the run id. Creating the integration created its ETL job, which may have
    started the first sync a moment before: one sync per integration, so that is a 409 naming
    the run, and the test follows that run."""
    answer = client.post(f"/api/integrations/{integration_id}/sync", json={})
    if answer.status_code == 201:
        return str(answer.json()["id"])
    assert answer.status_code == 409 and "already has run" in answer.json()["error"], answer.text
    running = client.get(f"/api/runs/{answer.json()['run_id']}").json()
    assert running["params"]["integration_id"] == integration_id
    return str(running["id"])


def test_sync_read_and_map_over_http(app: Conveyor, client: httpx.Client, start_worker: Any, fake_jira: FakeJira,
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    start_worker(queues=["extraction", "transform"], concurrency=4)
    created = client.post("/api/integrations", json=jira_body(fake_jira, settings={})).json()
    run_id = sync_over_http(client, created["id"])
    run = wait_for(lambda: (r := client.get(f"/api/runs/{run_id}").json()) and r["state"] in ("FINISHED", "FAILED")
                   and r, timeout=120, interval=0.2, message="sync over HTTP")
    assert run["state"] == "FINISHED", run

    seen: list[str] = []
    cursor = None
    while True:
        page = client.get("/api/work-items", params={"limit": 7, **({"cursor": cursor} if cursor else {})}).json()
        seen += [i["key"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(fake_jira.dataset.issues)
    alpha = client.get("/api/work-items", params={"project": "ALPHA", "limit": 500}).json()["items"]
    assert alpha and all(i["project_key"] == "ALPHA" for i in alpha)
    one = client.get(f"/api/work-items/{alpha[0]['key']}").json()
    assert one["key"] == alpha[0]["key"] and "total_cycle_time_seconds" in one and isinstance(one["changelog"], list)
    assert client.get("/api/work-items/NOPE-1").status_code == 404
    assert client.get("/api/work-items", params={"cursor": "garbage"}).status_code == 400

    mapping = client.get(f"/api/integrations/{created['id']}/custom-fields").json()
    bad = client.put(f"/api/integrations/{created['id']}/custom-fields",
                     json={**{k: mapping[k] for k in ("team_field_id", "story_points_field_ids", "code_changed_field_id")},
                           "columns": {"custom_field_01": "customfield_99999"}})
    assert bad.status_code == 422 and "does not fit this Jira site" in bad.json()["error"]
    assert client.get(f"/api/integrations/{created['id']}/custom-fields").json() == mapping
    good = client.put(f"/api/integrations/{created['id']}/custom-fields",
                      json={"team_field_id": mapping["team_field_id"], "story_points_field_ids": [],
                            "code_changed_field_id": None, "columns": {}})
    assert good.status_code == 200 and good.json()["columns"]["custom_field_01"] is None
    job = app.get_job(good.json()["retransform_job"])
    assert job is not None and job.task == "jira.retransform"

    steps = client.get(f"/api/integrations/{created['id']}/runs/{run_id}/metrics").json()["steps"]
    assert {s["step"] for s in steps} >= {"jira_projects_and_issue_types", "jira_issues_with_changelogs"}
    shown = run["status"]["steps"]["jira_issues_with_changelogs"]["metrics"]  # GET /api/runs/{id}
    assert shown["records"] == shown["expected"] == len(fake_jira.dataset.issues) and shown["short"] is False

    scraped = client.get("/metrics").text
    assert 'conveyor_jira_api_calls_total{stage="extraction",step="jira_issues_with_changelogs",tenant="default"}' in scraped

    token = fake_jira.config.api_token
    assert token not in caplog.text
    with shared_engine(app.settings.database_url).connect() as conn:
        assert all(token.encode() not in bytes(r[0]) for r in conn.execute(select(raw_table.c.payload)))
    for path in ("/api/integrations", f"/api/integrations/{created['id']}", f"/api/runs/{run_id}"):
        assert token not in client.get(path).text


def _monday(at: datetime) -> str:
    day = at.astimezone(UTC).date()
    return (day - timedelta(days=day.weekday())).isoformat()


def test_charts_per_project_aggregate_every_item_in_sql(app: Conveyor, client: httpx.Client, start_worker: Any,
                                                        fake_jira: FakeJira) -> None:
    start_worker(queues=["extraction", "transform"], concurrency=4)
    created = client.post("/api/integrations", json=jira_body(fake_jira, settings={})).json()
    run_id = sync_over_http(client, created["id"])
    run = wait_for(lambda: (r := client.get(f"/api/runs/{run_id}").json()) and r["state"] in ("FINISHED", "FAILED")
                   and r, timeout=120, interval=0.2, message="sync over HTTP")
    assert run["state"] == "FINISHED", run
    with shared_engine(app.settings.database_url).connect() as conn:
        rows = conn.execute(select(work_items.c.project_key, work_items.c.total_cycle_time_seconds,
                                   work_items.c.total_lead_time_seconds, work_items.c.work_last_completed_at)).all()
    keys = sorted({r.project_key for r in rows})
    everything = client.get(f"/api/integrations/{created['id']}/charts").json()
    assert everything["projects"] == [{"key": k, "items": sum(r.project_key == k for r in rows)} for k in keys]
    assert len(keys) >= 2 and everything["cycle_time"]["items"] > 0 and everything["lead_time"]["items"] > 0
    for key in keys:
        mine = [r for r in rows if r.project_key == key]
        charts = client.get(f"/api/integrations/{created['id']}/charts", params={"project": key, "bins": 6}).json()
        assert charts["project"] == key
        for name, column in (("cycle_time", "total_cycle_time_seconds"), ("lead_time", "total_lead_time_seconds")):
            values = [getattr(r, column) for r in mine if getattr(r, column) is not None]
            chart = charts[name]
            assert chart["items"] == len(values) and len(chart["bins"]) == 6
            assert sum(b["count"] for b in chart["bins"]) == len(values)
            top = max(1, -(-max(values, default=0) // 86400)) * 86400  # whole days, rounded up
            assert chart["bins"][-1]["to_days"] * 86400 == top
            counts = [0] * 6
            for v in values:
                counts[min(5, v * 6 // top)] += 1
            assert [b["count"] for b in chart["bins"]] == counts
        weeks: dict[str, int] = {}
        for r in mine:
            if r.work_last_completed_at is not None:
                weeks[_monday(r.work_last_completed_at)] = weeks.get(_monday(r.work_last_completed_at), 0) + 1
        expected = [{"week": w, "completed": weeks[w]} for w in sorted(weeks)[-16:]]
        assert charts["throughput"] == expected and expected
    bad = client.get(f"/api/integrations/{created['id']}/charts", params={"project": "not a key"})
    assert bad.status_code == 422
