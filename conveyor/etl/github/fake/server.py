"""The fake GitHub: a real HTTP server (Starlette on uvicorn, 127.0.0.1) speaking GitHub's GraphQL
API over the generated dataset, with GitHub's limits and switchable faults.

    with FakeGitHub(DatasetSpec(repositories=3)) as github:
        httpx.post(github.graphql_url, headers={"Authorization": f"Bearer {github.token}"}, json=...)
        github.inject("secondary", retry_after=30)
        github.dataset.edit_pull_request("acme/api", 3, title="edited")

Endpoints: `POST /graphql` (and GHES' `/api/graphql`), `GET /user` and `GET /rate_limit` (REST,
for test-connection: login, `X-OAuth-Scopes`, limits), and `/_fake/...` to steer it from another
process: `GET requests`, `POST`/`DELETE faults`, `POST edits`, `POST rate-limit`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from conveyor.etl.github.fake.budget import Budget, Window
from conveyor.etl.github.fake.dataset import Dataset, DatasetSpec
from conveyor.etl.github.fake.faults import Fault, FaultBoard, RequestRecord
from conveyor.etl.github.fake.limits import NODE_LIMIT, QueryLoad, measure, node_limit_message
from conveyor.etl.github.fake.resolvers import fake_schema

DOCS = "https://docs.github.com/graphql"
RESOURCE_LIMITS = "#resource_limits"
TIMEOUT_MESSAGE = ("Something went wrong while executing your query. This may be the result of a timeout, or it "
                   "could be a GitHub bug. Please include `C0DE:5EED:1A2B3C:4D5E6F:00000000` when reporting this issue.")
SECONDARY_MESSAGE = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If "
                     "you reach out to GitHub Support for help, please include the request ID C0DE:5EED.")
FORBIDDEN_MESSAGE = ("Although you appear to have the correct authorization credentials, the organization has "
                     "enabled OAuth App access restrictions, meaning that data access to third-parties is limited.")


@dataclass(frozen=True)
class Token:
    login: str
    scopes: tuple[str, ...] = ("repo", "read:org")


class Answer(Exception):
    """Ends a request early with this HTTP answer."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None, fault: str | None = None) -> None:
        self.status, self.body, self.headers, self.fault = status, body, headers or {}, fault


def github_errors(errors: list[GraphQLError]) -> list[dict[str, Any]]:
    """graphql-core's errors in GitHub's shape: the error `type` at the top level."""
    shaped = []
    for err in errors:
        item: dict[str, Any] = dict(err.formatted)  # type: ignore[call-overload]
        extensions = dict(item.pop("extensions", None) or {})
        if "type" in extensions:
            item = {"type": extensions.pop("type"), **item}
        if extensions:
            item["extensions"] = extensions
        shaped.append(item)
    return shaped


