"""Job store: one interface (base.Store), two engines."""

from __future__ import annotations

from conveyor.errors import ConfigurationError
from conveyor.store.base import ClaimedJob, EnqueueResult, JobFilter, MaintenanceReport, Store

__all__ = ["ClaimedJob", "EnqueueResult", "JobFilter", "MaintenanceReport", "Store", "open_store"]


def open_store(url: str, **options: object) -> Store:
    """sqlite:///path.db or postgresql://user@host:port/db -> a connected store."""
    if url.startswith("sqlite:"):
        from conveyor.store.sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        from conveyor.store.postgres import PostgresStore

        return PostgresStore(url, **options)  # type: ignore[arg-type]
    raise ConfigurationError(
        f"Unsupported database URL {url!r}.",
        action="Use sqlite:///conveyor.db (the default) or postgresql://user@host:5432/dbname "
        "in CONVEYOR_DATABASE_URL or --database-url.",
    )
