"""Raw Jira issues → the rows the Jira step loads: work item (with custom fields and workflow
metrics), changelog items, links, comments. Pure: the raw pages in, records out, so changing a
mapping re-runs this over the stored raw rows without fetching anything."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from conveyor.etl.jira.adf import document_text
from conveyor.etl.jira.changelog import merge_histories, parse_jira_datetime
from conveyor.etl.jira.custom_fields import CustomFieldMapping, apply_mapping
from conveyor.etl.jira.metrics import WorkflowMetrics, WorkflowStep, metrics_from_histories


def _when(value: Any) -> datetime | None:
    return None if value in (None, "") else parse_jira_datetime(value).astimezone(UTC)


def _account(user: Any) -> tuple[str | None, str | None]:
    if not isinstance(user, Mapping):
        return None, None
    return user.get("accountId"), user.get("displayName")


@dataclass(frozen=True, slots=True)
class WorkItemRecord:
    external_id: str
    key: str
    project_external_id: str | None
    project_key: str | None
    type_external_id: str | None
    type_name: str | None
    summary: str
    description: str
    status_external_id: str
    status_name: str | None
    status_category: str | None
    assignee_account_id: str | None
    assignee_name: str | None
    reporter_account_id: str | None
    priority: str | None
    labels: tuple[str, ...]
    parent_key: str | None
    created: datetime
    updated: datetime
    resolved: datetime | None
    story_points: float | None
    team: str | None
    code_changed: bool | None
    custom_columns: dict[str, str | None]
    custom_overflow: dict[str, Any]
    metrics: WorkflowMetrics
    history_count: int = 0


@dataclass(frozen=True, slots=True)
class ChangelogRow:
    issue_external_id: str
    history_id: str
    created: datetime
    author_account_id: str | None
    field: str
    field_id: str | None
    from_value: str | None
    from_string: str | None
    to_value: str | None
    to_string: str | None


@dataclass(frozen=True, slots=True)
class LinkRow:
    link_id: str
    issue_external_id: str
    other_external_id: str | None
    other_key: str | None
    link_type: str
    direction: str    # outward: this issue <type.outward> the other; inward: the reverse
    description: str  # "blocks", "is blocked by", ...


@dataclass(frozen=True, slots=True)
class CommentRow:
    comment_id: str
    issue_external_id: str
    author_account_id: str | None
    body: str
    created: datetime | None
    updated: datetime | None


def work_item(issue: Mapping[str, Any], histories: Iterable[Mapping[str, Any]], mapping: CustomFieldMapping,
              step_of: Mapping[str, WorkflowStep]) -> WorkItemRecord:
    """One issue of `search/jql` (fields requested explicitly) with its complete changelog."""
    fields = issue.get("fields") or {}
    status = fields.get("status") or {}
    if "id" not in status:
        raise ValueError(f"issue {issue.get('key')}: no status in its fields; ask search/jql for 'status'")
    created = _when(fields.get("created"))
    if created is None:
        raise ValueError(f"issue {issue.get('key')}: no 'created' in its fields; ask search/jql for it")
    ordered = merge_histories(histories)
    project, issue_type = fields.get("project") or {}, fields.get("issuetype") or {}
    assignee_id, assignee_name = _account(fields.get("assignee"))
    mapped = apply_mapping(mapping, fields)
    return WorkItemRecord(
        external_id=str(issue["id"]), key=str(issue["key"]),
        project_external_id=project.get("id"), project_key=project.get("key"),
        type_external_id=issue_type.get("id"), type_name=issue_type.get("name"),
        summary=str(fields.get("summary") or ""), description=document_text(fields.get("description")),
        status_external_id=str(status["id"]), status_name=status.get("name"),
        status_category=(status.get("statusCategory") or {}).get("key"),
        assignee_account_id=assignee_id, assignee_name=assignee_name,
        reporter_account_id=_account(fields.get("reporter"))[0],
        priority=(fields.get("priority") or {}).get("name"), labels=tuple(fields.get("labels") or ()),
        parent_key=(fields.get("parent") or {}).get("key"),
        created=created, updated=_when(fields.get("updated")) or created, resolved=_when(fields.get("resolutiondate")),
        story_points=mapped.story_points, team=mapped.team, code_changed=mapped.code_changed,
        custom_columns=mapped.columns, custom_overflow=mapped.overflow,
        metrics=metrics_from_histories(created, ordered, str(status["id"]), step_of),
        history_count=len(ordered),
    )


def changelog_rows(issue_id: str, histories: Iterable[Mapping[str, Any]]) -> list[ChangelogRow]:
    """One row per changelog item, oldest history first."""
    rows = []
    for history in merge_histories(histories):
        created = parse_jira_datetime(history["created"]).astimezone(UTC)
        author = _account(history.get("author"))[0]
        for item in history["items"]:
            rows.append(ChangelogRow(
                issue_external_id=str(issue_id), history_id=history["id"], created=created, author_account_id=author,
                field=str(item.get("field", "")), field_id=item.get("fieldId"),
                from_value=None if item.get("from") is None else str(item["from"]), from_string=item.get("fromString"),
                to_value=None if item.get("to") is None else str(item["to"]), to_string=item.get("toString")))
    return rows


def link_rows(issue: Mapping[str, Any]) -> list[LinkRow]:
    rows = []
    for link in (issue.get("fields") or {}).get("issuelinks") or []:
        link_type = link.get("type") or {}
        outward = "outwardIssue" in link
        other = link.get("outwardIssue" if outward else "inwardIssue") or {}
        rows.append(LinkRow(
            link_id=str(link.get("id")), issue_external_id=str(issue["id"]), other_external_id=other.get("id"),
            other_key=other.get("key"), link_type=str(link_type.get("name", "")),
            direction="outward" if outward else "inward",
            description=str(link_type.get("outward" if outward else "inward", ""))))
    return rows


def comment_rows(issue_id: str, comments: Iterable[Mapping[str, Any]]) -> list[CommentRow]:
    return [CommentRow(comment_id=str(c.get("id")), issue_external_id=str(issue_id),
                       author_account_id=_account(c.get("author"))[0], body=document_text(c.get("body")),
                       created=_when(c.get("created")), updated=_when(c.get("updated")))
            for c in comments]
