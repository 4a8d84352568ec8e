"""Every error the API answers is JSON: {"error", "action", "technical_details"} (+ extras).

ConveyorError subclasses map to 4xx/5xx by kind; request validation answers 422 naming the field;
a database that cannot be reached answers 503. Bad input never produces a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from conveyor.errors import (
    ConfigurationError,
    ConveyorError,
    DatabaseError,
    DatabaseUnavailableError,
    InvalidJobError,
    InvalidTransitionError,
    JobNotFoundError,
    LivenessCheckError,
    NoLiveWorkerError,
    SchemaOutdatedError,
    UnknownTaskError,
)

log = logging.getLogger("conveyor.api")

# First match wins: subclasses before their bases.
STATUS_BY_ERROR: list[tuple[type[ConveyorError], int]] = [
    (UnknownTaskError, 422),
    (InvalidJobError, 422),
    (JobNotFoundError, 404),
    (InvalidTransitionError, 409),
    (NoLiveWorkerError, 503),
    (LivenessCheckError, 503),
    (DatabaseUnavailableError, 503),
    (SchemaOutdatedError, 503),
    (ConfigurationError, 500),
]

HTTP_ACTIONS = {
    404: "Check the URL; the API lives under /api (see /api/docs).",
    405: "Check the HTTP method in the API reference at /api/docs.",
    400: "Send a JSON body with Content-Type: application/json (reference: /api/docs).",
    413: "Send smaller payloads: store large data elsewhere (a file, a bucket) and pass a reference.",
}


class ApiError(Exception):
    """Raised by route code for an answer that is not a ConveyorError (400/401/403/409/413/429)."""

    def __init__(
        self,
        status: int,
        error: str,
        *,
        action: str = "",
        technical_details: str = "",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.action = action
        self.technical_details = technical_details
        self.headers = headers
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "action": self.action, "technical_details": self.technical_details,
                **self.extra}


def status_for(exc: ConveyorError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return 400


def error_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    body.setdefault("action", "")
    body.setdefault("technical_details", "")
    return JSONResponse(status_code=status, content=body, headers=headers)


def not_found(what: str, ident: str, action: str) -> ApiError:
    return ApiError(404, f"No {what} {ident}.", action=action)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie") and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.body(), exc.headers)


async def _conveyor_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConveyorError)
    status = status_for(exc)
    if status >= 500:
        level = logging.INFO if isinstance(exc, NoLiveWorkerError) else logging.WARNING
        log.log(level, "%s: %s", type(exc).__name__, exc.message)
    body: dict[str, Any] = exc.to_dict()
    parameter = getattr(exc, "parameter", None)
    if parameter:  # arguments that do not fit the task's signature
        field = parameter if parameter == "args" else f"kwargs.{parameter}"
        body["fields"] = [{"field": field, "location": "body", "message": exc.message}]
    return error_response(status, body)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    content_type = request.headers.get("content-type", "")
    fields = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":
            message = f"The body is not valid JSON: {err.get('ctx', {}).get('error', message)}"
            loc = ("body",)
        elif loc == ("body",) and "json" not in content_type.lower():
            message = (f"The body must be JSON sent with Content-Type: application/json "
                       f"(got {content_type or 'no Content-Type'})")
        fields.append({"field": _field_name(loc), "location": str(loc[0]) if loc else "body", "message": message})
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    body = {
        "error": f"Invalid request - {summary}." if summary else "Invalid request.",
        "action": "Fix the field(s) listed in 'fields' and send the request again (reference: /api/docs).",
        "technical_details": f"{len(fields)} validation error(s)",
        "fields": fields,
        "detail": jsonable_encoder(
            [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in errors]
        ),
    }
    return error_response(422, body)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
    if exc.status_code == 404 and detail == "Not Found":
        detail = "No such endpoint."
    body = {"error": detail, "action": HTTP_ACTIONS.get(exc.status_code, ""), "technical_details": ""}
    return error_response(exc.status_code, body, dict(exc.headers) if exc.headers else None)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """The store's DatabaseError: a transient one (connection lost, database locked) answers 503
    with Retry-After; a statement the database refused is an internal error."""
    assert isinstance(exc, DatabaseError)
    if not exc.transient:
        return await _unexpected(request, exc)
    log.warning("database error: %s", exc.driver_error)
    body = {
        "error": "The database did not answer.",
        "action": "Retry in a moment; if it persists check the database server and the connection URL.",
        "technical_details": exc.driver_error,
    }
    return error_response(503, body, {"Retry-After": "2"})


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error in the API", exc_info=exc)
    body = {
        "error": "Internal error in the Conveyor API.",
        "action": "Retry; if it persists, report it with the server log around this time.",
        "technical_details": type(exc).__name__,
    }
    return error_response(500, body)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ConveyorError, _conveyor_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DatabaseError, _database_error)
    app.add_exception_handler(Exception, _unexpected)
