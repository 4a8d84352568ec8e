"""The fake Jira's HTTP routes (Starlette): Jira Cloud REST v3 and dev-status, with auth,
fault injection and a request log. `/_fake/...` routes control the fake itself."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from conveyor.fakes.jira.catalog import CATEGORIES
from conveyor.fakes.jira.dataset import JiraDataset
from conveyor.fakes.jira.faults import Fault, Faults
from conveyor.fakes.jira.jql import JqlError, JqlQuery, parse_jql
from conveyor.fakes.jira.payloads import Renderer

API_PREFIXES = ("/rest/",)
OLD_SEARCH_MESSAGE = ("The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                      "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")


@dataclass(slots=True)
class RecordedRequest:
    """One request the fake answered. Credentials are never recorded, only their kind."""

    method: str
    path: str
    params: dict[str, str]
    body: Any
    status: int
    auth: str | None  # "basic", "bearer", or None when absent
    at: float


@dataclass
class FakeJiraConfig:
    email: str = "etl-bot@example.com"
    api_token: str = "fake-api-token-0123456789"
    bearer_token: str = "fake-bearer-token-0123456789"
    time_zone: str = "Australia/Sydney"
    account_id: str = "5b10a2844c20165700ede21g"
    display_name: str = "ETL Bot"


@dataclass
class FakeJiraState:
    data: JiraDataset
    config: FakeJiraConfig
    faults: Faults = field(default_factory=Faults)
    log: list[RecordedRequest] = field(default_factory=list)
    log_lock: threading.Lock = field(default_factory=threading.Lock)
    _search_cache: dict[tuple[str, int], list[int]] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.time_zone)


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errorMessages": [message], "errors": {}}, status_code=status, headers=headers)


def _auth_kind(header: str) -> str | None:
    scheme = header.split(" ", 1)[0].lower()
    return scheme if scheme in ("basic", "bearer") else (None if not header else "other")


def _authenticated(header: str, cfg: FakeJiraConfig) -> bool:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() == cfg.bearer_token
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{cfg.email}:{cfg.api_token}"
    return False


Handler = Callable[[Request, FakeJiraState, Any], Awaitable[Any]]


def endpoint(state: FakeJiraState, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler with the request log, authentication, fault injection and Jira's error body."""

    async def run(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        header = request.headers.get("authorization", "")
        response = await _answer(request, state, handler, body, header)
        with state.log_lock:
            state.log.append(RecordedRequest(request.method, request.url.path, dict(request.query_params), body,
                                             response.status_code, _auth_kind(header), time.time()))
        return response

    return run


async def _answer(request: Request, state: FakeJiraState, handler: Handler, body: Any, header: str) -> Response:
    if not _authenticated(header, state.config):
        return _error(401, "Client must be authenticated to access this resource.",
                      {"WWW-Authenticate": 'Basic realm="protected-area"'})
    for fault in state.faults.take(request.url.path):
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        elif fault.kind == "rate_limit":
            return _throttled(fault)
        elif fault.kind == "status":
            message = ("You do not have permission to perform this operation." if fault.status == 403
                       else "Internal server error (injected fault).")
            return _error(fault.status, message)
        else:
            request.state.pagination_fault = fault.kind
    try:
        payload = await handler(request, state, body)
    except ApiError as exc:
        return _error(exc.status, exc.message, exc.headers)
    except JqlError as exc:
        return _error(400, str(exc))
    return payload if isinstance(payload, Response) else JSONResponse(payload)


def _throttled(fault: Fault) -> Response:
    wait = fault.retry_after if fault.retry_after is not None else 60
    reset = (datetime.now(UTC) + timedelta(seconds=wait)).strftime("%Y-%m-%dT%H:%MZ")
    headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset,
               "X-RateLimit-NearLimit": "true", "RateLimit-Reason": fault.reason}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(fault.retry_after)
    if fault.html:
        return Response("<html><body><h1>429 Too Many Requests</h1></body></html>", status_code=fault.status,
                        headers=headers, media_type="text/html")
    return JSONResponse({"errorMessages": ["Rate limit exceeded."], "errors": {}}, status_code=fault.status,
                        headers=headers)


