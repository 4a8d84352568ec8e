"""Helpers of the GitHub pipeline tests: params for the fake, waiting for runs, reading the tables."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from conveyor import Conveyor
from conveyor.etl.db import shared_engine
from conveyor.etl.github.fake import FakeGitHub
from conveyor.etl.github.tables import (
    pull_request_comments,
    pull_request_commits,
    pull_request_review_threads,
    pull_request_reviews,
    pull_requests,
)
from conveyor.pipelines import PipelineRun
from conveyor.store.pipelines_common import pipeline_sql
from tests.conftest import live_workers, wait_for
from tests.etl_github.github_app import TOKEN_ENV


def new_tenant() -> str:
    return f"gh-{uuid.uuid4().hex[:8]}"


def sync_params(fake: FakeGitHub, **extra: Any) -> dict[str, Any]:
    return {"owner": fake.dataset.spec.owner, "endpoint": fake.graphql_url, "token_env": TOKEN_ENV, **extra}


def workers_up(app: Conveyor, n: int = 1) -> None:
    wait_for(lambda: live_workers(app, "github_extraction") >= n and live_workers(app, "github_transform") >= n,
             timeout=30, message="GitHub workers up")


def ended(app: Conveyor, run_id: str, timeout: float = 120) -> PipelineRun:
    try:
        return wait_for(lambda: (r := app.get_run(run_id)) and r.finished and r, timeout, interval=0.1,  # type: ignore[no-any-return]
                        message=f"run {run_id} to end")
    except AssertionError as exc:  # say where the run stands
        jobs = [(j[1], j[2], j[3], (job := app.get_job(j[0])) and job.attempts, job and job.meta,
                 job and [(a.outcome, a.error) for a in job.attempt_log])
                for j in pipeline_sql(app.store).job_ids(run_id)]
        raise AssertionError(f"{exc}; its jobs: {jobs}") from None


def count(app: Conveyor, table: Any, tenant: str, **where: Any) -> int:
    clauses = [table.c.tenant == tenant] + [table.c[k] == v for k, v in where.items()]
    with shared_engine(app.settings.database_url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*clauses)).scalar_one())


def stored_pull_request(app: Conveyor, tenant: str, pr_id: str) -> dict[str, Any]:
    """The PR row and how many children it has in each table."""
    with shared_engine(app.settings.database_url).connect() as conn:
        row = conn.execute(select(pull_requests).where(pull_requests.c.tenant == tenant,
                                                       pull_requests.c.id == pr_id)).mappings().first()
    assert row is not None, f"pull request {pr_id} not stored"
    return {**row, "commits": count(app, pull_request_commits, tenant, pull_request_id=pr_id),
            "reviews": count(app, pull_request_reviews, tenant, pull_request_id=pr_id),
            "issue_comments": count(app, pull_request_comments, tenant, pull_request_id=pr_id, kind="issue"),
            "review_comments": count(app, pull_request_comments, tenant, pull_request_id=pr_id, kind="review"),
            "threads": count(app, pull_request_review_threads, tenant, pull_request_id=pr_id)}


def stored_pull_request_by_number(app: Conveyor, tenant: str, repository: str, number: int) -> dict[str, Any]:
    with shared_engine(app.settings.database_url).connect() as conn:
        pr_id = conn.execute(select(pull_requests.c.id).where(
            pull_requests.c.tenant == tenant, pull_requests.c.repository == repository,
            pull_requests.c.number == number)).scalar()
    return stored_pull_request(app, tenant, str(pr_id))


def huge_pull_request(fake: FakeGitHub) -> dict[str, Any]:
    return next(pr for prs in fake.dataset.pull_requests.values() for pr in prs if pr["huge"])
