"""PR metrics (workflow-metrics.md, "Pull requests") against hand-worked values, and Jira key links."""

from __future__ import annotations

from datetime import UTC, datetime

from conveyor.etl.github.links import (
    JiraKeyLink,
    PullRequestRef,
    find_jira_keys,
    pull_request_from_dev_status,
)
from conveyor.etl.github.metrics import PullRequestMetrics, Review, metrics_from_node, pull_request_metrics


def at(hour: int, minute: int = 0, second: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


def test_worked_example() -> None:
    # commits 08:00 and 06:30 (day 2), opened 10:00; reviews: the author's own at 10:30 (ignored),
    # a PENDING one at 10:45 (ignored), dev02 COMMENTED 11:15:30.9, dev03 APPROVED 12:00; merged 13:00
    metrics = pull_request_metrics(
        created_at=at(10), merged_at=at(13), author="dev01", commit_authored_at=[at(8), at(6, 30)],
        reviews=[Review("dev01", "COMMENTED", at(10, 30)), Review("dev02", "PENDING", at(10, 45)),
                 Review("dev02", "COMMENTED", at(11, 15, 30).replace(microsecond=900_000)),
                 Review("dev03", "APPROVED", at(12))])
    assert metrics == PullRequestMetrics(
        first_commit_at=at(6, 30), first_review_at=at(11, 15, 30).replace(microsecond=900_000),
        coding_time_seconds=12_600,          # 10:00 - 06:30
        pickup_time_seconds=4_530,           # 11:15:30.9 - 10:00, floored
        review_time_seconds=6_269,           # 13:00 - 11:15:30.9 = 6,269.1 s, floored
        open_to_merge_seconds=10_800)        # 13:00 - 10:00


def test_nulls_and_negative_durations() -> None:
    open_pr = pull_request_metrics(created_at=at(10), merged_at=None, author="dev01", commit_authored_at=[], reviews=[])
    assert open_pr == PullRequestMetrics(None, None, None, None, None, None)
    # commits authored after opening, a review submitted after the merge: NULL, never negative
    odd = pull_request_metrics(created_at=at(10), merged_at=at(11), author="dev01", commit_authored_at=[at(12)],
                               reviews=[Review("dev02", "APPROVED", at(12))])
    assert odd.coding_time_seconds is None and odd.review_time_seconds is None
    assert odd.pickup_time_seconds == 7_200 and odd.open_to_merge_seconds == 3_600
    # only the author reviewed: no pickup, no review time; a ghost reviewer counts
    self_only = pull_request_metrics(created_at=at(10), merged_at=at(12), author="dev01", commit_authored_at=[at(9)],
                                     reviews=[Review("dev01", "APPROVED", at(11))])
    assert self_only.first_review_at is None and self_only.review_time_seconds is None
    ghost = pull_request_metrics(created_at=at(10), merged_at=at(12), author="dev01", commit_authored_at=[],
                                 reviews=[Review(None, "COMMENTED", at(11))])
    assert ghost.pickup_time_seconds == 3_600


def test_metrics_from_a_graphql_node() -> None:
    node = {"createdAt": "2026-01-02T10:00:00Z", "mergedAt": "2026-01-03T10:00:00Z", "author": {"login": "dev01"},
            "commits": {"nodes": [{"commit": {"authoredDate": "2026-01-01T22:00:00Z"}}]},
            "reviews": {"nodes": [{"author": None, "state": "DISMISSED", "submittedAt": "2026-01-02T12:00:00Z"},
                                  {"author": {"login": "dev01"}, "state": "COMMENTED", "submittedAt": "2026-01-02T11:00:00Z"}]}}
    metrics = metrics_from_node(node)
    assert (metrics.coding_time_seconds, metrics.pickup_time_seconds, metrics.review_time_seconds,
            metrics.open_to_merge_seconds) == (43_200, 7_200, 79_200, 86_400)


def test_jira_keys_from_title_branch_and_body() -> None:
    links = find_jira_keys(title="[EX-12] Login, also OPS-3", branch="feature/ex-12-login",
                           body="Closes EX-12 and https://jira.example.com/browse/OPS_2-7.\nutf-8, covid-19, EX-012")
    assert links == [JiraKeyLink("EX-12", ("title", "branch", "body")), JiraKeyLink("OPS-3", ("title",)),
                     JiraKeyLink("OPS_2-7", ("body",))]
    assert find_jira_keys(title="Fix SHA-256, UTF-8 and ISO-8601 for EX-9", branch=None, body=None, project_keys=["ex"]) == [
        JiraKeyLink("EX-9", ("title",))]
    assert find_jira_keys(title="X-1 A-1 EX-1a", branch="EX-5", body="") == [JiraKeyLink("EX-5", ("branch",))]


def test_pull_request_from_dev_status_entries() -> None:
    assert pull_request_from_dev_status({"url": "https://github.com/acme/api/pull/42", "id": "#42"}) == PullRequestRef("acme/api", 42)
    assert pull_request_from_dev_status({"repositoryName": "acme/web", "id": "#7"}) == PullRequestRef("acme/web", 7)
    assert pull_request_from_dev_status({"url": "https://github.com/acme/api/issues/42"}) is None
    assert pull_request_from_dev_status({"id": "#7"}) is None
