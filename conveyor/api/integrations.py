"""Integrations over HTTP: create, list, read, change, test connection. Credentials go in and
never come out: answers name the credential fields set, not their values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from conveyor.api.auth import AUTH_ERRORS, Admin, Operator, Viewer
from conveyor.api.errors import ApiError
from conveyor.api.jobs import enqueue_tenant
from conveyor.api.schemas import TENANT_PATTERN, ErrorOut
from conveyor.api.state import get_ctx
from conveyor.integrations import (
    IntegrationConflictError,
    IntegrationInputError,
    IntegrationNotFoundError,
    Integrations,
    load_types,
)
from conveyor.integrations.wiring import integrations_for

router = APIRouter(tags=["integrations"], responses=AUTH_ERRORS)
ANSWERS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such integration (or not one of this key's tenant)"},
    409: {"model": ErrorOut, "description": "The name is taken in that tenant"},
    422: {"model": ErrorOut, "description": "Invalid type, name, URL, credentials or settings: nothing changed"},
}
T = TypeVar("T")
IntegrationId = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9_-]+$", description="The integration's id")]


class IntegrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(max_length=50, description="A registered type: GET /api/integrations/types")
    name: str = Field(max_length=100)
    base_url: str = Field(max_length=500, examples=["https://acme.atlassian.net"])
    credentials: dict[str, Any] = Field(description="Jira: {email, api_token} or {bearer_token}. Encrypted; "
                                                    "never returned.")
    settings: dict[str, Any] = Field(default_factory=dict, description="Type settings; defaults filled in")
    active: StrictBool = True
    tenant: str | None = Field(default=None, pattern=TENANT_PATTERN)


class IntegrationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=100)
    base_url: str | None = Field(default=None, max_length=500)
    credentials: dict[str, Any] | None = Field(default=None, description="Replaces the stored credentials whole")
    settings: dict[str, Any] | None = Field(default=None, description="Merged into the current settings")
    active: StrictBool | None = None


def _answer(call: Callable[[], T]) -> T:
    """The service's errors as API answers (422 naming the field, 404, 409)."""
    try:
        return call()
    except IntegrationInputError as exc:
        fields = [{"field": exc.field, "location": "body", "message": exc.message}] if exc.field else []
        raise ApiError(422, exc.message, action=exc.action, fields=fields) from None
    except IntegrationNotFoundError as exc:
        raise ApiError(404, exc.message, action=exc.action) from None
    except IntegrationConflictError as exc:
        raise ApiError(409, exc.message, action=exc.action) from None


def _service(request: Request) -> Integrations:
    return integrations_for(get_ctx(request).app)


@router.get("/api/integrations/types")
def list_types(caller: Viewer) -> list[dict[str, Any]]:
    return [{"type": k.name, "label": k.label, "credential_fields": list(k.credential_fields),
             "pipeline": k.pipeline, "default_settings": k.validate_settings({})}
            for k in sorted(load_types().values(), key=lambda k: k.name)]


@router.post("/api/integrations", status_code=201, responses=ANSWERS)
def create_integration(body: IntegrationIn, request: Request, caller: Admin) -> dict[str, Any]:
    tenant = enqueue_tenant(caller, body.tenant)
    service = _service(request)
    created = _answer(lambda: service.create(
        tenant=tenant, type=body.type, name=body.name, base_url=body.base_url, credentials=body.credentials,
        settings=body.settings, active=body.active))
    return created.to_dict()


@router.get("/api/integrations")
def list_integrations(
    request: Request, caller: Viewer,
    tenant: Annotated[str | None, Query(pattern=TENANT_PATTERN)] = None,
    type: Annotated[str | None, Query(max_length=50, pattern=r"^[a-z0-9_]+$")] = None,  # noqa: A002
) -> dict[str, Any]:
    found = _service(request).list(caller.tenant_filter(tenant), type)
    return {"items": [i.to_dict() for i in found]}


@router.get("/api/integrations/{integration_id}", responses=ANSWERS)
def get_integration(integration_id: IntegrationId, request: Request, caller: Viewer) -> dict[str, Any]:
    return _answer(lambda: _service(request).get(integration_id, caller.tenant)).to_dict()


@router.patch("/api/integrations/{integration_id}", responses=ANSWERS)
def patch_integration(integration_id: IntegrationId, body: IntegrationPatch, request: Request, caller: Admin) -> dict[str, Any]:
    service = _service(request)
    changed = _answer(lambda: service.update(
        integration_id, caller.tenant, name=body.name, base_url=body.base_url, credentials=body.credentials,
        settings=body.settings, active=body.active))
    return changed.to_dict()


@router.post("/api/integrations/{integration_id}/test", responses=ANSWERS)
def test_integration(integration_id: IntegrationId, request: Request, caller: Operator) -> dict[str, Any]:
    """Calls the provider (Jira: /rest/api/3/myself) with the stored credentials; `problem` says
    in words what is wrong. Always 200 when the integration exists: `ok` is the verdict."""
    report = _answer(lambda: _service(request).test(integration_id, caller.tenant))
    return report.to_dict()
