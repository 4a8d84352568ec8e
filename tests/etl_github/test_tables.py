"""The GitHub tables: migration 0012 matches the declarations on both engines, instants come back
aware and in UTC, JSON round-trips, and upserts key on (tenant, node id)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from conveyor import Conveyor
from conveyor.etl.db import declared_columns_missing, shared_engine, upsert
from conveyor.etl.github.tables import ALL_TABLES, repositories


def test_migration_creates_every_declared_column(app: Conveyor) -> None:
    assert declared_columns_missing(shared_engine(app.settings.database_url), ALL_TABLES) == {}


def test_instants_json_and_upsert_round_trip(app: Conveyor) -> None:
    engine = shared_engine(app.settings.database_url)
    pushed = datetime(2026, 3, 1, 14, 30, 5, 123000, tzinfo=timezone(timedelta(hours=2)))
    row = {"tenant": "t-tables", "id": "R_1", "database_id": 5, "owner": "acme", "name": "api",
           "name_with_owner": "acme/api", "url": None, "description": None, "is_private": True,
           "is_archived": False, "is_fork": False, "default_branch": "main", "primary_language": "Go",
           "languages": [{"name": "Go", "size": 10, "color": "#00ADD8"}], "created_at": None,
           "updated_at": None, "pushed_at": pushed, "synced_at": datetime.now(UTC)}
    with engine.begin() as conn:
        upsert(conn, repositories, [row], keys=["tenant", "id"])
        upsert(conn, repositories, [{**row, "is_archived": True}], keys=["tenant", "id"])
    with engine.connect() as conn:
        got = conn.execute(select(repositories).where(repositories.c.tenant == "t-tables")).mappings().all()
    assert len(got) == 1 and got[0]["is_archived"] is True
    assert got[0]["pushed_at"] == pushed and got[0]["pushed_at"].tzinfo is not None
    assert got[0]["pushed_at"].utcoffset() == timedelta(0)
    assert got[0]["languages"] == [{"name": "Go", "size": 10, "color": "#00ADD8"}]


def test_a_naive_instant_is_refused(app: Conveyor) -> None:
    engine = shared_engine(app.settings.database_url)
    with pytest.raises(Exception, match="naive datetime"), engine.begin() as conn:
        upsert(conn, repositories, [{"tenant": "t", "id": "R_2", "owner": "a", "name": "b", "name_with_owner": "a/b",
                                     "is_private": False, "is_archived": False, "is_fork": False, "languages": [],
                                     "synced_at": datetime(2026, 1, 1)}], keys=["tenant", "id"])
