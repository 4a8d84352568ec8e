"""GitHub over HTTP (read only): pull requests with filters, one PR with everything it carries,
the PR metrics per week, the repositories synced, and the run metrics of a GitHub sync."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from conveyor.api.auth import AUTH_ERRORS, Viewer
from conveyor.api.errors import ApiError
from conveyor.api.schemas import TENANT_PATTERN, ErrorOut
from conveyor.api.state import get_ctx
from conveyor.etl.db import shared_engine
from conveyor.etl.github.reads import (
    PullRequestFilter,
    get_pull_request,
    list_pull_requests,
    list_repositories,
    run_metrics,
    weekly_metrics,
)

router = APIRouter(tags=["github"], responses=AUTH_ERRORS)
NAME = r"^[A-Za-z0-9_.-]{1,100}$"
Tenant = Annotated[str | None, Query(pattern=TENANT_PATTERN)]
Repository = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$",
                                         description="owner/name")]
State = Annotated[str | None, Query(pattern=r"^(OPEN|CLOSED|MERGED)$")]
Author = Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9_.\[\]-]+$")]
WorkItem = Annotated[str | None, Query(max_length=120, pattern=r"^[A-Za-z][A-Za-z0-9_]+-[0-9]+$",
                                       description="A Jira key, such as EX-12")]


def _engine(request: Request) -> Any:
    return shared_engine(get_ctx(request).app.settings.database_url)


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ApiError(422, f"{name} must carry a time zone offset (such as 2026-01-01T00:00:00Z).",
                       action="Add Z or +HH:MM to the instant.")
    return value


@router.get("/api/pull-requests")
def pull_requests_list(
    request: Request, caller: Viewer, tenant: Tenant = None, repository: Repository = None, state: State = None,
    author: Author = None, work_item: WorkItem = None,
    merged_from: Annotated[datetime | None, Query(description="merged at or after (ISO 8601, with offset)")] = None,
    merged_to: Annotated[datetime | None, Query(description="merged before (ISO 8601, with offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=300, pattern=r"^([0-9T:.+-]{10,40}\|[A-Za-z0-9_=-]{1,200})?$",
                                        description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    """Most recently updated first, with their PR metrics and the Jira work items they link to."""
    f = PullRequestFilter(tenant=caller.tenant_filter(tenant), repository=repository, state=state, author=author,
                          merged_from=_aware(merged_from, "merged_from"), merged_to=_aware(merged_to, "merged_to"),
                          work_item=work_item)
    try:
        items, next_cursor = list_pull_requests(_engine(request), f, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise ApiError(422, str(exc), action="Pass the next_cursor of the previous answer unchanged.") from None
    return {"items": items, "next_cursor": next_cursor}


@router.get("/api/pull-requests/weekly")
def pull_requests_weekly(request: Request, caller: Viewer, tenant: Tenant = None, repository: Repository = None,
                         author: Author = None, weeks: Annotated[int, Query(ge=1, le=104)] = 12) -> dict[str, Any]:
    """Per week of merge: merged PRs and the median coding, pickup, review and open-to-merge times."""
    f = PullRequestFilter(tenant=caller.tenant_filter(tenant), repository=repository, author=author)
    return {"weeks": weekly_metrics(_engine(request), f, weeks)}


@router.get("/api/pull-requests/{owner}/{name}/{number}",
            responses={404: {"model": ErrorOut, "description": "No such pull request (for this key's tenant)"}})
def pull_request_one(request: Request, caller: Viewer, owner: Annotated[str, Path(pattern=NAME)],
                     name: Annotated[str, Path(pattern=NAME)], number: Annotated[int, Path(ge=1, le=2**31 - 1)],
                     tenant: Tenant = None) -> dict[str, Any]:
    """One PR with its commits, reviews, comments, review threads and Jira links."""
    found = get_pull_request(_engine(request), caller.tenant_filter(tenant), f"{owner}/{name}", number)
    if found is None:
        raise ApiError(404, f"No pull request {owner}/{name}#{number}.",
                       action="List them with GET /api/pull-requests?repository=owner/name.")
    return found


@router.get("/api/repositories")
def repositories_list(request: Request, caller: Viewer, tenant: Tenant = None) -> dict[str, Any]:
    """The GitHub repositories synced, with archived flag, default branch and languages."""
    return {"items": list_repositories(_engine(request), caller.tenant_filter(tenant))}


@router.get("/api/github/runs/{run_id}/metrics",
            responses={404: {"model": ErrorOut, "description": "No GitHub run metrics for that run (for this key's tenant)"}})
def github_run_metrics(request: Request, caller: Viewer,
                       run_id: Annotated[str, Path(max_length=64, pattern=r"^[0-9a-fA-F-]+$")]) -> dict[str, Any]:
    """Run metrics of a GitHub pipeline run: per step and stage the attempts, API calls, pages,
    records, GraphQL points spent and parks; in total; and the points left at the last answer."""
    found = run_metrics(_engine(request), run_id, caller.tenant)
    if not found["stages"]:
        raise ApiError(404, f"No GitHub run metrics for run {run_id}.",
                       action="Give the id of a run of the github pipeline (GET /api/runs?pipeline=github).")
    return found
