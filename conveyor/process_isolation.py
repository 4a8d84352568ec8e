"""Run a sync task in a child process, so that a timeout can really stop it (kill)."""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from conveyor.context import JobContext, _current
from conveyor.errors import JobTimeoutError
from conveyor.logs import flush_logs


class ChildTaskError(Exception):
    """The task raised in its child process; the message carries the child's traceback."""


def _child(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], ctx: JobContext, conn: Connection) -> None:
    try:
        from conveyor.store import open_store

        # The parent's connections must not be shared across fork: open our own.
        ctx.store = open_store(ctx.store.url)
        _current.set(ctx)
        if args and args[0] is not None and isinstance(args[0], JobContext):
            args = [ctx, *args[1:]]
        conn.send(("ok", fn(*args, **kwargs)))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(exc))))
    finally:
        conn.close()
        flush_logs()  # os._exit skips logging's flush at exit
        os._exit(0)


def run_in_process(
    fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], ctx: JobContext, timeout: float | None
) -> Any:
    """Fork, run fn there, return its result; kill the child when it runs past `timeout`."""
    mp = multiprocessing.get_context("fork")
    receiver, sender = mp.Pipe(duplex=False)
    child = mp.Process(target=_child, args=(fn, args, kwargs, ctx, sender), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            child.kill()
            raise JobTimeoutError(f"timed out after {timeout:g} s (child process {child.pid} killed)")
        message = receiver.recv()
    except EOFError:
        raise ChildTaskError(f"the task's process {child.pid} died (exit code {child.exitcode})") from None
    finally:
        child.join(timeout=5)
        receiver.close()
    if message[0] == "ok":
        return message[1]
    raise ChildTaskError(f"{message[1]}\n--- traceback in child process ---\n{message[2]}")