def int_param(request: Request, body: Any, name: str, default: int, low: int = 0, high: int | None = None) -> int:
    value = body[name] if isinstance(body, dict) and name in body else request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"The value '{value}' is invalid for parameter {name}.") from None
    if number < low:
        raise ApiError(400, f"The value '{value}' is invalid for parameter {name}: it must be at least {low}.")
    return min(number, high) if high is not None else number


def renderer_for(request: Request, state: FakeJiraState) -> Renderer:
    return Renderer(state.data, str(request.base_url), state.tz)


def offset_page(request: Request, items: list[Any], start: int, size: int, total: bool = True) -> dict[str, Any]:
    chunk = items[start:start + size]
    last = start + len(chunk) >= len(items)
    out: dict[str, Any] = {"self": str(request.url), "maxResults": size, "startAt": start,
                           "isLast": last, "values": chunk}
    if total:
        out["total"] = len(items)
    if not last:
        out["nextPage"] = str(request.url.include_query_params(startAt=start + len(chunk)))
    return out


# ----- read endpoints ---------------------------------------------------------------------------
async def myself(request: Request, state: FakeJiraState, body: Any) -> Any:
    cfg = state.config
    return {"self": f"{request.base_url}rest/api/3/user?accountId={cfg.account_id}", "accountId": cfg.account_id,
            "accountType": "atlassian", "emailAddress": cfg.email, "displayName": cfg.display_name,
            "active": True, "timeZone": cfg.time_zone, "locale": "en_US"}


async def project_search(request: Request, state: FakeJiraState, body: Any) -> Any:
    start = int_param(request, None, "startAt", 0)
    size = int_param(request, None, "maxResults", 50, low=1, high=100)
    expand = set(request.query_params.get("expand", "").split(","))
    render = renderer_for(request, state)
    with state.data.lock:
        projects = sorted(state.data.projects, key=lambda p: p.key)
        return offset_page(request, [render.project(p, expand) for p in projects], start, size)


async def issue_types(request: Request, state: FakeJiraState, body: Any) -> Any:
    render = renderer_for(request, state)
    return [render.issue_type(t) for t in state.data.issue_types]


async def issue_types_for_project(request: Request, state: FakeJiraState, body: Any) -> Any:
    project = _project_param(request, state)
    render = renderer_for(request, state)
    return [render.issue_type(t) for t in state.data.project_issue_types(project)]


def _project_param(request: Request, state: FakeJiraState) -> Any:
    project_id = request.query_params.get("projectId", "")
    project = next((p for p in state.data.projects if project_id in (p.id, p.key)), None)
    if project is None:
        raise ApiError(404 if project_id else 400, f"No project could be found with id '{project_id}'.")
    return project


async def statuses_search(request: Request, state: FakeJiraState, body: Any) -> Any:
    start = int_param(request, None, "startAt", 0)
    size = int_param(request, None, "maxResults", 200, low=1, high=200)
    statuses = state.data.statuses
    if request.query_params.get("projectId"):
        statuses = state.data.project_statuses(_project_param(request, state))
    category = request.query_params.get("statusCategory")
    render = renderer_for(request, state)
    values = [render.status_search(s) for s in statuses]
    if category:
        values = [v for v in values if v["statusCategory"] == category.upper()]
    text = request.query_params.get("searchString", "").lower()
    values = [v for v in values if text in v["name"].lower()]
    return offset_page(request, values, start, size)


async def status_legacy(request: Request, state: FakeJiraState, body: Any) -> Any:
    render = renderer_for(request, state)
    return [render.status_legacy(s) for s in state.data.statuses]


async def status_categories(request: Request, state: FakeJiraState, body: Any) -> Any:
    return [dict(v) for v in CATEGORIES.values()]


