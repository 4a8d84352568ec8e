"""The ETL's domain tables (projects, work items, pull requests, metrics, vectors ...) on both
engines, through SQLAlchemy Core.

Why SQLAlchemy here and hand-written named SQL in the job store: the store's statements are few,
hot and tuned per engine, while the ETL writes dozens of wide tables (a work item has 20 custom
field columns) with upserts. One `Table` declaration per table, and each dialect's own
`INSERT ... ON CONFLICT DO UPDATE` generated from it, replaces every upsert written twice by hand.

The tables themselves are created by the numbered migrations (conveyor/store/migrations), like
every other table; `declared_columns_missing` lets a test prove a declaration matches them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Connection, Engine, MetaData, Table, create_engine, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import NullPool

from conveyor.errors import ConfigurationError

# Every domain table is declared on this one MetaData (modules under conveyor/etl add theirs).
metadata = MetaData()

# JSON documents: jsonb on PostgreSQL (indexable, compact), JSON text on SQLite.
Json = JSON().with_variant(postgresql.JSONB(), "postgresql")


def domain_engine(database_url: str) -> Engine:
    """A SQLAlchemy engine on Conveyor's own database (same URL forms as CONVEYOR_DATABASE_URL)."""
    if database_url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
        return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)
    if database_url.startswith("sqlite:///") and len(database_url) > len("sqlite:///"):
        engine = create_engine(database_url, poolclass=NullPool, connect_args={"timeout": 30})
        _write_lock_at_begin(engine)
        return engine
    raise ConfigurationError(
        f"Unsupported database URL {database_url!r} for the ETL tables.",
        action="Use sqlite:///path.db or postgresql://user@host:5432/dbname.",
    )


@lru_cache(maxsize=16)
def shared_engine(database_url: str) -> Engine:
    """One engine (and pool) per database per process, for stage tasks and API handlers."""
    return domain_engine(database_url)


def _write_lock_at_begin(engine: Engine) -> None:
    """SQLite: take the write lock when a transaction begins (BEGIN IMMEDIATE), as the job store
    does, so two writers queue on busy_timeout instead of one failing when it upgrades a read lock."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event below issues BEGIN
        dbapi_connection.execute("PRAGMA foreign_keys=ON")
        dbapi_connection.execute("PRAGMA busy_timeout=30000")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update: Iterable[str] | None = None,
) -> int:
    """Insert `rows`, or update the existing row with the same `keys`; returns rows written.

    `update` names the columns an existing row takes from the new one (default: every column the
    rows carry except the keys). All rows must carry the same columns.
    """
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    columns = list(update) if update is not None else [c for c in rows[0] if c not in keys]
    if columns:
        statement = statement.on_conflict_do_update(
            index_elements=list(keys), set_={c: statement.excluded[c] for c in columns}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    conn.execute(statement, [dict(r) for r in rows])
    return len(rows)


def declared_columns_missing(engine: Engine, tables: Iterable[Table]) -> dict[str, list[str]]:
    """Per table, the declared columns that the migrated database lacks (empty when they agree)."""
    inspector = inspect(engine)
    missing: dict[str, list[str]] = {}
    for table in tables:
        if not inspector.has_table(table.name):
            missing[table.name] = ["<table missing>"]
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        absent = [c.name for c in table.columns if c.name not in present]
        if absent:
            missing[table.name] = absent
    return missing
