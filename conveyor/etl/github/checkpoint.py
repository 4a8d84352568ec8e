"""Raw GitHub answers and step cursors, written together.

A page's answer is stored unchanged in the pipelines' raw store (raw_extraction_data) in the same
transaction as the cursor that follows it (github_sync_cursors), so a killed extraction resumes
after the last committed page and never stores a page twice. Follow-up pages (nested connections
by node id) are stored the same way, keyed by (query, node id, cursor): a retried attempt finds
the pages already fetched and replays them instead of asking GitHub again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from conveyor.etl.db import upsert
from conveyor.etl.github.tables import github_sync_cursors

RunId = Text().with_variant(postgresql.UUID(as_uuid=False), "postgresql")


def _raw_table(*extra: Column[Any]) -> Table:
    return Table(
        "raw_extraction_data", MetaData(),
        Column("id", Integer, primary_key=True), Column("run_id", RunId), Column("step", Text), Column("tenant", Text),
        Column("token", Text), Column("source", Text), Column("fingerprint", Text), Column("payload", LargeBinary),
        Column("is_text", Boolean), *extra,
    )


# The pipelines' raw store (migration 0006), declared here only to write it in our transactions;
# on SQLite its created_at (epoch seconds) has no default.
raw_extraction_data = _raw_table()
_raw_sqlite = _raw_table(Column("created_at", Float))

PAGE_SOURCE = "github:{query}:{scope}"       # an outer page: repositories of an owner, PRs of a repository
FOLLOW_SOURCE = "github:follow:{node}"       # the follow-up pages of one repository's or PR's connections


def follow_fingerprint(query: str, node_id: str, cursor: str | None) -> str:
    return f"{query}|{node_id}|{cursor or ''}"


@dataclass(frozen=True)
class RawWriter:
    """Where one stage attempt writes: its run, step, tenant and token."""

    engine: Engine
    run_id: str | None
    step: str | None
    tenant: str
    token: str

    def _insert_raw(self, conn: Connection, source: str, fingerprint: str, text: str) -> int:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        values: dict[str, Any] = {"run_id": self.run_id, "step": self.step, "tenant": self.tenant,
                                  "token": self.token, "source": source, "fingerprint": fingerprint,
                                  "payload": text.encode(), "is_text": True}
        table = raw_extraction_data
        if conn.dialect.name == "sqlite":
            values["created_at"] = time.time()
            table = _raw_sqlite
        statement = dialect.insert(table).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=["token", "source", "fingerprint"],
            set_={"payload": statement.excluded.payload, "is_text": statement.excluded.is_text})
        return int(conn.execute(statement.returning(table.c.id)).scalar_one())

    def commit_page(self, *, source: str, fingerprint: str, text: str, step: str, scope: str,
                    next_cursor: str | None, done: bool) -> int:
        """Stores an outer page and the cursor after it, in one transaction; returns the raw id."""
        with self.engine.begin() as conn:
            raw_id = self._insert_raw(conn, source, fingerprint, text)
            pages = conn.execute(select(github_sync_cursors.c.pages).where(
                github_sync_cursors.c.token == self.token, github_sync_cursors.c.step == step,
                github_sync_cursors.c.scope == scope)).scalar()
            upsert(conn, github_sync_cursors, [{
                "token": self.token, "step": step, "scope": scope, "tenant": self.tenant, "cursor": next_cursor,
                "pages": (pages or 0) + 1, "done": done, "updated_at": datetime.now(UTC)}],
                keys=["token", "step", "scope"])
        return raw_id

    def save_follow_up(self, *, node: str, fingerprint: str, text: str) -> int:
        with self.engine.begin() as conn:
            return self._insert_raw(conn, FOLLOW_SOURCE.format(node=node), fingerprint, text)


@dataclass(frozen=True)
class Cursor:
    cursor: str | None
    pages: int
    done: bool


def cursors(engine: Engine, token: str, step: str) -> dict[str, Cursor]:
    """The committed cursors of a run's step, by scope (what a retried attempt resumes from)."""
    c = github_sync_cursors.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.scope, c.cursor, c.pages, c.done).where(c.token == token, c.step == step))
        return {r.scope: Cursor(r.cursor, r.pages, bool(r.done)) for r in rows}


def raw_pages(engine: Engine, token: str, source: str) -> list[tuple[int, str]]:
    """(raw id, text) of the pages stored under `source` by the run with `token`, in storing order."""
    r = raw_extraction_data.c
    with engine.connect() as conn:
        rows = conn.execute(select(r.id, r.payload).where(r.token == token, r.source == source).order_by(r.id))
        return [(int(row.id), bytes(row.payload).decode()) for row in rows]


def raw_page(engine: Engine, raw_id: int) -> tuple[str, str, str]:
    """(token, source, text) of one raw row; LookupError when it is gone."""
    r = raw_extraction_data.c
    with engine.connect() as conn:
        row = conn.execute(select(r.token, r.source, r.payload).where(r.id == int(raw_id))).first()
    if row is None:
        raise LookupError(f"raw GitHub page {raw_id} no longer exists")
    return row.token, row.source, bytes(row.payload).decode()


def follow_ups(engine: Engine, token: str, node: str) -> dict[str, str]:
    """The follow-up pages stored for `node` (a repository or PR id) by the run with `token`, by
    fingerprint."""
    r = raw_extraction_data.c
    with engine.connect() as conn:
        rows = conn.execute(select(r.fingerprint, r.payload).where(
            r.token == token, r.source == FOLLOW_SOURCE.format(node=node)))
        return {row.fingerprint: bytes(row.payload).decode() for row in rows}
