"""Pipelines with real worker processes on both engines: concurrency on one stage, fan-out,
SIGKILL mid-run, and one job emitting 100,000 items."""

from __future__ import annotations

from typing import Any

import psycopg

from conveyor import Conveyor
from conveyor.store.pipelines_common import pipeline_sql
from tests.conftest import live_workers, wait_for
from tests.pipeline_tasks import etl, etl_async, etl_slow


def ended(app: Conveyor, run_id: str, timeout: float) -> Any:
    return wait_for(lambda: (r := app.get_run(run_id)) and r.finished and r, timeout, interval=0.05,
                    message=f"run {run_id} to end")


def spawn_stage_workers(app: Conveyor, spawn_worker: Any, transform_workers: int = 1, concurrency: int = 10,
                        **env: str) -> list[Any]:
    procs = [spawn_worker("p_extract,p_embed", concurrency=concurrency, **env)]
    procs += [spawn_worker("p_transform", concurrency=concurrency, **env) for _ in range(transform_workers)]
    wait_for(lambda: live_workers(app, "p_transform") == transform_workers and live_workers(app, "p_embed") == 1,
             timeout=60, message="workers up")  # five processes starting on a busy 2-core machine
    return procs


def assert_never_finished_early(app: Conveyor, run_id: str) -> None:
    """Every job of the run had ended when the run was marked FINISHED (at the flip): no job of
    the run ends after the run's finished_at (one query over the run's jobs)."""
    run = app.get_run(run_id)
    assert run is not None and run.state == "FINISHED" and run.finished_at is not None
    if app.store.engine == "postgres":
        with psycopg.connect(app.settings.database_url) as conn:
            late = conn.execute("SELECT count(*) FROM conveyor_jobs WHERE pipeline_run_id = %s AND "
                                "(finished_at IS NULL OR finished_at > %s)", (run_id, run.finished_at)).fetchone()
    else:
        late = app.store._conn().execute(  # type: ignore[attr-defined]
            "SELECT count(*) FROM conveyor_jobs WHERE pipeline_run_id = ? AND (finished_at IS NULL OR finished_at > ?)",
            (run_id, run.finished_at.timestamp())).fetchone()
    assert late[0] == 0, f"{late[0]} job(s) ended after the run was FINISHED"


def test_four_workers_on_one_stage_with_random_delays(app: Conveyor, spawn_worker: Any) -> None:
    spawn_stage_workers(app, spawn_worker, transform_workers=4, P_DELAY="0.01")
    runs = [etl.start({"n": n}) for n in (150, 1, 60)]
    for run in runs:
        ended(app, run.id, timeout=60)
        assert_never_finished_early(app, run.id)
        jobs = pipeline_sql(app.store).job_ids(run.id)
        n = run.params["n"]
        assert len([j for j in jobs if j[2] == "embedding" and j[3] == "completed"]) == n
        assert app.get_run(run.id).status["steps"]["main"]["stages"]["transform"]["done"] == n


def test_fan_out_of_10000_items(app: Conveyor, spawn_worker: Any) -> None:
    spawn_stage_workers(app, spawn_worker, concurrency=50)  # async no-op stages: larger claims, fewer round trips
    run = etl_async.start({"n": 10_000})
    done = ended(app, run.id, timeout=120)
    assert done.state == "FINISHED"
    stages = done.status["steps"]["main"]["stages"]
    assert stages["extraction"]["emitted"] == 10_000 and stages["embedding"]["done"] == 10_000
    assert_never_finished_early(app, run.id)


def test_sigkill_of_a_stage_worker_loses_and_duplicates_nothing(app: Conveyor, spawn_worker: Any) -> None:
    n = 120
    _, doomed = spawn_stage_workers(app, spawn_worker, P_SLOW="0.2")
    run = etl_slow.start({"n": n})
    sql = pipeline_sql(app.store)
    wait_for(lambda: len([j for j in sql.job_ids(run.id) if j[2] == "embedding"]) >= 10
             and sql.job_ids(run.id, ("running",)), timeout=30, message="transform under way, jobs in flight")
    doomed.kill()  # with transform attempts in flight: their emits must never land
    spawn_worker("p_transform", concurrency=10, P_SLOW="0.05")
    done = ended(app, run.id, timeout=60)
    assert done.state == "FINISHED"
    last = [j for j in sql.job_ids(run.id) if j[2] == "embedding"]
    items = sorted(app.get_job(j[0]).args[0] for j in last)
    assert items == list(range(n)), "every item reaches the last stage exactly once"
    transforms = [app.get_job(j[0]) for j in sql.job_ids(run.id) if j[2] == "transform"]
    assert any(a.outcome == "orphaned" for t in transforms for a in t.attempt_log), "a rescued attempt"
    assert_never_finished_early(app, run.id)


def test_one_job_emits_100000_items(app: Conveyor, spawn_worker: Any) -> None:
    spawn_worker("p_extract", concurrency=1)
    wait_for(lambda: live_workers(app, "p_extract") == 1, timeout=20, message="worker up")
    run = etl.start({"n": 100_000}, policy="accept")  # nobody serves transform: the items wait there
    sql = pipeline_sql(app.store)
    status = wait_for(lambda: (r := app.get_run(run.id)).status["steps"]["main"]["stages"]["transform"]["entered"]
                      and r.status, timeout=60, message="the emits to land")
    main = status["steps"]["main"]
    assert main["extraction"] == "finished" and main["stages"]["transform"]["queued"] == 100_000
    assert main["stages"]["extraction"]["emitted"] == 100_000
    app.runs.cancel(run.id)
    assert not sql.job_ids(run.id, ("queued", "scheduled", "running"))
