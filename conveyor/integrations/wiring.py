"""The one place integrations meet the rest of Conveyor: the service for an app, with what
happens when an integration is created.

ETL jobs (issue #14, `conveyor.etl_jobs`) plug in here: creating an integration creates its
ETL job (idempotent per tenant and name) once that module is part of the install.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from conveyor.integrations.service import Integration, Integrations


def etl_job_name(integration: Integration) -> str:
    return f"{integration.type}:{integration.name}"


def create_etl_job_for(app: Any, integration: Integration) -> Any:
    """Creates the integration's ETL job (conveyor.etl_jobs.create_etl_job is idempotent); returns it."""
    if importlib.util.find_spec("conveyor.etl_jobs") is None:
        return None  # the ETL jobs of issue #14 are not in this install: nothing to schedule yet
    from conveyor.etl_jobs import create_etl_job  # type: ignore[import-not-found,unused-ignore]

    return create_etl_job(app, tenant=integration.tenant, name=etl_job_name(integration),
                          pipeline=integration.pipeline, integration_id=integration.id, active=integration.active,
                          params={"integration_id": integration.id})  # what the Jira and GitHub pipelines read


def sync_now(app: Any, integration: Integration) -> str:
    """Run the integration's ETL job now (the dashboard's Run now): the job's own rules apply, so
    this never starts a second sync beside the orchestrator's. Returns the run id; raises
    InvalidTransitionError (409) when the job is running or changed meanwhile."""
    job = create_etl_job_for(app, integration)
    return str(app.etl_jobs.run_now(job.id, integration.tenant).run_id)


def integrations_for(app: Any) -> Integrations:
    """The integrations of `app`'s database, creating ETL jobs as integrations are created."""
    return Integrations(app.settings.database_url, on_created=[lambda i: create_etl_job_for(app, i)])


def integration_active_check(app: Any) -> Callable[[str], bool]:
    """For the ETL orchestrator (issue #14): is this integration active? (False when missing.)"""
    service = integrations_for(app)
    return service.is_active
