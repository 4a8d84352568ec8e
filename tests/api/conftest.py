"""API fixtures: a real uvicorn server on a free port in a background thread, per test, bound to
the test's database (both engines through the `app` fixture), and API keys."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.sync.client import ClientConnection, connect

from conveyor import Conveyor
from conveyor.api.auth import create_api_key
from conveyor.api.server import create_app
from tests.conftest import wait_for


class ApiServer:
    def __init__(self, app: Conveyor, **options: Any) -> None:
        self.app = app
        self.fastapi = create_app(app, **options)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            self.fastapi, log_config=None, log_level="warning", lifespan="on", timeout_graceful_shutdown=3,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), timeout=15, message="server start")
        assert self.server.started, "the API server did not start (see the log above)"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()
        assert not self.thread.is_alive(), "the API server did not stop"

    def client(self, key: str | None = None, **headers: str) -> httpx.Client:
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=15)

    def ws(self, path: str, key: str | None = None) -> ClientConnection:
        sep = "&" if "?" in path else "?"
        url = f"{self.ws_url}{path}{sep}api_key={key}" if key else f"{self.ws_url}{path}"
        return connect(url, open_timeout=10, close_timeout=2)

    @property
    def hub(self) -> Any:
        return self.fastapi.state.conveyor.hub


@pytest.fixture
def api_server(app: Conveyor) -> Iterator[Callable[..., ApiServer]]:
    servers: list[ApiServer] = []

    def start(**options: Any) -> ApiServer:
        server = ApiServer(app, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def make_key(app: Conveyor) -> Callable[..., str]:
    def make(tenant: str = "*", role: str = "admin", name: str | None = None) -> str:
        return create_api_key(app.store, tenant=tenant, role=role, name=name)[1]

    return make


@pytest.fixture
def server(api_server: Callable[..., ApiServer]) -> ApiServer:
    return api_server()


@pytest.fixture
def admin_key(make_key: Callable[..., str]) -> str:
    return make_key("*", "admin", "test admin")


@pytest.fixture
def client(admin_key: str, server: ApiServer) -> Iterator[httpx.Client]:
    """An admin of every tenant."""
    with server.client(admin_key) as c:
        yield c


def recv_json(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=timeout))  # type: ignore[no-any-return]


def recv_until(
    ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Messages until one matches (returned with everything seen before it); fails at the deadline."""
    import time

    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching WebSocket message within {timeout}s; saw {seen}")
        try:
            message = recv_json(ws, timeout=left)
        except TimeoutError:
            raise AssertionError(f"no matching WebSocket message within {timeout}s; saw {seen}") from None
        if predicate(message):
            return message, seen
        seen.append(message)
