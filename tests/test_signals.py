"""The worker's Signal and wait_any (issue #19): set wakes every waiter, a set signal returns at
once, the timeout ends a wait, and a finished wait leaves no waiter behind."""

from __future__ import annotations

import asyncio

from conveyor.signals import Signal, wait_any


def test_wait_any_returns_when_one_signal_is_set_or_the_timeout_passes():
    async def scenario() -> None:
        a, b = Signal(), Signal()
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, b.set)
        await asyncio.wait_for(wait_any(a, b), timeout=5)
        assert b.is_set() and not a.is_set()
        assert a._waiters == [] and b._waiters == []
        await wait_any(b)  # already set: at once
        b.clear()
        await asyncio.wait_for(wait_any(a, b, timeout=0.01), timeout=5)  # neither: the timeout
        assert a._waiters == [] and b._waiters == []

    asyncio.run(scenario())


def test_one_set_wakes_every_waiter():
    async def scenario() -> None:
        flag = Signal()
        waiters = [asyncio.ensure_future(flag.wait()) for _ in range(3)]
        await asyncio.sleep(0)
        flag.set()
        await asyncio.wait_for(asyncio.gather(*waiters), timeout=5)

    asyncio.run(scenario())


def test_a_cancelled_wait_leaves_no_waiter_behind():
    async def scenario() -> None:
        flag = Signal()
        waiter = asyncio.ensure_future(wait_any(flag))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert flag._waiters == []

    asyncio.run(scenario())
