"""Pipelines: multi-stage runs with one correlation token, completion by counting, live status.

    extract, transform, embed = ...            # registered tasks, each on its own queue
    jira = app.pipeline("jira", steps=[
        {"name": "projects", "display_name": "Projects & Types",
         "stages": [{"name": "extraction", "task": extract, "queue": "extraction_queue_{tier}"},
                    {"name": "transform", "task": transform}, {"name": "embedding", "task": embed}]},
        {"name": "issues", "stages": [...], "order": "wait", "on_failure": "continue"},
    ])
    run = jira.start({"project": "ABC"}, tenant="acme", tier="premium")
    app.get_run(run.id).status     # {"overall", "token", "steps": {...}}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.pipelines.declaration import OnFailure, Pipeline, PipelineError, Stage, Step, StepOrder
from conveyor.pipelines.runs import PipelineRun, RunNotFoundError

if TYPE_CHECKING:
    from conveyor.app import Conveyor
    from conveyor.model import EnqueuePolicy

__all__ = ["DeclaredPipeline", "OnFailure", "Pipeline", "PipelineError", "PipelineRun", "RunNotFoundError",
           "Stage", "Step", "StepOrder"]


@dataclass
class DeclaredPipeline:
    """What app.pipeline(...) returns: the declaration, bound to its app."""

    app: Conveyor
    declaration: Pipeline
    # run id -> {step name: metrics}: what the integration measured per step (API calls, pages,
    # records...), shown under each step of the run's status JSON. Set by the ETL that declares it.
    step_metrics: Callable[[Any, str], dict[str, Any]] | None = None  # (app reading the run, run id)

    @property
    def name(self) -> str:
        return self.declaration.name

    def start(self, params: dict[str, Any] | None = None, *, tenant: str = "default", tier: str | None = None,
              token: str | None = None, policy: EnqueuePolicy | str | None = None) -> PipelineRun:
        """Start a run: each step's entry stage gets one job with `params` as its item, when the
        step's turn comes. Checks first that every stage queue has a live worker (the policy says
        what happens when one has none)."""
        return self.app.runs.start(self.name, params, tenant=tenant, tier=tier, token=token, policy=policy)

    def __repr__(self) -> str:
        return f"<Pipeline {self.name} steps={[s.name for s in self.declaration.steps]}>"
