"""Who runs the scheduler: one process at a time, any process of the deployment.

PostgreSQL: a session advisory lock held on a connection of its own. When the leader's process
dies, its connection closes and the server releases the lock at once; the next process to ask (at
its next maintenance pass) becomes leader. SQLite has no sessions: a lease row renewed under the
write lock each pass; another process takes over when the lease has not been renewed for
`lease` seconds. Either way, exactly-once firing never depends on this alone: the unique
(schedule, fire time) row is the backstop.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

from conveyor.store.schedules_sql import schedule_sql

if TYPE_CHECKING:
    from conveyor.app import Conveyor

log = logging.getLogger("conveyor.scheduler")


class Leadership:
    def __init__(self, app: Conveyor, lease: float) -> None:
        self.app = app
        self.lease = lease
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading = False
        self._conn: Any = None  # PostgreSQL: the connection that holds the lock

    def hold(self) -> bool:
        """True when this process is the leader now (taking the lead when it is free)."""
        store = self.app.store
        was = self.leading
        if store.engine == "postgres":
            self.leading = self._hold_postgres(store)
        else:
            sql = schedule_sql(store)
            now = time.time()
            name = "scheduler_keep_lead" if self.leading else "scheduler_take_lead"
            row = sql.one(name, owner=self.owner, until=now + self.lease, now=now)
            self.leading = bool(row and row["leader"])
            if not self.leading and was:
                self.leading = bool((row := sql.one("scheduler_take_lead", owner=self.owner,
                                                    until=now + self.lease, now=now)) and row["leader"])
        if self.leading != was:
            log.info("scheduler: %s leader (%s)", "became" if self.leading else "no longer", self.owner)
        return self.leading

    def _hold_postgres(self, store: Any) -> bool:
        import psycopg

        from conveyor.store.postgres.connection import Q
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(store.url, autocommit=True, connect_timeout=5)
                self.leading = False
            statement = Q.scheduler_keep_lead if self.leading else Q.scheduler_take_lead
            row = self._conn.execute(statement).fetchone()
            return bool(row and row[0])
        except psycopg.Error as exc:
            log.warning("scheduler: leader connection lost (%s)", exc)
            self._close()
            return False

    def release(self) -> None:
        """Give up the lead (clean shutdown): another process takes over at its next pass."""
        try:
            if self.app.store.engine == "postgres":
                self._close()
            elif self.leading:
                schedule_sql(self.app.store).run("scheduler_give_up_lead", owner=self.owner)
        except Exception as exc:  # shutting down: the lease expires by itself
            log.debug("scheduler: release failed: %s", exc)
        self.leading = False

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already broken
                pass
        self._conn = None
        self.leading = False
