"""FakeJira: the fake Jira Cloud site served over real HTTP on 127.0.0.1, in a background thread.

    with FakeJira(seed=7, issues=60) as jira:
        jira.url                         # http://127.0.0.1:<port>
        jira.faults.rate_limit(count=5)  # switch faults on while it serves
        jira.dataset.edit_issue("ALPHA-3", status="Done")
        jira.requests(path="/rest/api/3/search/jql")

The same controls exist over HTTP under `/_fake/` for a fake running in another process
(`python -m conveyor.fakes.jira --port 8089`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conveyor.fakes.jira import app as routes
from conveyor.fakes.jira import issue_routes as issue
from conveyor.fakes.jira.app import FakeJiraConfig, FakeJiraState, RecordedRequest, endpoint
from conveyor.fakes.jira.dataset import JiraDataset
from conveyor.fakes.jira.faults import Fault, Faults

API_ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/rest/api/3/myself", routes.myself, ["GET"]),
    ("/rest/api/3/project/search", routes.project_search, ["GET"]),
    ("/rest/api/3/issuetype", routes.issue_types, ["GET"]),
    ("/rest/api/3/issuetype/project", routes.issue_types_for_project, ["GET"]),
    ("/rest/api/3/statuses/search", routes.statuses_search, ["GET"]),
    ("/rest/api/3/status", routes.status_legacy, ["GET"]),
    ("/rest/api/3/statuscategory", routes.status_categories, ["GET"]),
    ("/rest/api/3/issueLinkType", routes.link_types, ["GET"]),
    ("/rest/api/3/field", routes.fields, ["GET"]),
    ("/rest/api/3/field/search", routes.field_search, ["GET"]),
    ("/rest/api/3/search/jql", routes.search_jql, ["GET", "POST"]),
    ("/rest/api/3/search/approximate-count", routes.approximate_count, ["POST"]),
    ("/rest/api/3/search", routes.old_search, ["GET", "POST"]),
    ("/rest/api/2/search", routes.old_search, ["GET", "POST"]),
    ("/rest/api/3/changelog/bulkfetch", issue.bulk_changelog, ["POST"]),
    ("/rest/api/3/issue/{id_or_key}", issue.get_issue, ["GET"]),
    ("/rest/api/3/issue/{id_or_key}/changelog", issue.issue_changelog, ["GET"]),
    ("/rest/api/3/issue/{id_or_key}/comment", issue.issue_comments, ["GET"]),
    ("/rest/dev-status/1.0/issue/summary", issue.dev_summary, ["GET"]),
    ("/rest/dev-status/latest/issue/summary", issue.dev_summary, ["GET"]),
    ("/rest/dev-status/1.0/issue/detail", issue.dev_detail, ["GET"]),
    ("/rest/dev-status/latest/issue/detail", issue.dev_detail, ["GET"]),
]


def build_app(state: FakeJiraState) -> Starlette:
    api = [Route(path, endpoint(state, handler), methods=methods) for path, handler, methods in API_ROUTES]
    return Starlette(routes=api + _control_routes(state))


def _control_routes(state: FakeJiraState) -> list[Route]:
    """Unauthenticated, unrecorded controls of the fake itself, for a fake in another process."""

    async def requests_(request: Request) -> Response:
        if request.method == "DELETE":
            with state.log_lock:
                state.log.clear()
            return JSONResponse({"cleared": True})
        with state.log_lock:
            return JSONResponse([asdict(r) for r in state.log])

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults.clear()
        elif request.method == "POST":
            try:
                state.faults.add(Fault(**await request.json()))
            except (TypeError, ValueError) as exc:
                return JSONResponse({"errorMessages": [str(exc)], "errors": {}}, status_code=400)
        return JSONResponse(state.faults.active())

    async def edit(request: Request) -> Response:
        key = request.path_params["key"]
        try:
            if request.method == "DELETE":
                state.data.delete_issue(key)
                return JSONResponse({"deleted": key})
            args = await request.json()
            if request.url.path.endswith("/issues"):
                created = state.data.add_issue(key, str(args.get("summary", "New issue")), status=args.get("status"))
                return JSONResponse({"id": str(created.id), "key": created.key}, status_code=201)
            edited = state.data.edit_issue(key, summary=args.get("summary"), status=args.get("status"),
                                           fields=args.get("fields"))
            return JSONResponse({"id": str(edited.id), "key": edited.key})
        except KeyError as exc:
            return JSONResponse({"errorMessages": [str(exc.args[0])], "errors": {}}, status_code=404)

    return [
        Route("/_fake/requests", requests_, methods=["GET", "DELETE"]),
        Route("/_fake/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_fake/issues/{key}", edit, methods=["POST", "DELETE"]),
        Route("/_fake/projects/{key}/issues", edit, methods=["POST"]),
    ]


class FakeJira:
    """A running fake Jira site (start/stop, or use as a context manager)."""

    def __init__(self, dataset: JiraDataset | None = None, *, seed: int = 7, issues: int = 60, projects: int = 3,
                 config: FakeJiraConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.dataset = dataset or JiraDataset.generate(seed=seed, issues=issues, projects=projects)
        self.config = config or FakeJiraConfig()
        self.state = FakeJiraState(self.dataset, self.config)
        self.host, self._port = host, port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Jira is not running: call start() first")
        return f"http://{self.host}:{self._port}"

    def start(self, timeout: float = 10.0) -> FakeJira:
        config = uvicorn.Config(build_app(self.state), host=self.host, port=self._port, log_level="warning",
                                access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="fake-jira", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(f"the fake Jira did not start on {self.host}:{self._port} within {timeout}s")
            time.sleep(0.01)
        self._port = server.servers[0].sockets[0].getsockname()[1]
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeJira:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests(self, path: str | None = None, method: str | None = None) -> list[RecordedRequest]:
        """The recorded API requests, optionally only those to `path` (exact) and `method`."""
        with self.state.log_lock:
            return [r for r in self.state.log
                    if (path is None or r.path == path) and (method is None or r.method == method.upper())]

    def clear_requests(self) -> None:
        with self.state.log_lock:
            self.state.log.clear()
