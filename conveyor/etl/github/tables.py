"""The GitHub ETL's tables, declared on conveyor.etl.db's metadata (created by migration 0012 on
both engines, 0016 adds to github_run_metrics; tests/etl_github/test_tables.py proves the declarations match it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, Float, Integer, Table, Text
from sqlalchemy.types import BigInteger

from conveyor.etl.columns import UtcDateTime
from conveyor.etl.db import Json, metadata


def _key() -> list[Column[Any]]:
    return [Column("tenant", Text, primary_key=True), Column("id", Text, primary_key=True)]


repositories = Table(
    "repositories", metadata, *_key(),
    Column("database_id", BigInteger), Column("owner", Text, nullable=False), Column("name", Text, nullable=False),
    Column("name_with_owner", Text, nullable=False), Column("url", Text), Column("description", Text),
    Column("is_private", Boolean, nullable=False), Column("is_archived", Boolean, nullable=False),
    Column("is_fork", Boolean, nullable=False), Column("default_branch", Text), Column("primary_language", Text),
    Column("languages", Json, nullable=False), Column("created_at", UtcDateTime), Column("updated_at", UtcDateTime),
    Column("pushed_at", UtcDateTime), Column("synced_at", UtcDateTime, nullable=False),
)

pull_requests = Table(
    "pull_requests", metadata, *_key(),
    Column("database_id", BigInteger), Column("repository_id", Text, nullable=False),
    Column("repository", Text, nullable=False), Column("number", Integer, nullable=False),
    Column("title", Text, nullable=False), Column("body", Text), Column("url", Text),
    Column("state", Text, nullable=False), Column("is_draft", Boolean, nullable=False), Column("author", Text),
    Column("merged_by", Text), Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False), Column("closed_at", UtcDateTime),
    Column("merged_at", UtcDateTime), Column("additions", Integer), Column("deletions", Integer),
    Column("changed_files", Integer), Column("base_branch", Text), Column("head_branch", Text),
    Column("review_decision", Text), Column("commit_count", Integer, nullable=False),
    Column("review_count", Integer, nullable=False), Column("comment_count", Integer, nullable=False),
    Column("review_thread_count", Integer, nullable=False),
    # the PR metrics of workflow-metrics.md (conveyor/etl/github/metrics.py)
    Column("first_commit_at", UtcDateTime), Column("first_review_at", UtcDateTime),
    Column("coding_time_seconds", BigInteger), Column("pickup_time_seconds", BigInteger),
    Column("review_time_seconds", BigInteger), Column("open_to_merge_seconds", BigInteger),
    Column("synced_at", UtcDateTime, nullable=False),
)

pull_request_commits = Table(
    "pull_request_commits", metadata, *_key(),
    Column("pull_request_id", Text, nullable=False), Column("oid", Text, nullable=False), Column("message", Text),
    Column("author_name", Text), Column("author_email", Text), Column("author_login", Text),
    Column("authored_at", UtcDateTime), Column("committed_at", UtcDateTime), Column("additions", Integer),
    Column("deletions", Integer),
)

pull_request_reviews = Table(
    "pull_request_reviews", metadata, *_key(),
    Column("pull_request_id", Text, nullable=False), Column("database_id", Text), Column("state", Text, nullable=False),
    Column("body", Text), Column("author", Text), Column("commit_oid", Text), Column("submitted_at", UtcDateTime),
    Column("created_at", UtcDateTime),
)

pull_request_comments = Table(
    "pull_request_comments", metadata, *_key(),
    Column("pull_request_id", Text, nullable=False), Column("kind", Text, nullable=False),  # 'issue' | 'review'
    Column("thread_id", Text), Column("database_id", Text), Column("body", Text), Column("path", Text),
    Column("author", Text), Column("created_at", UtcDateTime), Column("updated_at", UtcDateTime),
)

pull_request_review_threads = Table(
    "pull_request_review_threads", metadata, *_key(),
    Column("pull_request_id", Text, nullable=False), Column("path", Text), Column("line", Integer),
    Column("is_resolved", Boolean, nullable=False), Column("is_outdated", Boolean, nullable=False),
    Column("comment_count", Integer, nullable=False),
)

work_items_prs_links = Table(
    "work_items_prs_links", metadata,
    Column("tenant", Text, primary_key=True), Column("work_item_key", Text, primary_key=True),
    Column("repository", Text, primary_key=True), Column("number", Integer, primary_key=True),
    Column("source", Text, primary_key=True),  # 'title' | 'branch' | 'body' | 'dev_status'
    Column("pull_request_id", Text), Column("linked_at", UtcDateTime, nullable=False),
)

github_sync_cursors = Table(
    "github_sync_cursors", metadata,
    Column("token", Text, primary_key=True), Column("step", Text, primary_key=True),
    Column("scope", Text, primary_key=True), Column("tenant", Text, nullable=False), Column("cursor", Text),
    Column("pages", Integer, nullable=False), Column("done", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

github_run_metrics = Table(
    "github_run_metrics", metadata,
    Column("attempt_id", Text, primary_key=True), Column("job_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False), Column("run_id", Text),
    Column("tenant", Text, nullable=False), Column("step", Text, nullable=False), Column("stage", Text, nullable=False),
    Column("api_calls", Integer, nullable=False), Column("pages", Integer, nullable=False),
    Column("records", Integer, nullable=False), Column("points_spent", Integer, nullable=False),
    Column("points_remaining", Integer), Column("rate_reset_at", UtcDateTime), Column("parked_until", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    # migration 0016: throttled answers, seconds slept through short waits, 5xx retries, page halvings
    Column("rate_limit_hits", Integer, nullable=False, default=0), Column("waited_seconds", Float, nullable=False, default=0.0),
    Column("retries", Integer, nullable=False, default=0), Column("page_shrinks", Integer, nullable=False, default=0),
)

# the tables whose rows the read API serves and the embedding stage indexes
DOMAIN_TABLES = (repositories, pull_requests, pull_request_commits, pull_request_reviews, pull_request_comments,
                 pull_request_review_threads, work_items_prs_links)
ALL_TABLES = (*DOMAIN_TABLES, github_sync_cursors, github_run_metrics)
