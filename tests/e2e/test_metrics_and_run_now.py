"""In Chromium: the Metrics page, Run now pre-filled with the task's real defaults, the
start-a-worker button of a stranded queue's banner under a supervised pool, a phone's nav."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import expect

from conveyor.model import JobState
from tests import tasks
from tests.conftest import wait_for
from tests.e2e.conftest import Browsing, DashboardServer, page_errors
from tests.e2e.test_dashboard import LIVE, login


def test_run_now_prefills_the_real_defaults_and_runs_as_shown(
    server: DashboardServer, web: Browsing, start_worker: Any, app: Any
) -> None:
    start_worker(["high", "default", "low"], 2)
    page = login(web, server, "/run?task=t.wait_cancel")
    editor = page.get_by_test_id("run-kwargs")
    expect(editor).to_have_value(re.compile(r'"limit": 30'))
    expect(page.get_by_test_id("task-parameters")).to_have_text("limit=30")

    page.get_by_test_id("run-task").select_option("t.progress")
    shown = json.loads(editor.input_value())
    assert shown == {"steps": None, "step_seconds": None, "marker": None}  # required ones to fill in
    expect(page.get_by_test_id("task-parameters")).to_have_text("steps (required), step_seconds (required), marker=null")

    # A task whose parameters all have defaults runs exactly as the form shows it.
    page.get_by_test_id("run-task").select_option("t.noop")
    expect(editor).to_have_value(re.compile(r'"value": null'))
    page.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"), timeout=LIVE)
    job_id = page.url.rsplit("/", 1)[1]
    job = wait_for(lambda: (j := app.get_job(job_id)) and j.finished and j, timeout=15, message="the job to finish")
    assert job.state == JobState.COMPLETED, job.error

    # Arguments that cannot bind are refused at once, naming the parameter; nothing is written.
    page.goto(f"{server.url}/run?task=t.add")
    expect(page.locator("#main")).to_have_attribute("data-ready", "true")
    expect(editor).to_have_value(re.compile(r'"b": null'))  # the page has filled in its template
    editor.fill('{"a": 1, "b": 2, "extra": 3}')
    page.get_by_test_id("run-submit").click()
    error = page.get_by_test_id("run-error")
    expect(error).to_contain_text("has no parameter 'extra'")
    expect(error.locator(".field-errors")).to_contain_text("kwargs.extra")
    assert len(app.list_jobs(limit=10)) == 1
    web.shot("refused")
    assert page_errors(web.errors) == []


def test_metrics_page_per_task_and_queue(
    server: DashboardServer, web: Browsing, start_worker: Any, app: Any
) -> None:
    start_worker(["high", "default", "low"], 4)
    handles = [tasks.add.enqueue(i, i) for i in range(5)]
    handles.append(tasks.app.enqueue("t.sleep", [0.3]))
    handles.append(tasks.fail.enqueue("boom"))
    for handle in handles:
        handle.wait(20)
    page = login(web, server, "/stats")

    add = page.locator('[data-testid="metrics-task-row"][data-task="t.add"]')
    expect(add.get_by_test_id("task-processed")).to_have_text("5", timeout=LIVE)
    expect(add.get_by_test_id("task-failed")).to_contain_text("0")
    fail = page.locator('[data-testid="metrics-task-row"][data-task="t.fail"]')
    expect(fail.get_by_test_id("task-failed")).to_contain_text("3")
    sleep = page.locator('[data-testid="metrics-task-row"][data-task="t.sleep"]')
    expect(sleep.get_by_test_id("task-p50")).to_have_text(re.compile(r"^\d+ ms$"))
    expect(page.get_by_test_id("m-processed")).to_contain_text("9")
    expect(page.get_by_test_id("m-failed")).to_contain_text("3")
    # Charts are drawn by the page: bars for succeeded and failed attempts, one chart per task.
    expect(page.locator("#m-chart svg.chart rect.ok").first).to_be_visible()
    expect(page.locator("#m-chart svg.chart rect.bad").first).to_be_visible()
    expect(add.locator("svg.chart")).to_have_count(1)
    expect(page.locator('#m-queues tr[data-queue="default"] [data-testid="queue-processed"]')).to_have_text("9")
    assert not page.locator('script[src^="http"], link[href^="http"]').count(), "no CDN"
    web.shot("metrics-hour")

    page.locator('#m-window button[data-window="week"]').click()
    expect(page.locator("#metrics-summary")).to_contain_text("The last week")
    expect(add.get_by_test_id("task-processed")).to_have_text("5")
    expect(page).to_have_url(re.compile(r"/stats\?window=week$"))
    web.shot("metrics-week")

    # The Overview shows the same totals with their history.
    page.goto(f"{server.url}/")
    expect(page.get_by_test_id("history-processed")).to_have_text("9", timeout=LIVE)
    expect(page.get_by_test_id("history-failed")).to_have_text("3")
    expect(page.locator("#h-chart svg.chart rect.ok").first).to_be_visible()
    assert page_errors(web.errors) == []


def test_stranded_banner_starts_a_worker_under_a_pool(pool_server: Any, web: Browsing, app: Any) -> None:
    server, supervisor = pool_server
    tasks.reports.configure(policy="accept").enqueue()
    page = login(web, server, "/")
    banner = page.locator('[data-testid="stranded-banner"][data-stranded="reports"]')
    expect(banner).to_be_visible(timeout=LIVE)
    expect(banner).to_contain_text("worker --app tests.tasks:app --queues reports")
    web.shot("stranded")
    banner.get_by_test_id("start-worker").click()
    wait_for(lambda: app.store.live_worker_count("reports", app.settings.liveness_timeout)[0] == 1, timeout=20,
             message="a worker for queue reports")
    expect(banner).to_have_count(0, timeout=1500)  # polled every 0.5 s while a queue is stranded
    (started,) = [w for w in supervisor.workers() if w["running"]]
    wait_for(lambda: app.list_jobs(queue="reports", states=["completed"], limit=5), timeout=20,
             message="the reports job to run")
    chip = page.locator(f'.worker-chip[href="/workers#{started["id"]}"]')
    expect(chip).to_contain_text(started["id"], timeout=LIVE)  # the same name as on its card
    expect(chip).to_contain_text("0/2 busy")  # busy counts the jobs running on it, as "Running" does
    page.goto(f"{server.url}/workers")
    card = page.locator(f'[data-testid="worker-card"][data-worker-id="{started["id"]}"]')
    expect(card.get_by_test_id("worker-busy")).to_have_text("0/2")
    card.get_by_test_id("worker-stop").click()
    expect(page.locator("#confirm-title")).to_have_text(f"Stop worker {started['id']}?")
    page.locator("#confirm-cancel").click()
    assert page_errors(web.errors) == []


def test_every_page_link_is_in_view_on_a_phone(server: DashboardServer, phone: Browsing) -> None:
    page = login(phone, server, "/stats")
    width = page.evaluate("document.documentElement.clientWidth")
    for link in page.locator(".nav a").all():
        box = link.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (link.inner_text(), box, width)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    phone.shot("metrics")
    assert page_errors(phone.errors) == []


def test_a_dead_jobs_traceback_shows_the_tasks_frames_once(
    server: DashboardServer, web: Browsing, start_worker: Any
) -> None:
    start_worker(["high", "default", "low"], 2)
    job = tasks.fail.enqueue("boom").wait(20)
    assert "conveyor/worker.py" in job.traceback  # the stored one is whole
    page = login(web, server, f"/jobs/{job.id}")
    trimmed = page.get_by_test_id("error-traceback")
    expect(trimmed).to_contain_text('tests/tasks.py", line')
    expect(trimmed).to_contain_text("RuntimeError: boom")
    assert "conveyor/worker.py" not in trimmed.inner_text() and "concurrent/futures" not in trimmed.inner_text()
    expect(page.locator("#error-tb-summary")).to_contain_text("Full traceback (with")
    page.locator("#error-tb-summary").click()
    expect(page.locator("#error-tb-full")).to_contain_text("conveyor/worker.py")
    latest = page.locator('#attempts li[data-attempt="3"]')
    expect(latest).to_contain_text("shown under Error above")
    expect(latest.locator("pre.traceback")).to_have_count(0)  # not shown twice
    web.shot("traceback")
    assert page_errors(web.errors) == []


def test_a_refused_run_now_offers_to_start_a_worker_under_a_pool(pool_server: Any, web: Browsing, app: Any) -> None:
    server, supervisor = pool_server
    page = login(web, server, "/run?task=t.add")
    editor = page.get_by_test_id("run-kwargs")
    expect(editor).to_have_value(re.compile(r'"b": null'))
    editor.fill('{"a": 1, "b": 2}')
    page.get_by_test_id("run-submit").click()
    error = page.get_by_test_id("run-error")
    expect(error).to_contain_text(re.compile("no live worker", re.I))
    button = error.get_by_test_id("start-worker")
    expect(button).to_have_text("Start a worker for “default”")
    button.click()
    wait_for(lambda: app.store.live_worker_count("default", app.settings.liveness_timeout)[0] == 1, timeout=20,
             message="the pool's new worker for default")
    assert app.list_jobs(limit=5) == []  # the refused run wrote nothing
    page.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"), timeout=LIVE)
    assert page_errors(web.errors) == []


def test_the_jobs_list_tells_jobs_apart_and_shows_arguments_runtime_times_and_counts(
    server: DashboardServer, web: Browsing, start_worker: Any, app: Any
) -> None:
    """Issue #20's list view: short ids that differ for jobs made together, an arguments preview
    (whole on hover), a runtime column, exact times on hover, counts on the state chips."""
    start_worker(["high", "default", "low"], 2)
    ran = [tasks.add.enqueue(i, 10 * i) for i in range(3)]
    for handle in ran:
        handle.wait(20)
    waiting = [tasks.add.configure(delay=3600).enqueue(7, 8) for _ in range(2)]
    page = login(web, server, "/jobs")
    rows = page.locator("#jobs-table tbody tr")
    expect(rows).to_have_count(5, timeout=LIVE)

    shown = [rows.nth(i).locator(".job-cell .mono").inner_text() for i in range(5)]
    assert len(set(shown)) == 5 and all(len(s) == 8 for s in shown), shown  # made in the same second
    done = page.locator(f'#jobs-table tbody tr[data-job-id="{ran[2].id}"]')
    expect(done.get_by_test_id("args-preview")).to_have_text("(2, 20)")
    expect(done.get_by_test_id("args-preview")).to_have_attribute("title", "(2, 20)")
    expect(done.get_by_test_id("runtime")).to_have_text(re.compile(r"^\d+ ms$|^\d+\.\d s$"))
    created = done.locator("time").first
    expect(created).to_have_attribute("title", re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"))
    later = page.locator(f'#jobs-table tbody tr[data-job-id="{waiting[0].id}"]')
    expect(later.get_by_test_id("runtime")).to_have_text("—")  # never started
    expect(page.get_by_test_id("chip-count-scheduled")).to_have_text("2", timeout=LIVE)
    web.shot("jobs-list")
    assert page_errors(web.errors) == []


def test_the_overview_without_a_worker_gives_a_command_that_serves_the_queues(
    server: DashboardServer, web: Browsing, app: Any
) -> None:
    """It said "No worker has run recently" two seconds after one stopped, and its command left
    out --queues: now it says none is running, and the command names the app and its queues."""
    from conveyor.commands import cli_command

    page = login(web, server, "/")
    glance = page.get_by_test_id("no-worker")
    expect(glance).to_contain_text("No worker is running.", timeout=LIVE)
    expect(glance.locator("code.cmd")).to_have_text(
        f"{cli_command()} worker --app tests.tasks:app --queues high,default,low")
    assert page_errors(web.errors) == []
