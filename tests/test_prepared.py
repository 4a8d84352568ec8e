"""The hot statement's direct libpq path (conveyor/store/prepared.py), on the real PostgreSQL server:
parameters arrive as sent, errors are psycopg's own classes, a lost statement or connection is
handled the way psycopg's execute() would handle it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest

from conveyor.store.postgres import connection_lost
from conveyor.store.prepared import PreparedStatement, encode_param
from tests.test_engine import run_in_new_loop

ECHO = PreparedStatement("test_echo", "SELECT %(text)s::text, %(n)s::int, %(x)s::float8, %(flag)s::bool, "
                                      "%(at)s::timestamptz, %(text)s::text || '!', %(missing)s::text")
DIVIDE = PreparedStatement("test_divide", "SELECT 1 / %(n)s::int")
EMPTY = PreparedStatement("test_empty", "SELECT 1 WHERE %(n)s::int > 1")

VALUES = {"text": "naïve ✓ 'quoted'", "n": -42, "x": 0.1, "flag": False,
          "at": datetime(2026, 11, 24, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=2))), "missing": None}


def connect(postgres_url: str) -> psycopg.Connection:
    return psycopg.connect(postgres_url, autocommit=True, client_encoding="utf8")


async def connect_async(postgres_url: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(postgres_url, autocommit=True, client_encoding="utf8")


def expected_echo() -> tuple:
    return (VALUES["text"], "-42", "0.1", "f", "2026-11-24 01:04:05.123456+00", VALUES["text"] + "!", None)


def test_parameters_are_sent_as_postgresql_reads_them():
    assert encode_param(None) is None
    assert encode_param(True) == b"t" and encode_param(1) == b"1"
    assert encode_param(1e-7) == b"1e-07" and encode_param("é") == "é".encode()
    assert encode_param(datetime(2026, 1, 2, tzinfo=UTC)) == b"2026-01-02T00:00:00+00:00"
    with pytest.raises(ValueError, match="timezone-aware"):
        encode_param(datetime(2026, 1, 2))
    with pytest.raises(TypeError, match="cannot send a dict"):
        encode_param({"a": 1})
    with pytest.raises(ValueError, match="used twice"):
        PreparedStatement("test_echo", "SELECT 1")


def test_runs_and_answers_in_text_on_a_sync_connection(postgres_url):
    with connect(postgres_url) as conn:
        conn.execute("SET timezone TO 'UTC'")
        assert ECHO.fetchone(conn, VALUES) == expected_echo()
        assert EMPTY.fetchone(conn, {"n": 1}) is None


def test_runs_on_an_async_connection(postgres_url):
    async def run():
        async with await connect_async(postgres_url) as conn:
            await conn.execute("SET timezone TO 'UTC'")
            return await ECHO.fetchone_async(conn, VALUES), await EMPTY.fetchone_async(conn, {"n": 1})

    assert run_in_new_loop(run()) == (expected_echo(), None)


def test_errors_are_psycopgs_own_and_leave_the_connection_usable(postgres_url):
    with connect(postgres_url) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            DIVIDE.fetchone(conn, {"n": 0})
        assert DIVIDE.fetchone(conn, {"n": 1}) == ("1",)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    async def run():
        async with await connect_async(postgres_url) as conn:
            with pytest.raises(psycopg.errors.DivisionByZero):
                await DIVIDE.fetchone_async(conn, {"n": 0})
            return await DIVIDE.fetchone_async(conn, {"n": 2})

    assert run_in_new_loop(run()) == ("0",)


def test_a_deallocated_statement_is_prepared_again(postgres_url):
    with connect(postgres_url) as conn:
        assert DIVIDE.fetchone(conn, {"n": 1}) == ("1",)
        conn.execute("DEALLOCATE ALL")
        assert DIVIDE.fetchone(conn, {"n": 1}) == ("1",)

    async def run():
        async with await connect_async(postgres_url) as conn:
            await DIVIDE.fetchone_async(conn, {"n": 1})
            await conn.execute("DEALLOCATE ALL")
            return await DIVIDE.fetchone_async(conn, {"n": 1})

    assert run_in_new_loop(run()) == ("1",)


def _kill(postgres_url: str, pid: int) -> None:
    with connect(postgres_url) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()[0]


def test_a_dead_connection_raises_an_error_that_says_so(postgres_url):
    with connect(postgres_url) as conn:
        DIVIDE.fetchone(conn, {"n": 1})
        _kill(postgres_url, conn.info.backend_pid)
        with pytest.raises(psycopg.OperationalError) as failed:
            DIVIDE.fetchone(conn, {"n": 1})
        assert connection_lost(failed.value)

    async def run():
        async with await connect_async(postgres_url) as conn:
            await DIVIDE.fetchone_async(conn, {"n": 1})
            _kill(postgres_url, conn.info.backend_pid)
            with pytest.raises(psycopg.OperationalError) as failed:
                await DIVIDE.fetchone_async(conn, {"n": 1})
            return connection_lost(failed.value)

    assert run_in_new_loop(run())


def test_a_cancelled_async_call_leaves_the_connection_busy_not_idle(postgres_url):
    """LoopConnections reuses only idle connections; one cut off mid-query must not look idle."""
    slow = PreparedStatement("test_slow", "SELECT pg_sleep(%(s)s::float8)")

    async def run():
        conn = await connect_async(postgres_url)
        try:
            call = asyncio.ensure_future(slow.fetchone_async(conn, {"s": 5}))
            await asyncio.sleep(0.2)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            return conn.info.transaction_status
        finally:
            await conn.close()

    assert run_in_new_loop(run()) != psycopg.pq.TransactionStatus.IDLE
