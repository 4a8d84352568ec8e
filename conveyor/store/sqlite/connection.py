"""SQLite connections: one per thread, WAL mode, write transactions taken at once."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from conveyor.errors import ConfigurationError, DatabaseUnavailableError
from conveyor.model import Job
from conveyor.store.base import EventListener, Store
from conveyor.store.queries import Queries
from conveyor.store.rows import job_from_row

Q = Queries("conveyor.store.sqlite")  # every statement of this engine, read once


def ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _iso_or_ts(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return ts(float(value))
    return datetime.fromisoformat(value)


def _load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class SQLiteConnections(Store):
    engine = "sqlite"
    wakes_across_processes = False  # in-process wake-ups only: other processes poll

    def __init__(self, url: str) -> None:
        self.url = url
        path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None
        if path is None or not path:
            raise ConfigurationError(
                f"Malformed SQLite URL {url!r}.",
                action="Use sqlite:///relative/path.db or sqlite:////absolute/path.db.",
            )
        self.path = os.path.abspath(path)
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            raise DatabaseUnavailableError(
                f"Cannot open SQLite database {self.path}: folder {folder} does not exist.",
                action="Create the folder or point CONVEYOR_DATABASE_URL somewhere else.",
            )
        self._local = threading.local()
        self._closed = threading.Event()
        self._all_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._listeners: list[EventListener] = []
        self._listeners_lock = threading.Lock()
        self._poller: threading.Thread | None = None
        try:
            self._conn().execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise DatabaseUnavailableError(
                f"Cannot open SQLite database {self.path}: {exc}.",
                action="Check the path and its permissions.",
            ) from None

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._conns_lock:
                self._all_conns.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE) so it never deadlocks on upgrade."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def _all(self, sql: str, params: dict[str, Any] | tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Run a read; `now` is added to named parameters (times are this machine's clock)."""
        if isinstance(params, dict):
            params.setdefault("now", time.time())
        return self._conn().execute(sql, params).fetchall()

    def _run(self, sql: str, params: dict[str, Any]) -> list[sqlite3.Row]:
        """Run one write in its own transaction; `now` is added to the parameters."""
        params.setdefault("now", time.time())
        with self._write() as conn:
            return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self._closed.set()
        # The event poller must be out of its query before its connection is closed under it
        # (closing a connection another thread is using can crash the interpreter).
        poller = self._poller
        if poller is not None and poller is not threading.current_thread():
            poller.join(timeout=5)
        self._forget_wake_callbacks()
        with self._conns_lock:
            for conn in self._all_conns:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all_conns.clear()

    def _forget_wake_callbacks(self) -> None:
        """Overridden by the poller module."""

    def _job(self, row: sqlite3.Row) -> Job:
        return job_from_row(dict(row), _iso_or_ts, _load)
