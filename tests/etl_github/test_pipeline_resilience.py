"""The GitHub pipeline when things go wrong, with real worker processes on both engines: edits to
merged PRs after the watermark, SIGKILL mid-step, rate limits that park, a 401, 502s that halve
the page, a totalCount that does not add up, and a reprocess from raw that calls GitHub not once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from conveyor import Conveyor
from conveyor.etl.db import shared_engine
from conveyor.etl.github.fake import DatasetSpec, FakeGitHub
from conveyor.etl.github.reads import run_metrics
from conveyor.etl.github.tables import github_sync_cursors, pull_requests
from conveyor.store.pipelines_common import pipeline_sql
from tests.conftest import wait_for
from tests.etl_github.github_app import github
from tests.etl_github.sync_helpers import (
    count,
    ended,
    huge_pull_request,
    new_tenant,
    stored_pull_request,
    sync_params,
    workers_up,
)

SMALL = DatasetSpec(repositories=2, pull_requests_per_repository=12, huge_pull_requests=1, huge_commits=150,
                    huge_reviews=10, huge_comments=10, huge_threads=3, huge_thread_comments=30)


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(SMALL) as github_fake:
        yield github_fake


def jobs_of(app: Conveyor, run_id: str, step: str, stage: str) -> list[Any]:
    return [app.get_job(j[0]) for j in pipeline_sql(app.store).job_ids(run_id) if j[1] == step and j[2] == stage]


def test_edits_to_a_merged_pr_after_the_watermark_are_picked_up(gh_app: Conveyor, fake: FakeGitHub,
                                                                spawn_github_worker: Any) -> None:
    spawn_github_worker(fake.token)
    workers_up(gh_app)
    tenant = new_tenant()
    first = ended(gh_app, github.start(sync_params(fake), tenant=tenant).id)
    assert first.state == "FINISHED", first.error
    merged = next(pr for pr in fake.dataset.pull_requests[0] if pr["state"] == "MERGED" and not pr["huge"])
    fake.dataset.edit_pull_request("acme/api", merged["number"], title="OPS-77 edited after merge", add_comments=2)
    fake.clear_requests()
    second = ended(gh_app, github.start(sync_params(fake), tenant=tenant).id)
    assert second.state == "FINISHED", second.error
    stored = stored_pull_request(gh_app, tenant, merged["id"])
    assert stored["title"] == "OPS-77 edited after merge" and stored["state"] == "MERGED"
    assert stored["issue_comments"] == len(fake.dataset.children(merged, "comments"))
    # one PR page per repository: the walk stopped at the watermark, and only the edited PR was loaded
    assert len(fake.graphql_requests("PullRequests")) == 2
    loaded = sum(j.result for j in jobs_of(gh_app, second.id, "github_prs_with_nested", "transform"))
    assert loaded == 1
    assert count(gh_app, pull_requests, tenant) == 24


def test_sigkill_mid_step_loses_and_duplicates_nothing(gh_app: Conveyor, fake: FakeGitHub,
                                                       spawn_github_worker: Any) -> None:
    fake.inject("slow", delay=0.4, times=None, operation="PullRequests")
    doomed = spawn_github_worker(fake.token)
    workers_up(gh_app)
    tenant = new_tenant()
    run = github.start(sync_params(fake, pull_request_page_size=3), tenant=tenant)
    engine = shared_engine(gh_app.settings.database_url)

    def pages_committed() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(github_sync_cursors.c.pages).where(
                github_sync_cursors.c.token == run.token, github_sync_cursors.c.step == "github_prs_with_nested",
                github_sync_cursors.c.scope == "acme/api")).scalar() or 0)

    wait_for(lambda: pages_committed() >= 2, timeout=60, message="PR pages committed")
    doomed.kill()
    fake.clear_faults()
    spawn_github_worker(fake.token)
    done = ended(gh_app, run.id)
    assert done.state == "FINISHED", done.error
    assert count(gh_app, pull_requests, tenant) == 24
    extraction = jobs_of(gh_app, run.id, "github_prs_with_nested", "extraction")
    assert len(extraction) == 1 and any(a.outcome == "orphaned" for a in extraction[0].attempt_log)
    loaded = sum(j.result for j in jobs_of(gh_app, run.id, "github_prs_with_nested", "transform"))
    assert loaded == 24, "every PR loaded exactly once"
    # resumed after the last committed page: each page of acme/api fetched once, plus at most the
    # one in flight at the kill
    cursors = [r.variables.get("cursor") for r in fake.graphql_requests("PullRequests")
               if r.variables.get("name") == "api" and r.status == 200]
    assert len(cursors) <= len(set(cursors)) + 1 and len(set(cursors)) == 4
    assert stored_pull_request(gh_app, tenant, huge_pull_request(fake)["id"])["commits"] == 150


def test_rate_limited_on_a_200_parks_and_resumes_without_spending_an_attempt(
        gh_app: Conveyor, fake: FakeGitHub, spawn_github_worker: Any) -> None:
    spawn_github_worker(fake.token)
    workers_up(gh_app)
    tenant = new_tenant()
    fake.set_rate_limit(reset_in=6)  # the first query of the run is refused: its window resets in 6 s
    fake.inject("rate_limited", operation="Repositories")
    run = github.start(sync_params(fake), tenant=tenant)
    parked = wait_for(lambda: [j for j in jobs_of(gh_app, run.id, "github_repositories", "extraction")
                               if j.state.value == "scheduled" and (j.meta or {}).get("parked_until")],
                      timeout=60, message="the extraction job parked")
    assert "points exhausted" in parked[0].meta["park_reason"]
    waiting = wait_for(lambda: (m := run_metrics(shared_engine(gh_app.settings.database_url), run.id))["state"]
                       and m, timeout=10, message="run metrics say waiting")
    assert waiting["state"] == "waiting" and waiting["resume_at"] == parked[0].meta["parked_until"]
    done = ended(gh_app, run.id)
    assert done.state == "FINISHED", done.error
    job = jobs_of(gh_app, run.id, "github_repositories", "extraction")[0]
    assert [a.outcome for a in job.attempt_log] == ["parked"] and job.attempts == 1
    assert count(gh_app, pull_requests, tenant) == 24
    metrics = run_metrics(shared_engine(gh_app.settings.database_url), run.id)
    totals = metrics["totals"]
    assert totals["parks"] == 1 and totals["points_spent"] > 0 and totals["records"] >= 24
    assert totals["api_calls"] >= totals["pages"] > 0 and metrics["points_remaining"] is not None
    parked = next(s for s in metrics["stages"] if s["step"] == "github_repositories" and s["stage"] == "extraction")
    assert parked["attempts"] == 2 and parked["parks"] == 1


def test_secondary_403_with_retry_after_parks_the_nested_job(gh_app: Conveyor, fake: FakeGitHub,
                                                             spawn_github_worker: Any) -> None:
    fake.inject("secondary", retry_after=3, operation="PullRequestCommits")
    spawn_github_worker(fake.token)
    workers_up(gh_app)
    tenant = new_tenant()
    done = ended(gh_app, github.start(sync_params(fake), tenant=tenant).id)
    assert done.state == "FINISHED", done.error
    nested = [j for j in jobs_of(gh_app, done.id, "github_prs_with_nested", "nested")
              if any(a.outcome == "parked" for a in j.attempt_log)]
    assert len(nested) == 1 and nested[0].attempts == 1
    assert "secondary" in nested[0].attempt_log[0].error
    assert stored_pull_request(gh_app, tenant, huge_pull_request(fake)["id"])["commits"] == 150


def test_a_401_fails_the_step_with_the_reason(gh_app: Conveyor, fake: FakeGitHub, spawn_github_worker: Any) -> None:
    spawn_github_worker("ghp_wrong")
    workers_up(gh_app)
    done = ended(gh_app, github.start(sync_params(fake), tenant=new_tenant()).id)
    assert done.state == "FAILED"
    assert "HTTP 401" in (done.error or "") and "Bad credentials" in (done.error or "")
    job = jobs_of(gh_app, done.id, "github_repositories", "extraction")[0]
    assert job.state.value == "dead" and job.attempts == 1, "a permission error is not retried"


def test_page_size_halves_on_502(gh_app: Conveyor, fake: FakeGitHub, spawn_github_worker: Any) -> None:
    fake.inject("bad_gateway", operation="PullRequests")
    spawn_github_worker(fake.token)
    workers_up(gh_app)
    tenant = new_tenant()
    done = ended(gh_app, github.start(sync_params(fake), tenant=tenant).id)
    assert done.state == "FINISHED", done.error
    sizes = [(r.status, r.variables["pageSize"]) for r in fake.graphql_requests("PullRequests")]
    assert sizes[:2] == [(502, 100), (200, 50)]
    assert count(gh_app, pull_requests, tenant) == 24


def test_a_total_count_mismatch_fails_loudly(gh_app: Conveyor, fake: FakeGitHub, spawn_github_worker: Any) -> None:
    fake.inject("total_count_skew", connection="commits", delta=1, times=None, operation="PullRequestCommits")
    spawn_github_worker(fake.token)
    workers_up(gh_app)
    tenant = new_tenant()
    done = ended(gh_app, github.start(sync_params(fake), tenant=tenant).id)
    huge = huge_pull_request(fake)
    assert done.state == "FAILED"
    assert f"acme/api#{huge['number']}" in (done.error or "") and "totalCount is 151" in (done.error or "")
    assert count(gh_app, pull_requests, tenant, id=huge["id"]) == 0, "an incomplete PR is not stored"
    assert count(gh_app, pull_requests, tenant) == 23, "the mismatch fails its own item, not the others"


def test_reprocess_from_raw_calls_github_not_once(gh_app: Conveyor, fake: FakeGitHub, spawn_github_worker: Any) -> None:
    spawn_github_worker(fake.token)
    workers_up(gh_app)
    tenant = new_tenant()
    first = ended(gh_app, github.start(sync_params(fake), tenant=tenant).id)
    assert first.state == "FINISHED", first.error
    fake.clear_requests()
    again = ended(gh_app, gh_app.runs.reprocess(first.id, "transform").id)
    assert again.state == "FINISHED", again.error
    assert fake.graphql_requests() == []
    assert stored_pull_request(gh_app, tenant, huge_pull_request(fake)["id"])["commits"] == 150
    assert count(gh_app, pull_requests, tenant) == 24
