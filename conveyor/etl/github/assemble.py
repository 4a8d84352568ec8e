"""Completing a repository or pull request from its first page and its follow-up pages.

One walker serves both stages that need it: the `nested` stage gives it a page source that fetches
(or replays from the raw store) each follow-up page by node id; the `transform` stage gives it one
that only reads the raw store, so a transform -- and a reprocess from raw -- never calls GitHub.
Each connection is followed cursor by cursor until `hasNextPage` is false, and the items collected
must equal GitHub's `totalCount` (IncompleteConnection otherwise: the record is not stored).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from conveyor.etl.github.errors import GitHubQueryError, IncompleteConnection

# (type, connection field) -> the follow-up query that pages it by node id
FOLLOW_QUERIES = {
    ("PullRequest", "commits"): "pull_request_commits",
    ("PullRequest", "reviews"): "pull_request_reviews",
    ("PullRequest", "comments"): "pull_request_comments",
    ("PullRequest", "reviewThreads"): "pull_request_review_threads",
    ("PullRequestReviewThread", "comments"): "review_thread_comments",
    ("Repository", "languages"): "repository_languages",
}
QUERY_FIELDS = {query: field for (_, field), query in FOLLOW_QUERIES.items()}
PULL_REQUEST_FIELDS = ("commits", "reviews", "comments", "reviewThreads")

# (query, node id, cursor) -> the node's connection object on that follow-up page
PageSource = Callable[[str, str, str | None], dict[str, Any]]


class MissingFollowUp(LookupError):
    """The raw store lacks a follow-up page the record needs (its nested stage did not store it)."""


def connection_of(body: dict[str, Any], query: str, node_id: str) -> dict[str, Any]:
    """The connection a follow-up answer carries, or GitHubQueryError when the node is gone."""
    node = (body.get("data") or {}).get("node")
    field = QUERY_FIELDS[query]
    if not isinstance(node, dict) or field not in node:
        raise GitHubQueryError(query, [{"type": "NOT_FOUND", "message": f"node {node_id} has no {field}"}])
    return node[field]  # type: ignore[no-any-return]


def _items(connection: dict[str, Any]) -> list[Any]:
    return list(connection["nodes"] if connection.get("nodes") is not None else connection.get("edges") or [])


def complete_connection(label: str, node_id: str, field: str, query: str, first: dict[str, Any],
                        pages: PageSource) -> dict[str, Any]:
    """The connection `first` with every item of every following page; checked against totalCount."""
    items, totals, cursor = _items(first), {int(first["totalCount"])}, first["pageInfo"]
    seen: set[str] = set()
    while cursor["hasNextPage"]:
        after = cursor["endCursor"]
        if not after or after in seen:
            raise GitHubQueryError(query, [{"message": f"{label}: {field} has a next page but no new cursor"}])
        seen.add(after)
        page = pages(query, node_id, after)
        items.extend(_items(page))
        totals.add(int(page["totalCount"]))
        cursor = page["pageInfo"]
    expected = max(totals)
    if len(totals) > 1 or len(items) != expected:
        raise IncompleteConnection(label, field, expected, len(items))
    key = "nodes" if first.get("nodes") is not None else "edges"
    return {**first, key: items, "pageInfo": {**first["pageInfo"], "hasNextPage": False, "endCursor": cursor["endCursor"]}}


def needs_follow_ups(pr: dict[str, Any]) -> bool:
    """Whether a PR node of a page has any nested connection with more pages."""
    if any(pr[f]["pageInfo"]["hasNextPage"] for f in PULL_REQUEST_FIELDS):
        return True
    return any(t["comments"]["pageInfo"]["hasNextPage"] for t in pr["reviewThreads"]["nodes"])


def complete_pull_request(repository: str, pr: dict[str, Any], pages: PageSource) -> dict[str, Any]:
    """A copy of PR node `pr` with all its commits, reviews, comments, review threads and every
    thread's comments (threads first: a later page of threads brings threads of its own)."""
    done = copy.deepcopy(pr)
    label = f"pull request {repository}#{pr['number']}"
    for field in PULL_REQUEST_FIELDS:
        done[field] = complete_connection(label, pr["id"], field, FOLLOW_QUERIES[("PullRequest", field)],
                                          done[field], pages)
    for thread in done["reviewThreads"]["nodes"]:
        thread["comments"] = complete_connection(f"{label} review thread {thread['id']}", thread["id"], "comments",
                                                 "review_thread_comments", thread["comments"], pages)
    return done


def complete_repository(repo: dict[str, Any], pages: PageSource) -> dict[str, Any]:
    done = copy.deepcopy(repo)
    done["languages"] = complete_connection(f"repository {repo['nameWithOwner']}", repo["id"], "languages",
                                            "repository_languages", done["languages"], pages)
    return done
