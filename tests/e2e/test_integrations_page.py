"""The Integrations page in Chromium against a fake Jira: add a Jira integration (bad input shows
the API's reason and saves nothing), test the connection (ok, then refused credentials in plain
words), sync, see the work items with their metrics and charts, change the field mapping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import expect
from sqlalchemy import select

from conveyor.errors import RunConflictError
from conveyor.etl.db import shared_engine
from conveyor.etl.jira.pipeline import start_sync
from conveyor.etl.jira.tables import work_items
from conveyor.fakes.jira import FakeJira
from conveyor.integrations import Integrations
from tests.conftest import wait_for
from tests.e2e.conftest import Browsing, DashboardServer, page_errors
from tests.e2e.test_dashboard import LIVE, login


@pytest.fixture
def jira(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeJira]:
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", Fernet.generate_key().decode())
    with FakeJira(seed=5, issues=40) as site:
        yield site


def test_add_test_sync_and_map_a_jira_integration(app: Any, server: DashboardServer, web: Browsing,
                                                  start_worker: Any, jira: FakeJira) -> None:
    start_worker(["extraction", "transform"], concurrency=4)
    page = login(web, server, "/integrations")
    expect(page.get_by_test_id("integrations")).to_be_visible()
    page.get_by_test_id("f-name").fill("Acme Jira")
    page.get_by_test_id("f-url").fill("ftp://nope")
    page.get_by_test_id("f-email").fill(jira.config.email)
    page.get_by_test_id("f-token").fill(jira.config.api_token)
    page.get_by_test_id("f-save").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("is not an http(s) URL")
    assert Integrations(app.settings.database_url).list() == []

    page.get_by_test_id("f-url").fill(jira.url)
    page.get_by_test_id("f-token").fill(jira.config.api_token)
    page.get_by_test_id("f-projects").fill("ALPHA, TEAM")
    page.get_by_test_id("f-save").click()
    row = page.locator("#integrations-table tbody tr").first
    expect(row).to_contain_text("Acme Jira", timeout=LIVE)
    expect(row).not_to_contain_text(jira.config.api_token)
    row.get_by_test_id("test-connection").click()
    expect(page.get_by_test_id("test-result")).to_contain_text(f"as {jira.config.display_name}", timeout=LIVE)
    expect(page.get_by_test_id("test-result")).to_contain_text(jira.config.time_zone)

    created = Integrations(app.settings.database_url).list()[0]
    Integrations(app.settings.database_url).update(
        created.id, credentials={"email": jira.config.email, "api_token": "stale"})
    row.get_by_test_id("test-connection").click()
    expect(page.get_by_test_id("test-result")).to_contain_text("refused the credentials", timeout=LIVE)
    Integrations(app.settings.database_url).update(
        created.id, credentials={"email": jira.config.email, "api_token": jira.config.api_token})

    try:
        run_id = start_sync(app, created.id, tenant=created.tenant).id
    except RunConflictError as running:  # its ETL job (made with it) started the first sync already
        assert running.run_id is not None
        run_id = running.run_id
    wait_for(lambda: (r := app.get_run(run_id)) and r.finished, timeout=90, message="sync")
    assert app.get_run(run_id).state == "FINISHED"
    page.reload()
    items = page.get_by_test_id("work-items")
    expect(items.locator("tbody tr").first).to_be_visible(timeout=LIVE)
    expect(items).to_contain_text("ALPHA-")
    expect(page.locator("[data-chart^='Cycle time'] rect").first).to_be_attached()
    expect(page.locator("[data-chart^='Weekly throughput']")).to_be_visible()
    # per project: the selector lists the projects; choosing one redraws from every item of it
    with shared_engine(app.settings.database_url).connect() as conn:
        rows = conn.execute(select(work_items.c.project_key, work_items.c.total_cycle_time_seconds)).all()
    keys = sorted({r.project_key for r in rows})
    choose = page.get_by_test_id("chart-project")
    expect(choose.locator("option")).to_have_count(len(keys) + 1)
    cycle = sum(r.total_cycle_time_seconds is not None for r in rows)
    expect(page.locator("[data-chart^='Cycle time']")).to_have_attribute("data-chart", f"Cycle time (days) · {cycle} items")
    key = keys[-1]
    choose.select_option(key)
    expect(page.get_by_test_id("charts")).to_have_attribute("data-project", key, timeout=LIVE)
    cycle = sum(r.total_cycle_time_seconds is not None for r in rows if r.project_key == key)
    expect(page.locator("[data-chart^='Cycle time']")).to_have_attribute("data-chart", f"Cycle time (days) · {cycle} items")
    expect(page.get_by_test_id("chart-project")).to_have_value(key)
    web.shot("integrations")

    first = page.locator("#mapping-table select[data-column='custom_field_01']")
    expect(first).not_to_have_value("")
    first.select_option("")
    page.get_by_test_id("mapping-save").click()
    expect(page.locator(".toast")).to_contain_text("Mapping saved", timeout=LIVE)
    mapping = wait_for(lambda: app.list_jobs(task="jira.retransform"), timeout=10, message="re-transform job")
    assert mapping
    assert page_errors(web.errors) == []
