"""Serve a WebSocket until either side ends: `send` pushes messages while the client's frames are
read and dropped, so a disconnect is noticed at once even while nothing is being sent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect


async def pump(websocket: WebSocket, send: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async def receive() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            continue  # clients send nothing we act on

    tasks = [asyncio.create_task(receive()), asyncio.create_task(send())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, Exception):
                await task
