"""SQLite engine: the zero-setup default for one machine.

WAL mode and a busy timeout let several worker processes share one file; SQLite serialises
writers, so a claim is a short BEGIN IMMEDIATE transaction instead of SKIP LOCKED. Times are unix
seconds from the local clock (all processes share it). Wake-ups are in-process plus a short poll;
events for other processes come from one poller over the updated_at index.

Modules: connection, poller (events, wake-ups), enqueue, jobs, workers, maintenance, liveness
(worker locks); every statement is a file in queries/."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator

from conveyor.store.base import load_migrations
from conveyor.store.core import translate_driver_errors
from conveyor.store.sqlite.connection import Q
from conveyor.store.sqlite.enqueue import SQLiteEnqueue
from conveyor.store.sqlite.jobs import SQLiteJobs
from conveyor.store.sqlite.liveness import SQLiteLiveness
from conveyor.store.sqlite.workers import SQLiteWorkers

__all__ = ["LIVE_WORKERS", "SQLiteStore", "SqliteStore"]

LIVE_WORKERS = Q.live_workers  # the pipelines store (pipelines_sqlite.py) counts live workers with it

log = logging.getLogger("conveyor.store")


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration, run one by one inside the migration's transaction
    (executescript would commit first). A trigger body's semicolons stay in its statement."""
    buffer = ""
    for part in script.split(";"):
        buffer += part + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip().strip(";").strip():
                yield buffer
            buffer = ""


class SQLiteStore(SQLiteEnqueue, SQLiteJobs, SQLiteWorkers, SQLiteLiveness):
    def migrate(self) -> int:
        with self._write() as conn:
            conn.execute(Q.create_schema_version_table)
            current = conn.execute(Q.schema_version).fetchone()[0]
            for version, name, sql in load_migrations(self.engine):
                if version <= current:
                    continue
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(Q.record_migration, {"version": version, "name": name, "now": time.time()})
                log.info("applied migration %04d_%s", version, name)
                current = version
            return int(current)

    def schema_version(self) -> int:
        if not self._all(Q.schema_present, {})[0]["present"]:
            return 0
        return int(self._all(Q.schema_version, {})[0]["version"])


SqliteStore = SQLiteStore
translate_driver_errors(SQLiteStore, sqlite3.Error)
