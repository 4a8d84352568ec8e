# ruff: noqa: F811 - the API fixtures imported below are test parameters here
"""GET /api/pull-requests (filters, keyset pages, tenancy), one PR, the weekly metrics and the
repositories, over a real server on both engines; and Jira links from PR text and dev-status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conveyor import Conveyor
from conveyor.etl.db import shared_engine
from conveyor.etl.github.client import GitHubClient
from conveyor.etl.github.fake import DatasetSpec, FakeGitHub
from conveyor.etl.github.load import link_dev_status, load_pull_requests, load_repositories
from conveyor.etl.github.metrics import metrics_from_node
from conveyor.etl.github.pages import pull_request_pages, repository_pages
from tests.api.conftest import admin_key, api_server, client, make_key, server  # noqa: F401 - fixtures reused

TENANT = "acme-gh"


@pytest.fixture
def loaded(app: Conveyor) -> Iterator[dict[str, Any]]:
    """The fake's data loaded for TENANT through the load functions (the pipeline is tested apart)."""
    spec = DatasetSpec(repositories=2, pull_requests_per_repository=15, huge_pull_requests=1, huge_commits=120,
                       huge_reviews=5, huge_comments=5, huge_threads=2, huge_thread_comments=3)
    engine = shared_engine(app.settings.database_url)
    prs: dict[str, list[dict[str, Any]]] = {}
    with FakeGitHub(spec) as fake, GitHubClient(fake.token, fake.graphql_url) as gh:
        with engine.begin() as conn:  # a dev-status link that comes before the PR is synced
            link_dev_status(conn, TENANT, "OPS-900", [{"url": "https://github.com/acme/api/pull/3"},
                                                      {"id": "#1", "name": "no repository: skipped"}])
        repos = [r for page in repository_pages(gh, "acme") for r in page.repositories]
        with engine.begin() as conn:
            load_repositories(conn, TENANT, repos)
        for repo in repos:
            prs[repo["nameWithOwner"]] = [pr for page in pull_request_pages(gh, repo["nameWithOwner"])
                                          for pr in page.pull_requests]
            with engine.begin() as conn:
                load_pull_requests(conn, TENANT, {"id": repo["id"], "name_with_owner": repo["nameWithOwner"]},
                                   prs[repo["nameWithOwner"]])
    yield prs


def test_list_filters_and_pages(loaded: dict[str, list[dict[str, Any]]], client: httpx.Client) -> None:
    everything = client.get("/api/pull-requests", params={"limit": 500}).json()["items"]
    assert len([p for p in everything if p["tenant"] == TENANT]) == 30
    seen, cursor = [], None
    while True:
        answer = client.get("/api/pull-requests", params={"tenant": TENANT, "limit": 7, "cursor": cursor})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 30
    updated = [p["updated_at"] for p in client.get("/api/pull-requests", params={"tenant": TENANT}).json()["items"]]
    assert updated == sorted(updated, reverse=True)
    api = loaded["acme/api"]
    merged = client.get("/api/pull-requests", params={"tenant": TENANT, "repository": "acme/api",
                                                      "state": "MERGED", "limit": 500}).json()["items"]
    assert {p["number"] for p in merged} == {p["number"] for p in api if p["state"] == "MERGED"}
    author = api[0]["author"]["login"]
    by_author = client.get("/api/pull-requests", params={"tenant": TENANT, "author": author, "limit": 500}).json()
    assert by_author["items"] and all(p["author"] == author for p in by_author["items"])
    window = client.get("/api/pull-requests", params={"tenant": TENANT, "merged_from": "2025-06-01T00:00:00Z",
                                                      "merged_to": "2025-09-01T00:00:00Z", "limit": 500}).json()
    assert all("2025-06-01" <= p["merged_at"] < "2025-09-01" for p in window["items"])
    assert client.get("/api/pull-requests", params={"cursor": "garbage"}).status_code == 422
    assert client.get("/api/pull-requests", params={"state": "DONE"}).status_code == 422
    assert client.get("/api/pull-requests", params={"merged_from": "2025-06-01T00:00:00"}).status_code == 422


