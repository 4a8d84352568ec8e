"""Jobs over HTTP: enqueue, read, list + pagination, cancel/retry/delete, idempotency, no worker."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from conveyor.model import JobState
from conveyor.store import JobFilter
from tests.conftest import wait_for

ERROR_FIELDS = {"error", "action", "technical_details"}


def test_enqueue_read_and_run(app, client, start_worker):
    start_worker()
    r = client.post("/api/jobs", json={"task": "t.add", "args": [2, 3]})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["task"] == "t.add" and job["queue"] == "default"
    assert job["state"] in ("queued", "running", "completed")  # the worker may be quick
    assert job["tenant"] == "default" and job["args"] == [2, 3] and job["enqueued_at"]
    done = wait_for(lambda: (j := client.get(f"/api/jobs/{job['id']}").json())["state"] == "completed" and j)
    assert done["result"] == 5 and done["attempts"] == 1 and done["ended_at"] and done["started_at"]
    assert done["attempt_history"][0]["outcome"] == "completed"
    # Options pass through; delay makes it scheduled; kwargs work.
    r = client.post("/api/jobs", json={
        "task": "t.add", "kwargs": {"a": 1, "b": 1}, "queue": "high", "priority": 7, "delay": 60,
        "max_attempts": 5, "timeout": 12.5, "token": "trace-1",
    })
    assert r.status_code == 201, r.text
    job = r.json()
    assert (job["queue"], job["priority"], job["state"], job["max_attempts"], job["timeout"], job["token"]) == (
        "high", 7, "scheduled", 5, 12.5, "trace-1")
    run_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = client.post("/api/jobs", json={"task": "t.add", "args": [1, 1], "run_at": run_at})
    assert r.status_code == 201 and r.json()["state"] == "scheduled"


def test_list_filters_and_pagination(app, client, start_worker):
    start_worker(queues=["reports"])  # 'default' has no live worker: its jobs stay queued
    ids = [client.post("/api/jobs", json={"task": "t.add", "args": [i, 0], "policy": "accept",
                                           "token": "tok-even" if i % 2 == 0 else "tok-odd"}).json()["id"]
           for i in range(20)]
    # A batch written in one transaction shares one created_at: ties must page by id.
    batch = app.enqueue_many([app.tasks["t.noop"].new_job(i) for i in range(10)], policy="accept")
    ids += [h.id for h in batch]
    assert len(set(ids)) == 30
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        r = client.get("/api/jobs", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= 10
        seen += [j["id"] for j in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "pagination does not end"
    assert len(seen) == len(set(seen)), "a job appeared on two pages"
    assert set(seen) == set(ids), "pagination skipped jobs"
    created = [client.get(f"/api/jobs/{i}").json()["created_at"] for i in seen]
    assert created == sorted(created, reverse=True)  # newest first
    assert seen == ids[::-1]  # ids are time-ordered: the order the jobs were made in
    # A cursor from before lists were ordered by id ([created_at, id]) still marks its place.
    old_cursor = base64.urlsafe_b64encode(json.dumps([created[9], seen[9]]).encode()).decode().rstrip("=")
    r = client.get("/api/jobs", params={"limit": 5, "cursor": old_cursor})
    assert r.status_code == 200 and [j["id"] for j in r.json()["items"]] == seen[10:15]

    r = client.get("/api/jobs", params={"token": "tok-even", "limit": 200})
    assert len(r.json()["items"]) == 10 and {j["token"] for j in r.json()["items"]} == {"tok-even"}
    r = client.get("/api/jobs", params={"task": "t.noop"})
    assert len(r.json()["items"]) == 10 and r.json()["next_cursor"] is None
    r = client.get("/api/jobs", params={"state": "queued,running", "queue": "default", "limit": 5})
    assert len(r.json()["items"]) == 5 and r.json()["next_cursor"]
    r = client.get("/api/jobs", params={"state": "completed"})
    assert r.json()["items"] == []
    r = client.get("/api/jobs", params={"state": "pending"})  # the reference systems' word for queued
    assert len(r.json()["items"]) == 30
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert client.get("/api/jobs", params={"created_after": future}).json()["items"] == []
    assert len(client.get("/api/jobs", params={"created_before": future, "limit": 200}).json()["items"]) == 30
    r = client.get("/api/jobs", params={"tenant": "default", "limit": 1})
    assert len(r.json()["items"]) == 1
    assert client.get("/api/jobs", params={"tenant": "nobody"}).json()["items"] == []


def test_cancel_retry_delete(app, client):
    job = client.post("/api/jobs", json={"task": "t.add", "args": [1, 2], "policy": "accept"}).json()
    url = f"/api/jobs/{job['id']}"
    r = client.delete(url)
    assert r.status_code == 409 and set(r.json()) >= ERROR_FIELDS and "finished" in r.json()["error"]
    r = client.post(f"{url}/retry")
    assert r.status_code == 409, r.text
    r = client.post(f"{url}/cancel")
    assert r.status_code == 200 and r.json() == {"id": job["id"], "state": "cancelled"}
    r = client.post(f"{url}/cancel")
    assert r.status_code == 409 and set(r.json()) >= ERROR_FIELDS
    r = client.post(f"{url}/retry")
    assert r.status_code == 200 and r.json()["state"] == "queued" and r.json()["id"] == job["id"]
    client.post(f"{url}/cancel")
    r = client.delete(url)
    assert r.status_code == 204 and r.content == b""
    r = client.get(url)
    assert r.status_code == 404 and {"error", "action"} <= set(r.json())
    for method, path in [("GET", url), ("POST", f"{url}/cancel"), ("POST", f"{url}/retry"), ("DELETE", url),
                         ("GET", "/api/jobs/not-a-uuid"), ("POST", "/api/jobs/12345/cancel")]:
        r = client.request(method, path)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.json()["error"] and r.json()["action"]
    # Upper-case ids are the same job.
    other = client.post("/api/jobs", json={"task": "t.add", "args": [0, 0], "policy": "accept"}).json()
    assert client.get(f"/api/jobs/{other['id'].upper()}").json()["id"] == other["id"]


def test_cancel_running_job_asks_the_worker(app, client, start_worker):
    start_worker()
    job = client.post("/api/jobs", json={"task": "t.wait_cancel"}).json()
    wait_for(lambda: client.get(f"/api/jobs/{job['id']}").json()["state"] == "running")
    r = client.post(f"/api/jobs/{job['id']}/cancel")
    assert r.json() == {"id": job["id"], "state": "running"}  # requested: the worker acts
    done = wait_for(lambda: (j := client.get(f"/api/jobs/{job['id']}").json())["state"] == "cancelled" and j)
    assert done["ended_at"]


def test_idempotency_key_gives_one_job(app, client, start_worker):
    start_worker()
    body = {"task": "t.add", "args": [1, 1], "idempotency_key": "order-42"}
    first = client.post("/api/jobs", json=body)
    second = client.post("/api/jobs", json=body)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert len(app.store.list_jobs(JobFilter(), limit=10)) == 1


def test_no_live_worker_refuses_and_writes_nothing(app, client):
    r = client.post("/api/jobs", json={"task": "t.add", "args": [1, 2]})
    assert r.status_code == 503, r.text
    body = r.json()
    assert set(body) >= ERROR_FIELDS and all(body[f] for f in ERROR_FIELDS)
    assert "default" in body["error"] and "conveyor worker" in body["action"]
    assert "job_id" not in body or body["job_id"] is None
    assert app.store.list_jobs(JobFilter(), limit=10) == []


def test_record_failed_policy_stores_the_failed_job(app, client):
    r = client.post("/api/jobs", json={"task": "t.add", "args": [1, 2], "policy": "record_failed"})
    assert r.status_code == 503, r.text
    body = r.json()
    assert set(body) >= ERROR_FIELDS and body["job_id"]
    job = app.store.get_job(body["job_id"])
    assert job is not None and job.state == JobState.FAILED and "No live worker" in job.error
    r = client.get(f"/api/jobs/{body['job_id']}")
    assert r.status_code == 200 and r.json()["state"] == "failed"


def test_tasks_and_me(app, client):
    tasks = {t["name"]: t for t in client.get("/api/tasks").json()["items"]}
    assert "conveyor.probe" not in tasks
    progress = tasks["t.progress"]
    assert progress["parameters"] == ["steps", "step_seconds", "marker"]  # ctx is not a parameter
    assert progress["is_async"] is False and "progress" in progress["doc"]
    assert tasks["t.reports"]["queue"] == "reports" and tasks["t.sleep"]["is_async"] is True
    assert tasks["t.fail"]["max_attempts"] == 3
    assert client.get("/api/me").json() == {"tenant": None, "role": "admin", "auth": True}


def test_unknown_queue_and_task(app, client, start_worker):
    start_worker(queues=["default", "custom-q"])
    r = client.post("/api/jobs", json={"task": "t.nope"})
    assert r.status_code == 422 and "t.add" in r.json()["action"]
    r = client.post("/api/jobs", json={"task": "t.add", "args": [1, 1], "queue": "no-such-queue"})
    assert r.status_code == 422 and "queue" in r.json()["error"]
    assert r.json()["fields"][0]["field"] == "queue"
    # A queue served by a live worker is known even though no task names it.
    r = client.post("/api/jobs", json={"task": "t.add", "args": [1, 1], "queue": "custom-q"})
    assert r.status_code == 201, r.text
    assert len(app.store.list_jobs(JobFilter(), limit=10)) == 1
