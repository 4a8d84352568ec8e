"""Jira over HTTP: start a sync, read a run's metrics, read and change the custom-field mapping
and the status mappings (a change re-transforms from raw, no HTTP call to Jira), and read the
loaded work items (keyset paging) with their metrics and changelog."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from conveyor.api.auth import AUTH_ERRORS, Caller, Operator, Viewer
from conveyor.api.errors import ApiError
from conveyor.api.integrations import ANSWERS, IntegrationId, _answer, _service
from conveyor.api.schemas import TENANT_PATTERN, ErrorOut
from conveyor.api.state import get_ctx
from conveyor.etl.db import shared_engine
from conveyor.etl.github.pipeline import start_sync as start_github_sync
from conveyor.etl.jira.load import Owner
from conveyor.etl.jira.mappings import (
    change_mapping,
    change_status_mappings,
    read_mapping,
    read_status_mappings,
)
from conveyor.etl.jira.pipeline import start_sync
from conveyor.etl.jira.state import run_metrics
from conveyor.etl.jira.work_items import get_work_item, list_work_items
from conveyor.integrations import Integration, IntegrationInputError

router = APIRouter(tags=["jira"], responses=AUTH_ERRORS)
Text200 = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]


class SyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full: bool = Field(default=False, description="Ignore the watermark and read every issue")
    sweep: bool = Field(default=False, description="Also look for issues deleted in Jira")


class MappingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    team_field_id: str | None = Field(default=None, max_length=100)
    story_points_field_ids: list[str] = Field(default_factory=list, max_length=10)
    code_changed_field_id: str | None = Field(default=None, max_length=100)
    columns: dict[str, str | None] = Field(default_factory=dict, description="custom_field_01..20 -> field id")


def _jira(request: Request, caller: Caller, integration_id: str) -> tuple[Integration, Owner]:
    integration = _answer(lambda: _service(request).get(integration_id, caller.tenant))
    if integration.type != "jira":
        raise ApiError(404, f"Integration {integration_id} is a {integration.type} integration, not Jira.")
    return integration, Owner(integration.tenant, integration.id)


def _engine(request: Request) -> Any:
    return shared_engine(get_ctx(request).settings.database_url)


def _input(call: Any) -> Any:
    try:
        return call()
    except IntegrationInputError as exc:
        fields = [{"field": exc.field, "location": "body", "message": exc.message}] if exc.field else []
        raise ApiError(422, exc.message, action=exc.action, fields=fields) from None


def _retransform(request: Request, owner: Owner) -> str:
    """The re-transform runs as a job: large sites take a while."""
    handle = get_ctx(request).app.enqueue("jira.retransform", kwargs={
        "tenant": owner.tenant, "integration_id": owner.integration_id}, tenant=owner.tenant)
    return str(handle.id)


@router.post("/api/integrations/{integration_id}/sync", status_code=201, responses=ANSWERS)
def sync(integration_id: IntegrationId, request: Request, caller: Operator, body: SyncIn | None = None) -> dict[str, Any]:
    integration = _answer(lambda: _service(request).get(integration_id, caller.tenant))
    if integration.type not in ("jira", "github"):
        raise ApiError(404, f"Integration {integration_id} is a {integration.type} integration: it has no sync.")
    if not integration.active:
        raise ApiError(409, f"Integration {integration.name!r} is inactive.",
                       action="Activate it first: PATCH /api/integrations/{id} {\"active\": true}.")
    if integration.type == "github":  # the same button on the Integrations page starts either
        app = get_ctx(request).app
        if integration.pipeline not in app.pipelines:
            raise ApiError(409, f"This app does not declare the {integration.pipeline!r} pipeline, so it cannot sync "
                                f"{integration.name!r}.",
                           action="Call conveyor.etl.github.pipeline.register_github_pipeline(app) in the app module, "
                                  "then restart the server and the workers.")
        return start_github_sync(app, integration.id, tenant=integration.tenant, full=bool(body and body.full),
                                 pipeline=integration.pipeline).to_dict()
    run = start_sync(get_ctx(request).app, integration.id, tenant=integration.tenant,
                     full=bool(body and body.full), sweep=bool(body and body.sweep))
    return run.to_dict()


@router.get("/api/integrations/{integration_id}/runs/{run_id}/metrics", responses=ANSWERS)
def metrics(integration_id: IntegrationId, run_id: Annotated[str, Path(max_length=64, pattern=r"^[0-9a-f-]+$")],
            request: Request, caller: Viewer) -> dict[str, Any]:
    _jira(request, caller, integration_id)
    return {"run_id": run_id, "steps": run_metrics(_engine(request), run_id)}


@router.get("/api/integrations/{integration_id}/custom-fields", responses=ANSWERS)
def get_mapping(integration_id: IntegrationId, request: Request, caller: Viewer) -> dict[str, Any]:
    _, owner = _jira(request, caller, integration_id)
    return read_mapping(_engine(request), owner)


@router.put("/api/integrations/{integration_id}/custom-fields", responses=ANSWERS)
def put_mapping(integration_id: IntegrationId, body: MappingIn, request: Request, caller: Operator) -> dict[str, Any]:
    _, owner = _jira(request, caller, integration_id)
    changed = _input(lambda: change_mapping(_engine(request), owner, body.model_dump()))
    return {**changed, "retransform_job": _retransform(request, owner)}


@router.get("/api/integrations/{integration_id}/status-mappings", responses=ANSWERS)
def get_status_mappings(integration_id: IntegrationId, request: Request, caller: Viewer) -> dict[str, Any]:
    _, owner = _jira(request, caller, integration_id)
    return {"items": read_status_mappings(_engine(request), owner)}


@router.patch("/api/integrations/{integration_id}/status-mappings", responses=ANSWERS)
def patch_status_mappings(integration_id: IntegrationId, body: dict[str, str], request: Request,
                          caller: Operator) -> dict[str, Any]:
    _, owner = _jira(request, caller, integration_id)
    items = _input(lambda: change_status_mappings(_engine(request), owner, body))
    return {"items": items, "retransform_job": _retransform(request, owner)}


def _cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str, str]:
    try:
        values = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii")))
        if not (isinstance(values, list) and len(values) == 2 and all(isinstance(v, str) for v in values)):
            raise ValueError
        datetime.fromisoformat(values[0])
        return values[0], values[1]
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise ApiError(400, "The cursor is not valid.", action="Pass next_cursor of the previous page unchanged.",
                       fields=[{"field": "cursor", "location": "query", "message": "not a cursor"}]) from None


@router.get("/api/work-items", responses={400: {"model": ErrorOut, "description": "The cursor is not valid"}})
def work_items(
    request: Request, caller: Viewer,
    tenant: Annotated[str | None, Query(pattern=TENANT_PATTERN)] = None,
    project: Annotated[str | None, Query(max_length=100, pattern=r"^[A-Z][A-Z0-9_]*$")] = None,
    status: Text200 = None, key: Annotated[str | None, Query(max_length=100, pattern=r"^[A-Z][A-Z0-9_]*-\d+$")] = None,
    updated_since: datetime | None = None, include_deleted: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50, cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    """Newest `updated` first; `next_cursor` pages on (keyset: stable under inserts)."""
    if updated_since is not None and updated_since.tzinfo is None:
        raise ApiError(422, "updated_since needs a time zone (such as 2026-01-01T00:00:00Z).",
                       fields=[{"field": "updated_since", "location": "query", "message": "no time zone"}])
    items = list_work_items(_engine(request), tenant=caller.tenant_filter(tenant), project=project, status=status,
                            key=key, updated_since=updated_since, include_deleted=include_deleted, limit=limit + 1,
                            after=_decode(cursor) if cursor else None)
    page = items[:limit]
    more = len(items) > limit
    return {"items": page, "next_cursor": _cursor([page[-1]["updated"], page[-1]["external_id"]]) if more else None}


@router.get("/api/work-items/{key}", responses={404: {"model": ErrorOut, "description": "No such work item"}})
def work_item(key: Annotated[str, Path(max_length=100, pattern=r"^[A-Z][A-Z0-9_]*-\d+$")], request: Request,
              caller: Viewer) -> dict[str, Any]:
    found = get_work_item(_engine(request), key, caller.tenant)
    if found is None:
        raise ApiError(404, f"No work item {key}.", action="List them with GET /api/work-items.")
    return found
