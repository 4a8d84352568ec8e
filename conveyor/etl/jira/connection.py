"""Test connection: who Jira says we are, in which time zone, and whether that user can see
any project — reported in plain words, never as an exception."""

from __future__ import annotations

from dataclasses import dataclass, replace

from conveyor.etl.jira.client import JiraClient
from conveyor.etl.jira.errors import JiraError
from conveyor.etl.jira.jql import jira_zone
from conveyor.etl.rate_limit import RateLimitParked


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    ok: bool
    account_id: str | None = None
    display_name: str | None = None
    time_zone: str | None = None
    projects_visible: int | None = None
    problem: str | None = None


def check_connection(client: JiraClient) -> ConnectionCheck:
    """Calls `/myself` and the first page of `/project/search`; `problem` says what is wrong."""
    try:
        me = client.myself()
    except (JiraError, RateLimitParked) as exc:
        return ConnectionCheck(False, problem=str(exc))
    found = ConnectionCheck(False, me.get("accountId"), me.get("displayName"), me.get("timeZone"))
    if not found.time_zone:
        return replace(found, problem="Jira did not say the user's time zone (/myself has no timeZone): "
                                    "incremental syncs cannot place their watermark")
    try:
        jira_zone(found.time_zone)
    except ValueError as exc:
        return replace(found, problem=str(exc))
    try:
        page = next(iter(client.project_pages(page_size=1, expand="")))
    except (JiraError, RateLimitParked) as exc:
        return replace(found, problem=str(exc))
    visible = page.body.get("total", len(page.items))
    if not visible:
        return replace(found, projects_visible=0, problem=(
            f"the Jira user {found.display_name or found.account_id} sees no projects: give it Browse "
            "Projects permission, or check that the site has projects"))
    return replace(found, ok=True, projects_visible=int(visible))

