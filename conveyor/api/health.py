"""GET /api/health: database reachable, schema current, live workers per queue. No key needed,
so load balancers and uptime checks can call it; it shows no job data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from conveyor.api.schemas import HealthOut
from conveyor.api.state import get_ctx
from conveyor.store.base import latest_schema_version

router = APIRouter(tags=["health"])


@router.get(
    "/api/health", response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "The database cannot be reached"}},
)
def health(request: Request) -> JSONResponse:
    ctx = get_ctx(request)
    store = ctx.store
    required = latest_schema_version(store.engine)
    problems: list[str] = []
    try:
        current = store.schema_version()
        stats = store.queue_stats(ctx.settings.liveness_timeout)
    except Exception as exc:  # any failure here means the database is not usable
        body: dict[str, Any] = {
            "status": "degraded", "database": False, "schema": None, "queues": {},
            "problems": [f"database unreachable: {type(exc).__name__}: {str(exc).strip()[:200]}"],
        }
        return JSONResponse(body, status_code=503)
    if current < required:
        problems.append(f"schema at version {current}, version {required} needed: run conveyor db upgrade")
    for s in stats:
        if s.stranded:
            problems.append(f"queue {s.name} has ready jobs and no live worker")
    body = {
        "status": "degraded" if problems else "ok",
        "database": True,
        "schema": {"current": current, "required": required},
        "queues": {s.name: s.live_workers for s in stats},
        "problems": problems,
    }
    return JSONResponse(body)
