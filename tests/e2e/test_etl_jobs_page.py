"""The ETL jobs page in Chromium: Run now with no live worker shows the 503's error and fix at
once and the job FAILED with its countdown; with workers, the live grid and the reset countdown;
and the Schedules page lists a schedule with its next fire time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from conveyor.etl_jobs import create_etl_job
from conveyor.schedules import build_spec
from tests.e2e.conftest import Browsing, DashboardServer, page_errors
from tests.e2e.test_dashboard import LIVE, login


def test_etl_jobs_page_fail_fast_then_run_and_countdown(app: Any, server: DashboardServer, web: Browsing,
                                                        start_worker: Any) -> None:
    job = create_etl_job(app, tenant="default", name="Jira ABC", pipeline="t.etl", params={"n": 3})
    # Out of the orchestrator's way: only Run now starts it in this test.
    app.etl_jobs.update(job.id, {"next_run": datetime.now(UTC) + timedelta(days=1)})
    page = login(web, server, "/etl")
    row = page.locator(f'tr[data-job="{job.id}"]')
    expect(row.get_by_test_id("etl-status")).to_have_text("NOT_STARTED", timeout=LIVE)
    expect(page.locator(f'tr[data-grid-of="{job.id}"] td[data-state="idle"]')).to_have_count(3)
    expect(page.locator(f'tr[data-grid-of="{job.id}"] thead th')).to_have_text(
        ["Step", "extraction", "transform", "embedding"])  # the declared order

    row.get_by_test_id("etl-run").click()
    error = page.get_by_test_id("etl-run-error")
    expect(error).to_be_visible(timeout=LIVE)
    expect(error).to_contain_text("p_extract")
    expect(error).to_contain_text("conveyor worker --app tests.tasks:app --queues")
    expect(row.get_by_test_id("etl-status")).to_have_text("FAILED", timeout=LIVE)
    expect(row.get_by_test_id("etl-error")).to_contain_text("no live worker")
    expect(row.get_by_test_id("etl-countdown")).to_contain_text("Resetting in", timeout=LIVE)

    start_worker(["p_extract", "p_transform", "p_embed"], concurrency=4)
    row.get_by_test_id("etl-run").click()
    expect(row.get_by_test_id("etl-status")).to_have_text("FINISHED", timeout=LIVE)
    expect(page.locator(f'tr[data-grid-of="{job.id}"] td[data-state="finished"]')).to_have_count(3)
    expect(page.locator(f'tr[data-grid-of="{job.id}"] thead th')).to_have_text(
        ["Step", "extraction", "transform", "embedding"])  # a finished run's resume_at / metrics are no columns
    expect(row.get_by_test_id("etl-countdown")).to_have_text(re.compile(r"Resetting in (2\d|30)s"), timeout=LIVE)
    assert page_errors(web.errors) == []


def test_schedules_page_lists_next_fire(app: Any, server: DashboardServer, web: Browsing) -> None:
    app.scheduler.create(build_spec(app, "nightly", "t.add", cron="0 2 * * *", timezone="Europe/Berlin", args=[1, 2]))
    page = login(web, server, "/schedules")
    row = page.locator('tr[data-schedule="nightly"]')
    expect(row).to_contain_text("0 2 * * *", timeout=LIVE)
    expect(row).to_contain_text("Europe/Berlin")
    expect(row.get_by_test_id("schedule-outcome")).to_contain_text("never fired")
    page.locator('#schedule-form input[name="target"]').fill("t.add")
    page.locator('#schedule-form input[name="interval"]').fill("0")
    page.locator('#schedule-form input[name="args"]').fill("[1, 2]")
    page.get_by_test_id("schedule-add").click()
    expect(page.get_by_test_id("schedule-error")).to_contain_text("more than 0", timeout=LIVE)
    assert len(app.scheduler.list()) == 1
    page.locator('#schedule-form input[name="interval"]').fill("30")
    page.get_by_test_id("schedule-add").click()
    expect(page.locator('tr[data-schedule="t.add"]')).to_contain_text("every 30 s", timeout=LIVE)
    assert page_errors(web.errors) == []
