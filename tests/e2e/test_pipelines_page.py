"""The Pipelines page in Chromium: declared pipelines, recent runs, one run as a live grid."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import Browsing, DashboardServer, page_errors
from tests.e2e.test_dashboard import LIVE, login
from tests.pipeline_tasks import etl, etl_slow


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
