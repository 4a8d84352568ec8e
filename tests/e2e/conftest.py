"""End-to-end fixtures: the real API server (with the dashboard) in a background thread, and
Debian's Chromium driven headless by Playwright.

The browser is the system one (/usr/bin/chromium, installed by scripts/install-browser.sh): the
tests never download a browser. They run on PostgreSQL only, to keep the suite fast; the engines
are covered by the engine and API suites. Every test saves screenshots under
test-artifacts/screenshots/ (and one more at teardown, pass or fail).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from conveyor import Conveyor
from tests.conftest import FAST, ROOT, wait_for

CHROMIUM = os.environ.get("CONVEYOR_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
TIMEOUT_MS = 15_000

# Installed before any page script runs: records every value the job page's progress bar shows.
RECORDER = """
window.__progressSeen = [];
new MutationObserver((records) => {
  for (const r of records) {
    if (r.target.id === "progress" && r.attributeName === "aria-valuenow") {
      const v = r.target.getAttribute("aria-valuenow");
      if (v !== null) window.__progressSeen.push(Number(v));
    }
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["aria-valuenow"] });
"""


@pytest.fixture(params=["postgres"])
def engine(request: pytest.FixtureRequest) -> str:
    """End-to-end tests run on one engine (PostgreSQL)."""
    return str(request.param)


# -- the server --------------------------------------------------------------------------------
@dataclass
class DashboardServer:
    app: Conveyor
    key: str
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket

    def login_url(self, path: str = "/") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.url}{path}{sep}key={self.key}"


def start_server(app: Conveyor, **options: Any) -> DashboardServer:
    from conveyor.api.auth import create_api_key
    from conveyor.api.server import create_app

    _, key = create_api_key(app.store, tenant="default", role="admin", name="e2e")
    fastapi_app = create_app(app, auth=True, **options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(fastapi_app, log_config=None, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=2)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True, name="e2e-server")
    thread.start()
    wait_for(lambda: uv.started or not thread.is_alive(), timeout=20, message="the API server to start")
    assert uv.started, "the API server did not start (see the log above)"
    return DashboardServer(app=app, key=key, url=f"http://127.0.0.1:{port}", server=uv, thread=thread, sock=sock)


def stop_server(server: DashboardServer) -> None:
    server.server.should_exit = True
    server.thread.join(15)
    server.sock.close()


@pytest.fixture
def server(app: Conveyor) -> Iterator[DashboardServer]:
    """The real API server with the dashboard, auth on, on a free port."""
    started = start_server(app)
    yield started
    stop_server(started)


@pytest.fixture
def pool_server(app: Conveyor, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DashboardServer, Any]]:
    """The server with a supervised pool of real `conveyor worker` processes (as `conveyor up`),
    started empty: the test adds workers from the Workers page."""
    from conveyor.supervisor import Supervisor

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    for name, value in FAST.items():  # the pool's workers heartbeat as fast as the test's settings
        monkeypatch.setenv(f"CONVEYOR_{name.upper()}", str(value))
    supervisor = Supervisor("tests.tasks:app", app.settings.database_url, concurrency=2)
    started = start_server(app, supervisor=supervisor)
    yield started, supervisor
    stop_server(started)
    supervisor.shutdown(timeout=15)


# -- the browser -------------------------------------------------------------------------------
def ensure_chromium() -> str:
    """Debian's chromium, installed by the project's own script when missing (never downloaded by
    the test tool). Fails loudly rather than skipping."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    script = ROOT / "scripts" / "install-browser.sh"
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0 or not os.path.exists(CHROMIUM):
        pytest.fail(
            f"No Chromium at {CHROMIUM} and {script} could not install it:\n{result.stdout}\n{result.stderr}\n"
            "Install it with: bash scripts/install-browser.sh (needs root for apt-get).",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="package")  # not session: sync Playwright keeps an event loop running in this thread
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The e2e tests need the playwright package: pip install -e '.[test]' "
                    "(never run `playwright install`: the tests use Debian's chromium).", pytrace=False)
    executable = ensure_chromium()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@dataclass
class Shots:
    """Saves named screenshots of a test under test-artifacts/screenshots/<test>-<name>.png."""

    page: Any
    prefix: str
    saved: list[Path] = field(default_factory=list)

    def __call__(self, name: str, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.prefix}-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        self.saved.append(path)
        return path


@dataclass
class Browsing:
    page: Any
    context: Any
    shot: Shots
    errors: list[str]


def _open(browser: Any, request: pytest.FixtureRequest, **context_options: Any) -> Iterator[Browsing]:
    options = {"viewport": {"width": 1280, "height": 860}, "color_scheme": "light", "locale": "en-GB",
               "timezone_id": "UTC", **context_options}
    context = browser.new_context(**options)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(RECORDER)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on("console", lambda msg: errors.append(f"console.error: {msg.text}") if msg.type == "error" else None)
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.originalname.removeprefix("test_"))
    browsing = Browsing(page=page, context=context, shot=Shots(page, prefix), errors=errors)
    yield browsing
    with contextlib.suppress(Exception):  # a failed screenshot must not hide the test's own failure
        browsing.shot("final")
    context.close()


@pytest.fixture
def web(browser: Any, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    """A fresh browser context (its own localStorage) and page, desktop-sized."""
    yield from _open(browser, request)


@pytest.fixture
def phone(browser: Any, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    """A phone-sized context (390 x 844, touch) in dark mode."""
    yield from _open(browser, request, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                     device_scale_factor=2, color_scheme="dark")


def page_errors(errors: list[str]) -> list[str]:
    """Uncaught exceptions and console errors, less the browser's own "Failed to load resource"
    lines: answers like 401 (a wrong key at login) and 503 (a refused Run now) are part of the
    flows under test."""
    return [e for e in errors if "Failed to load resource" not in e]
