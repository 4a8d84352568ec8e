"""The dashboard in a real browser (Debian's headless Chromium) against the real API server.

Each test waits on conditions (Playwright's expect / wait_for_*), never on bare sleeps.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from conveyor.model import JobState
from tests import tasks
from tests.conftest import wait_for
from tests.e2e.conftest import Browsing, DashboardServer, page_errors

LIVE = 15_000  # ms: generous for a loaded 2-core machine; conditions usually hold in well under 2 s


def login(web: Browsing, server: DashboardServer, path: str = "/") -> Any:
    """Log in the way the README's URL does it: ?key= in the address."""
    page = web.page
    page.goto(server.login_url(path))
    expect(page.locator("#main")).to_have_attribute("data-ready", "true")
    assert "key=" not in page.url, "the key must be removed from the address bar"
    return page


def run_now(page: Any, server: DashboardServer, task: str, kwargs: dict[str, Any]) -> None:
    if not page.url.startswith(f"{server.url}/run"):
        page.goto(f"{server.url}/run")
    page.get_by_test_id("run-task").select_option(task)
    editor = page.get_by_test_id("run-kwargs")
    editor.fill(json.dumps(kwargs))
    expect(page.locator("#kwargs-status")).to_have_text("✓ valid JSON")
    page.get_by_test_id("run-submit").click()


def worker_card(page: Any, worker_id: str) -> Any:
    return page.locator(f'[data-testid="worker-card"][data-worker-id="{worker_id}"]')


def test_login_with_key_and_logout(server: DashboardServer, web: Browsing) -> None:
    page = web.page
    page.goto(f"{server.url}/jobs")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fjobs$"))
    page.get_by_test_id("login-key").fill("cvk_not-a-real-key")
    page.get_by_test_id("login-submit").click()
    expect(page.locator("#login-error")).to_contain_text("not accepted")
    page.get_by_test_id("login-key").fill(server.key)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(f"{server.url}/jobs")
    expect(page.locator("#who")).to_contain_text("admin")
    page.locator("#logout").click()
    expect(page).to_have_url(re.compile(r"/login"))
    assert page.evaluate("localStorage.getItem('conveyor.apiKey')") is None
    assert page_errors(web.errors) == []


