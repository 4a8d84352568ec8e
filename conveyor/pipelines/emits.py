"""What a stage attempt emitted, built into jobs of the next stage of its step (in the worker)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from conveyor.errors import PermanentError
from conveyor.store.pipelines_common import RunRecord, StageJob, pipeline_sql

if TYPE_CHECKING:
    from conveyor.app import Conveyor
    from conveyor.store.base import ClaimedJob


class StageEmits:
    def __init__(self, app: Conveyor) -> None:
        self.app = app
        self._runs: dict[str, RunRecord] = {}  # run id -> the run (its queues never change)
        self._lock = threading.Lock()

    def _run(self, run_id: str) -> RunRecord:
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            run = pipeline_sql(self.app.store).get_run(run_id)
            if run is None:
                raise PermanentError(f"pipeline run {run_id} no longer exists; its emits cannot be written")
            with self._lock:
                if len(self._runs) > 1000:
                    self._runs.clear()
                self._runs[run_id] = run
        return run

    def quick(self, claimed: ClaimedJob, emitted: list[str]) -> bool:
        """True when building is cheap enough for the event loop: few items, run already read."""
        return len(emitted) <= 64 and claimed.pipeline_run_id in self._runs

    def build(self, claimed: ClaimedJob, emitted: list[str], continued: list[str] | None = None) -> list[StageJob]:
        """The jobs of the next stage for items emitted by `claimed` ('[item]' JSON each), and the
        jobs of its own stage for the items it continued with."""
        assert claimed.pipeline_run_id and claimed.step and claimed.stage
        run = self._run(claimed.pipeline_run_id)
        declared = self.app.pipelines.get(run.pipeline)
        if declared is None:
            raise PermanentError(f"pipeline {run.pipeline!r} is not declared in this worker's app; "
                                 "deploy a worker whose app declares it")
        pipeline = declared.declaration
        stages = pipeline.step(claimed.step).stages
        index = pipeline.stage_index(claimed.step, claimed.stage)
        jobs: list[StageJob] = []
        if emitted:
            if index + 1 >= len(stages):
                raise PermanentError(f"stage {claimed.stage!r} is the last stage of step {claimed.step!r}: "
                                     "there is no next stage to emit to")
            nxt = stages[index + 1]
            jobs += self.app.runs.stage_jobs(run.id, run.tenant, run.token, run.queues, claimed.step, nxt.name,
                                             nxt.task, emitted, parent_id=claimed.id, last_job=False, encoded=True)
        if continued:
            own = stages[index]
            jobs += self.app.runs.stage_jobs(run.id, run.tenant, run.token, run.queues, claimed.step, own.name,
                                             own.task, continued, parent_id=claimed.id, last_job=False,
                                             encoded=True)
        return jobs
