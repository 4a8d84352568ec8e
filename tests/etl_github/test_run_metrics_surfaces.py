# ruff: noqa: F811 - the API fixtures imported below are test parameters here
"""A GitHub run's metrics where users read them: GET /api/github/runs/{id}/metrics (per step and
stage, GraphQL points spent and left) and the Prometheus scrape (conveyor_github_* series), both
agreeing with what the fake GitHub says it charged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conveyor import Conveyor
from conveyor.etl.github.fake import DatasetSpec, FakeGitHub
from tests.api.conftest import admin_key, api_server, client, make_key, server  # noqa: F401 - fixtures reused
from tests.etl_github.github_app import github
from tests.etl_github.sync_helpers import ended, new_tenant, sync_params, workers_up


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(DatasetSpec(repositories=2, pull_requests_per_repository=8, huge_pull_requests=1, huge_commits=130,
                                huge_reviews=3, huge_comments=3, huge_threads=2, huge_thread_comments=3)) as f:
        yield f


def series(scraped: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (labels in any order)."""
    for line in scraped.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{labels} in the scrape")


def test_run_metrics_over_the_api_and_prometheus(gh_app: Conveyor, fake: FakeGitHub, spawn_github_worker: Any,
                                                 client: httpx.Client) -> None:
    spawn_github_worker(fake.token)
    workers_up(gh_app)
    tenant = new_tenant()
    run = ended(gh_app, github.start(sync_params(fake), tenant=tenant).id)
    assert run.state == "FINISHED", run.error

    answer = client.get(f"/api/github/runs/{run.id}/metrics")
    assert answer.status_code == 200, answer.text
    metrics = answer.json()
    charged = fake.graphql_requests()
    spent = sum(r.cost for r in charged if r.status == 200)
    totals = metrics["totals"]
    assert totals["points_spent"] == spent > 0  # every point the fake charged, counted once
    assert totals["api_calls"] == len(charged) and totals["records"] >= 16 + 2  # PRs and repositories
    # the points left at the answer recorded last (stage jobs overlap: not always the very last answer)
    assert 5000 - spent <= metrics["points_remaining"] < 5000 and metrics["state"] is None
    stages = {(s["step"], s["stage"]): s for s in metrics["stages"]}
    assert stages[("github_prs_with_nested", "nested")]["points_spent"] > 0  # the huge PR's follow-ups
    assert stages[("github_prs_with_nested", "transform")]["api_calls"] == 0  # transforms read the raw store only

    scraped = client.get("/metrics").text
    step, stage = "github_prs_with_nested", "nested"
    assert series(scraped, "conveyor_github_points_spent_total", tenant=tenant, step=step, stage=stage) == \
        stages[(step, stage)]["points_spent"]
    assert series(scraped, "conveyor_github_pages_total", tenant=tenant, step="github_repositories",
                  stage="extraction") == stages[("github_repositories", "extraction")]["pages"]
    assert series(scraped, "conveyor_github_points_remaining", tenant=tenant) == metrics["points_remaining"]
    assert series(scraped, "conveyor_github_parks_total", tenant=tenant, step=step, stage=stage) == 0


def test_throttling_retries_and_halvings_are_counted_where_they_happened(
        gh_app: Conveyor, fake: FakeGitHub, spawn_github_worker: Any, client: httpx.Client) -> None:
    fake.inject("secondary", status=429, retry_after=1, operation="Repositories")  # short: slept in place
    fake.inject("server_error", operation="PullRequests")                           # retried
    fake.inject("bad_gateway", operation="PullRequestCommits")                      # page halved
    spawn_github_worker(fake.token)
    workers_up(gh_app)
    tenant = new_tenant()
    run = ended(gh_app, github.start(sync_params(fake), tenant=tenant).id)
    assert run.state == "FINISHED", run.error

    metrics = client.get(f"/api/github/runs/{run.id}/metrics").json()
    stages = {(s["step"], s["stage"]): s for s in metrics["stages"]}
    repos = stages[("github_repositories", "extraction")]
    assert (repos["rate_limit_hits"], repos["parks"], repos["retries"]) == (1, 0, 0)
    assert 0.9 <= repos["waited_seconds"] <= 2.0  # retry-after 1 s, counted from when the answer came
    assert stages[("github_prs_with_nested", "extraction")]["retries"] == 1
    assert stages[("github_prs_with_nested", "nested")]["page_shrinks"] == 1
    assert {k: metrics["totals"][k] for k in ("rate_limit_hits", "retries", "page_shrinks", "parks")} == {
        "rate_limit_hits": 1, "retries": 1, "page_shrinks": 1, "parks": 0}

    scraped = client.get("/metrics").text
    assert series(scraped, "conveyor_github_retries_total", tenant=tenant, step="github_prs_with_nested",
                  stage="extraction") == 1
    assert series(scraped, "conveyor_github_rate_limit_hits_total", tenant=tenant, step="github_repositories",
                  stage="extraction") == 1
