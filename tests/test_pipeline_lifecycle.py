"""Pipeline runs over time, on both engines: retention of finished runs (injected clock), run
lists as live as the single-run read, per-run versions, and what retry-step does to attempts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conveyor import Conveyor
from conveyor.maintenance import run_maintenance
from conveyor.store.pipelines_common import pipeline_sql
from tests.conftest import wait_for
from tests.pipeline_tasks import etl

STAGE_QUEUES = ["p_extract", "p_transform", "p_embed"]


def finished(app: Conveyor, run_id: str, timeout: float = 20.0) -> Any:
    return wait_for(lambda: (r := app.get_run(run_id)) and r.finished and r, timeout, message=f"run {run_id} to end")


def table_counts(app: Conveyor, run_id: str) -> dict[str, int]:
    """Rows a run owns in each pipeline table (read straight from the database)."""
    tables = {"pipeline_runs": "id", "pipeline_stage_counts": "run_id", "pipeline_count_deltas": "run_id",
              "raw_extraction_data": "run_id"}
    if app.store.engine == "postgres":
        import psycopg
        with psycopg.connect(app.settings.database_url) as conn:
            return {t: conn.execute(f"SELECT count(*) FROM {t} WHERE {c} = %s", (run_id,)).fetchone()[0]  # type: ignore[index]
                    for t, c in tables.items()}
    conn = app.store._conn()  # type: ignore[attr-defined]
    return {t: conn.execute(f"SELECT count(*) FROM {t} WHERE {c} = ?", (run_id,)).fetchone()[0] for t, c in tables.items()}


def test_finished_runs_are_pruned_with_their_rows_after_run_ttl(app: Conveyor, start_worker: Any) -> None:
    worker = start_worker(STAGE_QUEUES, concurrency=4)
    old = finished(app, etl.start({"n": 3, "raw": True}).id)
    assert old.state == "FINISHED"
    app.runs.cancel(etl.start({"n": 2}, policy="accept").id)  # a CANCELLED run ends too
    unlinked = pipeline_sql(app.store).save_raw(run_id=None, step=None, tenant="default", token="t", source="s",
                                                fingerprint="f", payload="{}")
    worker.stop()
    waiting = etl.start({"n": 2}, policy="accept")  # RUNNING, with nobody to run it
    app.settings = app.settings.with_overrides(run_ttl=3600.0)
    assert table_counts(app, old.id)["raw_extraction_data"] == 3
    assert table_counts(app, old.id)["pipeline_stage_counts"] == 3

    # Within the TTL nothing goes.
    run_maintenance(app, now=datetime.now(UTC) + timedelta(seconds=3000))
    assert app.get_run(old.id) is not None and pipeline_sql(app.store).get_raw(unlinked) is not None

    # Past it: finished runs and their rows go, in batches of prune_batch; a running run stays.
    app.settings = app.settings.with_overrides(prune_batch=1)
    later = datetime.now(UTC) + timedelta(seconds=3700)
    run_maintenance(app, now=later)
    assert len(app.runs.list()) == 2  # one finished run went, the other waits for the next pass
    run_maintenance(app, now=later)
    assert [r.id for r in app.runs.list()] == [waiting.id]
    assert app.get_run(old.id) is None
    assert table_counts(app, old.id) == dict.fromkeys(table_counts(app, old.id), 0)
    assert pipeline_sql(app.store).get_raw(unlinked) is None
    assert app.get_run(waiting.id).state == "RUNNING"  # type: ignore[union-attr]


def test_a_run_that_a_reprocess_run_reads_is_kept(app: Conveyor, start_worker: Any) -> None:
    transform = start_worker(STAGE_QUEUES, concurrency=4)
    source = finished(app, etl.start({"n": 2, "raw": True}).id)
    transform.stop()
    # A reprocess run that cannot finish: nobody serves its transform queue any more.
    app.settings = app.settings.with_overrides(run_ttl=60.0)
    rerun = app.runs.reprocess(source.id, "transform", policy="accept")
    assert rerun.state == "RUNNING"
    run_maintenance(app, now=datetime.now(UTC) + timedelta(seconds=120))
    assert app.get_run(source.id) is not None, "its raw rows are still being read"


def test_run_list_cells_are_live_like_the_single_run_read(app: Conveyor, start_worker: Any) -> None:
    run = etl.start({"n": 4}, policy="accept")
    start_worker(["p_extract"], concurrency=1)
    # The extraction job completes and emits 4 items; no worker serves transform, so the run's
    # row is not rewritten after that: the list must still show the counters as they are now.
    wait_for(lambda: app.get_run(run.id).status["steps"]["main"]["stages"]["transform"]["queued"] == 4,  # type: ignore[union-attr]
             message="the items to wait in transform")
    listed = {r.id: r for r in app.runs.list()}[run.id]
    single = app.get_run(run.id)
    assert single is not None
    assert listed.status["steps"] == single.status["steps"]
    assert listed.version == single.version
    assert listed.status["steps"]["main"]["stages"]["extraction"]["done"] == 1


def test_version_goes_up_with_every_change_and_is_the_same_for_every_reader(app: Conveyor, start_worker: Any) -> None:
    run = etl.start({"n": 3}, policy="accept")
    first = app.get_run(run.id)
    assert first is not None and first.version >= 1
    other = app.with_database(app.settings.database_url)  # another process's view of the same run
    try:
        assert other.get_run(run.id).version == first.version  # type: ignore[union-attr]
        start_worker(STAGE_QUEUES, concurrency=2)
        seen = [first.version]
        done = wait_for(lambda: (r := app.get_run(run.id)) and (seen.append(r.version) or r.finished) and r,
                        message="the run to end")
        assert seen == sorted(seen), "a version never goes down"
        # 1 extraction + 3 transform + 3 embedding jobs entered and ended: at least 7 counted changes.
        assert done.version >= first.version + 7
        pipeline_sql(app.store).fold(run.id)  # folding moves counts, it changes nothing a reader sees
        assert app.get_run(run.id).version == done.version == other.get_run(run.id).version  # type: ignore[union-attr]
    finally:
        other.close()


def test_retry_step_gives_retried_jobs_fresh_attempts_and_keeps_their_history(
        app: Conveyor, start_worker: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """A user retrying a step expects the retried jobs to get their full max_attempts again (the
    step failed because they ran out), while every earlier attempt stays in the job's log."""
    cure = tmp_path / "cure"
    monkeypatch.setenv("P_POISON", "1")
    monkeypatch.setenv("P_CURE", str(cure))
    start_worker(STAGE_QUEUES, concurrency=4)
    run = finished(app, etl.start({"n": 3}).id)
    assert run.state == "FAILED"
    dead = [j for j in pipeline_sql(app.store).job_ids(run.id) if j[3] == "dead"]
    assert len(dead) == 1
    before = app.get_job(dead[0][0])
    assert before is not None and before.attempts == 1 and len(before.attempt_log) == 1
    cure.write_text("ok")
    app.runs.retry_step(run.id, "main")
    assert finished(app, run.id).state == "FINISHED"
    after = app.get_job(dead[0][0])
    assert after is not None and after.state.value == "completed"
    assert after.attempts == 1, "the retried job started again from attempt 1"
    outcomes = [a.outcome for a in after.attempt_log]
    assert outcomes[0] == "permanent_error" and len(outcomes) >= 1, outcomes
    assert before.attempt_log[0].error == after.attempt_log[0].error, "the failed attempt stays in the history"
