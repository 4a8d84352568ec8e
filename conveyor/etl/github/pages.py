"""Walking GitHub's pages for the ETL's two steps, losslessly:

* `repository_pages`: the owner's repositories, each with all its languages;
* `pull_request_pages`: a repository's PRs, `UPDATED_AT DESC`, stopping at the first PR updated
  before the watermark; each PR completed by `complete_pull_request`;
* `follow_connection`: the follow-up pages of one nested connection by node id (`hasNextPage`
  until false) -- the unit a pipeline stage can fan out as its own job;
* every completed connection is checked against GitHub's `totalCount` (IncompleteConnection).

Every page keeps the raw answer (`Answer.raw`) for the raw store, with the cursor that follows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from conveyor.etl.github.client import Answer, GitHubClient
from conveyor.etl.github.errors import GitHubQueryError, IncompleteConnection, parse_time

# nested connection of a PullRequest -> the follow-up query file that pages it by node id
PULL_REQUEST_CONNECTIONS = {
    "commits": "pull_request_commits",
    "reviews": "pull_request_reviews",
    "comments": "pull_request_comments",
    "reviewThreads": "pull_request_review_threads",
}


@dataclass
class ConnectionPage:
    answer: Answer
    connection: dict[str, Any]

    @property
    def has_next_page(self) -> bool:
        return bool(self.connection["pageInfo"]["hasNextPage"])

    @property
    def end_cursor(self) -> str | None:
        return self.connection["pageInfo"]["endCursor"]  # type: ignore[no-any-return]


@dataclass
class RepositoryPage:
    answer: Answer
    repositories: list[dict[str, Any]]
    total_count: int
    end_cursor: str | None
    has_next_page: bool
    follow_ups: list[Answer] = field(default_factory=list)


@dataclass
class PullRequestPage:
    answer: Answer
    pull_requests: list[dict[str, Any]]   # updated at or after the watermark, completed unless asked not to
    total_count: int
    end_cursor: str | None
    has_next_page: bool
    reached_watermark: bool               # a PR older than the watermark was seen: the walk is over
    follow_ups: list[Answer] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.reached_watermark or not self.has_next_page


def _items(connection: dict[str, Any]) -> list[Any]:
    if connection.get("nodes") is not None:
        return list(connection["nodes"])
    return list(connection.get("edges") or [])


def follow_connection(client: GitHubClient, query: str, node_id: str, field_name: str,
                      cursor: str | None) -> Iterator[ConnectionPage]:
    """The pages of `field_name` on node `node_id` after `cursor`, via follow-up query `query`,
    until GitHub says there is no next page."""
    while True:
        answer = client.execute_paged(query, {"id": node_id, "cursor": cursor})
        node = answer.data.get("node")
        if node is None or field_name not in node:
            raise GitHubQueryError(query, [{"type": "NOT_FOUND", "message": f"node {node_id} has no {field_name}"}])
        page = ConnectionPage(answer, node[field_name])
        yield page
        if not page.has_next_page:
            return
        if page.end_cursor is None or page.end_cursor == cursor:
            raise GitHubQueryError(query, [{"message": f"{field_name} of {node_id}: hasNextPage without a new cursor"}])
        cursor = page.end_cursor


def complete_connection(client: GitHubClient, owner: str, node_id: str, field_name: str, query: str,
                        first: dict[str, Any], follow_ups: list[Answer]) -> list[Any]:
    """All items of a connection whose first page is `first`, checked against totalCount."""
    items = _items(first)
    totals = {first["totalCount"]}
    if first["pageInfo"]["hasNextPage"]:
        for page in follow_connection(client, query, node_id, field_name, first["pageInfo"]["endCursor"]):
            follow_ups.append(page.answer)
            items.extend(_items(page.connection))
            totals.add(page.connection["totalCount"])
    expected = max(totals)
    if len(totals) > 1 or len(items) != expected:
        raise IncompleteConnection(owner, field_name, expected, len(items))
    return items


def complete_pull_request(client: GitHubClient, owner_and_name: str, pr: dict[str, Any],
                          follow_ups: list[Answer] | None = None) -> dict[str, Any]:
    """`pr` (a node of the PullRequests query) with every nested connection complete: its
    `nodes` hold all items, `pageInfo.hasNextPage` is false. Review threads' comments too."""
    follow_ups = follow_ups if follow_ups is not None else []
    label = f"pull request {owner_and_name}#{pr['number']}"
    for field_name, query in PULL_REQUEST_CONNECTIONS.items():
        items = complete_connection(client, label, pr["id"], field_name, query, pr[field_name], follow_ups)
        pr[field_name] = _completed(pr[field_name], items)
    for thread in pr["reviewThreads"]["nodes"]:
        items = complete_connection(client, f"{label} review thread {thread['id']}", thread["id"], "comments",
                                    "review_thread_comments", thread["comments"], follow_ups)
        thread["comments"] = _completed(thread["comments"], items)
    return pr


def _completed(connection: dict[str, Any], items: list[Any]) -> dict[str, Any]:
    key = "nodes" if connection.get("nodes") is not None else "edges"
    return {**connection, key: items, "pageInfo": {**connection["pageInfo"], "hasNextPage": False}}


def repository_pages(client: GitHubClient, owner: str, cursor: str | None = None) -> Iterator[RepositoryPage]:
    """The owner's repositories (organisation or user), a page at a time from `cursor`."""
    while True:
        answer = client.execute_paged("repositories", {"owner": owner, "cursor": cursor})
        found = answer.data.get("repositoryOwner")
        if found is None:
            raise GitHubQueryError("Repositories", [{"type": "NOT_FOUND",
                                                     "message": f"no GitHub organisation or user named {owner!r}"}])
        connection = found["repositories"]
        page = RepositoryPage(answer, list(connection["nodes"]), connection["totalCount"],
                              connection["pageInfo"]["endCursor"], connection["pageInfo"]["hasNextPage"])
        for repo in page.repositories:
            edges = complete_connection(client, f"repository {repo['nameWithOwner']}", repo["id"], "languages",
                                        "repository_languages", repo["languages"], page.follow_ups)
            repo["languages"] = _completed(repo["languages"], edges)
        yield page
        if not page.has_next_page:
            return
        cursor = page.end_cursor


def pull_request_pages(client: GitHubClient, owner_and_name: str, *, since: datetime | None = None,
                       cursor: str | None = None, complete: bool = True) -> Iterator[PullRequestPage]:
    """A repository's PRs, most recently updated first, a page at a time from `cursor`, down to
    `since` (the watermark: the start time of the last successful run; PRs updated at or after it
    are kept, the walk ends at the first one updated before it). With `complete`, every PR comes
    with all its commits, reviews, comments and review threads."""
    owner, _, name = owner_and_name.partition("/")
    if not owner or not name:
        raise ValueError(f"a repository is named owner/name, got {owner_and_name!r}")
    while True:
        answer = client.execute_paged("pull_requests", {"owner": owner, "name": name, "cursor": cursor})
        connection = answer.data["repository"]["pullRequests"]
        kept, reached = [], False
        for pr in connection["nodes"]:
            if since is not None and parse_time(pr["updatedAt"]) < since:
                reached = True
                break
            kept.append(pr)
        page = PullRequestPage(answer, kept, connection["totalCount"], connection["pageInfo"]["endCursor"],
                               connection["pageInfo"]["hasNextPage"], reached)
        if complete:
            for pr in kept:
                complete_pull_request(client, owner_and_name, pr, page.follow_ups)
        yield page
        if page.finished:
            return
        cursor = page.end_cursor
