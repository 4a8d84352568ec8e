"""The `integrations` table (migration 0011): one connection to an outside system per row.
`credentials` holds a Fernet token (conveyor/integrations/secrets.py), never plain text."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Table, Text

from conveyor.etl.columns import UtcDateTime
from conveyor.etl.db import Json, metadata

integrations = Table(
    "integrations", metadata,
    Column("id", Text, primary_key=True),
    Column("tenant", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("base_url", Text, nullable=False),
    Column("credentials", Text, nullable=False),
    Column("credential_fields", Json, nullable=False),  # the names set (shown), not their values
    Column("settings", Json, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("last_test", Json),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
