"""Dashboard routes: page shells at /, /jobs, /jobs/{id}, /workers, /dead, /run, /stats (Metrics), /pipelines,
/etl (ETL jobs), /schedules, /pull-requests (+ one PR), /work-items/{key}, /search, /login and the
static files at /static.

The pages are thin server-rendered shells; their data comes from the JSON API (/api/...) and the
WebSocket event stream, fetched in the browser with the API key the user logged in with. So the
pages never count the jobs table themselves and stay fast however many jobs it holds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Scope

from conveyor import __version__
from conveyor.commands import PLACEHOLDER_APP, cli_command

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"

# page id -> (template, title)
PAGES: dict[str, tuple[str, str]] = {
    "overview": ("overview.html", "Overview"),
    "jobs": ("jobs.html", "Jobs"),
    "job": ("job.html", "Job"),
    "workers": ("workers.html", "Workers"),
    "dead": ("dead.html", "Dead letters"),
    "run": ("run.html", "Run now"),
    "pull_requests": ("pull_requests.html", "Pull requests"),
    "pull_request": ("pull_request.html", "Pull request"),
    "work_item": ("work_item.html", "Work item"),
    "metrics": ("metrics.html", "Metrics"),
    "login": ("login.html", "Log in"),
    "pipelines": ("pipelines.html", "Pipelines"),
    "etl_jobs": ("etl_jobs.html", "ETL jobs"),
    "schedules": ("schedules.html", "Schedules"),
    "integrations": ("integrations.html", "Integrations"),
    "search": ("search.html", "Search"),
}
# Pages without path parameters: path -> page id. /stats, not /metrics: that is Prometheus'.
PLAIN_PAGES: dict[str, str] = {
    "/": "overview", "/jobs": "jobs", "/workers": "workers", "/dead": "dead", "/run": "run",
    "/stats": "metrics", "/pull-requests": "pull_requests", "/pipelines": "pipelines",
    "/etl": "etl_jobs", "/schedules": "schedules", "/integrations": "integrations",
    "/search": "search", "/login": "login",
}
NO_STORE = {"Cache-Control": "no-cache"}


class DashboardStatic(StaticFiles):
    """StaticFiles that makes browsers revalidate (ETag / Last-Modified) on every load, so an
    upgraded package never runs a stale mix of old and new JavaScript modules."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


def _app_path(conveyor_app: Any) -> str:
    return str(getattr(conveyor_app, "app_path", None) or PLACEHOLDER_APP)


def _supervised(request: Request) -> bool:
    state = getattr(request.app.state, "conveyor", None)
    return getattr(state, "supervisor", None) is not None


def _plain_page(render: Callable[..., HTMLResponse], page: str) -> Callable[[Request], HTMLResponse]:
    def show(request: Request) -> HTMLResponse:
        return render(request, page)
    show.__name__ = page
    return show


def build_router(conveyor_app: Any, templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    app_path = _app_path(conveyor_app)

    def render(request: Request, page: str, **extra: Any) -> HTMLResponse:
        template, title = PAGES[page]
        context = {"page": page, "title": title, "app_path": app_path, "version": __version__,
                   "cli": cli_command(), "supervised": _supervised(request), **extra}
        response = templates.TemplateResponse(request, template, context, headers=NO_STORE)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"  # ?key= must not leak through links
        return response

    for path, page in PLAIN_PAGES.items():
        router.add_api_route(path, _plain_page(render, page), methods=["GET"], response_class=HTMLResponse)

    @router.get("/jobs/{job_id}", response_class=HTMLResponse)
    def job(request: Request, job_id: str) -> HTMLResponse:
        return render(request, "job", job_id=job_id)

    # The page reads its data from the API; the path only names what to read (checked there too).
    @router.get("/pull-requests/{owner}/{name}/{number}", response_class=HTMLResponse)
    def pull_request(request: Request, owner: str, name: str, number: int) -> HTMLResponse:
        return render(request, "pull_request", repository=f"{owner}/{name}", number=number)

    @router.get("/work-items/{key}", response_class=HTMLResponse)
    def work_item(request: Request, key: str) -> HTMLResponse:
        return render(request, "work_item", key=key)

    @router.get("/pipelines/runs/{run_id}", response_class=HTMLResponse)
    def pipeline_run(request: Request, run_id: str) -> HTMLResponse:
        return render(request, "pipelines", run_id=run_id)

    @router.get("/favicon.ico")
    def favicon() -> RedirectResponse:
        return RedirectResponse("/static/favicon.svg", status_code=308)

    return router


def mount_dashboard(fastapi_app: FastAPI, conveyor_app: Any) -> None:
    """Serve the dashboard pages and their static files from the API server's app."""
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    fastapi_app.mount("/static", DashboardStatic(directory=str(STATIC_DIR)), name="static")
    fastapi_app.include_router(build_router(conveyor_app, templates))
