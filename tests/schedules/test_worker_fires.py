"""Nothing extra to start: a plain `conveyor worker` process fires schedules in its maintenance
pass and runs what they queue (both engines)."""

from __future__ import annotations

from typing import Any

from conveyor.schedules import build_spec
from tests.conftest import wait_for


def test_a_worker_process_fires_and_runs_a_schedule(app: Any, spawn_worker: Any) -> None:
    schedule = app.scheduler.create(build_spec(app, "every-second", "t.add", interval=1, args=[2, 3]))
    worker = spawn_worker("default")
    done = wait_for(lambda: [j for j in app.list_jobs(limit=50) if j.task == "t.add" and j.state.value == "completed"],
                    timeout=30, message="a scheduled job ran")
    assert done[0].result == 5 and done[0].meta["schedule"] == "every-second"
    # Recorded right after the enqueue commits; the job may have run before that.
    wait_for(lambda: app.scheduler.get(schedule.id).last_outcome == "queued", timeout=10, message="outcome recorded")
    wait_for(lambda: "SCHEDULE_FIRE" in worker.output(), timeout=10, message="the fire logged")  # after the tick
