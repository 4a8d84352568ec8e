"""The Workers page says how each dead worker was found out, and when (#18)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.conftest import wait_for
from tests.e2e.conftest import Browsing, DashboardServer, page_errors
from tests.e2e.test_dashboard import LIVE, login


def test_a_killed_worker_is_shown_dead_by_process_exit(
    server: DashboardServer, web: Browsing, spawn_worker: Any, start_worker: Any, app: Any
) -> None:
    doomed = spawn_worker()
    start_worker(["high", "default", "low"], 2)  # its lifeline probes the worker locks

    def row() -> Any:
        return next((w for w in app.store.list_workers(3600) if w.pid == doomed.proc.pid), None)

    wait_for(lambda: "WORKER_START" in doomed.output(), timeout=30, message="the worker process started")
    doomed.kill()
    wait_for(lambda: row().state == "dead", timeout=10, message="the killed worker declared dead")
    page = login(web, server, "/workers")
    page.locator("#gone-wrap summary").click()
    card = page.locator(f'[data-testid="worker-card"][data-worker-id="{row().id}"]')
    expect(card.get_by_test_id("worker-state")).to_have_text("dead", timeout=LIVE)
    detected = card.get_by_test_id("worker-detected")
    expect(detected).to_have_attribute("data-detected", "exited")
    expect(detected).to_contain_text("process exited")
    web.shot("dead-worker-exited")
    assert page_errors(web.errors) == []