async def link_types(request: Request, state: FakeJiraState, body: Any) -> Any:
    return {"issueLinkTypes": [{"id": t.id, "name": t.name, "inward": t.inward, "outward": t.outward,
                                "self": f"{request.base_url}rest/api/3/issueLinkType/{t.id}"}
                               for t in state.data.link_types]}


async def fields(request: Request, state: FakeJiraState, body: Any) -> Any:
    return [Renderer.field(f) for f in state.data.fields]


async def field_search(request: Request, state: FakeJiraState, body: Any) -> Any:
    start = int_param(request, None, "startAt", 0)
    size = int_param(request, None, "maxResults", 50, low=1, high=100)
    kind = request.query_params.get("type")
    values = [Renderer.field(f) for f in state.data.fields
              if kind is None or (kind == "custom") == (f.custom_type is not None)]
    return offset_page(request, values, start, size)


async def old_search(request: Request, state: FakeJiraState, body: Any) -> Any:
    raise ApiError(410, OLD_SEARCH_MESSAGE)


# ----- search -----------------------------------------------------------------------------------
def _search_args(request: Request, body: Any) -> dict[str, Any]:
    if request.method == "POST":
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return body
    params = request.query_params
    args: dict[str, Any] = {k: params[k] for k in ("jql", "nextPageToken", "maxResults", "expand") if k in params}
    if "fields" in params:
        args["fields"] = params["fields"].split(",")
    return args


def _token(offset: int, jql: str) -> str:
    raw = json.dumps({"o": offset, "q": hashlib.sha1(jql.encode()).hexdigest()[:10]}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(token: str | None, jql: str) -> int:
    if not token:
        return 0
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if decoded["q"] == hashlib.sha1(jql.encode()).hexdigest()[:10]:
            return int(decoded["o"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    raise ApiError(400, "The provided next page token is invalid or expired.")


def _matching(state: FakeJiraState, jql: str) -> list[int]:
    query: JqlQuery = parse_jql(jql, state.tz)
    with state.data.lock:
        key = (jql, state.data.version)
        if key not in state._search_cache:
            if len(state._search_cache) > 64:
                state._search_cache.clear()
            found = [i for i in state.data.issues.values() if query.matches(i, state.data)]
            state._search_cache[key] = [i.id for i in query.sort(found)]
        return state._search_cache[key]


async def search_jql(request: Request, state: FakeJiraState, body: Any) -> Any:
    args = _search_args(request, body)
    jql = str(args.get("jql") or "")
    requested = args.get("fields") or ["id"]
    if isinstance(requested, str):
        requested = requested.split(",")
    expand = args.get("expand") or ""
    expand_list = expand if isinstance(expand, list) else str(expand).split(",")
    only_ids = set(requested) <= {"id", "key"}
    size = int_param(request, args, "maxResults", 50, low=1, high=5000 if only_ids else 100)
    ids = _matching(state, jql)
    offset = _offset(args.get("nextPageToken"), jql)
    chunk = ids[offset:offset + size]
    render = renderer_for(request, state)
    with state.data.lock:
        issues = [render.issue(state.data.issues[i], list(requested), "changelog" in expand_list)
                  for i in chunk if i in state.data.issues]
    out: dict[str, Any] = {"issues": issues, "isLast": offset + len(chunk) >= len(ids)}
    fault = getattr(request.state, "pagination_fault", None)
    if fault == "empty_page_with_token":
        return {"issues": [], "nextPageToken": _token(offset, jql), "isLast": False}
    if fault == "repeated_token" and args.get("nextPageToken"):
        out["nextPageToken"], out["isLast"] = args["nextPageToken"], False
    elif not out["isLast"]:
        out["nextPageToken"] = _token(offset + len(chunk), jql)
    return out


async def approximate_count(request: Request, state: FakeJiraState, body: Any) -> Any:
    if not isinstance(body, dict) or not body.get("jql"):
        raise ApiError(400, "The JQL query is required.")
    return {"count": len(_matching(state, str(body["jql"])))}
