"""Per-task metrics: written with the completion batches on both engines, read back per task and
per queue with quantiles from the duration histogram, served at /api/metrics/tasks, pruned."""

from __future__ import annotations

import time

import pytest

from conveyor import JobState
from conveyor.model import NewJob
from conveyor.task_metrics import (
    DURATION_BOUNDS,
    HIST_COLUMNS,
    MinuteFigures,
    bucket_index,
    quantile,
    summarise,
)
from tests import tasks
from tests.api.conftest import ApiServer
from tests.conftest import register_worker_row, wait_for


def test_bucket_index_matches_width_bucket_and_quantiles_interpolate():
    assert bucket_index(0.0) == 0 and bucket_index(0.005) == 1 and bucket_index(299.9) == len(DURATION_BOUNDS) - 1
    assert bucket_index(1e6) == len(HIST_COLUMNS) - 1
    hist = [0] * len(HIST_COLUMNS)
    hist[bucket_index(0.3)] = 90  # 0.25 .. 0.5
    hist[bucket_index(3.0)] = 10  # 2.5 .. 5
    assert 0.25 <= quantile(hist, 0.5, 4.0) <= 0.5
    assert 2.5 <= quantile(hist, 0.95, 4.0) <= 4.0  # capped by the observed maximum
    assert quantile([0] * len(HIST_COLUMNS), 0.5, 0.0) is None


