"""The GitHub client and page walker against the fake GitHub over real HTTP (no mocks)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from conveyor.etl.github.client import GitHubClient, rest_base
from conveyor.etl.github.errors import (
    GitHubPermissionError,
    GitHubRateLimited,
    GitHubServerError,
    IncompleteConnection,
    parse_time,
)
from conveyor.etl.github.fake import DatasetSpec, FakeGitHub
from conveyor.etl.github.pages import pull_request_pages, repository_pages
from tests.etl_github.conftest import Clock


def all_prs(client: GitHubClient, repo: str, **options: object) -> list[dict]:
    return [pr for page in pull_request_pages(client, repo, **options) for pr in page.pull_requests]  # type: ignore[arg-type]


def test_a_pr_with_250_commits_120_reviews_300_comments_is_fetched_whole(github: FakeGitHub, client: GitHubClient) -> None:
    prs = {pr["number"]: pr for pr in all_prs(client, "acme/api")}
    huge = prs[30]
    assert huge["commits"]["totalCount"] == len(huge["commits"]["nodes"]) == 250
    assert huge["reviews"]["totalCount"] == len(huge["reviews"]["nodes"]) == 120
    assert huge["comments"]["totalCount"] == len(huge["comments"]["nodes"]) == 300
    assert huge["reviewThreads"]["totalCount"] == len(huge["reviewThreads"]["nodes"]) == 130
    assert len(huge["reviewThreads"]["nodes"][0]["comments"]["nodes"]) == 120
    assert len({c["commit"]["oid"] for c in huge["commits"]["nodes"]}) == 250  # no page twice
    assert len(prs) == 30 and all(not pr["commits"]["pageInfo"]["hasNextPage"] for pr in prs.values())
    follow_ups = [(r.operation, r.variables["id"]) for r in github.graphql_requests() if r.operation != "PullRequests"]
    assert ("PullRequestCommits", huge["id"]) in follow_ups
    assert ("ReviewThreadComments", huge["reviewThreads"]["nodes"][0]["id"]) in follow_ups
    assert [r.operation for r in github.graphql_requests()].count("PullRequestCommits") == 2  # 100 + 100 + 50
    assert client.points_spent == sum(r.cost for r in github.graphql_requests())
    assert client.rate_limit is not None and client.rate_limit.remaining == 5000 - client.points_spent


def test_repositories_with_languages_archived_flag_and_default_branch(client: GitHubClient) -> None:
    pages = list(repository_pages(client, "acme"))
    repos = {r["name"]: r for page in pages for r in page.repositories}
    assert sorted(repos) == ["api", "billing", "mobile", "web"]
    assert repos["billing"]["isArchived"] is True and repos["mobile"]["defaultBranchRef"] is None
    assert repos["api"]["languages"]["totalCount"] == len(repos["api"]["languages"]["edges"]) >= 1


def test_a_total_count_mismatch_fails_loudly(github: FakeGitHub, client: GitHubClient) -> None:
    github.inject("total_count_skew", connection="reviews", delta=1, times=None, operation="PullRequestReviews")
    with pytest.raises(IncompleteConnection) as failure:
        all_prs(client, "acme/api")
    assert failure.value.connection == "reviews" and failure.value.expected == 121 and failure.value.collected == 120
    assert "acme/api#30" in str(failure.value) and "refusing to store" in str(failure.value)


def test_the_watermark_stops_at_the_right_pr_and_catches_an_edit_to_a_merged_pr(github: FakeGitHub, client: GitHubClient) -> None:
    everything = all_prs(client, "acme/web", complete=False)
    watermark = parse_time(everything[9]["updatedAt"])  # the 10th most recently updated
    github.clear_requests()
    pages = list(pull_request_pages(client, "acme/web", since=watermark))
    kept = [pr["number"] for page in pages for pr in page.pull_requests]
    assert kept == [pr["number"] for pr in everything[:10]]
    assert pages[-1].reached_watermark and len(github.graphql_requests("PullRequests")) == 1
    # a merged PR far below the watermark is edited after the run started: the next run gets it alone
    run_start = max(parse_time(pr["updatedAt"]) for pr in everything) + timedelta(minutes=1)
    merged = next(pr for pr in everything[20:] if pr["state"] == "MERGED")
    github.dataset.edit_pull_request("acme/web", merged["number"], body="reworded after merge", add_comments=2,
                                     at=run_start + timedelta(minutes=5))
    again = all_prs(client, "acme/web", since=run_start)
    assert [pr["number"] for pr in again] == [merged["number"]]
    assert again[0]["body"] == "reworded after merge" and again[0]["state"] == "MERGED"
    assert again[0]["comments"]["totalCount"] == len(again[0]["comments"]["nodes"])


def test_rate_limited_on_a_200_parks_until_the_reset(github: FakeGitHub, client: GitHubClient, clock: Clock, sleeps: list[float]) -> None:
    github.set_rate_limit(remaining=0, reset_in=1800)
    with pytest.raises(GitHubRateLimited) as parked:
        client.execute("viewer")
    decision = parked.value.decision
    assert decision.kind == "primary" and decision.resume_at == (clock.now + timedelta(seconds=1800)).replace(microsecond=0)
    assert sleeps == [] and len(github.graphql_requests()) == 1
    github.inject("rate_limited")  # the RATE_LIMITED answer itself, even with points left
    github.set_rate_limit(remaining=100)
    with pytest.raises(GitHubRateLimited) as again:
        client.execute("viewer")
    assert again.value.decision.kind == "primary"


def test_a_spent_budget_parks_before_sending(github: FakeGitHub, client: GitHubClient, clock: Clock) -> None:
    github.set_rate_limit(remaining=1, reset_in=600)
    client.execute("viewer")  # spends the last point
    sent = len(github.graphql_requests())
    with pytest.raises(GitHubRateLimited) as parked:
        client.execute("viewer")
    assert len(github.graphql_requests()) == sent and parked.value.decision.resume_at > clock.now


def test_secondary_403_with_retry_after_parks_or_waits_briefly(github: FakeGitHub, clock: Clock, sleeps: list[float]) -> None:
    github.inject("secondary", retry_after=30)
    patient = GitHubClient(github.token, github.graphql_url, clock=clock, sleep=sleeps.append)
    with pytest.raises(GitHubRateLimited) as parked:
        patient.execute("viewer")
    assert parked.value.decision.kind == "secondary"
    assert parked.value.decision.resume_at == clock.now + timedelta(seconds=30)
    github.inject("secondary", retry_after=2)
    brief = GitHubClient(github.token, github.graphql_url, clock=clock, sleep=sleeps.append, max_inline_wait=5)
    assert brief.execute("viewer").data["viewer"]["login"] == "conveyor-bot"
    assert sleeps == [2.0]


def test_secondary_without_retry_after_backs_off_from_a_minute(github: FakeGitHub, client: GitHubClient, clock: Clock) -> None:
    waits = []
    for _ in range(3):
        github.inject("secondary", status=429)
        with pytest.raises(GitHubRateLimited) as parked:
            client.execute("viewer")
        waits.append(parked.value.decision.seconds_from(clock.now))
    assert waits == [60.0, 120.0, 240.0]


def test_401_and_a_plain_403_are_permission_errors_with_the_reason(github: FakeGitHub, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = GitHubClient("ghp_not_a_real_token_1234", github.graphql_url, clock=clock)
    with pytest.raises(GitHubPermissionError) as refused:
        wrong.execute("viewer")
    assert refused.value.status == 401 and refused.value.reason == "Bad credentials"
    assert "ghp_not_a_real_token_1234" not in str(refused.value) + repr(wrong)
    github.inject("forbidden")
    client = GitHubClient(github.token, github.graphql_url, clock=clock)
    with pytest.raises(GitHubPermissionError) as denied:
        list(repository_pages(client, "acme"))
    assert denied.value.status == 403 and "OAuth App access restrictions" in denied.value.reason
    assert len(github.graphql_requests("Repositories")) == 1  # never retried
    assert github.token not in caplog.text and "ghp_not_a_real_token_1234" not in caplog.text


def test_page_size_halves_on_502_and_grows_back(github: FakeGitHub, client: GitHubClient) -> None:
    github.inject("bad_gateway", operation="PullRequests", times=2)
    prs = all_prs(client, "acme/api")
    sizes = [(r.variables["pageSize"], r.status) for r in github.graphql_requests("PullRequests")]
    assert sizes[:3] == [(100, 502), (50, 502), (25, 200)]  # the documented maximum first
    assert [s for s, status in sizes[3:]] == [50]  # doubling back after a success
    assert sorted(pr["number"] for pr in prs) == list(range(1, 31))


def test_page_size_halves_when_the_page_is_too_large_or_hits_resource_limits(clock: Clock, sleeps: list[float]) -> None:
    with FakeGitHub(DatasetSpec(repositories=1, huge_pull_requests=0), bad_gateway_above_nodes=15_000, clock=clock) as github:
        client = GitHubClient(github.token, github.graphql_url, clock=clock, sleep=sleeps.append)
        assert len(all_prs(client, "acme/api")) == 30
        statuses = [(r.variables["pageSize"], r.status) for r in github.graphql_requests("PullRequests")]
        assert statuses[:4] == [(100, 502), (50, 502), (25, 502), (12, 200)]
        github.inject("resource_limits", operation="Repositories")
        assert len(list(repository_pages(client, "acme"))) == 1
        answers = [(r.variables["pageSize"], r.error_types) for r in github.graphql_requests("Repositories")]
        assert answers == [(100, ("RESOURCE_LIMITS_EXCEEDED",)), (50, ())]


def test_a_page_of_one_that_still_fails_is_a_server_error(github: FakeGitHub, client: GitHubClient) -> None:
    github.inject("gateway_timeout", operation="Repositories", times=None)
    with pytest.raises(GitHubServerError, match="pages of 1"):
        list(repository_pages(client, "acme"))
    assert [r.variables["pageSize"] for r in github.graphql_requests("Repositories")] == [100, 50, 25, 12, 6, 3, 1]


def test_transient_500s_are_retried(github: FakeGitHub, client: GitHubClient, sleeps: list[float]) -> None:
    github.inject("server_error", times=2)
    assert client.execute("viewer").data["viewer"]["login"] == "conveyor-bot"
    assert sleeps == [0.5, 1.0]


def test_test_connection_reports_login_scopes_and_budget(github: FakeGitHub, client: GitHubClient) -> None:
    report = client.test_connection()
    assert report.login == "conveyor-bot" and report.scopes == ("repo", "read:org")
    assert report.rate_limit is not None and report.rate_limit.limit == 5000 and report.rate_limit.remaining == 4999


def test_rest_base_of_github_com_and_enterprise() -> None:
    assert rest_base("https://api.github.com/graphql") == "https://api.github.com"
    assert rest_base("https://ghe.example.com/api/graphql") == "https://ghe.example.com/api/v3"
    with pytest.raises(ValueError, match="token is required"):
        GitHubClient(" ", "https://api.github.com/graphql")
