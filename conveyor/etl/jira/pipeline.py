"""The Jira pipeline: four steps (the seed's names and display names), each extraction →
transform (load inside). `register_jira(app)` declares the two stage tasks and the pipeline on
an app; `start_sync` starts a run for one integration.

Every step ends with the embedding stage (conveyor/etl/embeddings/stage.py, queue `embedding`):
the transform emits `{"tenant", "table", "ids"}` for the work items and projects it loaded, which
conveyor/etl/jira/search_sources.py registers as sources. `register_jira(app, embedding=False)`
declares the steps without it (tests and benches of the extraction alone)."""

from __future__ import annotations

from typing import Any

from conveyor.app import Conveyor
from conveyor.context import JobContext
from conveyor.errors import PermanentError
from conveyor.etl.db import shared_engine
from conveyor.etl.embeddings.stage import embedding_stage
from conveyor.etl.jira import search_sources
from conveyor.etl.jira.extract import extract_dev_status, extract_issues, extract_projects, extract_statuses
from conveyor.etl.jira.load import Owner, load_item
from conveyor.etl.jira.retransform import retransform
from conveyor.etl.jira.state import step_metrics
from conveyor.etl.jira.sync import (
    DISPLAY_NAMES,
    PIPELINE,
    STEP_DEV,
    STEP_ISSUES,
    STEP_PROJECTS,
    STEP_STATUSES,
    STEPS,
    open_sync,
)
from conveyor.model import RetryPolicy
from conveyor.pipelines import DeclaredPipeline, PipelineRun

EXTRACT_QUEUE, TRANSFORM_QUEUE = "extraction", "transform"
EXTRACTORS = {STEP_PROJECTS: extract_projects, STEP_STATUSES: extract_statuses, STEP_ISSUES: extract_issues,
              STEP_DEV: extract_dev_status}


def register_jira(app: Conveyor, *, embedding: bool = True) -> DeclaredPipeline:
    """Declare `jira.extract`, `jira.transform` and the `jira` pipeline on `app` (once); with
    `embedding`, each step ends with the embedding stage."""
    if PIPELINE in app.pipelines:
        return app.pipelines[PIPELINE]

    @app.task(name="jira.extract", queue=EXTRACT_QUEUE, max_attempts=5, timeout=6 * 3600,
              retry=RetryPolicy(base=2.0, factor=2.0, cap=60.0))
    def jira_extract(ctx: JobContext, params: dict[str, Any]) -> int:
        """Extraction of one Jira step: raw pages and cursor first, then the raw ids emitted."""
        sync = open_sync(ctx, app.settings.database_url)
        return EXTRACTORS[sync.step](sync, params)

    @app.task(name="jira.transform", queue=TRANSFORM_QUEUE, max_attempts=5, timeout=1800,
              retry=RetryPolicy(base=1.0, factor=2.0, cap=30.0))
    def jira_transform(ctx: JobContext, item: Any) -> int:
        """Transform and load one raw page (or the deletion sweep's pages)."""
        sync = open_sync(ctx, app.settings.database_url)
        loaded = load_item(sync.engine, Owner(sync.tenant, sync.integration.id), item)
        sync.metrics(items=1, records=sum(len(ids) for ids in loaded.values()))
        stages = app.pipelines[PIPELINE].declaration.step(sync.step).stages
        if stages[-1].name != sync.stage:  # an embedding stage follows: tell it what changed
            ctx.emit(*search_sources.embedding_items_for(sync.tenant, sync.integration.id, loaded))
        return sum(len(ids) for ids in loaded.values())

    @app.task(name="jira.retransform", queue=TRANSFORM_QUEUE, max_attempts=3, timeout=3600)
    def jira_retransform(tenant: str, integration_id: str) -> int:
        """Apply a changed mapping to every loaded work item, from raw (no HTTP call)."""
        return retransform(shared_engine(app.settings.database_url), tenant, integration_id)

    embed = [embedding_stage(app, queue=None)] if embedding else []  # queue: the task's, 'embedding'
    if embedding:
        search_sources.register()
    steps = [{"name": name, "display_name": DISPLAY_NAMES[name], "order": "overlap" if i == 0 else "wait",
              "stages": [{"name": "extraction", "task": jira_extract}, {"name": "transform", "task": jira_transform},
                         *embed]}
             for i, name in enumerate(STEPS)]
    # One sync per integration at a time: two would race on its cursor and watermark.
    declared = app.pipeline(PIPELINE, steps=steps, one_run_per=["integration_id"])
    declared.step_metrics = lambda reader, run_id: step_metrics(shared_engine(reader.settings.database_url), run_id)
    return declared


def start_sync(app: Conveyor, integration_id: str, *, tenant: str, full: bool = False, sweep: bool = False,
               policy: str | None = None) -> PipelineRun:
    """Start a Jira run for one integration (incremental from its watermark unless `full`)."""
    if PIPELINE not in app.pipelines:
        raise PermanentError("this app does not declare the Jira pipeline: call register_jira(app)")
    params: dict[str, Any] = {"integration_id": integration_id, "full": full}
    if sweep:
        params["sweep"] = True
    return app.runs.start(PIPELINE, params, tenant=tenant, policy=policy)
