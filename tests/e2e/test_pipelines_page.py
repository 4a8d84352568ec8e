"""The Pipelines page in Chromium: declared pipelines, recent runs, one run as a live grid."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import Browsing, DashboardServer, page_errors
from tests.e2e.test_dashboard import LIVE, login
from tests.pipeline_tasks import etl, etl_park, etl_slow


def test_pipelines_page_and_live_run_grid(app: Any, server: DashboardServer, web: Browsing, start_worker: Any,
                                          monkeypatch: Any) -> None:
    monkeypatch.setenv("P_SLOW", "0.05")
    start_worker(["p_extract", "p_transform", "p_embed"], concurrency=4)
    page = login(web, server, "/pipelines")
    expect(page.get_by_test_id("pipelines")).to_contain_text("t.etl_tiered")
    expect(page.get_by_test_id("pipelines")).to_contain_text("p_transform · 1 live")

    run = etl_slow.start({"n": 300})
    expect(page.locator(f'[data-run="{run.id}"]')).to_be_visible(timeout=LIVE)  # from the all-runs feed
    page.locator(f'[data-run="{run.id}"] a').click()
    grid = page.get_by_test_id("run-grid")
    expect(grid.locator('tr[data-step="main"] td[data-state="running"]').first).to_be_visible(timeout=LIVE)
    expect(page.get_by_test_id("run-seq")).to_contain_text("live · update", timeout=LIVE)
    expect(grid.locator('tr[data-step="main"] td').nth(2)).to_contain_text("300 done", timeout=LIVE)
    expect(page.get_by_test_id("run-state")).to_have_text("FINISHED", timeout=LIVE)
    expect(grid.locator('td[data-state="finished"]')).to_have_count(3)
    expect(page.get_by_test_id("run-jobs")).to_have_attribute("href", f"/jobs?token={run.token}")

    # Cancel from the page
    running = etl_slow.start({"n": 400})
    page.goto(f"{server.url}/pipelines/runs/{running.id}")
    expect(grid.locator('td[data-state="running"]').first).to_be_visible(timeout=LIVE)
    page.get_by_test_id("run-cancel").click()
    page.locator("#confirm-ok").click()
    expect(page.get_by_test_id("run-state")).to_have_text("CANCELLED", timeout=LIVE)
    assert page_errors(web.errors) == []


def test_failed_run_shows_error_and_retry_step(app: Any, server: DashboardServer, web: Browsing, start_worker: Any,
                                               monkeypatch: Any, tmp_path: Any) -> None:
    cure = tmp_path / "cure"
    monkeypatch.setenv("P_POISON", "1")
    monkeypatch.setenv("P_CURE", str(cure))
    start_worker(["p_extract", "p_transform", "p_embed"], concurrency=4)
    run = etl.start({"n": 3})
    page = login(web, server, f"/pipelines/runs/{run.id}")
    expect(page.get_by_test_id("run-state")).to_have_text("FAILED", timeout=LIVE)
    expect(page.get_by_test_id("run-error")).to_contain_text("cannot transform item 1")
    cure.write_text("ok")
    page.get_by_test_id("retry-main").click()
    expect(page.get_by_test_id("run-state")).to_have_text("FINISHED", timeout=LIVE)
    assert page_errors(web.errors) == []


def test_parked_stage_shows_waiting_with_resume_time_in_the_grid(app: Any, server: DashboardServer, web: Browsing,
                                                                 start_worker: Any, monkeypatch: Any,
                                                                 tmp_path: Any) -> None:
    monkeypatch.setenv("P_PARK_DIR", str(tmp_path))
    monkeypatch.setenv("P_PARK", "6")
    monkeypatch.setenv("P_AFTER_PARK", "2")
    start_worker(["p_extract", "p_transform", "p_embed"], concurrency=4)
    run = etl_park.start({"n": 1})
    page = login(web, server, f"/pipelines/runs/{run.id}")
    grid = page.get_by_test_id("run-grid")
    transform = grid.locator('tr[data-step="main"] td').nth(1)
    expect(transform).to_have_attribute("data-state", "waiting", timeout=LIVE)
    expect(transform.get_by_test_id("parked")).to_contain_text("1 parked · resumes in")
    expect(page.get_by_test_id("resume-main")).to_contain_text("resumes")
    expect(grid.locator('tr[data-step="main"] [data-state="waiting"]').first).to_be_visible()
    expect(transform).to_have_attribute("data-state", "running", timeout=LIVE)  # resumed
    expect(page.get_by_test_id("resume-main")).to_have_count(0)
    expect(page.get_by_test_id("run-state")).to_have_text("FINISHED", timeout=LIVE)
    assert page_errors(web.errors) == []
