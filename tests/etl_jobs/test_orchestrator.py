"""ETL jobs on both engines with an injected clock: the per-tenant cycle (order, fast and full
intervals), inactive jobs and integrations, fail fast with no live worker (Run now and scheduled),
the check itself failing, the reset countdown (extended while work remains), restarts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from conveyor.errors import InvalidTransitionError, LivenessCheckError, NoLiveWorkerError
from conveyor.etl_jobs import EtlJobError, create_etl_job, register_integration_check
from conveyor.pipelines import PipelineError
from tests.conftest import register_worker_row, wait_for
from tests.schedules.conftest import Clock

STAGE_QUEUES = ["p_extract", "p_transform", "p_embed"]


def tick(app: Any) -> None:
    app.scheduler.tick(wait=True)  # a worker thread's maintenance may be in a pass: wait for it


def status(app: Any, job: Any) -> str:
    return app.etl_jobs.require(job.id).status


def finish_runs(app: Any, start_worker: Any) -> None:
    start_worker(STAGE_QUEUES, concurrency=4)


def three_jobs(app: Any) -> list[Any]:
    return [create_etl_job(app, tenant="acme", name=n, pipeline="t.etl", params={"n": 2}) for n in ("A", "B", "C")]


def run_to_end(app: Any, job: Any) -> None:
    """Wait (real seconds: the worker runs the stages) until the orchestrator sees the run end."""
    wait_for(lambda: (tick(app), status(app, job))[1] in ("FINISHED", "FAILED"), timeout=30,
             message=f"{job.name} finished")


def test_create_is_idempotent_per_tenant_and_name(app: Any, clock: Clock) -> None:
    first = create_etl_job(app, tenant="acme", name="Jira ABC", pipeline="t.etl", integration_id="i-1")
    again = create_etl_job(app, tenant="acme", name="Jira ABC", pipeline="t.etl", integration_id="i-1")
    other = create_etl_job(app.store, tenant="beta", name="Jira ABC", pipeline="t.etl")
    assert first.id == again.id != other.id
    assert first.status == "NOT_STARTED" and first.integration_id == "i-1"
    with pytest.raises(EtlJobError, match="Unknown pipeline"):
        app.etl_jobs.create(tenant="acme", name="X", pipeline="nope")
    assert len(app.etl_jobs.list()) == 2
    # The integrations' hook writes unchecked; running an undeclared pipeline fails with the reason.
    foreign = create_etl_job(app, tenant="acme", name="Y", pipeline="not.here")
    with pytest.raises(PipelineError, match="Unknown pipeline"):
        app.etl_jobs.run_now(foreign.id)
    assert "Unknown pipeline 'not.here'" in app.etl_jobs.require(foreign.id).error


def test_cycle_order_fast_and_full_intervals(app: Any, clock: Clock, start_worker: Any) -> None:
    a, b, c = three_jobs(app)
    app.etl_jobs.update(a.id, {"fast_interval": 900.0, "full_interval": 3600.0})
    finish_runs(app, start_worker)
    tick(app)  # no job scheduled yet: the cycle starts at A
    tick(app)
    assert status(app, a) == "RUNNING" and status(app, b) == "NOT_STARTED"
    run_to_end(app, a)
    ended = clock.now
    assert app.etl_jobs.require(b.id).next_run == ended + timedelta(seconds=900)  # fast to the next job
    assert app.etl_jobs.require(a.id).last_sync_date == ended
    clock.advance(899)
    tick(app)
    assert status(app, b) == "NOT_STARTED"
    clock.advance(1)
    tick(app)
    assert status(app, b) == "RUNNING"
    run_to_end(app, b)
    clock.advance(900)
    tick(app)
    run_to_end(app, c)
    assert app.etl_jobs.require(a.id).next_run == clock.now + timedelta(seconds=3600)  # wraps: full interval
    assert status(app, a) == "READY"  # its countdown ran out long ago


def test_per_tenant_intervals_and_inactive_job_skipped(app: Any, clock: Clock, start_worker: Any) -> None:
    a, b, c = three_jobs(app)
    other = create_etl_job(app, tenant="beta", name="A", pipeline="t.etl")
    app.etl_jobs.update(a.id, {"fast_interval": 60.0})
    app.etl_jobs.update(b.id, {"active": False})
    finish_runs(app, start_worker)
    tick(app)
    tick(app)
    assert status(app, a) == "RUNNING" and status(app, other) == "RUNNING"  # tenants run side by side
    run_to_end(app, a)
    assert app.etl_jobs.require(c.id).next_run == clock.now + timedelta(seconds=60)  # B skipped
    assert app.etl_jobs.require(b.id).next_run is None
    run_to_end(app, other)
    assert app.etl_jobs.require(other.id).next_run == clock.now + timedelta(seconds=3600)  # defaults, alone


def test_inactive_integration_finishes_with_an_alert(app: Any, clock: Clock) -> None:
    job = create_etl_job(app, tenant="acme", name="Jira", pipeline="t.etl", integration_id="int-1")
    register_integration_check(app, lambda integration_id, tenant: integration_id != "int-1")
    tick(app)
    tick(app)
    stored = app.etl_jobs.require(job.id)
    assert stored.status == "FINISHED" and stored.run_id is None
    assert "Integration int-1 is inactive" in stored.alert
    assert app.runs.list() == []  # nothing ran
    assert stored.next_run == clock.now + timedelta(seconds=3600)  # the cycle goes on


def test_run_now_without_live_worker_fails_fast(app: Any, clock: Clock) -> None:
    job = create_etl_job(app, tenant="acme", name="A", pipeline="t.etl")
    register_worker_row(app.store, "w1", ("p_extract",))  # transform and embed have none
    with pytest.raises(NoLiveWorkerError) as info:
        app.etl_jobs.run_now(job.id)
    body = info.value.to_dict()
    assert "p_transform" in body["error"] and "p_embed" in body["error"]
    assert "conveyor worker --app tests.tasks:app --queues p_embed,p_transform" in body["action"]
    assert "Workers page" in body["action"] and body["technical_details"]
    stored = app.etl_jobs.require(job.id)
    assert stored.status == "FAILED" and "conveyor worker" in stored.error
    assert app.runs.list() == [] and app.list_jobs() == []  # nothing queued
    assert stored.reset_deadline == clock.now + timedelta(seconds=30)


def test_scheduled_run_without_live_worker_fails_and_retries_next_interval(app: Any, clock: Clock) -> None:
    job = create_etl_job(app, tenant="acme", name="A", pipeline="t.etl")
    tick(app)
    tick(app)
    stored = app.etl_jobs.require(job.id)
    assert stored.status == "FAILED" and "no live worker" in stored.error
    assert app.runs.list() == []
    assert stored.next_run == clock.now + timedelta(seconds=3600)
    clock.advance(31)
    tick(app)
    assert status(app, job) == "READY"
    clock.advance(3600)
    for q in STAGE_QUEUES:
        register_worker_row(app.store, f"w-{q}", (q,))
    tick(app)
    assert status(app, job) == "RUNNING"


def test_check_failing_runs_nothing_and_says_why(app: Any, clock: Clock, monkeypatch: Any) -> None:
    job = create_etl_job(app, tenant="acme", name="A", pipeline="t.etl")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("connection to the database was lost")

    monkeypatch.setattr(type(app.runs.sql), "live_workers", broken)
    with pytest.raises(LivenessCheckError) as info:
        app.etl_jobs.run_now(job.id)
    assert "could not be made" in info.value.message
    stored = app.etl_jobs.require(job.id)
    assert stored.status == "FAILED" and "connection to the database was lost" in stored.error
    assert "Nothing was queued" in stored.error
    assert app.runs.list() == [] and app.list_jobs() == []


def test_run_now_refused_when_inactive_or_running(app: Any, clock: Clock) -> None:
    for q in STAGE_QUEUES:
        register_worker_row(app.store, f"w-{q}", (q,))
    job = create_etl_job(app, tenant="acme", name="A", pipeline="t.etl", active=False)
    with pytest.raises(InvalidTransitionError, match="inactive"):
        app.etl_jobs.run_now(job.id)
    assert status(app, job) == "NOT_STARTED"
    app.etl_jobs.update(job.id, {"active": True})
    running = app.etl_jobs.run_now(job.id)
    assert running.status == "RUNNING" and running.run_id
    with pytest.raises(InvalidTransitionError, match="already RUNNING"):
        app.etl_jobs.run_now(job.id)
    assert len(app.runs.list()) == 1


def test_reset_countdown_extends_while_work_remains(app: Any, clock: Clock) -> None:
    for q in STAGE_QUEUES:
        register_worker_row(app.store, f"w-{q}", (q,))  # live for the check, but claims nothing
    job = app.etl_jobs.run_now(create_etl_job(app, tenant="acme", name="A", pipeline="t.etl").id)
    app.runs.cancel(job.run_id)  # the run ends; pretend its token's work is still out there:
    app.enqueue("t.add", [1, 2], token=job.token, policy="accept")
    tick(app)
    stored = app.etl_jobs.require(job.id)
    assert stored.status == "FAILED" and stored.reset_deadline == clock.now + timedelta(seconds=30)
    deadlines = []
    for _ in range(4):
        clock.now = stored.reset_deadline
        tick(app)
        stored = app.etl_jobs.require(job.id)
        deadlines.append((stored.reset_deadline - clock.now).total_seconds())
    assert deadlines == [60, 180, 300, 300]
    assert stored.status == "FAILED" and stored.reset_attempt == 4
    for j in app.list_jobs(limit=100):
        if j.state.value in ("queued", "scheduled"):
            app.store.cancel_job(j.id)
    clock.now = stored.reset_deadline
    tick(app)
    stored = app.etl_jobs.require(job.id)
    assert stored.status == "READY" and stored.reset_deadline is None
    view = app.etl_jobs.to_dict(stored)["status_json"]
    assert view["overall"] == "READY"
    assert view["steps"]["main"]["extraction"] == view["steps"]["main"]["embedding"] == "idle"


def test_reset_without_work_left_and_surviving_restart(app: Any, clock: Clock, start_worker: Any) -> None:
    job = create_etl_job(app, tenant="acme", name="A", pipeline="t.etl", params={"n": 3})
    start_worker(STAGE_QUEUES, concurrency=4)
    job = app.etl_jobs.run_now(job.id)
    run_to_end(app, job)
    stored = app.etl_jobs.require(job.id)
    assert stored.status == "FINISHED" and stored.reset_deadline == clock.now + timedelta(seconds=30)
    assert stored.run_status["steps"]["main"]["embedding"] == "finished"
    # A restart: a new app object on the same database carries on from the row.
    restarted = app.with_database(app.settings.database_url)
    restarted.clock = clock
    try:
        clock.advance(29)
        restarted.scheduler.tick(lead=False)
        assert status(restarted, job) == "FINISHED"
        clock.advance(1)
        restarted.scheduler.tick(lead=False)
        assert status(restarted, job) == "READY"
    finally:
        restarted.close()


def test_an_integrations_own_job_stops_when_it_is_deactivated(app: Any, clock: Clock,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Creating an integration creates its ETL job; with no check registered, the orchestrator
    reads the integration's own row, so deactivating it stops the job."""
    from cryptography.fernet import Fernet

    from conveyor.integrations.wiring import etl_job_name, integrations_for

    monkeypatch.setenv("CONVEYOR_SECRET_KEY", Fernet.generate_key().decode())
    service = integrations_for(app)
    integration = service.create(tenant="acme", type="jira", name="acme-jira", base_url="http://127.0.0.1:9/",
                                 credentials={"email": "a@example.com", "api_token": "t"})
    (job,) = [j for j in app.etl_jobs.list(tenant="acme") if j.integration_id == integration.id]
    assert job.name == etl_job_name(integration) and job.pipeline == "jira" and job.active
    assert job.params == {"integration_id": integration.id}  # what the pipeline needs to find it
    service.update(integration.id, active=False)
    tick(app)
    tick(app)
    stored = app.etl_jobs.require(job.id)
    assert stored.status == "FINISHED" and stored.run_id is None
    assert f"Integration {integration.id} is inactive" in stored.alert
    assert app.runs.list() == []