def test_run_now_refused_when_every_worker_is_stopped(
    server: DashboardServer, web: Browsing, start_worker: Any, app: Any
) -> None:
    worker = start_worker(["high", "default", "low"], 2)
    page = login(web, server, "/workers")

    # Stop every worker from the Workers page.
    card = worker_card(page, worker.worker.id)
    expect(card.get_by_test_id("worker-state")).to_have_text("running")
    card.get_by_test_id("worker-stop").click()
    expect(page.locator("#confirm")).to_be_visible()
    page.locator("#confirm-ok").click()
    wait_for(lambda: not worker.thread.is_alive(), timeout=20, message="the worker to stop")
    expect(page.locator("#no-workers")).to_be_visible(timeout=LIVE)
    assert app.store.live_worker_count("default", app.settings.liveness_timeout)[0] == 0

    # The JSON editor validates as you type.
    page.goto(f"{server.url}/run?task=t.add")
    expect(page.get_by_test_id("run-kwargs")).to_have_value(re.compile(r'"a": null'))
    page.get_by_test_id("run-kwargs").fill('{"a": 1, "b": }')
    expect(page.locator("#kwargs-status")).to_contain_text("✗ Invalid JSON at line 1")
    expect(page.get_by_test_id("run-submit")).to_be_disabled()

    # Run now: the actionable error appears at once and nothing is queued.
    run_now(page, server, "t.add", {"a": 1, "b": 2})
    error = page.get_by_test_id("run-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(re.compile("no live worker", re.I))
    expect(error).to_contain_text("conveyor worker")
    expect(error).to_contain_text("--queues default")
    expect(page.get_by_test_id("run-nothing-queued")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/run(\?|$)"))
    web.shot("error")
    assert app.list_jobs(limit=10) == [], "a refused Run now must not queue anything"
    # The page also says so before you press the button.
    expect(page.get_by_test_id("run-queue-status")).to_contain_text("No live worker serves queue")
    assert page_errors(web.errors) == []


def test_progress_advances_live_until_completed(
    server: DashboardServer, web: Browsing, start_worker: Any, app: Any, tmp_path: Path
) -> None:
    start_worker(["high", "default", "low"], 2)
    marker = tmp_path / "finish"
    page = login(web, server, "/run")
    run_now(page, server, "t.progress", {"steps": 8, "step_seconds": 0.35, "marker": str(marker)})

    # Run now opens the job page.
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]
    page.evaluate("window.__sameDocument = true")  # a reload would wipe this out
    state = page.get_by_test_id("job-state")
    bar = page.get_by_test_id("job-progress")
    expect(state).to_have_attribute("data-state", "running", timeout=LIVE)
    expect(page.locator("#live")).to_have_attribute("data-state", "on")

    # Part way: the bar shows a value strictly between 0 and 100.
    page.wait_for_function(
        "() => { const v = Number(document.querySelector('#progress').getAttribute('aria-valuenow'));"
        " return v > 0 && v < 100; }", timeout=LIVE)
    web.shot("progress")
    # All steps done: 100 %, eight items processed, still running (waiting for the marker).
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=LIVE)
    expect(page.get_by_test_id("progress-processed")).to_have_text("8 processed")
    expect(state).to_have_attribute("data-state", "running")

    marker.write_text("go")
    expect(state).to_have_attribute("data-state", "completed", timeout=LIVE)
    expect(page.locator("#json-result")).to_contain_text('"done"')
    expect(page.get_by_test_id("timeline")).to_contain_text("Attempt 1 completed")
    web.shot("completed")

    seen = page.evaluate("window.__progressSeen")
    assert page.evaluate("window.__sameDocument === true"), "the job page reloaded"
    assert any(0 < v < 100 for v in seen), f"no intermediate progress seen: {seen}"
    assert seen == sorted(seen), f"progress went backwards: {seen}"
    assert len(set(seen)) >= 3, f"the bar did not advance in steps: {seen}"
    assert app.get_job(job_id).state == JobState.COMPLETED

    # The token links to every job that shares it.
    page.get_by_test_id("job-token").click()
    expect(page).to_have_url(re.compile(r"/jobs\?token=[0-9a-f]+"))
    expect(page.locator(f'#jobs-table tr[data-job-id="{job_id}"]')).to_be_visible()
    assert page_errors(web.errors) == []


