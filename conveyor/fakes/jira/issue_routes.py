"""The fake Jira's per-issue routes: issue, changelog (paged and bulk), comments, dev-status."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.requests import Request

from conveyor.fakes.jira.app import ApiError, FakeJiraState, int_param, offset_page, renderer_for
from conveyor.fakes.jira.dataset import Issue

NOT_FOUND = "Issue does not exist or you do not have permission to see it."
BULK_MAX_ISSUES = 1000
BULK_MAX_FIELDS = 10


def _issue(request: Request, state: FakeJiraState) -> Issue:
    issue = state.data.find(request.path_params["id_or_key"])
    if issue is None:
        raise ApiError(404, NOT_FOUND)
    return issue


async def get_issue(request: Request, state: FakeJiraState, body: Any) -> Any:
    params = request.query_params
    fields = params.get("fields", "*all").split(",")
    render = renderer_for(request, state)
    with state.data.lock:
        return render.issue(_issue(request, state), fields, "changelog" in params.get("expand", "").split(","))


async def issue_changelog(request: Request, state: FakeJiraState, body: Any) -> Any:
    start = int_param(request, None, "startAt", 0)
    size = int_param(request, None, "maxResults", 100, low=1, high=100)
    render = renderer_for(request, state)
    with state.data.lock:
        histories = [render.history(h) for h in _issue(request, state).histories]
    return offset_page(request, histories, start, size)


async def issue_comments(request: Request, state: FakeJiraState, body: Any) -> Any:
    start = int_param(request, None, "startAt", 0)
    size = int_param(request, None, "maxResults", 50, low=1, high=100)
    render = renderer_for(request, state)
    with state.data.lock:
        issue = _issue(request, state)
        comments = [render.comment(issue, cm) for cm in issue.comments]
    if request.query_params.get("orderBy", "created").lstrip("+") == "-created":
        comments.reverse()
    return {"self": str(request.url), "startAt": start, "maxResults": size, "total": len(comments),
            "comments": comments[start:start + size]}


def _bulk_offset(token: Any) -> int:
    if token in (None, ""):
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4)))["o"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ApiError(400, "The provided next page token is invalid.") from None


async def bulk_changelog(request: Request, state: FakeJiraState, body: Any) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get("issueIdsOrKeys"), list) or not body["issueIdsOrKeys"]:
        raise ApiError(400, "issueIdsOrKeys must be a non-empty list of issue ids or keys.")
    wanted = [str(x) for x in body["issueIdsOrKeys"]]
    if len(wanted) > BULK_MAX_ISSUES:
        raise ApiError(400, f"You can request the changelogs of at most {BULK_MAX_ISSUES} issues.")
    field_ids = body.get("fieldIds") or []
    if len(field_ids) > BULK_MAX_FIELDS:
        raise ApiError(400, f"You can filter by at most {BULK_MAX_FIELDS} field ids.")
    size = int_param(request, body, "maxResults", 1000, low=1, high=10000)
    offset = _bulk_offset(body.get("nextPageToken"))
    render = renderer_for(request, state)
    with state.data.lock:
        issues = {i.id: i for i in (state.data.find(k) for k in wanted) if i is not None}
        entries = sorted(((h.created, issue.id, h.id, h) for issue in issues.values() for h in issue.histories
                          if not field_ids or any(item.get("fieldId") in field_ids for item in h.items)),
                         key=lambda e: e[:3])
        chunk = entries[offset:offset + size]
        grouped: dict[int, list[dict[str, Any]]] = {}
        for _, issue_id, _, history in chunk:
            rendered = render.history(history, epoch=True)
            if field_ids:
                rendered["items"] = [it for it in rendered["items"] if it.get("fieldId") in field_ids]
            grouped.setdefault(issue_id, []).append(rendered)
    out: dict[str, Any] = {"issueChangeLogs": [{"issueId": str(i), "changeHistories": hs} for i, hs in grouped.items()]}
    if offset + len(chunk) < len(entries):
        out["nextPageToken"] = base64.urlsafe_b64encode(
            json.dumps({"o": offset + len(chunk)}).encode()).decode().rstrip("=")
    return out


def _dev_issue(request: Request, state: FakeJiraState) -> Issue:
    issue_id = request.query_params.get("issueId", "")
    if not issue_id.isdigit():
        # Dev-status takes only the numeric id: a key is a bad request, as on real sites.
        raise ApiError(400, f"issueId must be the numeric id of an issue, got '{issue_id}'.")
    issue = state.data.find(issue_id)
    if issue is None:
        raise ApiError(404, NOT_FOUND)
    return issue


async def dev_summary(request: Request, state: FakeJiraState, body: Any) -> Any:
    with state.data.lock:
        return renderer_for(request, state).dev_summary(_dev_issue(request, state))


async def dev_detail(request: Request, state: FakeJiraState, body: Any) -> Any:
    data_type = request.query_params.get("dataType", "")
    if data_type not in ("pullrequest", "branch", "repository", "build", "deployment-environment"):
        raise ApiError(400, f"Unknown dataType '{data_type}'.")
    with state.data.lock:
        issue = _dev_issue(request, state)
        detail = renderer_for(request, state).dev_detail(issue, request.query_params.get("applicationType"))
    if data_type != "pullrequest":
        for entry in detail["detail"]:
            entry["pullRequests"] = []
    return detail

