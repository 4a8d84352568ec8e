"""PostgreSQL connections: the pool, a lost connection noticed once, a read retried once."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from psycopg_pool.base import AttemptWithBackoff

from conveyor.errors import DatabaseUnavailableError
from conveyor.model import Job
from conveyor.store.base import EventListener, Store
from conveyor.store.loop_connections import LoopConnections
from conveyor.store.queries import Queries
from conveyor.store.rows import job_from_row

log = logging.getLogger("conveyor.store")

Q = Queries("conveyor.store.postgres")  # every statement of this engine, read once


def connection_lost(exc: BaseException) -> bool:
    """The error says the connection died (server restart, terminated backend, network), not that
    the statement was wrong: class 08 (connection exception), 57P01-03 (shutdown), or no SQLSTATE."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


RECONNECT_MAX_DELAY_S = 1.0


class PromptReconnect(AttemptWithBackoff):
    """psycopg_pool doubles the wait between reconnection attempts without a bound (1, 2, 4, 8,
    16 s...): after a 20 s server restart the pool came back up to 16 s late, longer than a worker's
    heartbeat may be silent, and a live worker was declared dead. Try again at most every second."""

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_MAX_DELAY_S)


class ConveyorPool(ConnectionPool[Any]):
    """The pool, reconnecting promptly once the server is back (see PromptReconnect)."""

    def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        super()._add_connection(attempt or PromptReconnect(timeout=self.reconnect_timeout), growing)


class PooledConnection:
    """`with store._connection() as conn:` a pooled connection. When one turns out dead (a server
    restart, idle connections cut by a proxy), the pool's other idle connections are checked at once
    and replaced if dead too, so the loss costs one failed call, not one per pooled connection.

    A class rather than @contextmanager, and getconn/putconn rather than pool.connection(): this
    runs for every store call, and the connections are in autocommit mode, so pool.connection()'s
    commit on exit would do nothing but cost time (bench: one-by-one enqueue)."""

    __slots__ = ("pool", "conn")

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    def __enter__(self) -> psycopg.Connection[Any]:
        self.conn: psycopg.Connection[Any] = self.pool.getconn()
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if isinstance(exc, psycopg.Error) and connection_lost(exc):
                log.warning("database connection lost (%s); checking the pooled connections", exc)
                self.pool.check()
        finally:
            # putconn rolls back a connection left in a transaction and replaces a broken one.
            self.pool.putconn(self.conn)


class PostgresConnections(Store):
    """The pool (and the async connections of enqueue_async), and the calls every statement uses."""

    engine = "postgres"
    wakes_across_processes = True  # LISTEN/NOTIFY reaches every worker at once

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 16, connect_timeout: float = 10.0) -> None:
        self.url = url
        self._listeners: list[EventListener] = []
        self._listeners_lock = threading.Lock()
        self._event_thread: threading.Thread | None = None
        self._closed = threading.Event()
        try:
            # One direct connection first: a wrong URL or a down server fails fast, with the
            # server's own words, instead of after the pool's retry loop.
            psycopg.connect(url, connect_timeout=max(1, int(connect_timeout))).close()
            self.pool = ConveyorPool(
                url,
                min_size=min_size,
                max_size=max_size,
                kwargs={"autocommit": True, "client_encoding": "utf8"},  # utf8: see prepared.py
                open=False,
                name="conveyor",
                reconnect_timeout=60,
            )
            self.pool.open(wait=True, timeout=connect_timeout)
            self.loop_connections = LoopConnections(url)
        except Exception as exc:  # any failure here means "cannot connect"
            raise DatabaseUnavailableError(
                f"Cannot connect to PostgreSQL at {self.redacted_url()}: {str(exc).strip() or type(exc).__name__}.",
                action="Check that the server is running and the URL (host, port, user, database) is right; "
                "set it with CONVEYOR_DATABASE_URL or --database-url.",
            ) from None

    def close(self) -> None:
        self._closed.set()
        self.pool.close()

    def _connection(self) -> PooledConnection:
        """A pooled connection for one call (see PooledConnection)."""
        return PooledConnection(self.pool)

    def _fetchall(
        self, sql: str, params: dict[str, Any] | None = None, *, prepare: bool | None = None, read: bool = False
    ) -> list[dict[str, Any]]:
        """Run one statement. read=True: it changes nothing, so a connection found dead is
        replaced and the statement run again."""
        for attempt in (1, 2):
            try:
                with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(sql, params, prepare=prepare)
                    return cur.fetchall() if cur.description else []
            except psycopg.OperationalError as exc:
                if not (read and attempt == 1 and connection_lost(exc)):
                    raise
        raise AssertionError("unreachable")

    def _fetchone(self, sql: str, params: dict[str, Any] | None = None, *, read: bool = False) -> dict[str, Any] | None:
        rows = self._fetchall(sql, params, read=read)
        return rows[0] if rows else None

    @staticmethod
    def _time(value: Any) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromisoformat(value)

    def _job(self, row: dict[str, Any]) -> Job:
        return job_from_row(row, self._time, lambda v: v)
