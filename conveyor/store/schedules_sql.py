"""Schedule and ETL job statements for both engines (issue 14), reached through `schedule_sql(store)`.

Each engine's statements are named files in its queries/ folder (schedule_*, scheduler_*, etl_*);
this module only runs them and converts values: PostgreSQL gives datetimes, JSON and booleans;
SQLite stores unix seconds, JSON text and 0/1. Rows come back as plain dicts with datetimes, parsed
JSON and booleans on both engines, so the rules above (conveyor/schedules, conveyor/etl_jobs)
never see an engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.store.base import Store

TIME_COLUMNS = {"next_fire_at", "last_fire_at", "created_at", "updated_at", "fire_at", "claimed_at", "dispatched_at",
                "next_run", "last_run_started_at", "last_run_finished_at", "last_sync_date", "reset_deadline",
                "old_fire_at", "cutoff", "now", "until"}
JSON_COLUMNS = {"args", "kwargs", "params", "run_status"}
BOOL_COLUMNS = {"active", "in_code"}


class ScheduleSQL:
    """The statements, run on the store's connections; `tx` runs several in one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # -- conversion -------------------------------------------------------------------------------
    def _param(self, key: str, value: Any) -> Any:
        if key in JSON_COLUMNS:
            return json.dumps(value, separators=(",", ":"))
        if self.engine == "sqlite":
            if isinstance(value, datetime):
                return value.timestamp()
            if key in BOOL_COLUMNS:
                return int(bool(value))
        return value

    def _row(self, row: Any) -> dict[str, Any]:
        out = dict(row)
        for key, value in out.items():
            if value is None:
                continue
            if key in TIME_COLUMNS and isinstance(value, int | float):
                out[key] = datetime.fromtimestamp(value, UTC)
            elif key in JSON_COLUMNS and isinstance(value, str):
                out[key] = json.loads(value)
            elif key in BOOL_COLUMNS:
                out[key] = bool(value)
        return out

    def _statement(self, name: str) -> str:
        if self.engine == "postgres":
            from conveyor.store.postgres.connection import Q
        else:
            from conveyor.store.sqlite.connection import Q  # type: ignore[assignment]
        return str(getattr(Q, name))

    # -- running ----------------------------------------------------------------------------------
    def run(self, statement: str, /, **params: Any) -> list[dict[str, Any]]:
        """One statement in its own transaction; rows as converted dicts. On SQLite a plain
        SELECT runs outside a write transaction (no writer waits on a read)."""
        if self.engine == "sqlite" and self._is_read(statement):
            conn = self.store._conn()  # type: ignore[attr-defined]
            return Transaction(self, conn).run(statement, **params)
        with self.tx() as tx:
            return tx.run(statement, **params)

    def _is_read(self, statement: str) -> bool:
        body = [line for line in self._statement(statement).splitlines() if not line.startswith("--")]
        return bool(body) and body[0].lstrip().upper().startswith("SELECT")

    def one(self, statement: str, /, **params: Any) -> dict[str, Any] | None:
        rows = self.run(statement, **params)
        return rows[0] if rows else None

    @contextmanager
    def tx(self) -> Iterator[Transaction]:
        store: Any = self.store
        if self.engine == "postgres":
            from psycopg.rows import dict_row
            with store._connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                yield Transaction(self, cur)
        else:
            with store._write() as conn:
                yield Transaction(self, conn)


class Transaction:
    def __init__(self, sql: ScheduleSQL, cursor: Any) -> None:
        self.sql = sql
        self.cursor = cursor

    def run(self, statement: str, /, **params: Any) -> list[dict[str, Any]]:
        values = {k: self.sql._param(k, v) for k, v in params.items()}
        cur = self.cursor.execute(self.sql._statement(statement), values)
        if cur is None:  # psycopg's cursor.execute returns the cursor; be safe
            cur = self.cursor
        rows = cur.fetchall() if cur.description else []
        return [self.sql._row(r) for r in rows]

    def one(self, statement: str, /, **params: Any) -> dict[str, Any] | None:
        rows = self.run(statement, **params)
        return rows[0] if rows else None

    def run_many_returning(self, statement: str, rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """One statement with RETURNING for many parameter sets; the rows each one returned.
        PostgreSQL sends them pipelined (one round trip's wait, not one per set)."""
        if not rows:
            return []
        if self.sql.engine != "postgres":
            return [self.run(statement, **r) for r in rows]
        self.cursor.executemany(self.sql._statement(statement),
                                [{k: self.sql._param(k, v) for k, v in r.items()} for r in rows], returning=True)
        results: list[list[dict[str, Any]]] = []
        while True:
            results.append([self.sql._row(r) for r in self.cursor.fetchall()])
            if not self.cursor.nextset():
                return results

    def run_many(self, statement: str, rows: list[dict[str, Any]]) -> None:
        """One statement (no RETURNING) for many parameter sets: pipelined on PostgreSQL."""
        if rows:
            self.cursor.executemany(self.sql._statement(statement),
                                    [{k: self.sql._param(k, v) for k, v in r.items()} for r in rows])


def schedule_sql(store: Store) -> ScheduleSQL:
    """The schedule statements of this store (made once per store)."""
    cached: ScheduleSQL | None = getattr(store, "_schedule_sql", None)
    if cached is None:
        cached = ScheduleSQL(store)
        store._schedule_sql = cached  # type: ignore[attr-defined]
    return cached