class FakeGitHub:
    def __init__(self, spec: DatasetSpec | None = None, *, tokens: dict[str, Token] | None = None,
                 rate_limit: int = 5000, rate_limit_enabled: bool = True, bad_gateway_above_nodes: int = 100_000,
                 secondary_per_minute: int = 2000, clock: Callable[[], datetime] | None = None) -> None:
        self.dataset = Dataset(spec or DatasetSpec())
        self.token = "ghp_fake0000000000000000000000000000conveyor"
        self.tokens = tokens or {self.token: Token(self.dataset.spec.viewer)}
        self.clock = clock or (lambda: datetime.now(UTC))
        self.budget = Budget(rate_limit, self.clock, secondary_per_minute)
        self.rate_limit_enabled = rate_limit_enabled
        self.bad_gateway_above_nodes = bad_gateway_above_nodes
        self.faults = FaultBoard()
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self.app = Starlette(routes=[
            Route("/graphql", self._graphql, methods=["POST"]),
            Route("/api/graphql", self._graphql, methods=["POST"]),
            Route("/user", self._rest_user, methods=["GET"]),
            Route("/rate_limit", self._rest_rate_limit, methods=["GET"]),
            Route("/_fake/requests", self._control_requests, methods=["GET", "DELETE"]),
            Route("/_fake/faults", self._control_faults, methods=["GET", "POST", "DELETE"]),
            Route("/_fake/edits", self._control_edits, methods=["POST"]),
            Route("/_fake/rate-limit", self._control_rate_limit, methods=["POST"]),
        ])
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.port = 0

    # ---- steering from Python -----------------------------------------------------------------
    def inject(self, kind: str, **options: Any) -> Fault:
        """Adds a fault (see faults.Fault); it applies to the next matching answers."""
        return self.faults.add(Fault(kind=kind, **options))  # type: ignore[arg-type]

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def requests(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._log)

    def graphql_requests(self, operation: str | None = None) -> list[RequestRecord]:
        return [r for r in self.requests if r.path.endswith("graphql") and (operation is None or r.operation == operation)]

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def set_rate_limit(self, *, login: str | None = None, remaining: int | None = None, reset_in: float | None = None,
                       resource: str = "graphql") -> Window:
        return self.budget.set(resource, login or self.dataset.spec.viewer, remaining=remaining, reset_in=reset_in)

    # ---- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def start(self, port: int = 0) -> FakeGitHub:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True,
                                        name="fake-github")
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the fake GitHub did not start on 127.0.0.1:{self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(15)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ---- shared request steps ---------------------------------------------------------------------
    def _record(self, record: RequestRecord) -> None:
        with self._log_lock:
            self._log.append(record)

    def _login(self, request: Request, required_message: str) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if not header:
            raise Answer(401, {"message": required_message, "documentation_url": DOCS})
        token = self.tokens.get(value.strip()) if scheme.lower() in ("bearer", "token") else None
        if token is None:
            raise Answer(401, {"message": "Bad credentials", "documentation_url": DOCS})
        return token.login

    def _rate_headers(self, window: Window, resource: str) -> dict[str, str]:
        return {"x-ratelimit-limit": str(window.limit), "x-ratelimit-remaining": str(window.remaining),
                "x-ratelimit-used": str(window.used), "x-ratelimit-reset": str(int(window.reset_at.timestamp())),
                "x-ratelimit-resource": resource}

    async def _apply_faults(self, faults: list[Fault], login: str, window: Window) -> dict[str, int]:
        """Raises the answer a fault dictates; returns the totalCount skews to apply (and
        `RESOURCE_LIMITS` when the answer must carry GitHub's resource-limits error)."""
        skew: dict[str, int] = {}
        for fault in faults:
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay)
            elif fault.kind == "resource_limits":
                skew[RESOURCE_LIMITS] = 1
            elif fault.kind == "total_count_skew":
                skew[fault.connection or ""] = skew.get(fault.connection or "", 0) + fault.delta
        for fault in faults:
            headers = self._rate_headers(window, "graphql")
            if fault.kind == "rate_limited":
                headers["x-ratelimit-remaining"] = "0"
                raise Answer(200, {"errors": [{"type": "RATE_LIMITED", "message": f"API rate limit exceeded for user ID {self._user_id(login)}."}]},
                             headers, fault.kind)
            if fault.kind == "secondary":
                if fault.retry_after is not None:
                    headers["retry-after"] = str(fault.retry_after)
                raise Answer(fault.status or 403, {"message": SECONDARY_MESSAGE, "documentation_url": DOCS}, headers, fault.kind)
            if fault.kind == "forbidden":
                raise Answer(403, {"message": FORBIDDEN_MESSAGE, "documentation_url": DOCS}, headers, fault.kind)
            if fault.kind == "unauthorized":
                raise Answer(401, {"message": "Bad credentials", "documentation_url": DOCS}, {}, fault.kind)
            if fault.kind in ("bad_gateway", "gateway_timeout"):
                raise Answer(502 if fault.kind == "bad_gateway" else 504,
                             {"data": None, "errors": [{"message": TIMEOUT_MESSAGE}]}, {}, fault.kind)
            if fault.kind == "server_error":
                raise Answer(500, {"message": "Server Error"}, {}, fault.kind)
        return skew

    def _user_id(self, login: str) -> int:
        actor = self.dataset.actor(login)
        return int(actor["databaseId"]) if actor else 0

    # ---- POST /graphql ----------------------------------------------------------------------------
    async def _graphql(self, request: Request) -> JSONResponse:
        record: dict[str, Any] = {"method": "POST", "path": request.url.path, "login": None}
        try:
            login = record["login"] = self._login(request, "This endpoint requires you to be authenticated.")
            payload = await self._payload(request)
            record["variables"] = payload.get("variables") or {}
            document, operation, coerced = self._parse(payload)
            record["operation"] = operation.name.value if operation.name else None
            window = self.budget.window("graphql", login)
            skew = await self._apply_faults(self.faults.take(request.url.path, record["operation"]), login, window)
            wait = self.budget.secondary_wait(login)
            if wait is not None:
                raise Answer(403, {"message": SECONDARY_MESSAGE, "documentation_url": DOCS},
                             {**self._rate_headers(window, "graphql"), "retry-after": str(wait)}, "secondary_per_minute")
            body, headers = self._run(document, operation, coerced, record, login, window, skew)
            status = 200
        except Answer as answer:
            status, body, headers = answer.status, answer.body, answer.headers
            record["fault"] = answer.fault
        record["error_types"] = tuple(str(e.get("type", "")) for e in body.get("errors", []) if isinstance(e, dict))
        self._record(RequestRecord(status=status, **record))
        return JSONResponse(body, status_code=status, headers=headers)

    async def _payload(self, request: Request) -> dict[str, Any]:
        try:
            payload = await request.json()
        except ValueError:
            raise Answer(400, {"message": "Problems parsing JSON", "documentation_url": DOCS}) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise Answer(200, {"errors": [{"message": "A query attribute must be specified and must be a string."}]})
        if payload.get("variables") is not None and not isinstance(payload["variables"], dict):
            raise Answer(200, {"errors": [{"message": "Variables are invalid JSON."}]})
        return payload

    def _parse(self, payload: dict[str, Any]) -> tuple[DocumentNode, OperationDefinitionNode, VariableValues]:
        try:
            document = parse(payload["query"])
        except GraphQLError as exc:
            raise Answer(200, {"errors": github_errors([exc])}) from None
        errors = validate(fake_schema(), document)
        if errors:
            raise Answer(200, {"errors": github_errors(errors)})
        operation = get_operation_ast(document, payload.get("operationName"))
        if operation is None:
            raise Answer(200, {"errors": [{"message": "An operation name is required when the document has several operations."}]})
        coerced = get_variable_values(fake_schema(), operation.variable_definitions or (), payload.get("variables") or {})
        if isinstance(coerced, list):
            raise Answer(200, {"errors": github_errors(coerced)})
        return document, operation, coerced

    def _dry_run(self, operation: OperationDefinitionNode, variables: VariableValues) -> bool:
        schema = fake_schema()
        for selection in operation.selection_set.selections:
            if getattr(selection, "name", None) is not None and selection.name.value == "rateLimit":  # type: ignore[attr-defined]
                args = get_argument_values(schema.query_type.fields["rateLimit"], selection, variables)  # type: ignore[union-attr, arg-type]
                if args.get("dryRun"):
                    return True
        return False

    def _run(self, document: DocumentNode, operation: OperationDefinitionNode, variables: VariableValues,
             record: dict[str, Any], login: str, window: Window, skew: dict[str, int]) -> tuple[dict[str, Any], dict[str, str]]:
        load: QueryLoad = measure(fake_schema(), document, operation, variables)
        record["cost"], record["node_count"] = load.cost, load.nodes
        if load.nodes > NODE_LIMIT:
            raise Answer(200, {"errors": [{"type": "MAX_NODE_LIMIT_EXCEEDED", "message": node_limit_message(load)}]},
                         self._rate_headers(window, "graphql"))
        if load.nodes > self.bad_gateway_above_nodes:
            raise Answer(502, {"data": None, "errors": [{"message": TIMEOUT_MESSAGE}]}, {}, "page_too_large")
        if self.rate_limit_enabled and not self._dry_run(operation, variables):
            charged = self.budget.charge("graphql", login, load.cost)
            if charged is None:
                headers = self._rate_headers(window, "graphql")
                headers["x-ratelimit-remaining"] = "0"
                raise Answer(200, {"errors": [{"type": "RATE_LIMITED", "message": f"API rate limit exceeded for user ID {self._user_id(login)}."}]}, headers)
        rate_limit = None
        if self.rate_limit_enabled:
            rate_limit = {"cost": load.cost, "limit": window.limit, "nodeCount": load.nodes, "remaining": window.remaining,
                          "used": window.used, "resetAt": window.reset_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        context = {"dataset": self.dataset, "viewer": login, "rate_limit": rate_limit, "total_count_skew": skew}
        with self.dataset.lock:
            result: ExecutionResult = execute_sync(fake_schema(), document, variable_values=record["variables"], operation_name=record.get("operation"),
                             context_value=context)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = github_errors(list(result.errors))
        if skew.get(RESOURCE_LIMITS):
            body.setdefault("errors", []).append({"type": "RESOURCE_LIMITS_EXCEEDED",
                                                  "message": "Resource limits for this query exceeded."})
        headers = self._rate_headers(window, "graphql") if self.rate_limit_enabled else {}
        return body, headers

    # ---- REST ------------------------------------------------------------------------------------
    async def _rest_user(self, request: Request) -> JSONResponse:
        record: dict[str, Any] = {"method": "GET", "path": "/user", "login": None}
        try:
            login = record["login"] = self._login(request, "Requires authentication")
            window = self.budget.window("core", login)
            await self._apply_faults(self.faults.take("/user", None), login, window)
            if self.budget.charge("core", login, 1) is None:
                raise Answer(403, {"message": f"API rate limit exceeded for user ID {self._user_id(login)}.",
                                   "documentation_url": DOCS}, self._rate_headers(window, "core"))
            user = self.dataset.users[login]
            token = next(t for t in self.tokens.values() if t.login == login)
            body = {"login": login, "id": user["databaseId"], "node_id": user["id"], "type": "User",
                    "name": user["name"], "email": user["email"], "html_url": user["url"],
                    "created_at": user["createdAt"]}
            headers = {**self._rate_headers(window, "core"), "x-oauth-scopes": ", ".join(token.scopes),
                       "x-accepted-oauth-scopes": ""}
            status = 200
        except Answer as answer:
            status, body, headers = answer.status, answer.body, answer.headers
            record["fault"] = answer.fault
        self._record(RequestRecord(status=status, **record))
        return JSONResponse(body, status_code=status, headers=headers)

    async def _rest_rate_limit(self, request: Request) -> JSONResponse:
        try:
            login = self._login(request, "Requires authentication")
        except Answer as answer:
            return JSONResponse(answer.body, status_code=answer.status)

        def resource(window: Window) -> dict[str, int]:
            return {"limit": window.limit, "used": window.used, "remaining": window.remaining,
                    "reset": int(window.reset_at.timestamp())}

        core, graphql = self.budget.window("core", login), self.budget.window("graphql", login)
        self._record(RequestRecord(method="GET", path="/rate_limit", status=200, login=login))
        return JSONResponse({"resources": {"core": resource(core), "graphql": resource(graphql)}, "rate": resource(core)})

    # ---- /_fake control -----------------------------------------------------------------------------
    async def _control_requests(self, request: Request) -> JSONResponse:
        if request.method == "DELETE":
            self.clear_requests()
        return JSONResponse([r.as_dict() for r in self.requests])

    async def _control_faults(self, request: Request) -> JSONResponse:
        if request.method == "DELETE":
            self.clear_faults()
        elif request.method == "POST":
            try:
                options = await request.json()
                fault = self.inject(**options)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"message": f"bad fault: {exc}"}, status_code=400)
            return JSONResponse(vars(fault), status_code=201)
        return JSONResponse([vars(f) for f in self.faults.active()])

    async def _control_edits(self, request: Request) -> JSONResponse:
        try:
            options = await request.json()
            pr = self.dataset.edit_pull_request(options.pop("repository"), int(options.pop("number")), **options)
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"message": f"bad edit: {exc}"}, status_code=400)
        return JSONResponse({"number": pr["number"], "title": pr["title"], "updatedAt": pr["updatedAt"]})

    async def _control_rate_limit(self, request: Request) -> JSONResponse:
        try:
            window = self.set_rate_limit(**(await request.json()))
        except (ValueError, TypeError) as exc:
            return JSONResponse({"message": f"bad rate limit: {exc}"}, status_code=400)
        return JSONResponse({"limit": window.limit, "used": window.used, "remaining": window.remaining,
                             "resetAt": window.reset_at.isoformat()})
