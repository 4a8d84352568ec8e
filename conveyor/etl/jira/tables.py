"""The Jira domain tables (migration 0011), declared once for SQLAlchemy Core on both engines.
Every row carries its tenant and integration; keys are Jira's ids (`external_id`), so loads are
upserts and a re-run writes each record once."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, PrimaryKeyConstraint, Table, Text

from conveyor.etl.columns import UtcDateTime
from conveyor.etl.db import Json, metadata
from conveyor.etl.jira.custom_fields import MAPPED_COLUMNS


def _owner() -> list[Column[str]]:
    return [Column("tenant", Text, nullable=False), Column("integration_id", Text, nullable=False)]


# -- sync bookkeeping -----------------------------------------------------------------------
jira_sync_runs = Table(
    "jira_sync_runs", metadata,
    Column("run_id", Text, primary_key=True), *_owner(),
    Column("started_at", UtcDateTime, nullable=False),  # the watermark of the next run is taken from this
    Column("updated_since", UtcDateTime),                # this run's watermark (None: full sync)
    Column("time_zone", Text), Column("jql", Text), Column("expected_issues", Integer),
    Column("deletion_sweep", Boolean, nullable=False, default=False),
)
jira_cursors = Table(
    "jira_cursors", metadata,
    Column("run_id", Text, nullable=False), Column("step", Text, nullable=False),
    Column("cursor", Json), Column("pages", Integer, nullable=False, default=0),
    Column("done", Boolean, nullable=False, default=False), Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("run_id", "step"),
)
jira_step_metrics = Table(
    "jira_step_metrics", metadata,
    Column("run_id", Text, nullable=False), Column("step", Text, nullable=False), Column("stage", Text, nullable=False),
    *_owner(),
    Column("api_calls", Integer, nullable=False, default=0), Column("pages", Integer, nullable=False, default=0),
    Column("records", Integer, nullable=False, default=0), Column("expected", Integer),
    Column("rate_limit_hits", Integer, nullable=False, default=0),
    Column("parked_seconds", Float, nullable=False, default=0.0), Column("parked_until", UtcDateTime),
    Column("retries", Integer, nullable=False, default=0), Column("seconds", Float, nullable=False, default=0.0),
    Column("items", Integer, nullable=False, default=0), Column("note", Text),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("run_id", "step", "stage"),
)

# -- site structure -------------------------------------------------------------------------
projects = Table(
    "projects", metadata, *_owner(), Column("external_id", Text, nullable=False),
    Column("key", Text, nullable=False), Column("name", Text), Column("style", Text),  # classic | next-gen
    Column("project_type", Text), Column("lead_account_id", Text), Column("updated_at", UtcDateTime),
    PrimaryKeyConstraint("tenant", "integration_id", "external_id"),
)
work_item_types = Table(
    "work_item_types", metadata, *_owner(), Column("external_id", Text, nullable=False),
    Column("name", Text, nullable=False), Column("project_external_id", Text),  # team-managed: its project
    Column("subtask", Boolean), Column("hierarchy_level", Integer), Column("updated_at", UtcDateTime),
    PrimaryKeyConstraint("tenant", "integration_id", "external_id"),
)
statuses = Table(
    "statuses", metadata, *_owner(), Column("external_id", Text, nullable=False),
    Column("name", Text, nullable=False), Column("category", Text), Column("project_external_id", Text),
    Column("updated_at", UtcDateTime),
    PrimaryKeyConstraint("tenant", "integration_id", "external_id"),
)
status_mappings = Table(
    "status_mappings", metadata, *_owner(), Column("status_external_id", Text, nullable=False),
    Column("workflow_step", Text, nullable=False), Column("edited", Boolean, nullable=False, default=False),
    Column("updated_at", UtcDateTime),
    PrimaryKeyConstraint("tenant", "integration_id", "status_external_id"),
)
link_types = Table(
    "work_item_link_types", metadata, *_owner(), Column("external_id", Text, nullable=False),
    Column("name", Text, nullable=False), Column("inward", Text), Column("outward", Text),
    PrimaryKeyConstraint("tenant", "integration_id", "external_id"),
)
custom_fields = Table(
    "custom_fields", metadata, *_owner(), Column("external_id", Text, nullable=False),
    Column("name", Text, nullable=False), Column("custom_type", Text), Column("schema_type", Text),
    Column("items", Text), Column("updated_at", UtcDateTime),
    PrimaryKeyConstraint("tenant", "integration_id", "external_id"),
)
custom_fields_mapping = Table(
    "custom_fields_mapping", metadata, *_owner(),
    Column("team_field_id", Text), Column("story_points_field_ids", Json, nullable=False),
    Column("code_changed_field_id", Text), Column("development_field_id", Text),
    Column("columns", Json, nullable=False),  # custom_field_07 -> customfield_10042
    Column("edited", Boolean, nullable=False, default=False), Column("updated_at", UtcDateTime),
    PrimaryKeyConstraint("tenant", "integration_id"),
)
projects_custom_fields = Table(
    "projects_custom_fields", metadata, *_owner(), Column("project_external_id", Text, nullable=False),
    Column("field_external_id", Text, nullable=False),
    PrimaryKeyConstraint("tenant", "integration_id", "project_external_id", "field_external_id"),
)

# -- work items -----------------------------------------------------------------------------
METRIC_COLUMNS = (
    "work_first_committed_at", "work_first_started_at", "work_last_started_at", "total_work_starts",
    "work_first_completed_at", "work_last_completed_at", "total_completions", "total_backlog_returns",
    "total_work_time_seconds", "total_review_time_seconds", "total_cycle_time_seconds", "total_lead_time_seconds",
    "rework_indicator", "direct_completion", "workflow_complexity_score",
)
_METRIC_TYPES = {"total_work_starts": Integer, "total_completions": Integer, "total_backlog_returns": Integer,
                 "total_work_time_seconds": BigInteger, "total_review_time_seconds": BigInteger,
                 "total_cycle_time_seconds": BigInteger, "total_lead_time_seconds": BigInteger,
                 "rework_indicator": Boolean, "direct_completion": Boolean, "workflow_complexity_score": Integer}

work_items = Table(
    "work_items", metadata, *_owner(), Column("external_id", Text, nullable=False),
    Column("key", Text, nullable=False), Column("project_external_id", Text), Column("project_key", Text),
    Column("type_external_id", Text), Column("type_name", Text), Column("summary", Text, nullable=False),
    Column("description", Text), Column("status_external_id", Text), Column("status_name", Text),
    Column("status_category", Text), Column("workflow_step", Text), Column("assignee_account_id", Text),
    Column("assignee_name", Text), Column("reporter_account_id", Text), Column("priority", Text),
    Column("labels", Json), Column("parent_key", Text),
    Column("created", UtcDateTime, nullable=False), Column("updated", UtcDateTime, nullable=False),
    Column("resolved", UtcDateTime), Column("story_points", Float), Column("team", Text),
    Column("code_changed", Boolean), Column("pull_request_count", Integer),
    *[Column(c, Text) for c in MAPPED_COLUMNS], Column("custom_fields_overflow", Json),
    *[Column(c, _METRIC_TYPES.get(c, UtcDateTime)) for c in METRIC_COLUMNS],
    Column("history_count", Integer, nullable=False, default=0),
    Column("deleted", Boolean, nullable=False, default=False), Column("deleted_at", UtcDateTime),
    Column("raw_id", BigInteger),                        # the raw page this row was last loaded from
    Column("dev_status_for", UtcDateTime),               # `updated` when its pull requests were last read
    Column("loaded_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant", "integration_id", "external_id"),
)
Index("work_items_tenant_key", work_items.c.tenant, work_items.c.key)
Index("work_items_tenant_updated", work_items.c.tenant, work_items.c.updated, work_items.c.external_id)

work_item_changelogs = Table(
    "work_item_changelogs", metadata, *_owner(), Column("issue_external_id", Text, nullable=False),
    Column("history_id", Text, nullable=False), Column("item_index", Integer, nullable=False),
    Column("created", UtcDateTime, nullable=False), Column("author_account_id", Text),
    Column("field", Text, nullable=False), Column("field_id", Text), Column("from_value", Text),
    Column("from_string", Text), Column("to_value", Text), Column("to_string", Text),
    PrimaryKeyConstraint("tenant", "integration_id", "issue_external_id", "history_id", "item_index"),
)
work_item_links = Table(
    "work_item_links", metadata, *_owner(), Column("link_id", Text, nullable=False),
    Column("issue_external_id", Text, nullable=False), Column("other_external_id", Text), Column("other_key", Text),
    Column("link_type", Text), Column("direction", Text), Column("description", Text),
    PrimaryKeyConstraint("tenant", "integration_id", "issue_external_id", "link_id"),
)
work_item_comments = Table(
    "work_item_comments", metadata, *_owner(), Column("comment_id", Text, nullable=False),
    Column("issue_external_id", Text, nullable=False), Column("author_account_id", Text), Column("body", Text),
    Column("created", UtcDateTime), Column("updated", UtcDateTime),
    PrimaryKeyConstraint("tenant", "integration_id", "comment_id"),
)
work_item_pull_requests = Table(
    "work_item_pull_requests", metadata, *_owner(), Column("issue_external_id", Text, nullable=False),
    Column("pr_id", Text, nullable=False), Column("url", Text), Column("title", Text), Column("status", Text),
    Column("repository", Text), Column("source_branch", Text), Column("destination_branch", Text),
    Column("author", Text), Column("last_update", Text),
    PrimaryKeyConstraint("tenant", "integration_id", "issue_external_id", "pr_id"),
)

JIRA_TABLES = (jira_sync_runs, jira_cursors, jira_step_metrics, projects, work_item_types, statuses, status_mappings,
               link_types, custom_fields, custom_fields_mapping, projects_custom_fields, work_items,
               work_item_changelogs, work_item_links, work_item_comments, work_item_pull_requests)
