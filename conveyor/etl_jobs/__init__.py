"""ETL jobs (the seed's etl_jobs table): one per integration and data set, each running a
pipeline; cycled through per tenant by the orchestrator (conveyor/etl_jobs/orchestrator.py),
started at once with Run now, reset to READY by a countdown kept in the database.

Public API for other parts of Conveyor (the integrations of issue 15 use it):

    from conveyor.etl_jobs import create_etl_job, register_integration_check
    job = create_etl_job(app, tenant="acme", name="Jira ABC", pipeline="jira", integration_id=integ.id)
    register_integration_check(app, lambda integration_id, tenant: is_active(integration_id))
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from conveyor.etl_jobs.model import STATES, EtlJob
from conveyor.etl_jobs.service import ConcurrentChangeError, EtlJobError, EtlJobs
from conveyor.store.schedules_sql import schedule_sql

if TYPE_CHECKING:
    from conveyor.app import Conveyor
    from conveyor.store.base import Store

__all__ = ["STATES", "ConcurrentChangeError", "EtlJob", "EtlJobError", "EtlJobs", "create_etl_job",
           "register_integration_check"]


def create_etl_job(app_or_store: Conveyor | Store, *, tenant: str, name: str, pipeline: str,
                   integration_id: str | None = None, active: bool = True, params: dict[str, Any] | None = None,
                   position: int | None = None) -> EtlJob:
    """The tenant's ETL job named `name`: created (NOT_STARTED, after the tenant's other jobs) when
    missing, returned as it is when it exists - safe to call every time an integration is saved.

    The pipeline is not checked here (the process creating an integration may not declare the
    ETL pipelines): a job whose pipeline its runner does not declare FAILS with the reason when
    run. POST /api/etl/jobs checks it."""
    from conveyor.app import Conveyor

    if isinstance(app_or_store, Conveyor):
        return app_or_store.etl_jobs.create(tenant=tenant, name=name, pipeline=pipeline, params=params,
                                            integration_id=integration_id, active=active, position=position,
                                            check_pipeline=False)
    sql = schedule_sql(app_or_store)
    found = sql.one("etl_job_get_by_name", tenant=tenant, name=name)
    if found is None:
        if position is None:
            position = 1 + max((r["position"] for r in sql.run("etl_job_list") if r["tenant"] == tenant), default=0)
        sql.run("etl_job_insert", id=str(uuid.uuid4()), tenant=tenant, name=name, pipeline=pipeline,
                params=dict(params or {}), integration_id=integration_id, position=position, active=active,
                now=datetime.now(UTC))
        found = sql.one("etl_job_get_by_name", tenant=tenant, name=name)
    return EtlJob.from_row(found)  # type: ignore[arg-type]


def register_integration_check(app: Conveyor, check: Callable[[str, str], bool] | None) -> None:
    """How the orchestrator learns whether a job's integration is active: check(integration_id,
    tenant) -> bool. A job whose integration is inactive finishes with an alert instead of
    running. None (the default) reads the integration's `active` flag in the integrations table."""
    app.integration_check = check
