"""Loading completed GitHub records into the domain tables (the `transform` stage's load).

A pull request is written whole in one transaction: its row (with the PR metrics), and its
commits, reviews, comments and review threads replaced (so a comment deleted on GitHub goes
here too), and its Jira links from title, branch and body. Dev-status links come from the Jira
side through `link_dev_status`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, update

from conveyor.etl.db import upsert
from conveyor.etl.github.errors import parse_time
from conveyor.etl.github.links import find_jira_keys, pull_request_from_dev_status
from conveyor.etl.github.metrics import metrics_from_node
from conveyor.etl.github.tables import (
    pull_request_comments,
    pull_request_commits,
    pull_request_review_threads,
    pull_request_reviews,
    pull_requests,
    repositories,
    work_items_prs_links,
)

KEY = ["tenant", "id"]
LINK_KEY = ["tenant", "work_item_key", "repository", "number", "source"]


def _time(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


def _login(actor: dict[str, Any] | None) -> str | None:
    return actor.get("login") if actor else None


def repository_row(tenant: str, repo: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "tenant": tenant, "id": repo["id"], "database_id": repo.get("databaseId"),
        "owner": repo["owner"]["login"], "name": repo["name"], "name_with_owner": repo["nameWithOwner"],
        "url": repo.get("url"), "description": repo.get("description"), "is_private": bool(repo.get("isPrivate")),
        "is_archived": bool(repo.get("isArchived")), "is_fork": bool(repo.get("isFork")),
        "default_branch": (repo.get("defaultBranchRef") or {}).get("name"),
        "primary_language": (repo.get("primaryLanguage") or {}).get("name"),
        "languages": [{"name": e["node"]["name"], "color": e["node"].get("color"), "size": e.get("size")}
                      for e in repo["languages"]["edges"]],
        "created_at": _time(repo.get("createdAt")), "updated_at": _time(repo.get("updatedAt")),
        "pushed_at": _time(repo.get("pushedAt")), "synced_at": now,
    }


def load_repositories(conn: Connection, tenant: str, repos: Iterable[dict[str, Any]]) -> list[str]:
    now = datetime.now(UTC)
    rows = [repository_row(tenant, r, now) for r in repos]
    upsert(conn, repositories, rows, keys=KEY)
    return [r["id"] for r in rows]


def pull_request_row(tenant: str, repository: dict[str, str], pr: dict[str, Any], now: datetime) -> dict[str, Any]:
    m = metrics_from_node(pr)
    return {
        "tenant": tenant, "id": pr["id"], "database_id": int(pr["fullDatabaseId"]) if pr.get("fullDatabaseId") else None,
        "repository_id": repository["id"], "repository": repository["name_with_owner"], "number": pr["number"],
        "title": pr["title"], "body": pr.get("body"), "url": pr.get("url"), "state": pr["state"],
        "is_draft": bool(pr.get("isDraft")), "author": _login(pr.get("author")), "merged_by": _login(pr.get("mergedBy")),
        "created_at": parse_time(pr["createdAt"]), "updated_at": parse_time(pr["updatedAt"]),
        "closed_at": _time(pr.get("closedAt")), "merged_at": _time(pr.get("mergedAt")),
        "additions": pr.get("additions"), "deletions": pr.get("deletions"), "changed_files": pr.get("changedFiles"),
        "base_branch": pr.get("baseRefName"), "head_branch": pr.get("headRefName"),
        "review_decision": pr.get("reviewDecision"),
        "commit_count": len(pr["commits"]["nodes"]), "review_count": len(pr["reviews"]["nodes"]),
        "comment_count": len(pr["comments"]["nodes"]), "review_thread_count": len(pr["reviewThreads"]["nodes"]),
        "first_commit_at": m.first_commit_at, "first_review_at": m.first_review_at,
        "coding_time_seconds": m.coding_time_seconds, "pickup_time_seconds": m.pickup_time_seconds,
        "review_time_seconds": m.review_time_seconds, "open_to_merge_seconds": m.open_to_merge_seconds,
        "synced_at": now,
    }


def _commit_row(tenant: str, pr_id: str, node: dict[str, Any]) -> dict[str, Any]:
    commit = node["commit"]
    author = commit.get("author") or {}
    return {"tenant": tenant, "id": node["id"], "pull_request_id": pr_id, "oid": commit["oid"],
            "message": commit.get("message"), "author_name": author.get("name"), "author_email": author.get("email"),
            "author_login": _login(author.get("user")), "authored_at": _time(commit.get("authoredDate")),
            "committed_at": _time(commit.get("committedDate")), "additions": commit.get("additions"),
            "deletions": commit.get("deletions")}


def _review_row(tenant: str, pr_id: str, review: dict[str, Any]) -> dict[str, Any]:
    return {"tenant": tenant, "id": review["id"], "pull_request_id": pr_id, "database_id": review.get("fullDatabaseId"),
            "state": review["state"], "body": review.get("body"), "author": _login(review.get("author")),
            "commit_oid": (review.get("commit") or {}).get("oid"), "submitted_at": _time(review.get("submittedAt")),
            "created_at": _time(review.get("createdAt"))}


def _comment_row(tenant: str, pr_id: str, comment: dict[str, Any], kind: str, thread: str | None) -> dict[str, Any]:
    return {"tenant": tenant, "id": comment["id"], "pull_request_id": pr_id, "kind": kind, "thread_id": thread,
            "database_id": comment.get("fullDatabaseId"), "body": comment.get("body"), "path": comment.get("path"),
            "author": _login(comment.get("author")), "created_at": _time(comment.get("createdAt")),
            "updated_at": _time(comment.get("updatedAt"))}


def _thread_row(tenant: str, pr_id: str, thread: dict[str, Any]) -> dict[str, Any]:
    return {"tenant": tenant, "id": thread["id"], "pull_request_id": pr_id, "path": thread.get("path"),
            "line": thread.get("line"), "is_resolved": bool(thread.get("isResolved")),
            "is_outdated": bool(thread.get("isOutdated")), "comment_count": len(thread["comments"]["nodes"])}


def load_pull_requests(conn: Connection, tenant: str, repository: dict[str, str], prs: list[dict[str, Any]],
                       project_keys: Collection[str] | None = None) -> int:
    """Writes completed PR nodes of one repository (`{"id", "name_with_owner"}`) with everything
    they carry; returns the number of rows written."""
    if not prs:
        return 0
    now = datetime.now(UTC)
    ids = [pr["id"] for pr in prs]
    children = (pull_request_commits, pull_request_reviews, pull_request_comments, pull_request_review_threads)
    for table in children:
        conn.execute(delete(table).where(table.c.tenant == tenant, table.c.pull_request_id.in_(ids)))
    rows: dict[Any, list[dict[str, Any]]] = {t: [] for t in children}
    links: list[dict[str, Any]] = []
    for pr in prs:
        pid = pr["id"]
        rows[pull_request_commits] += [_commit_row(tenant, pid, n) for n in pr["commits"]["nodes"]]
        rows[pull_request_reviews] += [_review_row(tenant, pid, r) for r in pr["reviews"]["nodes"]]
        rows[pull_request_comments] += [_comment_row(tenant, pid, c, "issue", None) for c in pr["comments"]["nodes"]]
        for thread in pr["reviewThreads"]["nodes"]:
            rows[pull_request_review_threads].append(_thread_row(tenant, pid, thread))
            rows[pull_request_comments] += [_comment_row(tenant, pid, c, "review", thread["id"])
                                             for c in thread["comments"]["nodes"]]
        for link in find_jira_keys(title=pr["title"], branch=pr.get("headRefName"), body=pr.get("body"),
                                   project_keys=project_keys):
            links += [{"tenant": tenant, "work_item_key": link.key, "repository": repository["name_with_owner"],
                       "number": pr["number"], "source": source, "pull_request_id": pid, "linked_at": now}
                      for source in link.sources]
    written = upsert(conn, pull_requests, [pull_request_row(tenant, repository, pr, now) for pr in prs], keys=KEY)
    for table, table_rows in rows.items():
        for start in range(0, len(table_rows), 500):
            written += upsert(conn, table, table_rows[start:start + 500], keys=KEY)
    # links found in the PR's own text: replaced (an edited title drops its old key); dev-status kept
    conn.execute(delete(work_items_prs_links).where(
        work_items_prs_links.c.tenant == tenant, work_items_prs_links.c.pull_request_id.in_(ids),
        work_items_prs_links.c.source != "dev_status"))
    written += upsert(conn, work_items_prs_links, links, keys=LINK_KEY)
    for pr in prs:  # dev-status links stored before the PR was synced learn its id
        conn.execute(update(work_items_prs_links).where(
            work_items_prs_links.c.tenant == tenant, work_items_prs_links.c.repository == repository["name_with_owner"],
            work_items_prs_links.c.number == pr["number"], work_items_prs_links.c.pull_request_id.is_(None),
        ).values(pull_request_id=pr["id"]))
    return written


def link_dev_status(conn: Connection, tenant: str, work_item_key: str, entries: Iterable[dict[str, Any]]) -> int:
    """Links from Jira's dev-status `pullRequests[]` entries of one work item (the Jira ETL's
    dev-status step calls this); entries that name no GitHub PR are skipped. Returns links written."""
    from sqlalchemy import select

    now = datetime.now(UTC)
    rows = []
    for entry in entries:
        ref = pull_request_from_dev_status(entry)
        if ref is None:
            continue
        pr_id = conn.execute(select(pull_requests.c.id).where(
            pull_requests.c.tenant == tenant, pull_requests.c.repository == ref.repository,
            pull_requests.c.number == ref.number)).scalar()
        rows.append({"tenant": tenant, "work_item_key": work_item_key, "repository": ref.repository,
                     "number": ref.number, "source": "dev_status", "pull_request_id": pr_id, "linked_at": now})
    return upsert(conn, work_items_prs_links, rows, keys=LINK_KEY)
