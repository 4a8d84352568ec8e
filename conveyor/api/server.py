"""The HTTP API server: create_app() builds the FastAPI app, serve() runs it with uvicorn.

The server also runs the maintenance pass (rescue orphans, enforce timeouts, report stranded
queues, prune) on its own thread, so those happen even when every worker is dead.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import ipaddress
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from conveyor import __version__
from conveyor.api import auth as auth_routes
from conveyor.api import (
    dead,
    etl_jobs,
    events,
    health,
    integrations,
    jira,
    jobs,
    metrics,
    pipelines,
    pull_requests,
    queues,
    schedules,
    search,
    task_metrics,
    workers,
)
from conveyor.api.auth import CREATE_KEY_HINT, Authenticator
from conveyor.api.errors import install_error_handlers
from conveyor.api.events import EventHub
from conveyor.api.limits import MAX_BODY_BYTES, BodySizeLimit, RateLimiter
from conveyor.api.metrics import ApiMetrics
from conveyor.api.runs_feed import RunHub
from conveyor.api.state import ApiContext
from conveyor.app import Conveyor
from conveyor.errors import ConfigurationError
from conveyor.maintenance import MaintenanceThread
from conveyor.store import Store

log = logging.getLogger("conveyor.api")


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def prepare_schema(store: Store) -> int:
    """Create the tables when there are none; never upgrade an existing schema silently."""
    if store.schema_version() == 0:
        version = store.migrate()
        log.warning("the database had no Conveyor tables: created them (schema version %d) in %s",
                    version, store.redacted_url())
        return version
    store.check_schema()  # raises SchemaOutdatedError with the upgrade command
    return store.schema_version()


def _mount_dashboard(fastapi_app: FastAPI, conveyor_app: Conveyor) -> None:
    try:
        found = importlib.util.find_spec("conveyor.web.routes") is not None
    except ImportError:
        found = False
    if not found:
        return
    try:
        module = importlib.import_module("conveyor.web.routes")
    except ImportError as exc:
        log.warning("dashboard not available: %s", exc)
        return
    mount = getattr(module, "mount_dashboard", None)
    if mount is not None:
        mount(fastapi_app, conveyor_app)


def _document_tasks(fastapi_app: FastAPI, conveyor_app: Conveyor) -> None:
    """The OpenAPI schema names this app's tasks as examples of POST /api/jobs."""
    generate = fastapi_app.openapi

    def openapi() -> dict[str, Any]:
        if fastapi_app.openapi_schema is None:
            schema = generate()
            names = [n for n in sorted(conveyor_app.tasks) if not n.startswith("conveyor.")]
            try:
                if names:
                    schema["components"]["schemas"]["EnqueueIn"]["properties"]["task"]["examples"] = names[:50]
                    body = schema["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]
                    body["example"] = {"task": names[0], "args": [], "kwargs": {}, "policy": "accept"}
            except KeyError:
                log.debug("OpenAPI layout changed: task examples not added")
        return fastapi_app.openapi_schema  # type: ignore[return-value]

    fastapi_app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    conveyor_app: Conveyor,
    *,
    auth: bool = True,
    supervisor: object | None = None,
    enqueue_rate: float = 50.0,
    enqueue_burst: int = 100,
    max_body_bytes: int = MAX_BODY_BYTES,
    maintenance: bool = True,
    dashboard: bool = True,
) -> FastAPI:
    """The API (and the dashboard when conveyor.web is installed) for one Conveyor app.

    auth=False makes every caller an admin of every tenant: only for loopback (serve() checks).
    enqueue_rate/enqueue_burst: the per-key token bucket of POST /api/jobs (rate <= 0: no limit).
    """
    api_metrics = ApiMetrics(conveyor_app)
    hub = EventHub(conveyor_app.store, on_finished=api_metrics.observe_finished)
    ctx = ApiContext(
        app=conveyor_app,
        authenticator=Authenticator(conveyor_app.store, enabled=auth),
        limiter=RateLimiter(enqueue_rate, enqueue_burst),
        hub=hub,
        metrics=api_metrics,
        supervisor=supervisor,
    )
    upkeep = MaintenanceThread(conveyor_app) if maintenance else None
    run_hub = RunHub(conveyor_app)  # pipelines: WS /ws/runs

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(prepare_schema, conveyor_app.store)
        if auth and not await asyncio.to_thread(conveyor_app.store.list_api_keys):
            log.warning("no API keys exist yet: %s", CREATE_KEY_HINT)
        await hub.start()
        await run_hub.start()
        if upkeep is not None:
            upkeep.start()
        try:
            yield
        finally:
            if upkeep is not None:
                await asyncio.to_thread(upkeep.stop)
            await hub.stop()
            await run_hub.stop()
            if supervisor is not None:
                # Here and not after serve() returns: on SIGTERM uvicorn re-raises the signal once
                # shut down, which ends the process before any code after it would run.
                await asyncio.to_thread(supervisor.shutdown)  # type: ignore[attr-defined]

    fastapi_app = FastAPI(
        title="Conveyor API",
        version=__version__,
        description="Background jobs where the database is the queue. Authenticate with "
        "`Authorization: Bearer <key>` or `X-API-Key: <key>` (create keys with `conveyor apikey create`).",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    fastapi_app.state.conveyor = ctx
    fastapi_app.state.run_hub = run_hub
    _document_tasks(fastapi_app, conveyor_app)
    install_error_handlers(fastapi_app)
    fastapi_app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    for module in (jobs, queues, workers, dead, auth_routes, health, metrics, task_metrics, events, pipelines,
                   integrations, jira, schedules, etl_jobs, search):
        fastapi_app.include_router(module.router)
    fastapi_app.include_router(pull_requests.router)  # the GitHub read API

    @fastapi_app.get("/docs", include_in_schema=False)
    def docs_redirect() -> RedirectResponse:
        return RedirectResponse("/api/docs", status_code=308)
    if dashboard:
        _mount_dashboard(fastapi_app, conveyor_app)
    return fastapi_app


class _RedactKeys(logging.Filter):
    """Access logs must not carry API keys passed as ?api_key= (WebSocket clients)."""

    pattern = re.compile(r"(api_key=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self.pattern.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = self.pattern.sub(r"\1***", record.msg)
        return True


def serve(
    app: Conveyor,
    host: str = "127.0.0.1",
    port: int = 8000,
    auth: bool = True,
    *,
    supervisor: object | None = None,
    log_level: str = "info",
    access_log: bool = True,
    **options: Any,
) -> None:
    """Run the API with uvicorn until interrupted (access_log: one line per HTTP request)."""
    import uvicorn

    if not auth and not is_loopback(host):
        raise ConfigurationError(
            f"Refusing to serve without authentication on {host}: anyone who can reach it could run "
            "and delete jobs.",
            action="Bind to 127.0.0.1 (--host 127.0.0.1) for --no-auth, or drop --no-auth and create an "
            "API key: conveyor apikey create --role admin --tenant '*'",
        )
    prepare_schema(app.store)
    fastapi_app = create_app(app, auth=auth, supervisor=supervisor, **options)
    # uvicorn logs through the handlers `conveyor` was set up with (text or JSON), keys redacted.
    handlers = logging.getLogger("conveyor").handlers
    redact = _RedactKeys()
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.addFilter(redact)
        if handlers and not logger.handlers:
            logger.handlers = list(handlers)
            logger.propagate = False
    config = uvicorn.Config(
        fastapi_app, host=host, port=port, log_level=log_level, server_header=False, access_log=access_log,
        ws_ping_interval=20.0, ws_ping_timeout=20.0, ws_max_size=64 * 1024,
        log_config=None if handlers else uvicorn.config.LOGGING_CONFIG,
    )
    log.info("Conveyor API on http://%s:%d (auth %s)", host, port, "on" if auth else "OFF")
    uvicorn.Server(config).run()