def test_summarise_places_rows_on_the_chart_points():
    figures = MinuteFigures()
    figures.add(True, 0.2, 0.01)
    figures.add(False, 0.4, None)
    now = 1_800_000_000.0
    step = 60
    t = (now // step) * step
    row = {"task": "t.a", "queue": "q", "t": t, "succeeded": 1, "failed": 1, "duration_sum": 0.6,
           "duration_max": 0.4, "pickup_n": 1, "pickup_sum": 0.01, "pickup_max": 0.01,
           **dict(zip(HIST_COLUMNS, figures.hist, strict=True))}
    out = summarise([row], "hour", now)
    assert len(out["series"]) == 60 and out["series"][-1]["t"] == t
    assert out["series"][-1]["succeeded"] == 1 and out["series"][-1]["failed"] == 1
    (task,) = out["tasks"]
    assert task["processed"] == 2 and task["failure_rate"] == 0.5 and task["queues"] == ["q"]
    assert task["duration"]["max"] == 0.4 and task["pickup"]["avg"] == 0.01


def test_figures_are_written_with_the_completion_batches(app, start_worker):
    start_worker()
    for i in range(5):
        tasks.add.enqueue(i, i)
    tasks.app.enqueue("t.sleep", [0.3]).wait(10)
    dead = tasks.fail.enqueue("x").wait(10)
    assert dead.state == JobState.DEAD and dead.attempts == 3
    wait_for(lambda: _figures(app)["tasks"] and _task(app, "t.add")["processed"] == 5, message="add figures")
    out = _figures(app)
    add, sleep, fail = _task(app, "t.add"), _task(app, "t.sleep"), _task(app, "t.fail")
    assert add["succeeded"] == 5 and add["failed"] == 0 and add["queues"] == ["default"]
    assert fail["processed"] == 3 and fail["failed"] == 3 and fail["failure_rate"] == 1.0
    assert 0.29 <= sleep["duration"]["max"] < 5 and 0.25 <= sleep["duration"]["p50"] <= sleep["duration"]["max"]
    assert add["duration"]["p95"] < 0.5 and add["pickup"]["avg"] is not None and add["pickup"]["avg"] >= 0
    assert out["totals"]["processed"] == 5 + 1 + 3
    assert sum(p["succeeded"] for p in out["series"]) == 6 and sum(p["failed"] for p in out["series"]) == 3
    (default,) = [q for q in out["queues"] if q["queue"] == "default"]
    assert default["processed"] == 9


def test_attempts_ended_by_maintenance_are_counted(app):
    """An orphan rescued from a gone worker and a job the database timed out are failed attempts
    in the figures, counted once (by the pass that wrote their verdict)."""
    store = app.store
    register_worker_row(store, "gone")
    register_worker_row(store, "wedged", queues=("slow",))
    store.enqueue([NewJob(task="t.add", max_attempts=1)], policy="accept", liveness_timeout=3)
    store.enqueue([NewJob(task="t.slow", queue="slow", timeout=0.1, max_attempts=3)], policy="accept",
                  liveness_timeout=3)
    [orphan] = store.claim_jobs("gone", ["default"], 1)
    [overdue] = store.claim_jobs("wedged", ["slow"], 1)
    store.stop_worker("gone")  # gone without handing its job back
    ended: set[str] = set()

    def both_ended() -> bool:
        store.heartbeat("wedged", state="running", jobs_in_flight=1, processed=0, failed=0)
        report = store.run_maintenance(liveness_timeout=30, timeout_grace=0.05, stranded_deadline=0,
                                       result_ttl=3600, failure_ttl=3600, prune_batch=100)
        assert report is not None
        ended.update(i for i, _ in report.rescued + report.timed_out)
        return ended == {orphan.id, overdue.id}

    wait_for(both_ended, timeout=5, message="rescue and timeout")
    store.run_maintenance(liveness_timeout=30, timeout_grace=0.05, stranded_deadline=0, result_ttl=3600,
                          failure_ttl=3600, prune_batch=100)  # a later pass counts nothing again
    add, slow = _task(app, "t.add"), _task(app, "t.slow")
    assert (add["processed"], add["failed"], add["queues"]) == (1, 1, ["default"])
    assert (slow["processed"], slow["failed"], slow["queues"]) == (1, 1, ["slow"])
    assert slow["duration"]["max"] >= 0.1  # from its start until the pass that timed it out
    assert add["pickup"]["avg"] is not None and add["pickup"]["avg"] >= 0
    assert _figures(app)["totals"] == {**_figures(app)["totals"], "processed": 2, "failed": 2}


def test_old_figures_are_pruned(app, start_worker):
    start_worker()
    tasks.add.enqueue(1, 1).wait(10)
    wait_for(lambda: _figures(app)["totals"]["processed"] == 1, message="figures written")
    _age_rows(app, days=9)
    assert _figures(app, "week")["totals"]["processed"] == 0  # outside every window already
    app.store.run_maintenance(liveness_timeout=15, timeout_grace=5, stranded_deadline=0, result_ttl=3600,
                              failure_ttl=3600, prune_batch=100)
    assert app.store.task_metric_rows(0, 60) == []


def test_metrics_endpoint(app, start_worker, make_key):
    start_worker()
    tasks.add.enqueue(1, 2).wait(10)
    server = ApiServer(app).start()
    try:
        with server.client(make_key(role="viewer", tenant="*")) as client:
            wait_for(lambda: client.get("/api/metrics/tasks").json()["totals"]["processed"] == 1, message="metrics")
            body = client.get("/api/metrics/tasks", params={"window": "day"}).json()
            assert body["window"] == "day" and body["step_seconds"] == 900 and len(body["series"]) == 96
            assert [t["task"] for t in body["tasks"]] == ["t.add"]
            assert client.get("/api/metrics/tasks", params={"task": "t.other"}).json()["tasks"] == []
            assert client.get("/api/metrics/tasks", params={"window": "year"}).status_code == 422
        with server.client(make_key(role="viewer", tenant="acme")) as client:
            assert client.get("/api/metrics/tasks").json()["totals"]["processed"] == 0
    finally:
        server.stop()


def _figures(app, window: str = "hour") -> dict:
    from conveyor.task_metrics import WINDOWS

    length, step = WINDOWS[window]
    now = time.time()
    return summarise(app.store.task_metric_rows((now // step + 1) * step - length, step), window, now)


def _task(app, name: str) -> dict:
    return next((t for t in _figures(app)["tasks"] if t["task"] == name), {"processed": 0})


def _age_rows(app, days: int) -> None:
    """Move every figure back in time (the test's stand-in for a clock 9 days on)."""
    if app.store.engine == "sqlite":
        with app.store._write() as conn:
            conn.execute("UPDATE conveyor_task_minutes SET minute = minute - ?", (days * 86400,))
    else:
        with app.store._connection() as conn:
            conn.execute("UPDATE conveyor_task_minutes SET minute = minute - make_interval(days => %s)", (days,))


@pytest.fixture
def make_key(app):
    from conveyor.api.auth import create_api_key

    return lambda role="admin", tenant="*": create_api_key(app.store, tenant=tenant, role=role)[1]
