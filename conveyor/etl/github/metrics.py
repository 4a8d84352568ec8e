"""Pull request metrics, exactly as /work/shared/reference/workflow-metrics.md ("Pull requests")
defines them. Pure functions: no I/O, instants in, whole seconds out.

* first_commit_at: earliest authoredDate among all the PR's commits
* first_review_at: earliest submittedAt among reviews not by the PR's author, in any state but PENDING
* coding_time_seconds   = createdAt - first_commit_at       (NULL without commits)
* pickup_time_seconds   = first_review_at - createdAt       (NULL without such a review)
* review_time_seconds   = mergedAt - first_review_at        (NULL unless merged and reviewed)
* open_to_merge_seconds = mergedAt - createdAt              (NULL unless merged)

A duration that comes out negative is NULL. Whole seconds are floor((later - earlier) / 1 s).
A review whose author is unknown (a deleted "ghost" account) counts: it cannot be shown to be the
PR author's own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conveyor.etl.github.errors import parse_time


@dataclass(frozen=True)
class Review:
    author: str | None
    state: str
    submitted_at: datetime | None


@dataclass(frozen=True)
class PullRequestMetrics:
    first_commit_at: datetime | None
    first_review_at: datetime | None
    coding_time_seconds: int | None
    pickup_time_seconds: int | None
    review_time_seconds: int | None
    open_to_merge_seconds: int | None


def whole_seconds(earlier: datetime | None, later: datetime | None) -> int | None:
    """floor(later - earlier) in seconds; None when either is missing or the result is negative."""
    if earlier is None or later is None:
        return None
    seconds = math.floor((later - earlier).total_seconds())
    return seconds if seconds >= 0 else None


def first_review_at(author: str | None, reviews: Iterable[Review]) -> datetime | None:
    times = [r.submitted_at for r in reviews
             if r.state != "PENDING" and r.submitted_at is not None and (r.author is None or r.author != author)]
    return min(times, default=None)


def pull_request_metrics(*, created_at: datetime, merged_at: datetime | None, author: str | None,
                         commit_authored_at: Iterable[datetime], reviews: Iterable[Review]) -> PullRequestMetrics:
    first_commit = min(commit_authored_at, default=None)
    first_review = first_review_at(author, reviews)
    return PullRequestMetrics(
        first_commit_at=first_commit,
        first_review_at=first_review,
        coding_time_seconds=whole_seconds(first_commit, created_at),
        pickup_time_seconds=whole_seconds(created_at, first_review),
        review_time_seconds=whole_seconds(first_review, merged_at),
        open_to_merge_seconds=whole_seconds(created_at, merged_at),
    )


def _time(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


def metrics_from_node(pr: dict[str, Any]) -> PullRequestMetrics:
    """The metrics of a completed PullRequest node as the ETL's queries return it (all commits and
    reviews present: see pages.complete_pull_request)."""
    commits = [parse_time(n["commit"]["authoredDate"]) for n in pr["commits"]["nodes"] if n["commit"].get("authoredDate")]
    reviews = [Review((r.get("author") or {}).get("login"), r["state"], _time(r.get("submittedAt")))
               for r in pr["reviews"]["nodes"]]
    return pull_request_metrics(created_at=parse_time(pr["createdAt"]), merged_at=_time(pr.get("mergedAt")),
                                author=(pr.get("author") or {}).get("login"), commit_authored_at=commits,
                                reviews=reviews)
