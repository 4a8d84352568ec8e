"""A parked stage job (ParkJob: a rate limit) shows its stage and step as `waiting` with
`resume_at` in the run's status, over the Python API, HTTP and WebSocket, and `running` again
once it resumes; real worker processes, both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.conftest import recv_json, recv_until
from tests.conftest import wait_for
from tests.test_pipeline_processes import assert_never_finished_early, ended, spawn_stage_workers


def main_step(run: dict[str, Any]) -> dict[str, Any]:
    return run["status"]["steps"]["main"]  # type: ignore[no-any-return]


def is_parked(run: dict[str, Any]) -> bool:
    step = main_step(run)
    return step["transform"] == "waiting" and step["state"] == "waiting"


def is_resumed(run: dict[str, Any]) -> bool:
    step = main_step(run)
    return step["transform"] == "running" and step["state"] == "running" and step["resume_at"] is None


def test_parked_stage_job_shows_waiting_with_resume_at_then_running(
        app: Any, server: Any, client: Any, admin_key: str, spawn_worker: Any, tmp_path: Any) -> None:
    # Running 1 s before it parks: the WebSocket is connected by then, so the park is pushed.
    spawn_stage_workers(app, spawn_worker, P_BEFORE_PARK="1", P_PARK="4", P_AFTER_PARK="2", P_PARK_DIR=str(tmp_path))
    created = client.post("/api/pipelines/t.etl_park/runs", json={"params": {"n": 1}})
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    with server.ws(f"/ws/runs/{run_id}", admin_key) as ws:
        parked = recv_json(ws)
        assert parked["type"] == "snapshot"
        if not is_parked(parked["run"]):  # else (a very slow machine) it parked before we connected
            # Pushed over the WebSocket: the park changes no count, yet it is announced.
            parked, _ = recv_until(ws, lambda m: is_parked(m["run"]), timeout=30)
        step = main_step(parked["run"])
        transform = step["stages"]["transform"]
        assert parked["run"]["state"] == "RUNNING"
        assert (transform["parked"], transform["running"], transform["queued"]) == (1, 0, 0)
        resume_at = datetime.fromisoformat(transform["resume_at"])
        assert step["resume_at"] == transform["resume_at"]
        assert datetime.now(UTC) - timedelta(seconds=1) < resume_at < datetime.now(UTC) + timedelta(seconds=5)
        assert step["extraction"] == "finished" and step["embedding"] == "idle"

        # The same over HTTP and from the Python API (read live, not from the stored status).
        over_http = client.get(f"/api/runs/{run_id}").json()
        if datetime.now(UTC) < resume_at - timedelta(seconds=0.5):
            assert is_parked(over_http) and main_step(over_http)["resume_at"] == transform["resume_at"]
            assert is_parked(app.get_run(run_id).to_dict())

        # Resumed at resume_at: running again (the task takes 2 s), then the run finishes.
        resumed, _ = recv_until(ws, lambda m: is_resumed(m["run"]), timeout=30)
        assert datetime.now(UTC) >= resume_at - timedelta(seconds=0.1)
        assert main_step(resumed["run"])["stages"]["transform"]["parked"] == 0
        finished, _ = recv_until(ws, lambda m: m["run"]["state"] == "FINISHED", timeout=30)
        assert main_step(finished["run"])["state"] == "finished"

    done = ended(app, run_id, timeout=30)
    assert done.state == "FINISHED"
    assert_never_finished_early(app, run_id)
    transform_jobs = [app.get_job(j[0]) for j in app.runs.sql.job_ids(run_id) if j[2] == "transform"]
    assert len(transform_jobs) == 1
    job = transform_jobs[0]
    assert [a.outcome for a in job.attempt_log] == ["parked"] and job.attempts == 1  # the park spent no attempt
    wait_for(lambda: main_step(client.get(f"/api/runs/{run_id}").json())["stages"]["embedding"]["done"] == 1,
             timeout=5, message="the item reached the last stage")
