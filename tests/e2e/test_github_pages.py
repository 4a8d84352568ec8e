# ruff: noqa: F811 - the GitHub pipeline fixtures imported below are test parameters here
"""The GitHub parts of the dashboard in Chromium, against the fake GitHub:

* the Integrations page adds a GitHub integration (token, owner, repository filter, GraphQL
  endpoint), refuses a bad endpoint saving nothing, tests the connection (login, scopes, points
  left; a bad token in plain words), never shows the token back, and its Sync now runs the
  `github` pipeline on a real worker process;
* a work item's page lists the PRs linked to it with their state and metrics, each linking to
  the PR's page, which shows the PR's metrics and links back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import expect
from sqlalchemy import insert

from conveyor import Conveyor
from conveyor.etl.db import shared_engine
from conveyor.etl.github.fake import DatasetSpec, FakeGitHub
from conveyor.etl.github.tables import pull_requests
from conveyor.etl.jira.tables import work_items
from conveyor.integrations import Integrations
from tests.conftest import wait_for
from tests.e2e.conftest import Browsing, DashboardServer, page_errors, start_server, stop_server
from tests.e2e.test_dashboard import LIVE, login
from tests.e2e.test_pull_requests_page import load
from tests.etl_github.conftest import gh_app, spawn_github_worker  # noqa: F401 - fixtures reused
from tests.etl_github.sync_helpers import count, workers_up


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", key)
    return key


@pytest.fixture
def gh_server(gh_app: Conveyor, secret_key: str) -> Iterator[DashboardServer]:
    """The dashboard served by an app that declares the `github` pipeline."""
    started = start_server(gh_app)
    yield started
    stop_server(started)


def linked_key(app: Conveyor, tenant: str) -> tuple[str, list[tuple[str, int]]]:
    """A work item key some stored PR names, with every (repository, number) linked to it."""
    from conveyor.etl.github.tables import work_items_prs_links as L

    with shared_engine(app.settings.database_url).connect() as conn:
        rows = conn.execute(L.select().where(L.c.tenant == tenant, L.c.pull_request_id.is_not(None))
                            .order_by(L.c.work_item_key)).mappings().all()
    key = rows[0]["work_item_key"]
    return key, sorted({(r["repository"], r["number"]) for r in rows if r["work_item_key"] == key})


def test_add_test_and_sync_a_github_integration(gh_app: Conveyor, gh_server: DashboardServer, web: Browsing,
                                                spawn_github_worker: Any, secret_key: str) -> None:
    spec = DatasetSpec(repositories=3, pull_requests_per_repository=6, huge_pull_requests=0)
    with FakeGitHub(spec) as fake:
        spawn_github_worker("unused", CONVEYOR_SECRET_KEY=secret_key)
        page = login(web, gh_server, "/integrations")
        page.get_by_test_id("f-type").select_option("github")
        expect(page.get_by_test_id("f-url")).to_be_hidden()
        expect(page.get_by_test_id("f-gh-url")).to_have_value("https://api.github.com/graphql")
        page.get_by_test_id("f-name").fill("Acme GitHub")
        page.get_by_test_id("f-gh-url").fill("https://github.com/acme")
        page.get_by_test_id("f-gh-token").fill(fake.token)
        page.get_by_test_id("f-gh-owner").fill("acme")
        page.get_by_test_id("f-gh-repositories").fill("api, we*")
        page.get_by_test_id("f-save").click()
        expect(page.get_by_test_id("form-error")).to_contain_text("not a GitHub GraphQL endpoint")
        assert Integrations(gh_app.settings.database_url).list() == []

        page.get_by_test_id("f-gh-url").fill(fake.graphql_url)
        page.get_by_test_id("f-save").click()
        row = page.locator("#integrations-table tbody tr").first
        expect(row).to_contain_text("Acme GitHub", timeout=LIVE)
        expect(row).to_contain_text("github")
        expect(row).to_contain_text("acme · api, we*")
        expect(page.get_by_test_id("f-gh-token")).to_have_value("")
        (created,) = Integrations(gh_app.settings.database_url).list()
        assert (created.type, created.base_url, created.settings["owner"], created.settings["repositories"]) == (
            "github", fake.graphql_url, "acme", ["api", "we*"])
        assert fake.token not in page.content()

        row.get_by_test_id("test-connection").click()
        result = page.get_by_test_id("test-result")
        expect(result).to_contain_text("as conveyor-bot", timeout=LIVE)
        expect(result).to_contain_text("scopes: repo, read:org")
        expect(result).to_contain_text("of 5,000 GraphQL points left")
        expect(result).not_to_contain_text(fake.token)
        web.shot("github-test-connection")
        Integrations(gh_app.settings.database_url).update(created.id, credentials={"token": "ghp_revoked"})
        row.get_by_test_id("test-connection").click()
        expect(result).to_contain_text("HTTP 401", timeout=LIVE)
        expect(result).to_contain_text("Bad credentials")
        Integrations(gh_app.settings.database_url).update(created.id, credentials={"token": fake.token})
        assert fake.token not in page.content() and "ghp_revoked" not in page.content()

        workers_up(gh_app)
        row.get_by_test_id("sync-now").click()
        page.wait_for_url("**/pipelines/runs/*", timeout=LIVE)
        run_id = page.url.rsplit("/", 1)[1]
        run = wait_for(lambda: (r := gh_app.get_run(run_id)) and r.finished and r, timeout=90, message="the sync")
        assert run.state == "FINISHED", run.error
        assert run.params == {"integration_id": created.id}
        assert count(gh_app, pull_requests, created.tenant) == 12  # api and web, by the filter

        key, linked = linked_key(gh_app, created.tenant)
        page.goto(f"{gh_server.url}/work-items/{key}")
        expect(page.locator("#main")).to_have_attribute("data-ready", "true")
        table = page.get_by_test_id("wi-prs")
        expect(table.locator("tbody tr")).to_have_count(len(linked), timeout=LIVE)
        expect(page.get_by_test_id("wi-missing")).to_contain_text("not among the synced Jira work items")
        assert page_errors(web.errors) == []


@pytest.fixture
def prs(app: Conveyor) -> list[dict[str, Any]]:
    return load(app)


def test_a_work_item_lists_its_prs_and_each_links_to_its_page(app: Any, server: DashboardServer, web: Browsing,
                                                               prs: list[dict[str, Any]]) -> None:
    key, linked = linked_key(app, "default")
    now = datetime.now(UTC)
    with shared_engine(app.settings.database_url).begin() as conn:  # the Jira side of the key, as the Jira ETL loads it
        conn.execute(insert(work_items).values(
            tenant="default", integration_id="jira-1", external_id="10001", key=key, summary="Make checkout faster",
            status_name="In Review", type_name="Story", project_key=key.split("-")[0], workflow_step="review",
            created=now, updated=now, loaded_at=now, history_count=0, deleted=False,
            total_cycle_time_seconds=3 * 86400))
    page = login(web, server, f"/work-items/{key}")
    expect(page.locator("h1")).to_contain_text("Make checkout faster")
    expect(page.get_by_test_id("wi-details")).to_contain_text("3.0 d")
    expect(page.get_by_test_id("wi-missing")).to_be_hidden()
    table = page.get_by_test_id("wi-prs")
    expect(table.locator("tbody tr")).to_have_count(len(linked), timeout=LIVE)
    by_number = {(p["repository"], p["number"]): p for p in prs}
    for repository, number in linked:
        pr = by_number[(repository, number)]
        cells = table.locator(f'tr[data-pr="{repository}#{number}"]')
        expect(cells).to_contain_text(pr["state"])
        expect(cells).to_contain_text(pr["title"])
        review = cells.locator('td[data-metric="review"]')
        if pr["state"] == "MERGED" and pr["reviews"]["nodes"]:
            expect(review).not_to_have_text("—")
        else:
            expect(review).to_have_text("—")
    web.shot("work-item")

    repository, number = linked[0]
    table.locator(f'tr[data-pr="{repository}#{number}"] a').first.click()
    page.wait_for_url(f"**/pull-requests/{repository}/{number}")
    expect(page.locator("#main")).to_have_attribute("data-ready", "true")
    pr = by_number[(repository, number)]
    expect(page.locator("#pr-title")).to_have_text(pr["title"])
    expect(page.get_by_test_id("pr-state")).to_have_text(pr["state"])
    metrics = page.get_by_test_id("pr-metrics")
    expect(metrics.locator('dd[data-metric="coding"]')).not_to_have_text("—")
    expect(page.get_by_test_id("pr-commits").locator("tbody tr")).to_have_count(min(200, len(pr["commits"]["nodes"])))
    expect(page.get_by_test_id("pr-links")).to_contain_text(key)
    web.shot("pull-request")
    page.get_by_test_id("pr-links").get_by_role("link", name=key).click()
    page.wait_for_url(f"**/work-items/{key}")
    expect(page.locator("h1")).to_contain_text("Make checkout faster")

    page.goto(f"{server.url}/pull-requests/acme/api/99999")
    expect(page.locator("#pr-missing")).to_contain_text("No pull request acme/api#99999")
    assert page_errors(web.errors) == []
