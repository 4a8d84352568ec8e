"""The incremental watermark of a GitHub sync: the start time of the last run of the same pipeline,
tenant and scope (endpoint, owner, repository filter -- or integration) that FINISHED.

Nothing is written to advance it: a run that fails or is cancelled never moves it, and a PR updated
while a run is under way has `updatedAt` after that run's start (floored to the second, as GitHub's
timestamps are), so the next run takes it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from conveyor.etl.github.settings import DEFAULT_ENDPOINT, repository_filter
from conveyor.store.pipelines_common import RunFilter

if TYPE_CHECKING:
    from conveyor.app import Conveyor


def params_scope(params: dict[str, Any]) -> str:
    if params.get("integration_id") is not None:
        return f"integration:{params['integration_id']}"
    patterns = ",".join(sorted(repository_filter(params.get("repositories"))))
    return f"{params.get('endpoint') or DEFAULT_ENDPOINT}|{str(params.get('owner') or '').lower()}|{patterns}"


def watermark(app: Conveyor, pipeline: str, tenant: str, params: dict[str, Any], current_run: str | None) -> datetime | None:
    """None (a full sync) when there is no such run, or when the params ask for `full`."""
    if params.get("full"):
        return None
    scope = params_scope(params)
    starts = [run.started_at or run.created_at
              for run in app.runs.list(RunFilter(pipeline=pipeline, states=["FINISHED"], tenant=tenant), limit=200)
              if run.id != current_run and not run.reprocess_of and params_scope(run.params) == scope]
    # GitHub's updatedAt has whole seconds: a PR updated at 10.9 s reads 10 s, so a run that began
    # at 10.5 s must take updatedAt >= 10 s, or that update would be lost.
    return max(starts).replace(microsecond=0) if starts else None
