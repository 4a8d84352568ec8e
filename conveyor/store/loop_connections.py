"""Async PostgreSQL connections for async callers (enqueue_async), kept per event loop.

A connection belongs to the loop it was opened in, and an app may enqueue from several loops in
its life (asyncio.run per script or test). So idle connections are cached per loop and closed when
that loop shuts down: asyncio.run (and uvicorn) finalise every async generator of the loop before
closing it, and each cache keeps one open generator whose `finally` closes its connections.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

MAX_IDLE = 4  # idle connections kept per loop; more may be open while many enqueues are in flight
APPLICATION_NAME = "conveyor-async"  # how these connections show in pg_stat_activity


class _LoopCache:
    def __init__(self) -> None:
        self.idle: list[psycopg.AsyncConnection[Any]] = []
        self.closer: AsyncIterator[None] | None = None

    async def close_at_shutdown(self) -> AsyncIterator[None]:
        try:
            while True:
                yield
        finally:
            idle, self.idle = self.idle, []
            for conn in idle:
                await conn.close()


class LoopConnections:
    def __init__(self, url: str) -> None:
        self.url = url
        self._caches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopCache] = weakref.WeakKeyDictionary()

    async def _cache(self) -> _LoopCache:
        loop = asyncio.get_running_loop()
        cache = self._caches.get(loop)
        if cache is None:
            cache = self._caches[loop] = _LoopCache()
            cache.closer = cache.close_at_shutdown()
            await anext(cache.closer)  # started in this loop: finalised by its shutdown
        return cache

    async def discard_idle(self) -> None:
        """Close this loop's idle connections (after one was found dead: the rest likely are)."""
        cache = await self._cache()
        idle, cache.idle = cache.idle, []
        for conn in idle:
            await conn.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        cache = await self._cache()
        conn = cache.idle.pop() if cache.idle else None
        if conn is None or conn.closed:
            conn = await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, application_name=APPLICATION_NAME, client_encoding="utf8")
        try:
            yield conn
        finally:
            # Reused only when idle: a query cut off by cancellation leaves it mid-protocol.
            reusable = not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE
            if reusable and len(cache.idle) < MAX_IDLE:
                cache.idle.append(conn)
            else:
                await conn.close()
