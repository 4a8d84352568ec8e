"""Pipelines end to end on both engines, with in-process worker threads (fast) and real worker
processes where a process must die."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor import Conveyor, NoLiveWorkerError
from conveyor.pipelines import PipelineError
from conveyor.store.pipelines_common import pipeline_sql
from tests.conftest import wait_for
from tests.pipeline_tasks import (
    etl,
    etl_continue,
    etl_fail_once,
    etl_hang_once,
    etl_paged,
    etl_tiered,
    etl_two,
    etl_wait,
)

STAGE_QUEUES = ["p_extract", "p_transform", "p_embed"]


def finished(app: Conveyor, run_id: str, timeout: float = 20.0) -> Any:
    return wait_for(lambda: (r := app.get_run(run_id)) and r.finished and r, timeout, message=f"run {run_id} to end")


def jobs_of(app: Conveyor, run_id: str) -> list[tuple[str, str, str, str]]:
    return pipeline_sql(app.store).job_ids(run_id)


def test_run_finishes_with_status_json_and_token_on_every_job(app: Conveyor, start_worker: Any) -> None:
    start_worker(STAGE_QUEUES, concurrency=4)
    run = etl.start({"n": 5}, tenant="acme")
    assert run.state == "RUNNING" and run.tenant == "acme"
    done = finished(app, run.id)
    assert done.state == "FINISHED", done
    status = done.status
    assert status["overall"] == "FINISHED" and status["token"] == run.token
    main = status["steps"]["main"]
    assert (main["order"], main["display_name"]) == (1, "Main")
    assert (main["extraction"], main["transform"], main["embedding"]) == ("finished",) * 3
    assert main["stages"]["transform"]["done"] == 5 and main["stages"]["extraction"]["emitted"] == 5
    assert main["stages"]["embedding"]["done"] == 5 and main["stages"]["embedding"]["queued"] == 0
    jobs = jobs_of(app, run.id)
    assert len(jobs) == 11 and {j[3] for j in jobs} == {"completed"}
    for job_id, *_ in jobs:
        job = app.get_job(job_id)
        assert job is not None and job.token == run.token and job.tenant == "acme"
        assert {"first_item", "last_item", "last_job_item"} <= set(job.meta)


@pytest.mark.parametrize(("pipeline", "outcome"), [(etl_fail_once, "failed"), (etl_hang_once, "timed_out")],
                         ids=["failed", "timed-out"])
def test_an_attempt_that_fails_after_emitting_emits_nothing_and_its_retry_emits_again(
        app: Conveyor, start_worker: Any, pipeline: Any, outcome: str) -> None:
    start_worker(STAGE_QUEUES, concurrency=8)
    run = finished(app, pipeline.start({"n": 6}).id, timeout=30)
    assert run.state == "FINISHED", run.error
    jobs = jobs_of(app, run.id)
    transforms = [app.get_job(j[0]) for j in jobs if j[2] == "transform"]
    assert all(t is not None and t.attempts == 2 and t.attempt_log[0].outcome == outcome
               for t in transforms), "every transform's first attempt failed after emitting"
    items = sorted(app.get_job(j[0]).args[0] for j in jobs if j[2] == "embedding")  # type: ignore[union-attr]
    assert items == list(range(6)), "one embedding job per item: the failed attempts' emits never landed"
    assert run.status["steps"]["main"]["stages"]["transform"]["emitted"] == 6


def test_a_stage_that_continues_itself_hands_over_each_jobs_emits_at_once(app: Conveyor, start_worker: Any) -> None:
    start_worker(STAGE_QUEUES, concurrency=4)
    run = finished(app, etl_paged.start({"n": 4}).id, timeout=30)
    assert run.state == "FINISHED", run.error
    jobs = jobs_of(app, run.id)
    pages = [app.get_job(j[0]) for j in jobs if j[2] == "extraction"]
    assert sorted(p.args[0].get("page", 0) for p in pages if p) == [0, 1, 2, 3]  # one job per page, each once
    assert [p.result for p in pages if p and p.args[0].get("page") == 3] == [True], \
        "page 0 was transformed while the extraction stage was still going"
    retried = [p for p in pages if p and p.args[0].get("page") == 1]
    assert retried[0].attempts == 2  # its first attempt's emit and continuation never landed:
    items = sorted(app.get_job(j[0]).args[0] for j in jobs if j[2] == "embedding")  # type: ignore[union-attr]
    assert items == [0, 1, 2, 3]
    main = run.status["steps"]["main"]["stages"]
    assert main["extraction"]["done"] == 4 and main["transform"]["entered"] == 4


def test_overlap_and_wait_step_order(app: Conveyor, start_worker: Any) -> None:
    start_worker(STAGE_QUEUES, concurrency=4)
    for pipeline in (etl_two, etl_wait):
        run = finished(app, pipeline.start({"n": 3}).id)
        assert run.state == "FINISHED"
        jobs = {(j[1], j[2]): j[0] for j in jobs_of(app, run.id)}
        first_ext = app.get_job(jobs[("first", "extraction")])
        second_ext = app.get_job(jobs[("second", "extraction")])
        last_first = max((app.get_job(i) for (s, _), i in jobs.items() if s == "first"),
                         key=lambda j: j.finished_at)
        assert second_ext.started_at >= first_ext.finished_at
        if pipeline is etl_wait:  # the whole first step had finished
            assert second_ext.started_at >= last_first.finished_at


def test_dead_stage_job_fails_run_and_continue_gives_partial(app: Conveyor, start_worker: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P_POISON", "1")
    start_worker(STAGE_QUEUES, concurrency=4)
    run = finished(app, etl.start({"n": 4}).id)
    assert run.state == "FAILED" and "cannot transform item 1" in run.error
    assert run.status["steps"]["main"]["transform"] == "failed"
    wait_for(lambda: not [j for j in jobs_of(app, run.id) if j[3] in ("queued", "scheduled", "running")],
             message="the failed run's outstanding jobs to end")
    partial = finished(app, etl_continue.start({"n": 4}).id)
    assert partial.state == "FINISHED"
    assert partial.status["steps"]["first"]["transform"] == "partial"
    assert partial.status["steps"]["first"]["state"] == "partial"
    assert partial.status["steps"]["second"]["state"] == "partial"  # the same poison item fails there too
    assert partial.status["steps"]["first"]["stages"]["embedding"]["done"] == 3


def test_retry_step_reruns_only_failed_work(app: Conveyor, start_worker: Any, monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Any) -> None:
    cure = tmp_path / "cure"
    monkeypatch.setenv("P_POISON", "2")
    monkeypatch.setenv("P_CURE", str(cure))
    start_worker(STAGE_QUEUES, concurrency=4)
    run = finished(app, etl.start({"n": 4}).id)
    assert run.state == "FAILED"
    before = {j[0]: j[3] for j in jobs_of(app, run.id)}
    cure.write_text("ok")
    assert app.runs.retry_step(run.id, "main") >= 1
    again = finished(app, run.id)
    assert again.state == "FINISHED" and again.error is None
    after = jobs_of(app, run.id)
    assert len([j for j in after if j[2] == "embedding"]) == 4
    # completed work was not run again
    assert all(state == "completed" for job_id, state in before.items() if state == "completed")
    with pytest.raises(PipelineError):
        app.runs.retry_step(run.id, "nope")


def test_fail_fast_at_start(app: Conveyor, start_worker: Any) -> None:
    with pytest.raises(NoLiveWorkerError) as refused:
        etl.start({"n": 1})
    message = str(refused.value)
    assert all(q in message for q in STAGE_QUEUES) and "conveyor worker --app tests.tasks:app --queues" in message
    assert pipeline_sql(app.store).list_runs(__import__("conveyor.store.pipelines_common",
                                                       fromlist=["RunFilter"]).RunFilter()) == []
    run = etl.start({"n": 1}, policy="record_failed")
    assert run.state == "FAILED" and "p_transform" in run.error and jobs_of(app, run.id) == []


def test_tiered_queue_template(app: Conveyor, start_worker: Any) -> None:
    start_worker(["p_extract_premium", "p_transform", "p_embed"], concurrency=2)
    run = etl_tiered.start({"n": 2}, tier="premium")
    assert run.queues["main/extraction"] == "p_extract_premium"
    assert finished(app, run.id).state == "FINISHED"
    with pytest.raises(NoLiveWorkerError, match="p_extract_free"):
        etl_tiered.start({"n": 2}, tier="free")
    with pytest.raises(PipelineError, match="tier"):
        etl_tiered.start({"n": 2})


def test_cancel_leaves_nothing_queued_or_running(app: Conveyor, start_worker: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P_DELAY", "0.05")
    start_worker(STAGE_QUEUES, concurrency=2)
    run = etl.start({"n": 200})
    wait_for(lambda: any(j[2] == "embedding" for j in jobs_of(app, run.id)), message="work under way")
    cancelled = app.runs.cancel(run.id)
    assert cancelled.state == "CANCELLED"
    wait_for(lambda: not [j for j in jobs_of(app, run.id) if j[3] in ("queued", "scheduled", "running")],
             message="no job of the run queued or running")
    n = len(jobs_of(app, run.id))
    assert app.get_run(run.id).state == "CANCELLED" and len(jobs_of(app, run.id)) == n


def test_raw_data_store_and_reprocess_from_a_stage(app: Conveyor, start_worker: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P_RAW", "1")
    start_worker(STAGE_QUEUES, concurrency=4)
    run = finished(app, etl.start({"n": 3, "raw": True}).id)
    assert run.state == "FINISHED"
    sql = pipeline_sql(app.store)
    raw_ids = sql.raw_ids(run.id, "main")
    assert len(raw_ids) == 3
    raw = sql.get_raw(raw_ids[0])
    assert raw is not None and raw.payload == '{"item": 0}' and raw.token == run.token
    assert (raw.source, raw.fingerprint) == ("test-api", "page=0")
    again = app.runs.reprocess(run.id, "transform")
    assert again.reprocess_of == run.id and again.token != run.token
    again = finished(app, again.id)
    assert again.state == "FINISHED", again.error
    jobs = jobs_of(app, again.id)
    assert not [j for j in jobs if j[2] == "extraction"], "nothing fetched again"
    results = sorted(app.get_job(j[0]).result for j in jobs if j[2] == "embedding")
    assert results == ['{"item": 0}', '{"item": 1}', '{"item": 2}']
    assert again.status["steps"]["main"]["extraction"] == "finished"
    with pytest.raises(PipelineError, match="first stage"):
        app.runs.reprocess(run.id, "extraction")
    with pytest.raises(PipelineError, match="no stage"):
        app.runs.reprocess(run.id, "nope")


def test_bad_input_is_refused_and_writes_nothing(app: Conveyor, start_worker: Any) -> None:
    from conveyor import UnknownTaskError
    from tests.tasks import app as tasks_app
    with pytest.raises(PipelineError, match="no steps"):
        tasks_app.pipeline("t.bad1", steps=[])
    with pytest.raises(UnknownTaskError, match="nope.task"):
        tasks_app.pipeline("t.bad2", steps=[{"name": "s", "stages": [{"name": "x", "task": "nope.task"}]}])
    with pytest.raises(PipelineError, match="cycle"):
        tasks_app.pipeline("t.bad3", steps=[
            {"name": "a", "stages": [{"name": "x", "task": "p.embed"}], "depends_on": ["b"]},
            {"name": "b", "stages": [{"name": "x", "task": "p.embed"}], "depends_on": ["a"]}])
    with pytest.raises(PipelineError, match="unknown step"):
        tasks_app.pipeline("t.bad4", steps=[{"name": "a", "stages": [{"name": "x", "task": "p.embed"}],
                                              "depends_on": ["zzz"]}])
    with pytest.raises(PipelineError, match="declared twice"):
        tasks_app.pipeline("t.etl", steps=[{"name": "a", "stages": [{"name": "x", "task": "p.embed"}]}])
    assert not {"t.bad1", "t.bad2", "t.bad3", "t.bad4"} & set(tasks_app.pipelines)
    start_worker(STAGE_QUEUES, concurrency=1)
    with pytest.raises(PipelineError, match="Unknown pipeline"):
        app.runs.start("t.nope")
    with pytest.raises(Exception, match="JSON"):
        etl.start({"n": object()})
    assert app.runs.list() == []
    assert app.get_run("not-a-run-id") is None
    from tests.tasks import add
    job = add.configure(queue="p_extract").enqueue(1, 2)
    assert job.wait(10).state.value == "completed"  # an ordinary job is unaffected
    from conveyor.context import JobContext
    ctx = JobContext(job_id="j", task="t", queue="q", tenant="default", attempt=1, max_attempts=1, token="x",
                     lease_token="l", store=app.store)
    with pytest.raises(PipelineError, match="not a pipeline stage"):
        ctx.emit(1)


def test_cli_pipelines(app: Conveyor, start_worker: Any, capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from conveyor.cli import main
    base = ["--app", "tests.tasks:app", "--database-url", app.settings.database_url]
    assert main(["pipelines", "start", "t.etl", "--params", '{"n": 2}', *base]) == 4  # no live worker
    assert "p_extract" in capsys.readouterr().err
    start_worker(STAGE_QUEUES, concurrency=2)
    assert main(["pipelines", "list", *base]) == 0
    assert "t.etl_tiered" in capsys.readouterr().out
    assert main(["pipelines", "start", "t.etl", "--params", '{"n": 2}', "--wait", "20", "--json", *base]) == 0
    run = __import__("json").loads(capsys.readouterr().out)
    assert run["state"] == "FINISHED"
    assert main(["pipelines", "status", run["id"], *base]) == 0
    assert "embedding=finished (2 done, 0 outstanding, 0 failed)" in capsys.readouterr().out
    assert main(["pipelines", "status", *base]) == 0 and run["id"] in capsys.readouterr().out
    assert main(["pipelines", "status", "01a2a3a4-0000-7000-8000-000000000000", *base]) == 5
    assert main(["pipelines", "start", "t.etl", "--params", "{nope", *base]) == 2
    assert main(["pipelines", "cancel", run["id"], *base]) == 2  # already ended
    cure = tmp_path / "cure"
    monkeypatch.setenv("P_POISON", "0")
    monkeypatch.setenv("P_CURE", str(cure))
    assert main(["pipelines", "start", "t.etl", "--params", '{"n": 2}', "--wait", "20", "--json", *base]) == 1
    failed = __import__("json").loads(capsys.readouterr().out)
    cure.write_text("ok")
    assert main(["pipelines", "retry-step", failed["id"], "--step", "main", *base]) == 0
    assert finished(app, failed["id"]).state == "FINISHED"
    assert main(["pipelines", "reprocess", failed["id"], "--from-stage", "extraction", *base]) == 2
