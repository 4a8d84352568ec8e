"""conveyor.etl.db on both engines: upserts insert then update, a declaration is checked against
the migrated table, and two SQLite writers queue on the write lock instead of failing."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, Text, select, text

from conveyor.errors import ConfigurationError
from conveyor.etl.db import Json, declared_columns_missing, domain_engine, upsert


@pytest.fixture
def domain(database_url: str) -> Iterator[tuple[Engine, Table]]:
    engine = domain_engine(database_url)
    name = f"t_{uuid.uuid4().hex[:8]}"
    json_type = "jsonb" if engine.dialect.name == "postgresql" else "text"
    with engine.begin() as conn:
        conn.execute(text(
            f"CREATE TABLE {name} (tenant text NOT NULL, key text NOT NULL, n integer, "
            f"doc {json_type}, PRIMARY KEY (tenant, key))"
        ))
    table = Table(name, MetaData(), Column("tenant", Text, primary_key=True),
                  Column("key", Text, primary_key=True), Column("n", Integer), Column("doc", Json))
    yield engine, table
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {name}"))
    engine.dispose()


def _rows(engine: Engine, table: Table) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(table.c.key))]


def test_upsert_inserts_then_updates_only_named_columns(domain: tuple[Engine, Table]) -> None:
    engine, table = domain
    with engine.begin() as conn:
        written = upsert(conn, table, [
            {"tenant": "t1", "key": "A-1", "n": 1, "doc": {"x": [1, 2]}},
            {"tenant": "t1", "key": "A-2", "n": 2, "doc": None},
        ], keys=["tenant", "key"])
    assert written == 2
    with engine.begin() as conn:
        upsert(conn, table, [{"tenant": "t1", "key": "A-1", "n": 10, "doc": {"y": 1}}],
               keys=["tenant", "key"], update=["n"])
    assert _rows(engine, table) == [("t1", "A-1", 10, {"x": [1, 2]}), ("t1", "A-2", 2, None)]
    with engine.begin() as conn:
        upsert(conn, table, [{"tenant": "t1", "key": "A-2"}], keys=["tenant", "key"])  # nothing to update
        assert upsert(conn, table, [], keys=["tenant", "key"]) == 0
    assert len(_rows(engine, table)) == 2


def test_declaration_checked_against_the_database(domain: tuple[Engine, Table]) -> None:
    engine, table = domain
    assert declared_columns_missing(engine, [table]) == {}
    wider = Table(table.name, MetaData(), *[Column(c.name, c.type) for c in table.columns], Column("extra", Text))
    assert declared_columns_missing(engine, [wider]) == {table.name: ["extra"]}
    ghost = Table("no_such_table", MetaData(), Column("a", Text))
    assert declared_columns_missing(engine, [ghost]) == {"no_such_table": ["<table missing>"]}


@pytest.mark.parametrize("engine", ["sqlite"])
def test_sqlite_writers_queue_on_the_write_lock(domain: tuple[Engine, Table]) -> None:
    engine, table = domain
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(50):
                with engine.begin() as conn:
                    current = conn.execute(select(table.c.n).where(table.c.key == "hot")).scalar()
                    upsert(conn, table, [{"tenant": "t", "key": "hot", "n": (current or 0) + 1}],
                           keys=["tenant", "key"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    # Read-then-write under BEGIN IMMEDIATE: no lost update.
    assert _rows(engine, table) == [("t", "hot", 200, None)]


def test_unknown_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="Unsupported database URL"):
        domain_engine("mysql://x/y")
