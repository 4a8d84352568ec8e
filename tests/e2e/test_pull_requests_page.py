"""The Pull requests page in Chromium: the list with its PR metrics and linked work items, filters,
keyset "Show more", and the weekly chart of coding / pickup / review medians."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import expect

from conveyor.etl.db import shared_engine
from conveyor.etl.github.client import GitHubClient
from conveyor.etl.github.fake import DatasetSpec, FakeGitHub
from conveyor.etl.github.load import load_pull_requests, load_repositories
from conveyor.etl.github.pages import pull_request_pages, repository_pages
from tests.e2e.conftest import Browsing, DashboardServer, page_errors
from tests.e2e.test_dashboard import LIVE, login


def load(app: Any) -> list[dict[str, Any]]:
    """The fake's PRs loaded for tenant 'default' (the e2e key's tenant)."""
    spec = DatasetSpec(repositories=2, pull_requests_per_repository=40, huge_pull_requests=0, end=datetime.now(UTC))
    engine = shared_engine(app.settings.database_url)
    prs = []
    with FakeGitHub(spec) as fake, GitHubClient(fake.token, fake.graphql_url) as gh:
        repos = [r for page in repository_pages(gh, "acme") for r in page.repositories]
        with engine.begin() as conn:
            load_repositories(conn, "default", repos)
        for repo in repos:
            found = [pr for page in pull_request_pages(gh, repo["nameWithOwner"]) for pr in page.pull_requests]
            with engine.begin() as conn:
                load_pull_requests(conn, "default", {"id": repo["id"], "name_with_owner": repo["nameWithOwner"]}, found)
            prs += [{**pr, "repository": repo["nameWithOwner"]} for pr in found]
    return prs


def test_pull_requests_page(app: Any, server: DashboardServer, web: Browsing) -> None:
    prs = load(app)
    page = login(web, server, "/pull-requests")
    table = page.get_by_test_id("pr-table")
    expect(table.locator("tbody tr")).to_have_count(50, timeout=LIVE)
    page.get_by_test_id("pr-more").click()
    expect(table.locator("tbody tr")).to_have_count(80, timeout=LIVE)
    expect(page.get_by_test_id("pr-more")).to_be_hidden()
    merged = [p for p in prs if p["state"] == "MERGED" and p["repository"] == "acme/web"]
    page.get_by_test_id("pr-repository").select_option("acme/web")
    page.get_by_test_id("pr-state").select_option("MERGED")
    page.locator("#pr-filters button[type=submit]").click()
    expect(table.locator("tbody tr")).to_have_count(len(merged), timeout=LIVE)
    one = merged[0]
    cells = table.locator(f'tr[data-pr="acme/web#{one["number"]}"]')
    expect(cells.locator('td[data-metric="review"]')).not_to_have_text("—")
    chart = page.get_by_test_id("pr-chart")
    expect(chart.locator("svg rect.pr-pickup").first).to_be_visible(timeout=LIVE)
    assert chart.locator("g.bar").count() == 26
    keyed = next(p for p in prs if p["title"][:3] in ("EX-", "OPS") or p["title"].startswith("["))
    key = keyed["title"].strip("[").split("]")[0].split(" ")[0]
    page.get_by_test_id("pr-repository").select_option("")
    page.get_by_test_id("pr-state").select_option("")
    page.get_by_test_id("pr-work-item").fill(key)
    page.locator("#pr-filters button[type=submit]").click()
    expect(table.locator(f'tr[data-pr="{keyed["repository"]}#{keyed["number"]}"]')).to_contain_text(key, timeout=LIVE)
    assert page_errors(web.errors) == []
