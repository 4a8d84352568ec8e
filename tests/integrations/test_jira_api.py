"""The Jira routes over real HTTP with an in-process worker, both engines: sync from the API,
read work items by keyset pages, one item with its changelog, change the mapping (bad input
changes nothing), run metrics; the API token appears in no answer, raw row or log line."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from conveyor import Conveyor
from conveyor.etl.db import shared_engine
from conveyor.etl.jira.state import raw_table
from conveyor.fakes.jira import FakeJira
from tests.conftest import wait_for
from tests.integrations.test_integrations_api import jira_body


def test_sync_read_and_map_over_http(app: Conveyor, client: httpx.Client, start_worker: Any, fake_jira: FakeJira,
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    start_worker(queues=["extraction", "transform"], concurrency=4)
    created = client.post("/api/integrations", json=jira_body(fake_jira, settings={})).json()
    answer = client.post(f"/api/integrations/{created['id']}/sync", json={})
    assert answer.status_code == 201, answer.text
    run_id = answer.json()["id"]
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

    scraped = client.get("/metrics").text
    assert 'conveyor_jira_api_calls_total{stage="extraction",step="jira_issues_with_changelogs",tenant="default"}' in scraped

    token = fake_jira.config.api_token
    assert token not in caplog.text
    with shared_engine(app.settings.database_url).connect() as conn:
        assert all(token.encode() not in bytes(r[0]) for r in conn.execute(select(raw_table.c.payload)))
    for path in ("/api/integrations", f"/api/integrations/{created['id']}", f"/api/runs/{run_id}"):
        assert token not in client.get(path).text
