"""What every stage of a Jira run needs: the integration and its client, the run's ids, and the
run metrics written however the attempt ends (a 401/403 fails the step loudly; a long rate limit
parks the job)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from conveyor.context import JobContext
from conveyor.errors import PermanentError
from conveyor.etl.db import shared_engine
from conveyor.etl.jira.client import JiraClient
from conveyor.etl.jira.errors import JiraPermissionError, JiraRequestError
from conveyor.etl.jira.state import add_metrics
from conveyor.etl.rate_limit import RateLimitParked
from conveyor.integrations.providers.jira import client_for
from conveyor.integrations.service import Integration, IntegrationNotFoundError, Integrations
from conveyor.store.pipelines_common import pipeline_sql

PIPELINE = "jira"
STEP_PROJECTS = "jira_projects_and_issue_types"
STEP_STATUSES = "jira_statuses_and_relationships"
STEP_ISSUES = "jira_issues_with_changelogs"
STEP_DEV = "jira_dev_status"
STEPS = (STEP_PROJECTS, STEP_STATUSES, STEP_ISSUES, STEP_DEV)
DISPLAY_NAMES = {STEP_PROJECTS: "Projects & Types", STEP_STATUSES: "Statuses & Relations",
                 STEP_ISSUES: "Issues & Changelogs", STEP_DEV: "Development Status"}


@dataclass
class Sync:
    """One stage attempt of a Jira run."""

    ctx: JobContext
    engine: Engine
    integration: Integration
    run_id: str
    step: str
    stage: str
    params: dict[str, Any]

    @property
    def tenant(self) -> str:
        return self.integration.tenant

    @property
    def token(self) -> str:
        return self.ctx.token

    @property
    def settings(self) -> dict[str, Any]:
        return self.integration.settings

    def client(self) -> JiraClient:
        service = Integrations("", engine=self.engine)
        return client_for(self.integration.base_url, service.credentials(self.integration.id), self.settings)

    def metrics(self, **counts: Any) -> None:
        add_metrics(self.engine, run_id=self.run_id, step=self.step, stage=self.stage, tenant=self.tenant,
                    integration_id=self.integration.id, **counts)


_params: dict[str, dict[str, Any]] = {}  # run id -> params (a run's params never change)


def open_sync(ctx: JobContext, database_url: str) -> Sync:
    """The Sync of a stage job: its run's integration, which must exist and be active."""
    if ctx.stage is None:
        raise PermanentError("Jira stage tasks run inside a pipeline run; start one with the 'jira' pipeline")
    run_id, step, stage = ctx.stage
    params = _params.get(run_id)
    if params is None:
        record = pipeline_sql(ctx.store).get_run(run_id)
        if record is None:
            raise PermanentError(f"pipeline run {run_id} no longer exists")
        params = _params[run_id] = dict(record.params)
        if len(_params) > 1000:
            _params.clear()
    engine = shared_engine(database_url)
    integration_id = params.get("integration_id")
    if not isinstance(integration_id, str):
        raise PermanentError("the run has no integration_id in its params: start it with "
                             "{\"integration_id\": \"<id>\"} (conveyor integrations list)")
    try:
        integration = Integrations("", engine=engine).get(integration_id, ctx.tenant)
    except IntegrationNotFoundError:
        raise PermanentError(f"integration {integration_id} of tenant {ctx.tenant!r} does not exist") from None
    if integration.type != "jira":
        raise PermanentError(f"integration {integration_id} is a {integration.type} integration, not jira")
    return Sync(ctx, engine, integration, run_id, step, stage, params)


@contextmanager
def measured(sync: Sync, client: JiraClient | None) -> Iterator[None]:
    """Run metrics for the attempt, however it ends; Jira's refusals turned into loud failures."""
    started = time.monotonic()
    parked: RateLimitParked | None = None
    try:
        yield
    except RateLimitParked as exc:
        parked = exc
        raise
    except JiraPermissionError as exc:
        # Never retried, never "finished, 0 records": the step fails with Jira's reason.
        raise PermanentError(f"{sync.step}: {exc}") from None
    except JiraRequestError as exc:
        if exc.status in (400, 404, 410):
            raise PermanentError(f"{sync.step}: {exc}") from None
        raise
    finally:
        stats = client.stats if client is not None else None
        sync.metrics(
            api_calls=stats.api_calls if stats else 0, pages=stats.pages if stats else 0,
            rate_limit_hits=stats.rate_limit_hits if stats else 0, retries=stats.retries if stats else 0,
            parked_seconds=(parked.wait_seconds if parked else 0.0) + (stats.seconds_slept if stats else 0.0),
            seconds=time.monotonic() - started, parked_until=parked.resume_at if parked else None)
