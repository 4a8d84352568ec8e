"""Integrations: per-tenant connections to outside systems (Jira, GitHub ...), their encrypted
credentials, and the registry of integration types. See docs/integrations.md."""

from conveyor.integrations.service import (
    Integration,
    IntegrationConflictError,
    IntegrationNotFoundError,
    Integrations,
)
from conveyor.integrations.types import (
    ConnectionReport,
    IntegrationInputError,
    IntegrationType,
    get_type,
    load_types,
    register_type,
)

__all__ = ["ConnectionReport", "Integration", "IntegrationConflictError", "IntegrationInputError",
           "IntegrationNotFoundError", "IntegrationType", "Integrations", "get_type", "load_types",
           "register_type"]
