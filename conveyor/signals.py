"""A flag for the worker's event loop that can be awaited together with others, cheaply.

The claim loop waits for "a wake-up, a free slot or a stop, or a timeout" many times a second.
With asyncio.Event that took a task per event plus asyncio.wait (~40 us and several loop turns,
on the path from a NOTIFY to the claim); here it is one future and one timer."""

from __future__ import annotations

import asyncio


class Signal:
    """asyncio.Event's set/clear/is_set/wait, whose waiters are plain futures (see wait_any)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if not self._set:
            self._set = True
            waiters, self._waiters = self._waiters, []
            for future in waiters:
                if not future.done():
                    future.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        await wait_any(self)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def wait_any(*signals: Signal, timeout: float | None = None) -> None:
    """Return once any of the signals is set, or after `timeout` seconds."""
    if any(s._set for s in signals):
        return
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    for s in signals:
        s._waiters.append(future)
    timer = loop.call_later(timeout, _resolve, future) if timeout is not None else None
    try:
        await future
    finally:
        if timer is not None:
            timer.cancel()
        for s in signals:
            if future in s._waiters:
                s._waiters.remove(future)
