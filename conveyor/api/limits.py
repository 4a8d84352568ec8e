"""Request limits: body size (413) and the per-key enqueue rate (429 with Retry-After)."""

from __future__ import annotations

import json
import math
import threading
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.api.errors import ApiError

MAX_BODY_BYTES = 1 << 20  # 1 MiB


class BodyTooLarge(HTTPException):
    """Raised from receive(); FastAPI re-raises HTTPExceptions met while reading the body."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


def _too_large_body(limit: int) -> bytes:
    return json.dumps({
        "error": f"The request body is larger than the {limit}-byte limit.",
        "action": "Send smaller payloads: store large data elsewhere (a file, a bucket) and pass a reference.",
        "technical_details": f"limit {limit} bytes",
    }).encode()


class BodySizeLimit:
    """Pure ASGI middleware: refuses a declared Content-Length over the limit at once and stops
    reading a streamed body as soon as it passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(send)
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = _too_large_body(self.max_bytes)
        await send({
            "type": "http.response.start", "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close")],
        })
        await send({"type": "http.response.body", "body": body})


class RateLimiter:
    """A token bucket per key: `rate` tokens a second, at most `burst` saved up."""

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate = float(rate)
        self.burst = float(max(1, burst))
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, n: float = 1.0) -> float:
        """0.0 when allowed, else the seconds to wait before `n` tokens are there."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= n:
                self._buckets[key] = (tokens - n, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self.max_keys:  # forget full buckets: they behave like new ones
                for k in [k for k, (t, a) in self._buckets.items() if t + (now - a) * self.rate >= self.burst]:
                    del self._buckets[k]
            return (n - tokens) / self.rate

    def check(self, key: str) -> None:
        wait = self.take(key)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429, "Too many enqueue requests for this API key.",
                action=f"Retry after {retry_after} s, or enqueue in bulk from Python (task.enqueue_many).",
                technical_details=f"limit {self.rate:g}/s with bursts of {self.burst:g} per API key",
                headers={"Retry-After": str(retry_after)},
            )
