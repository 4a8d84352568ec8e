"""The registry of integration types: what a type ('jira', 'github', ...) brings.

A type module registers itself on import with `register_type(IntegrationType(...))`. Every module
in the `conveyor.integrations.providers` package is imported by `load_types()`, so a new provider
is one new file there and needs no edit elsewhere.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor.errors import ConveyorError


class IntegrationInputError(ConveyorError):
    """Bad integration input (type, name, URL, credentials, settings): nothing was changed.
    `field` names the offending part when there is one."""

    def __init__(self, message: str, *, action: str = "", field: str | None = None) -> None:
        super().__init__(message, action=action)
        self.field = field


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    """The answer of "Test connection", in plain words. `details` carries what the provider can
    say besides (projects visible, scopes ...); never a credential."""

    ok: bool
    user: str | None = None
    account_id: str | None = None
    time_zone: str | None = None
    problem: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "user": self.user, "account_id": self.account_id, "time_zone": self.time_zone,
                "problem": self.problem, "details": dict(self.details)}


@dataclass(frozen=True, slots=True)
class IntegrationType:
    """One provider.

    - `credential_fields`: every field a credentials object may carry (shown by name only).
    - `validate_credentials(dict) -> dict`: the complete, normalised credentials, or
      IntegrationInputError naming the field.
    - `validate_settings(dict) -> dict`: the complete settings (defaults filled in) or
      IntegrationInputError; called with the merged settings on every change.
    - `test_connection(base_url, credentials, settings) -> ConnectionReport`: never raises for a
      remote problem; says it in `problem`.
    - `pipeline`: the name of the pipeline the integration's ETL job runs.
    - `normalize_base_url(str) -> str`: the provider's URL rules (default: http(s), no trailing /).
    """

    name: str
    label: str
    credential_fields: tuple[str, ...]
    validate_credentials: Callable[[Mapping[str, Any]], dict[str, Any]]
    validate_settings: Callable[[Mapping[str, Any]], dict[str, Any]]
    test_connection: Callable[[str, Mapping[str, Any], Mapping[str, Any]], ConnectionReport]
    pipeline: str
    normalize_base_url: Callable[[str], str] | None = None


_types: dict[str, IntegrationType] = {}
_lock = threading.Lock()
_loaded = False


def register_type(kind: IntegrationType) -> IntegrationType:
    """Add (or replace, on re-import) a type; returns it."""
    with _lock:
        _types[kind.name] = kind
    return kind


def load_types() -> dict[str, IntegrationType]:
    """Every registered type, after importing the providers package once."""
    global _loaded
    if not _loaded:
        from conveyor.integrations import providers

        for module in pkgutil.iter_modules(providers.__path__):
            importlib.import_module(f"{providers.__name__}.{module.name}")
        _loaded = True
    return dict(_types)


def get_type(name: str) -> IntegrationType:
    types = load_types()
    kind = types.get(name)
    if kind is None:
        raise IntegrationInputError(f"Unknown integration type {name!r}.", field="type",
                                    action=f"Use one of: {', '.join(sorted(types)) or '(none registered)'}.")
    return kind