def test_jira_links_from_text_and_dev_status(loaded: dict[str, list[dict[str, Any]]], client: httpx.Client) -> None:
    titled = next(p for p in loaded["acme/api"] if p["title"].split(" ")[0].count("-") == 1
                  and p["title"][0].isupper() and p["title"].split(" ")[0][-1].isdigit())
    key = titled["title"].split(" ")[0]
    found = client.get("/api/pull-requests", params={"tenant": TENANT, "work_item": key}).json()["items"]
    assert titled["id"] in [p["id"] for p in found] and all(key in p["work_items"] for p in found)
    dev = client.get("/api/pull-requests", params={"tenant": TENANT, "work_item": "OPS-900"}).json()["items"]
    assert [(p["repository"], p["number"]) for p in dev] == [("acme/api", 3)]
    one = client.get("/api/pull-requests/acme/api/3", params={"tenant": TENANT}).json()
    assert {"work_item_key": "OPS-900", "source": "dev_status"} in one["links"]


def test_one_pull_request_whole(loaded: dict[str, list[dict[str, Any]]], client: httpx.Client) -> None:
    huge = next(p for p in loaded["acme/api"] if len(p["commits"]["nodes"]) == 120)
    got = client.get(f"/api/pull-requests/acme/api/{huge['number']}", params={"tenant": TENANT}).json()
    assert len(got["commits"]) == 120 and got["commit_count"] == 120
    assert len(got["reviews"]) == 5 and len(got["review_threads"]) == 2
    assert len(got["comments"]) == 5 + sum(len(t["comments"]["nodes"]) for t in huge["reviewThreads"]["nodes"])
    expected = metrics_from_node(huge)
    assert got["coding_time_seconds"] == expected.coding_time_seconds
    assert got["pickup_time_seconds"] == expected.pickup_time_seconds
    missing = client.get("/api/pull-requests/acme/api/999", params={"tenant": TENANT})
    assert missing.status_code == 404 and "acme/api#999" in missing.json()["error"]


def test_weekly_metrics_and_repositories(loaded: dict[str, list[dict[str, Any]]], client: httpx.Client) -> None:
    weeks = client.get("/api/pull-requests/weekly", params={"tenant": TENANT, "weeks": 104}).json()["weeks"]
    assert len(weeks) == 104 and weeks == sorted(weeks, key=lambda w: w["week"])
    merged = sum(1 for prs in loaded.values() for p in prs if p["state"] == "MERGED" and p["mergedAt"] >= weeks[0]["week"])
    assert sum(w["merged"] for w in weeks) == merged
    assert any(w["pickup_time_median_seconds"] is not None for w in weeks)
    unknown = client.get("/api/github/runs/01a23c6a-0000-7000-8000-000000000000/metrics")
    assert unknown.status_code == 404 and "No GitHub run metrics" in unknown.json()["error"]
    repos = client.get("/api/repositories", params={"tenant": TENANT}).json()["items"]
    assert [r["name_with_owner"] for r in repos] == ["acme/api", "acme/web"]
    assert repos[0]["languages"] and repos[0]["default_branch"] in ("main", "master")


def test_a_tenant_key_reads_only_its_tenant(loaded: dict[str, list[dict[str, Any]]], server: Any,
                                            make_key: Any) -> None:
    with server.client(make_key("other-tenant", "viewer")) as other:
        assert other.get("/api/pull-requests").json()["items"] == []
        assert other.get("/api/pull-requests", params={"tenant": TENANT}).status_code == 403
        assert other.get("/api/pull-requests/acme/api/3").status_code == 404
    with server.client(make_key(TENANT, "viewer")) as own:
        assert len(own.get("/api/pull-requests", params={"limit": 500}).json()["items"]) == 30
