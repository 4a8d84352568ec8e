"""PostgreSQL engine: claims with FOR UPDATE SKIP LOCKED, wake-ups and events with LISTEN/NOTIFY.

Modules: connection (pool, lost connections), channels (NOTIFY out, LISTEN in), enqueue + bulk, jobs,
workers, maintenance, liveness (worker locks); every statement is a file in queries/."""

from __future__ import annotations

import logging

import psycopg

from conveyor.store.base import load_migrations
from conveyor.store.core import translate_driver_errors
from conveyor.store.postgres.channels import event_notices, notify
from conveyor.store.postgres.connection import Q, connection_lost
from conveyor.store.postgres.enqueue import PostgresEnqueue
from conveyor.store.postgres.jobs import PostgresJobs
from conveyor.store.postgres.liveness import PostgresLiveness
from conveyor.store.postgres.workers import PostgresWorkers

__all__ = ["PostgresStore", "connection_lost", "event_notices", "notify"]

log = logging.getLogger("conveyor.store")

class PostgresStore(PostgresEnqueue, PostgresJobs, PostgresWorkers, PostgresLiveness):
    def migrate(self) -> int:
        with self._connection() as conn, conn.transaction():
            conn.execute(Q.migration_lock)
            conn.execute(Q.create_schema_version_table)
            row = conn.execute(Q.schema_version).fetchone()
            current = row[0] if row else 0
            for version, name, sql in load_migrations(self.engine):
                if version <= current:
                    continue
                conn.execute(sql)  # type: ignore[arg-type]
                conn.execute(Q.record_migration, {"version": version, "name": name})
                log.info("applied migration %04d_%s", version, name)
                current = version
            return int(current)

    def schema_version(self) -> int:
        present = self._fetchone(Q.schema_present, read=True)
        if not present or not present["present"]:
            return 0
        row = self._fetchone(Q.schema_version, read=True)
        return int(row["version"]) if row else 0


translate_driver_errors(PostgresStore, psycopg.Error)
