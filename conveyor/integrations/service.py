"""Integrations in the database: create, read, change, test. Credentials are encrypted before
they are written and decrypted only for a client (`credentials()`); nothing returned for
display carries them. Every change is validated completely before anything is written."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from conveyor.errors import ConveyorError
from conveyor.etl.db import shared_engine
from conveyor.integrations.secrets import decrypt_credentials, encrypt_credentials, secret_box
from conveyor.integrations.table import integrations as T
from conveyor.integrations.types import ConnectionReport, IntegrationInputError, IntegrationType, get_type
from conveyor.integrations.validation import check_base_url, check_name, check_tenant


class IntegrationNotFoundError(ConveyorError):
    """No integration with that id (or not one of the caller's tenant)."""


class IntegrationConflictError(ConveyorError):
    """The name is taken in that tenant."""


@dataclass(frozen=True, slots=True)
class Integration:
    id: str
    tenant: str
    type: str
    name: str
    base_url: str
    settings: dict[str, Any]
    active: bool
    credential_fields: list[str]
    last_test: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime

    @property
    def pipeline(self) -> str:
        return get_type(self.type).pipeline

    def to_dict(self) -> dict[str, Any]:
        """For API answers and the CLI: the credentials only by the names of the fields set."""
        return {"id": self.id, "tenant": self.tenant, "type": self.type, "name": self.name,
                "base_url": self.base_url, "settings": dict(self.settings), "active": self.active,
                "credentials_set": list(self.credential_fields), "last_test": self.last_test,
                "pipeline": self.pipeline, "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}


def _row(row: Any) -> Integration:
    return Integration(row.id, row.tenant, row.type, row.name, row.base_url, dict(row.settings or {}),
                       bool(row.active), list(row.credential_fields or []), row.last_test,
                       row.created_at, row.updated_at)


# Called with (integration) after one is created: plugs the ETL job in (conveyor/integrations/etl_job.py).
CreatedHook = Callable[[Integration], None]


class Integrations:
    """`Integrations(database_url)`; every method takes `tenant=None` for "any tenant" (an admin
    of every tenant) or a tenant name that the integration must belong to."""

    def __init__(self, database_url: str, *, engine: Engine | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 on_created: list[CreatedHook] | None = None) -> None:
        self.engine = engine or shared_engine(database_url)
        self._clock = clock
        self.on_created = list(on_created or [])

    # -- reads --------------------------------------------------------------------------------
    def list(self, tenant: str | None = None, type: str | None = None) -> list[Integration]:  # noqa: A002
        query = select(T).order_by(T.c.tenant, T.c.name)
        if tenant is not None:
            query = query.where(T.c.tenant == tenant)
        if type is not None:
            query = query.where(T.c.type == type)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def get(self, integration_id: str, tenant: str | None = None) -> Integration:
        query = select(T).where(T.c.id == str(integration_id))
        if tenant is not None:
            query = query.where(T.c.tenant == tenant)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise IntegrationNotFoundError(f"No integration {str(integration_id)[:64]}.",
                                           action="List them with GET /api/integrations or `conveyor integrations list`.")
        return _row(row)

    def credentials(self, integration_id: str, tenant: str | None = None) -> dict[str, Any]:
        """The decrypted credentials, for a client only: never log or return them."""
        query = select(T.c.credentials).where(T.c.id == str(integration_id))
        if tenant is not None:
            query = query.where(T.c.tenant == tenant)
        with self.engine.connect() as conn:
            token = conn.execute(query).scalar()
        if token is None:
            raise IntegrationNotFoundError(f"No integration {str(integration_id)[:64]}.")
        return decrypt_credentials(token)

    # -- writes -------------------------------------------------------------------------------
    def create(self, *, tenant: str, type: str, name: str, base_url: str,  # noqa: A002
               credentials: Mapping[str, Any], settings: Mapping[str, Any] | None = None,
               active: bool = True) -> Integration:
        kind = get_type(type)
        values = {
            "tenant": check_tenant(tenant), "name": check_name(name), "base_url": _url(kind, base_url),
            **_credentials(kind, credentials), "settings": _settings(kind, settings or {}),
            "active": _flag(active),
        }
        now = self._clock()
        row = {"id": str(uuid.uuid4()), "type": kind.name, "last_test": None, "created_at": now, "updated_at": now,
               **values}
        try:
            with self.engine.begin() as conn:
                conn.execute(T.insert().values(**row))
        except IntegrityError:
            raise _name_taken(values["tenant"], values["name"]) from None
        created = self.get(row["id"])
        for hook in self.on_created:
            hook(created)
        return created

    def update(self, integration_id: str, tenant: str | None = None, *, name: str | None = None,
               base_url: str | None = None, credentials: Mapping[str, Any] | None = None,
               settings: Mapping[str, Any] | None = None, active: bool | None = None) -> Integration:
        """Change what is given. `settings` are merged into the current ones (then validated
        whole); `credentials` replace the current ones whole."""
        current = self.get(integration_id, tenant)
        kind = get_type(current.type)
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = check_name(name)
        if base_url is not None:
            changes["base_url"] = _url(kind, base_url)
        if credentials is not None:
            changes.update(_credentials(kind, credentials))
        if settings is not None:
            if not isinstance(settings, Mapping):
                raise IntegrationInputError("settings must be a JSON object.", field="settings")
            changes["settings"] = _settings(kind, {**current.settings, **settings})
        if active is not None:
            changes["active"] = _flag(active)
        if not changes:
            return current
        changes["updated_at"] = self._clock()
        try:
            with self.engine.begin() as conn:
                conn.execute(T.update().where(T.c.id == current.id).values(**changes))
        except IntegrityError:
            raise _name_taken(current.tenant, changes.get("name", current.name)) from None
        return self.get(current.id)

    def test(self, integration_id: str, tenant: str | None = None) -> ConnectionReport:
        """Test connection with the stored credentials; the report is kept as `last_test`."""
        current = self.get(integration_id, tenant)
        kind = get_type(current.type)
        report = kind.test_connection(current.base_url, self.credentials(current.id), current.settings)
        with self.engine.begin() as conn:
            conn.execute(T.update().where(T.c.id == current.id).values(
                last_test={**report.to_dict(), "tested_at": self._clock().isoformat()}))
        return report

    def is_active(self, integration_id: str) -> bool:
        """For the ETL orchestrator: False for an inactive or missing integration."""
        with self.engine.connect() as conn:
            return bool(conn.execute(select(T.c.active).where(T.c.id == str(integration_id))).scalar())


def _url(kind: IntegrationType, base_url: Any) -> str:
    url = check_base_url(base_url)
    return kind.normalize_base_url(url) if kind.normalize_base_url else url


def _credentials(kind: IntegrationType, credentials: Any) -> dict[str, Any]:
    if not isinstance(credentials, Mapping):
        raise IntegrationInputError("credentials must be a JSON object.", field="credentials",
                                    action=f"Fields for {kind.name}: {', '.join(kind.credential_fields)}.")
    clean = kind.validate_credentials(credentials)
    box = secret_box()  # a missing key fails here, before anything is written
    return {"credentials": encrypt_credentials(clean, box), "credential_fields": sorted(clean)}


def _settings(kind: IntegrationType, settings: Any) -> dict[str, Any]:
    if not isinstance(settings, Mapping):
        raise IntegrationInputError("settings must be a JSON object.", field="settings")
    return kind.validate_settings(settings)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise IntegrationInputError(f"active must be true or false, got {value!r}.", field="active")
    return value


def _name_taken(tenant: str, name: str) -> IntegrationConflictError:
    return IntegrationConflictError(f"Tenant {tenant!r} already has an integration named {name!r}.",
                                    action="Choose another name, or change the existing one with PATCH.")
