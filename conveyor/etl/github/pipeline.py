"""The GitHub pipeline, declared on an app:

    github = register_github_pipeline(app)
    github.start({"owner": "acme", "endpoint": "https://api.github.com/graphql", "token_env": "GITHUB_TOKEN"},
                 tenant="acme")            # or {"integration_id": 7} once integrations are registered

Steps (the seed's two): `github_repositories` (extraction -> transform) and, when it has wholly
finished, `github_prs_with_nested` (extraction -> nested -> transform). Params: `owner`, `endpoint`,
`token_env` or `integration_id`, `repositories` (name patterns), `pull_request_page_size`, `full`
(ignore the watermark).

Each step ends with the embedding stage (`embedding_task`, by default Conveyor's own, on queue
`embedding`): the transform stages emit `{"tenant", "table", "ids"}` items to it (the domain table
and the GitHub node ids just loaded; conveyor/etl/github/search_sources.py registers the tables).
With `embedding_task=None` the steps end at transform and the transforms emit nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.etl.db import shared_engine
from conveyor.etl.embeddings.stage import EMBED_TASK, register_embedding_tasks
from conveyor.etl.github import search_sources
from conveyor.etl.github.reads import step_metrics
from conveyor.etl.github.stage_env import run_params, stage_env
from conveyor.etl.github.steps import (
    PULL_REQUESTS_STEP,
    REPOSITORIES_STEP,
    extract_pull_requests,
    extract_repositories,
    fetch_nested,
    transform_pull_requests,
    transform_repositories,
)
from conveyor.model import RetryPolicy

if TYPE_CHECKING:
    from conveyor.app import Conveyor
    from conveyor.context import JobContext
    from conveyor.pipelines import DeclaredPipeline

# Transient failures (5xx, network) retry a few times, quickly at first; parks spend no attempt.
STAGE_RETRY = RetryPolicy(base=1.0, factor=2.0, cap=60.0)


def register_github_pipeline(app: Conveyor, *, name: str = "github", extraction_queue: str = "github_extraction",
                             transform_queue: str = "github_transform", embedding_task: str | None = EMBED_TASK,
                             embedding_queue: str | None = None, max_attempts: int = 5) -> DeclaredPipeline:
    """Registers the GitHub stage tasks (named `<name>.<step>.<stage>`) on `app` and declares the
    pipeline `name`; returns it."""
    options: dict[str, Any] = {"max_attempts": max_attempts, "retry": STAGE_RETRY}
    if embedding_task == EMBED_TASK:
        register_embedding_tasks(app)
        search_sources.register()

    def embed(ctx: JobContext, table: str, ids: list[str]) -> None:
        if embedding_task is not None and ids:
            ctx.emit({"tenant": ctx.tenant, "table": table, "ids": ids})

    @app.task(name=f"{name}.repositories.extraction", queue=extraction_queue, **options)
    def repositories_extraction(ctx: JobContext, params: dict[str, Any]) -> None:
        with stage_env(app, ctx, params) as env:
            extract_repositories(env)

    @app.task(name=f"{name}.repositories.transform", queue=transform_queue, **options)
    def repositories_transform(ctx: JobContext, item: Any) -> int:
        with stage_env(app, ctx, run_params(app, ctx, item)) as env:
            ids = transform_repositories(env, int(item["page"]) if isinstance(item, dict) else int(item))
            embed(ctx, "repositories", ids)
            return len(ids)

    @app.task(name=f"{name}.pull_requests.extraction", queue=extraction_queue, **options)
    def pull_requests_extraction(ctx: JobContext, params: dict[str, Any]) -> None:
        with stage_env(app, ctx, params) as env:
            extract_pull_requests(env, name)

    @app.task(name=f"{name}.pull_requests.nested", queue=extraction_queue, **options)
    def pull_requests_nested(ctx: JobContext, item: dict[str, Any]) -> None:
        with stage_env(app, ctx, run_params(app, ctx, item)) as env:
            fetch_nested(env, item)

    @app.task(name=f"{name}.pull_requests.transform", queue=transform_queue, **options)
    def pull_requests_transform(ctx: JobContext, item: Any) -> int:
        with stage_env(app, ctx, run_params(app, ctx, item)) as env:
            ids = transform_pull_requests(env, item)
            embed(ctx, "pull_requests", ids)
            return len(ids)

    def stages(*pairs: tuple[str, Any]) -> list[dict[str, Any]]:
        declared = [{"name": stage, "task": task.name} for stage, task in pairs]
        if embedding_task is not None:
            declared.append({"name": "embedding", "task": embedding_task, "queue": embedding_queue})
        return declared

    declared = app.pipeline(name, steps=[
        {"name": REPOSITORIES_STEP, "display_name": "Repositories",
         "stages": stages(("extraction", repositories_extraction), ("transform", repositories_transform))},
        {"name": PULL_REQUESTS_STEP, "display_name": "Pull requests, commits, reviews & comments", "order": "wait",
         "stages": stages(("extraction", pull_requests_extraction), ("nested", pull_requests_nested),
                          ("transform", pull_requests_transform))},
    ], one_run_per=["integration_id"])  # two syncs of one integration would race on its watermark
    declared.step_metrics = lambda reader, run_id: step_metrics(shared_engine(reader.settings.database_url), run_id)
    return declared


def start_sync(app: Conveyor, integration_id: str, *, tenant: str, full: bool = False,
               pipeline: str = "github") -> Any:
    """Start a GitHub run for one integration (incremental from its watermark unless `full`).
    An app that does not declare the pipeline gets the runs' own PipelineError, naming the ones it has."""
    params: dict[str, Any] = {"integration_id": integration_id}
    if full:
        params["full"] = True
    return app.runs.start(pipeline, params, tenant=tenant)
