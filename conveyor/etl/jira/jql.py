"""JQL for incremental issue syncs, with dates in the Jira user's time zone.

Jira reads `updated >= "2026-01-05 10:00"` in the API user's profile time zone (from
`/rest/api/3/myself`) with minute precision. A watermark rendered in UTC on a site whose user
lives in Sydney would skip up to eleven hours of edits; so the watermark is converted, and
floored to the minute (a minute too early re-reads a little; a minute too late loses edits).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_PROJECT_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def jira_zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {time_zone!r} from Jira's /myself") from None


def jql_datetime(moment: datetime, time_zone: str) -> str:
    """`"yyyy-MM-dd HH:mm"` in the user's zone, floored to the minute."""
    if moment.tzinfo is None:
        raise ValueError("the watermark must be timezone-aware")
    return moment.astimezone(jira_zone(time_zone)).strftime("%Y-%m-%d %H:%M")


def watermark(last_success_started_at: datetime | None, overlap: timedelta) -> datetime | None:
    """`last_sync_date`: the start of the last successful run minus the overlap window."""
    if last_success_started_at is None:
        return None
    if overlap < timedelta(0):
        raise ValueError(f"the overlap window must not be negative, got {overlap}")
    return last_success_started_at - overlap


def issues_jql(project_keys: Sequence[str], updated_since: datetime | None, time_zone: str,
               order_by: str = "updated ASC") -> str:
    """`project in ("A", "B") AND updated >= "..." ORDER BY updated ASC` (a bounded query)."""
    for key in project_keys:
        if not _PROJECT_KEY.match(key):
            raise ValueError(f"not a Jira project key: {key!r}")
    clauses = []
    if project_keys:
        clauses.append("project in (" + ", ".join(f'"{k}"' for k in project_keys) + ")")
    if updated_since is not None:
        clauses.append(f'updated >= "{jql_datetime(updated_since, time_zone)}"')
    if not clauses:
        raise ValueError("an issue query needs a project filter or a watermark: Jira refuses unbounded JQL")
    return " AND ".join(clauses) + (f" ORDER BY {order_by}" if order_by else "")
