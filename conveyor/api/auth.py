"""API keys and roles.

A key is `cvk_<random>`; only its sha256 is stored. Each key belongs to a tenant and has a role:
viewer reads; operator also enqueues, cancels, retries, deletes, requeues and purges; admin also
manages workers, queues and keys. A key whose tenant is '*' sees every tenant. With auth turned
off (loopback only) every caller is an admin of every tenant.

HTTP callers send `Authorization: Bearer <key>` or `X-API-Key: <key>`; WebSocket callers may use
`?api_key=<key>` because browsers cannot set headers on a WebSocket.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from conveyor.api.errors import ApiError
from conveyor.api.schemas import ApiKeyCreatedOut, ApiKeyIn, ApiKeyListOut, ErrorOut, MeOut
from conveyor.errors import ConfigurationError
from conveyor.store.base import ApiKey

if TYPE_CHECKING:
    from conveyor.store import Store

ROLES = ("viewer", "operator", "admin")
ALL_TENANTS = "*"
KEY_PREFIX = "cvk_"
TENANT_NAME = re.compile(r"^(\*|[A-Za-z0-9_.:@-]{1,100})$")
CREATE_KEY_HINT = "Create one with: conveyor apikey create --role admin --tenant '*'"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_api_key(store: Store, *, tenant: str, role: str, name: str | None = None) -> tuple[str, str]:
    """Store a new key; returns (key id, secret). The secret is not stored and cannot be shown again."""
    if role not in ROLES:
        raise ConfigurationError(f"Unknown role {role!r}.", action=f"Use one of: {', '.join(ROLES)}.")
    if not tenant or not TENANT_NAME.match(tenant):
        raise ConfigurationError(
            f"Invalid tenant {tenant!r}.",
            action="Use 1-100 characters from letters, digits and _ . : @ - (or '*' for every tenant).",
        )
    key_id = "key_" + secrets.token_hex(8)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    store.create_api_key(key_id, hash_key(secret), tenant, role, name)
    return key_id, secret


@dataclass(frozen=True)
class Caller:
    tenant: str | None  # None: every tenant
    role: str
    key_id: str | None = None
    auth: bool = True

    def allows(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def tenant_filter(self, requested: str | None) -> str | None:
        """The tenant to filter on: a tenant key is held to its own tenant."""
        if self.tenant is None:
            return requested or None
        if requested and requested != self.tenant:
            raise ApiError(
                403, f"This API key is bound to tenant {self.tenant!r}; it cannot read tenant {requested!r}.",
                action="Leave the tenant parameter out, or use a key of that tenant.",
            )
        return self.tenant


def key_to_dict(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id, "tenant": key.tenant, "role": key.role, "name": key.name,
        "created_at": key.created_at.isoformat() if key.created_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


class Authenticator:
    """Resolves a presented key to a Caller; caches hits briefly so a request costs no query."""

    def __init__(self, store: Store, *, enabled: bool = True, cache_ttl: float = 2.0, cache_size: int = 1000) -> None:
        self.store = store
        self.enabled = enabled
        self.cache_ttl = cache_ttl
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[float, Caller]] = OrderedDict()
        self._lock = threading.Lock()

    def resolve(self, secret: str | None) -> Caller:
        if not self.enabled:
            return Caller(tenant=None, role="admin", key_id=None, auth=False)
        if not secret:
            raise ApiError(
                401, "An API key is required.",
                action=f"Send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'. {CREATE_KEY_HINT}",
                headers={"WWW-Authenticate": "Bearer"},
            )
        digest = hash_key(secret.strip())
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
            if hit and hit[0] > now:
                return hit[1]
        key = self.store.find_api_key(digest) if secret.startswith(KEY_PREFIX) and len(secret) < 200 else None
        if key is None or key.role not in ROLES:
            raise ApiError(
                401, "The API key is not valid (unknown or revoked).",
                action=f"Check the key you sent. {CREATE_KEY_HINT}",
                headers={"WWW-Authenticate": "Bearer"},
            )
        caller = Caller(tenant=None if key.tenant == ALL_TENANTS else key.tenant, role=key.role, key_id=key.id)
        with self._lock:
            self._cache[digest] = (now + self.cache_ttl, caller)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return caller

    def forget(self, key_id: str) -> None:
        with self._lock:
            for digest in [d for d, (_, c) in self._cache.items() if c.key_id == key_id]:
                del self._cache[digest]


_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer cvk_...")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: cvk_...")


def authenticator(conn: HTTPConnection) -> Authenticator:
    return conn.app.state.conveyor.authenticator  # type: ignore[no-any-return]


def get_caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_header)],
) -> Caller:
    secret = api_key or (bearer.credentials if bearer else None)
    return authenticator(request).resolve(secret)


def websocket_secret(conn: HTTPConnection) -> str | None:
    """The key a WebSocket presents: ?api_key=, X-API-Key or Authorization: Bearer."""
    value = conn.query_params.get("api_key") or conn.headers.get("x-api-key")
    if value:
        return value
    scheme, _, credentials = conn.headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials else None


def require(role: str) -> Any:
    def dependency(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        if not caller.allows(role):
            raise ApiError(
                403, f"This action needs the {role} role; the API key has the {caller.role} role.",
                action=f"Use a key with the {role} role (conveyor apikey create --role {role}).",
            )
        return caller

    dependency.__name__ = f"require_{role}"
    return dependency


Viewer = Annotated[Caller, Depends(require("viewer"))]
Operator = Annotated[Caller, Depends(require("operator"))]
Admin = Annotated[Caller, Depends(require("admin"))]

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The request cannot be parsed (a body that is not UTF-8 JSON)"},
    401: {"model": ErrorOut, "description": "No API key, or an unknown or revoked one"},
    403: {"model": ErrorOut, "description": "The key's role or tenant does not allow this"},
    422: {"model": ErrorOut, "description": "Invalid parameters (the fields are named)"},
    503: {"model": ErrorOut, "description": "The database did not answer"},
}

router = APIRouter(tags=["auth"], responses=AUTH_ERRORS)


@router.get("/api/me", response_model=MeOut)
def me(caller: Viewer) -> dict[str, Any]:
    return {"tenant": caller.tenant, "role": caller.role, "auth": caller.auth}


def _visible_keys(request: Request, caller: Caller) -> list[ApiKey]:
    keys = request.app.state.conveyor.store.list_api_keys()
    return [k for k in keys if caller.tenant is None or k.tenant == caller.tenant]


@router.get("/api/keys", response_model=ApiKeyListOut)
def list_keys(request: Request, caller: Admin) -> dict[str, Any]:
    return {"items": [key_to_dict(k) for k in _visible_keys(request, caller)]}


@router.post("/api/keys", response_model=ApiKeyCreatedOut, status_code=201)
def create_key(request: Request, body: ApiKeyIn, caller: Admin) -> dict[str, Any]:
    tenant = body.tenant or caller.tenant or "default"
    if caller.tenant is not None and tenant != caller.tenant:
        raise ApiError(
            403, f"This API key is bound to tenant {caller.tenant!r}; it can only create keys for that tenant.",
            action="Leave tenant out, or use an admin key of every tenant ('*').",
        )
    store = request.app.state.conveyor.store
    key_id, secret = create_api_key(store, tenant=tenant, role=body.role, name=body.name)
    created = next((k for k in store.list_api_keys() if k.id == key_id), None)
    out = key_to_dict(created) if created else {
        "id": key_id, "tenant": tenant, "role": body.role, "name": body.name, "created_at": None, "revoked_at": None}
    return {**out, "secret": secret}


@router.delete(
    "/api/keys/{key_id}", status_code=204, response_class=Response,
    responses={404: {"model": ErrorOut, "description": "No active key with that id"}},
)
def revoke_key(request: Request, key_id: str, caller: Admin) -> Response:
    ctx = request.app.state.conveyor
    visible = {k.id for k in _visible_keys(request, caller) if k.revoked_at is None}
    if key_id not in visible or not ctx.store.revoke_api_key(key_id):
        raise ApiError(404, f"No active API key {key_id}.", action="List keys with GET /api/keys.")
    ctx.authenticator.forget(key_id)
    return Response(status_code=204)
