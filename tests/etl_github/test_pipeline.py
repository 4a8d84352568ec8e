"""The GitHub pipeline end to end: the fake GitHub over real HTTP, real worker processes, both
engines. A PR with 250 commits, 120 reviews, 300 comments and 130 review threads is stored whole."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conveyor import Conveyor
from conveyor.etl.github.fake import DatasetSpec, FakeGitHub
from conveyor.etl.github.tables import pull_requests, repositories, work_items_prs_links
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


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(DatasetSpec(repositories=3, pull_requests_per_repository=30)) as github_fake:
        yield github_fake


def test_full_sync_stores_every_nested_page(gh_app: Conveyor, fake: FakeGitHub, spawn_github_worker: Any) -> None:
    spawn_github_worker(fake.token)
    workers_up(gh_app)
    tenant = new_tenant()
    run = ended(gh_app, github.start(sync_params(fake), tenant=tenant).id)
    assert run.state == "FINISHED", run.error
    assert count(gh_app, repositories, tenant) == 3
    assert count(gh_app, pull_requests, tenant) == 90
    huge = huge_pull_request(fake)
    stored = stored_pull_request(gh_app, tenant, huge["id"])
    threads = fake.dataset.children(huge, "reviewThreads")
    assert (stored["commits"], stored["reviews"], stored["issue_comments"], stored["threads"]) == (250, 120, 300, 130)
    assert stored["review_comments"] == sum(len(t["comments"]) for t in threads)
    assert stored["commit_count"] == 250 and stored["coding_time_seconds"] is not None
    steps = run.status["steps"]["github_prs_with_nested"]["stages"]
    assert steps["nested"]["done"] >= 1 and steps["transform"]["failed"] == 0
    assert count(gh_app, work_items_prs_links, tenant) > 0
