"""Async task bodies that can never wait, run by the worker inline: no asyncio task of their own.

An `async def` task without any `await`, `async with` or `async for` (a no-op-sized job: update a
dict, append to a file) runs from start to end in one step. Given a task of its own, that step
costs more than the body (create_task, a loop turn, the task's bookkeeping: ~8 us a job measured
in issue #19). Such a body is run right where the worker starts it, in a copy of the context with
the job's JobContext set, as its task would have run it. A body that can wait always gets its own
task (its timeout, cancellation and concurrency depend on it), and so does any job with a timeout.

One difference remains, stated here: asyncio.current_task() in such a body is the worker's claim
loop, not a task of the job's own (it cannot wait, so it cannot be cancelled half-way anyway).
"""

from __future__ import annotations

import contextvars
import dis
import inspect
from collections.abc import Callable
from typing import Any

from conveyor.context import JobContext, _current

# The opcodes through which a coroutine can suspend (await, async with / for, yield), on every
# supported Python: a code object without any of them runs to its end in one step.
_SUSPENDING = {dis.opmap[name] for name in (
    "GET_AWAITABLE", "GET_AITER", "GET_ANEXT", "BEFORE_ASYNC_WITH", "SETUP_ASYNC_WITH", "END_ASYNC_FOR",
    "YIELD_VALUE", "YIELD_FROM", "SEND",
) if name in dis.opmap}


def never_waits(fn: Callable[..., Any]) -> bool:
    """True for an `async def` whose own code cannot suspend (see the module's docstring)."""
    if not inspect.iscoroutinefunction(fn) or inspect.unwrap(fn) is not fn:
        return False  # a wrapper may await the function it wraps: leave it a task
    code = getattr(fn, "__code__", None)
    return code is not None and not any(op.opcode in _SUSPENDING for op in dis.get_instructions(code))


def _first_step(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], ctx: JobContext) -> None:
    _current.set(ctx)
    coro = fn(*args, **kwargs)
    coro.send(None)  # ends with StopIteration (the result)
    coro.close()
    raise RuntimeError(f"{getattr(fn, '__qualname__', fn)} waited, though its code has no await")


def run_inline(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], ctx: JobContext) -> Any:
    """Run a body that never waits to its end; its result, or its exception."""
    try:
        contextvars.copy_context().run(_first_step, fn, args, kwargs, ctx)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("unreachable")