def test_failing_task_lands_in_dead_letters_then_requeue_and_purge(
    server: DashboardServer, web: Browsing, start_worker: Any, app: Any
) -> None:
    worker = start_worker(["high", "default", "low"], 2)
    page = login(web, server, "/dead")
    expect(page.get_by_test_id("dead-empty")).to_be_visible()
    page.evaluate("window.__sameDocument = true")  # a reload would wipe this out

    # Enqueued while the page is open: the dead letter appears without a reload.
    handle = tasks.fail.configure(max_attempts=2).enqueue(message="e2e boom")
    groups = page.get_by_test_id("dead-groups")
    expect(groups).to_contain_text("t.fail", timeout=LIVE)
    expect(groups).to_contain_text("RuntimeError: e2e boom")
    row = page.locator(f'[data-testid="dead-item"][data-job-id="{handle.id}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("2/2")
    web.shot("dead")

    # Requeue it from there (with no worker running, so it stays queued for the check).
    worker.stop()
    row.get_by_test_id("dead-item-requeue").click()
    expect(page.locator("#toasts")).to_contain_text("Requeued 1 job")
    expect(page.get_by_test_id("dead-empty")).to_be_visible(timeout=LIVE)
    assert app.get_job(handle.id).state == JobState.QUEUED

    # A worker runs it again, it fails again and is back; purge its group.
    start_worker(["high", "default", "low"], 2)
    group = page.get_by_test_id("dead-group").filter(has_text="e2e boom")
    expect(group).to_be_visible(timeout=LIVE)
    group.get_by_test_id("dead-group-purge").click()
    expect(page.locator("#confirm")).to_be_visible()
    page.locator("#confirm-ok").click()
    expect(page.locator("#toasts")).to_contain_text("Purged 1 job")
    expect(page.get_by_test_id("dead-empty")).to_be_visible(timeout=LIVE)
    assert app.get_job(handle.id) is None
    assert page.evaluate("window.__sameDocument === true"), "the dead-letters page reloaded"
    assert page_errors(web.errors) == []


def test_pause_and_resume_a_worker(server: DashboardServer, web: Browsing, start_worker: Any) -> None:
    worker = start_worker(["high", "default", "low"], 3)
    page = login(web, server, "/workers")
    card = worker_card(page, worker.worker.id)
    badge = card.get_by_test_id("worker-state")
    expect(badge).to_have_text("running")

    card.get_by_test_id("worker-pause").click()
    expect(badge).to_have_text("paused", timeout=LIVE)
    wait_for(lambda: worker.worker.state == "paused", timeout=10, message="the worker to pause")
    expect(card.get_by_test_id("worker-resume")).to_be_visible()
    web.shot("paused")

    card.get_by_test_id("worker-resume").click()
    expect(badge).to_have_text("running", timeout=LIVE)
    wait_for(lambda: worker.worker.state == "running", timeout=10, message="the worker to resume")
    expect(card.get_by_test_id("worker-pause")).to_be_visible()
    assert page_errors(web.errors) == []


def test_overview_names_the_fix_for_a_stranded_queue(
    server: DashboardServer, web: Browsing, start_worker: Any, app: Any
) -> None:
    start_worker(["high", "default", "low"], 4)
    for i in range(6):
        tasks.add.enqueue(i, i)
    tasks.noop.configure(delay=3600).enqueue()
    tasks.reports.configure(policy="accept").enqueue()  # queue "reports": no worker serves it
    page = login(web, server, "/")

    banner = page.locator('[data-testid="stranded-banner"][data-stranded="reports"]')
    expect(banner).to_be_visible(timeout=LIVE)
    expect(banner).to_contain_text("conveyor worker --app tests.tasks:app --queues reports")
    row = page.locator('#queues-table tr[data-queue="default"]')
    expect(row.locator('[data-count="scheduled"]')).to_have_text("1")
    expect(page.locator('#queues-table tr[data-queue="reports"] [data-testid="consumers"]')).to_have_text("0")
    expect(page.get_by_test_id("workers-summary")).to_contain_text("1 worker alive")
    wait_for(lambda: len(app.list_jobs(states=["completed"], limit=10)) == 6, timeout=15)
    expect(page.get_by_test_id("tile-throughput")).to_contain_text("6/min", timeout=LIVE)
    web.shot("overview")
    assert page_errors(web.errors) == []


def test_usable_on_a_phone_in_dark_mode(server: DashboardServer, phone: Browsing, start_worker: Any) -> None:
    start_worker(["high", "default", "low"], 2)
    tasks.add.enqueue(1, 2)
    page = login(phone, server, "/")
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    for path in ("/", "/jobs", "/workers", "/dead", "/run", "/stats"):
        page.goto(server.url + path)
        expect(page.locator("#main")).to_have_attribute("data-ready", "true")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways on a phone by {overflow}px"
        phone.shot(path.strip("/") or "overview")
    assert page_errors(phone.errors) == []


def test_supervised_pool_start_and_stop_a_worker(pool_server: Any, web: Browsing, app: Any) -> None:
    server, supervisor = pool_server
    page = login(web, server, "/workers")
    expect(page.locator("#no-workers")).to_be_visible()
    expect(page.get_by_test_id("pool-start")).to_be_visible()

    page.get_by_test_id("pool-start").click()
    cards = page.locator("#workers-live [data-testid=worker-card]")
    expect(cards).to_have_count(1, timeout=LIVE)
    expect(cards.first.get_by_test_id("worker-state")).to_have_text("running")
    assert len([w for w in supervisor.workers() if w["running"]]) == 1
    worker_id = cards.first.get_attribute("data-worker-id")
    web.shot("pool")

    cards.first.get_by_test_id("worker-stop").click()
    page.locator("#confirm-ok").click()
    expect(cards).to_have_count(0, timeout=LIVE)
    expect(page.locator("#no-workers")).to_be_visible()
    wait_for(lambda: not any(w["running"] for w in supervisor.workers()), timeout=15,
             message="the pool's worker process to exit")
    assert app.store.live_worker_count("default", app.settings.liveness_timeout)[0] == 0
    assert worker_id not in {w["id"] for w in supervisor.workers() if w["running"]}
    assert page_errors(web.errors) == []


def test_jobs_filter_keyset_pages_and_live_rows(
    server: DashboardServer, web: Browsing, start_worker: Any, app: Any
) -> None:
    token = "e2e-token-1"
    handles = app.enqueue_many((tasks.add.new_job(i, i) for i in range(30)), policy="accept")
    tasks.noop.configure(token=token, policy="accept").enqueue()
    page = login(web, server, "/jobs?limit=25")
    rows = page.locator("#jobs-table tbody tr")
    expect(rows).to_have_count(25)
    expect(page.locator("#page-info")).to_contain_text("jobs 1–25")
    # Newest first; the next page continues exactly where the first ended (keyset cursor).
    first_page = rows.evaluate_all("rs => rs.map(r => r.dataset.jobId)")
    page.locator("#page-next").click()
    expect(rows).to_have_count(6)
    second_page = rows.evaluate_all("rs => rs.map(r => r.dataset.jobId)")
    assert not set(first_page) & set(second_page)
    assert set(first_page) | set(second_page) == {h.id for h in handles} | {
        j.id for j in app.list_jobs(token=token)}
    page.locator("#page-prev").click()
    expect(rows).to_have_count(25)

    # The stranded queue is named on every page, not only the overview.
    expect(page.locator('[data-stranded="default"]')).to_contain_text("--queues default", timeout=LIVE)

    # Filter by state (chips) and by token (the URL carries the filters).
    page.get_by_test_id("filter-state-queued").click()
    expect(page).to_have_url(re.compile(r"state=queued"))
    expect(rows).to_have_count(25)
    page.locator("#f-token").fill(token)
    page.locator("#f-token").press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("t.noop")

    # Live: a worker runs them; the queued-only view drops nothing but the rows turn completed.
    page.locator("#f-clear").click()
    expect(rows).to_have_count(25)
    page.evaluate("window.__sameDocument = true")  # a reload would wipe this out
    start_worker(["high", "default", "low"], 4)
    expect(page.locator('#jobs-table tbody tr[data-state="completed"]')).to_have_count(25, timeout=LIVE)
    # A job enqueued now appears at the top of the first page without a reload.
    new = tasks.add.enqueue(100, 1)
    expect(rows.first).to_have_attribute("data-job-id", new.id, timeout=LIVE)
    expect(rows.first).to_have_attribute("data-state", "completed", timeout=LIVE)
    assert page.evaluate("window.__sameDocument === true"), "the jobs page reloaded"
    web.shot("jobs")
    assert page_errors(web.errors) == []


def test_jobs_page_rereads_after_the_servers_event_feed_reconnects(
    server: DashboardServer, web: Browsing, app: Any
) -> None:
    """A change no event announced (made while the server's LISTEN connection was down) still
    reaches the open page: the server says "resync" and the page re-reads, without a reload."""
    handle = tasks.add.configure(policy="accept").enqueue(1, 1)
    page = login(web, server, "/jobs")
    row = page.locator(f'#jobs-table tbody tr[data-job-id="{handle.id}"]')
    expect(row).to_have_attribute("data-state", "queued")
    page.evaluate("window.__sameDocument = true")
    with app.store.pool.connection() as conn:
        conn.execute("UPDATE conveyor_jobs SET state = 'cancelled', finished_at = now(), updated_at = now() "
                     "WHERE id = %s", (handle.id,))

        def kill_listener() -> int:
            return conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE application_name = 'conveyor-events' AND datname = current_database()").fetchone()[0]

        wait_for(kill_listener, message="the server's LISTEN connection")
    expect(row).to_have_attribute("data-state", "cancelled", timeout=LIVE)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    assert page_errors(web.errors) == []
