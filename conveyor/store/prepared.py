"""The hottest statement, run through libpq's prepared-statement calls directly.

psycopg's execute() builds a cursor and adapts every parameter through its dumpers on each call:
on the 17-parameter single-enqueue statement that is ~30 us of a ~200 us round trip (bench:
one-by-one enqueue), and its async wait adds ~50 us more per query. A statement that runs
thousands of times a second goes through the libpq wrapper psycopg documents instead
(`psycopg.pq`): prepared once per connection, parameters sent as text, the answer read off the
PGresult. Everything else keeps psycopg's execute().

Connections must speak UTF-8 (the pool and the loop connections are opened with
client_encoding=utf8), since parameters are sent and answers read as UTF-8.

The sync call waits inside libpq (the GIL released), the fastest wait measured (a select() loop
in Python cost ~20 us more per call): a signal such as Ctrl-C is handled when the server answers.
A dead network holds it, like any statement, until TCP gives up; `tcp_user_timeout` or the
`keepalives_*` options in the database URL shorten that.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors
from psycopg.pq import ConnStatus, DiagnosticField, ExecStatus
from psycopg.pq.abc import PGconn, PGresult

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_names_taken: set[bytes] = set()


def encode_param(value: Any) -> bytes | None:
    """A parameter as PostgreSQL's text input: None is NULL."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):  # before int: bool is an int
        return b"t" if value else b"f"
    if isinstance(value, int | float):
        return repr(value).encode()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime parameter: pass a timezone-aware one")
        return value.isoformat().encode()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):  # a text[] literal
        return ("{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in value) + "}").encode()
    raise TypeError(f"cannot send a {type(value).__name__} as a text parameter")


class PreparedStatement:
    """One statement with %(name)s placeholders, prepared on each connection at its first use.

    prepare=False: sent with its parameters every time (planned for those values: see finish_jobs)."""

    def __init__(self, name: str, sql: str, *, prepare: bool = True) -> None:
        self.prepare = prepare
        self.name = name.encode()
        if self.name in _names_taken:
            raise ValueError(f"prepared statement name {name!r} is used twice")
        _names_taken.add(self.name)
        self.param_names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in self.param_names:
                self.param_names.append(match.group(1))
            return f"${self.param_names.index(match.group(1)) + 1}"

        self.sql = _PLACEHOLDER.sub(number, sql).encode()
        self._prepared_on: weakref.WeakSet[PGconn] = weakref.WeakSet()

    def params(self, values: Mapping[str, Any]) -> list[bytes | None]:
        return [encode_param(values[name]) for name in self.param_names]

    def fetchone(self, conn: psycopg.Connection[Any], values: Mapping[str, Any]) -> tuple[str | None, ...] | None:
        """Run it on a connection held by this caller alone (a pooled one); the first row, as text."""
        pgconn = conn.pgconn
        params = self.params(values)
        for attempt in (1, 2):
            if pgconn not in self._prepared_on:
                _check(pgconn, pgconn.prepare(self.name, self.sql))  # blocking; the GIL is released
                self._prepared_on.add(pgconn)
            result = pgconn.exec_prepared(self.name, params)  # type: ignore[arg-type]  # None is NULL
            if attempt == 1 and _lost_statement(result):  # deallocated by someone: prepare again
                self._prepared_on.discard(pgconn)
                continue
            return _first_row(pgconn, result)
        raise AssertionError("unreachable")

    async def fetchone_async(
        self, conn: psycopg.AsyncConnection[Any], values: Mapping[str, Any]
    ) -> tuple[str | None, ...] | None:
        """fetchone() for an async connection: the event loop waits on the socket, never blocks."""
        pgconn = conn.pgconn
        return _first_row(pgconn, await self._run_async(pgconn, values))

    async def fetchall_async(
        self, conn: psycopg.AsyncConnection[Any], values: Mapping[str, Any]
    ) -> list[tuple[str | None, ...]]:
        """Every row, as text, on an async connection held by this caller alone."""
        pgconn = conn.pgconn
        result = _check(pgconn, await self._run_async(pgconn, values))
        ncols = result.nfields
        rows = []
        for row in range(result.ntuples):
            values_ = (result.get_value(row, col) for col in range(ncols))
            rows.append(tuple(None if value is None else value.decode() for value in values_))
        return rows

    async def _run_async(self, pgconn: PGconn, values: Mapping[str, Any]) -> PGresult | None:
        params = self.params(values)
        if not self.prepare:
            pgconn.send_query_params(self.sql, params)  # type: ignore[arg-type]  # None is NULL
            return await _last_result(pgconn)
        for attempt in (1, 2):
            if pgconn not in self._prepared_on:
                pgconn.send_prepare(self.name, self.sql)
                _check(pgconn, await _last_result(pgconn))
                self._prepared_on.add(pgconn)
            pgconn.send_query_prepared(self.name, params)  # type: ignore[arg-type]
            result = await _last_result(pgconn)
            if attempt == 1 and _lost_statement(result):
                self._prepared_on.discard(pgconn)
                continue
            return result
        raise AssertionError("unreachable")


def _lost_statement(result: PGresult | None) -> bool:
    return (result is not None and result.status == ExecStatus.FATAL_ERROR
            and result.error_field(DiagnosticField.SQLSTATE) == b"26000")  # invalid statement name


def _check(pgconn: PGconn, result: PGresult | None) -> PGresult:
    """The result, or the psycopg error it stands for (OperationalError when the connection died)."""
    if pgconn.status != ConnStatus.OK or result is None:
        message = pgconn.error_message.decode(errors="replace").strip() or "connection lost"
        raise psycopg.OperationalError(message)
    if result.status == ExecStatus.FATAL_ERROR:
        raise errors.error_from_result(result, encoding="utf-8")
    return result


def _first_row(pgconn: PGconn, result: PGresult | None) -> tuple[str | None, ...] | None:
    result = _check(pgconn, result)
    if result.ntuples == 0:
        return None
    values = (result.get_value(0, col) for col in range(result.nfields))
    return tuple(None if value is None else value.decode() for value in values)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _ready(pgconn: PGconn, *, write: bool) -> None:
    """Wait until the connection's socket can be written to (write=True) or read from."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    fd = pgconn.socket
    if write:
        loop.add_writer(fd, _wake, future)
    else:
        loop.add_reader(fd, _wake, future)
    try:
        await future
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


async def _last_result(pgconn: PGconn) -> PGresult | None:
    """Send what was queued on a non-blocking connection and read every result of it: the last
    one, or the first error. None when the connection died."""
    while pgconn.flush():
        await _ready(pgconn, write=True)
    last: PGresult | None = None
    while True:
        while pgconn.is_busy():
            await _ready(pgconn, write=False)
            try:
                pgconn.consume_input()
            except psycopg.OperationalError:
                return None
        result = pgconn.get_result()
        if result is None:
            return last
        if last is None or last.status != ExecStatus.FATAL_ERROR:
            last = result
