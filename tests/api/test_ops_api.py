"""Operations over HTTP: dead letters, queues, workers, the supervised pool, health, metrics."""

from __future__ import annotations

import re

from conveyor.model import JobState
from conveyor.store import JobFilter
from tests.conftest import wait_for


def _job(client, job_id):
    return client.get(f"/api/jobs/{job_id}").json()


def test_dead_letters_group_requeue_and_purge(app, client, start_worker):
    # Two failed-at-enqueue jobs (no worker yet) and two that die for real.
    failed = [client.post("/api/jobs", json={"task": "t.add", "args": [i, i], "policy": "record_failed"}).json()
              for i in range(2)]
    assert all(f["job_id"] for f in failed)
    start_worker()
    dead = [client.post("/api/jobs", json={"task": "t.fail", "args": ["disk full"], "max_attempts": 1}).json()
            for _ in range(2)]
    for d in dead:
        wait_for(lambda d=d: _job(client, d["id"])["state"] == "dead")
    r = client.get("/api/dead")
    assert r.status_code == 200, r.text
    body = r.json()
    assert {j["id"] for j in body["items"]} == {d["id"] for d in dead} | {f["job_id"] for f in failed}
    groups = {(g["task"], g["error"]): g["count"] for g in body["groups"]}
    assert groups[("t.fail", "RuntimeError: disk full")] == 2
    assert sum(n for (task, _), n in groups.items() if task == "t.add") == 2
    assert body["groups_complete"] is True and body["next_cursor"] is None
    page = client.get("/api/dead", params={"limit": 3}).json()
    assert len(page["items"]) == 3 and page["next_cursor"]
    rest = client.get("/api/dead", params={"limit": 3, "cursor": page["next_cursor"]}).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert len(client.get("/api/dead", params={"error": "DISK FULL"}).json()["items"]) == 2
    assert len(client.get("/api/dead", params={"task": "t.add"}).json()["items"]) == 2

    # Requeue one by id: it runs again (and dies again: t.fail always fails).
    r = client.post("/api/dead/requeue", json={"ids": [dead[0]["id"], failed[0]["job_id"], "0" * 32]})
    assert r.json() == {"count": 2}
    wait_for(lambda: _job(client, failed[0]["job_id"])["state"] == "completed")
    # Requeue by filter.
    r = client.post("/api/dead/requeue", json={"task": "t.add"})
    assert r.json() == {"count": 1}
    wait_for(lambda: _job(client, failed[1]["job_id"])["state"] == "completed")
    wait_for(lambda: len(client.get("/api/dead").json()["items"]) == 2)
    # Purge by filter, then everything.
    r = client.post("/api/dead/purge", json={"error": "disk full", "ids": [dead[1]["id"]]})
    assert r.json() == {"count": 1}
    r = client.post("/api/dead/purge", json={"all": True})
    assert r.json() == {"count": 1}
    assert client.get("/api/dead").json()["items"] == []
    assert client.get(f"/api/jobs/{dead[0]['id']}").status_code == 404


def test_queue_pause_and_resume(app, client, start_worker):
    start_worker()
    r = client.post("/api/queues/default/pause")
    assert r.status_code == 200 and r.json()["name"] == "default" and r.json()["paused"] is True
    held = client.post("/api/jobs", json={"task": "t.add", "args": [1, 1]}).json()
    # A job on another queue completing proves the worker made claim passes since.
    probe = client.post("/api/jobs", json={"task": "t.add", "args": [2, 2], "queue": "high"}).json()
    wait_for(lambda: _job(client, probe["id"])["state"] == "completed")
    assert _job(client, held["id"])["state"] == "queued"
    queues = {q["name"]: q for q in client.get("/api/queues").json()["items"]}
    assert queues["default"]["paused"] is True and queues["default"]["counts"]["queued"] == 1
    assert queues["default"]["live_workers"] == 1 and queues["high"]["paused"] is False
    r = client.post("/api/queues/default/resume")
    assert r.status_code == 200 and r.json()["paused"] is False
    wait_for(lambda: _job(client, held["id"])["state"] == "completed")
    # Pausing a queue nobody uses yet is allowed (it is created paused).
    assert client.post("/api/queues/later/pause").json()["paused"] is True


def test_worker_pause_resume_stop(app, client, start_worker, settings):
    w = start_worker()
    items = client.get("/api/workers").json()
    assert items["supervised"] is False
    listed = {x["id"]: x for x in items["items"]}
    assert listed[w.worker.id]["alive"] is True and listed[w.worker.id]["supervised"] is False
    one_heartbeat = settings.heartbeat_interval * 2 + 0.5

    r = client.post(f"/api/workers/{w.worker.id}/pause")
    assert r.status_code == 200 and r.json() == {"id": w.worker.id, "requested": "paused"}
    wait_for(lambda: w.worker.state == "paused", timeout=one_heartbeat, message="worker paused")
    wait_for(lambda: {x["id"]: x for x in client.get("/api/workers").json()["items"]}[w.worker.id]["state"]
             == "paused", timeout=one_heartbeat)
    r = client.post(f"/api/workers/{w.worker.id}/resume")
    assert r.json()["requested"] == "running"
    wait_for(lambda: w.worker.state == "running", timeout=one_heartbeat, message="worker resumed")
    r = client.post(f"/api/workers/{w.worker.id}/stop")
    assert r.json()["requested"] == "stopping"
    wait_for(lambda: not w.thread.is_alive(), timeout=one_heartbeat + 2, message="worker stopped")
    # A stopped worker cannot be controlled; neither can one that never existed.
    for worker_id in (w.worker.id, "no-such-worker"):
        r = client.post(f"/api/workers/{worker_id}/pause")
        assert r.status_code == 404 and r.json()["error"] and r.json()["action"]


class FakeSupervisor:
    def __init__(self, real_ids):
        self.ids = list(real_ids)
        self.started = 0

    def start_worker(self, queues=None):
        self.queues = queues
        self.started += 1
        self.ids.append(f"pool-{self.started}")
        return self.ids[-1]

    def stop_worker(self, worker_id):
        if worker_id in self.ids:
            self.ids.remove(worker_id)
            return True
        return False

    def workers(self):
        return [{"id": i, "pid": 1} for i in self.ids]


def test_pool_endpoints(app, api_server, admin_key, start_worker):
    plain = api_server()
    with plain.client(admin_key) as c:
        r = c.post("/api/pool/workers")
        assert r.status_code == 409 and "conveyor up --workers" in r.json()["action"]
        assert c.delete("/api/pool/workers/x").status_code == 409
    w = start_worker()
    supervisor = FakeSupervisor([w.worker.id])
    pooled = api_server(supervisor=supervisor)
    with pooled.client(admin_key) as c:
        listed = c.get("/api/workers").json()
        assert listed["supervised"] is True
        assert {x["id"]: x["supervised"] for x in listed["items"]}[w.worker.id] is True
        r = c.post("/api/pool/workers")
        assert r.status_code == 201 and r.json() == {"id": "pool-1", "supervised": True}
        assert supervisor.queues is None
        r = c.post("/api/pool/workers", json={"queues": ["reports", "default"]})  # a stranded queue's banner
        assert r.status_code == 201 and supervisor.queues == "reports,default"
        assert c.delete("/api/pool/workers/pool-2").status_code == 200
        r = c.post("/api/pool/workers", json={"queues": ["bad queue!"]})
        assert r.status_code == 422 and "queues" in r.text
        r = c.delete("/api/pool/workers/pool-1")
        assert r.status_code == 200 and r.json() == {"id": "pool-1", "stopping": True}
        assert c.delete("/api/pool/workers/pool-1").status_code == 404


def test_health(app, server, client, start_worker):
    with server.client() as anonymous:  # no key needed
        r = anonymous.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] is True
    assert body["schema"]["current"] == body["schema"]["required"] >= 1
    w = start_worker()
    assert client.get("/api/health").json()["queues"]["default"] == 1
    client.post("/api/jobs", json={"task": "t.add", "args": [1, 1], "policy": "accept", "queue": "reports"})
    body = client.get("/api/health").json()
    assert body["status"] == "degraded" and any("reports" in p for p in body["problems"])
    w.stop()


def test_health_when_the_database_is_down(app, api_server):
    server = api_server(maintenance=False)

    class Down:
        engine = app.store.engine

        def __getattr__(self, name):
            def fail(*a, **k):
                raise ConnectionError("database went away")
            return fail

    real = app._store
    app._store = Down()
    try:
        with server.client() as c:
            r = c.get("/api/health")
    finally:
        app._store = real
    assert r.status_code == 503
    assert r.json()["database"] is False and r.json()["status"] == "degraded"


def _metric(text, name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics(app, server, client, start_worker, make_key):
    start_worker()
    job = client.post("/api/jobs", json={"task": "t.add", "args": [1, 1]}).json()
    client.post("/api/jobs", json={"task": "t.add", "args": [1, 1], "policy": "accept", "queue": "reports"})
    wait_for(lambda: _job(client, job["id"])["state"] == "completed")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert _metric(text, "conveyor_jobs", queue="reports", state="queued") == 1
    assert _metric(text, "conveyor_live_workers", queue="default") == 1
    assert _metric(text, "conveyor_live_workers", queue="reports") == 0
    assert _metric(text, "conveyor_queue_oldest_ready_seconds", queue="reports") >= 0
    assert _metric(text, "conveyor_jobs_completed_last_minute", queue="default") == 1
    assert _metric(text, "conveyor_api_enqueued_total", queue="default", outcome="created") == 1
    assert _metric(text, "conveyor_database_up") == 1
    # The histograms are fed by the finished-job events the hub sees.
    wait_for(lambda: _metric(client.get("/metrics").text, "conveyor_job_duration_seconds_count",
                             queue="default", state="completed") == 1, message="duration histogram")
    text = client.get("/metrics").text
    assert _metric(text, "conveyor_job_pickup_latency_seconds_count", queue="default") == 1
    with server.client() as anonymous:
        assert anonymous.get("/metrics").status_code == 401
    with server.client(make_key("acme", "admin")) as tenant_key:  # metrics span every tenant
        assert tenant_key.get("/metrics").status_code == 403


def test_api_keys_endpoints(app, server, client, make_key):
    r = client.post("/api/keys", json={"role": "viewer", "tenant": "acme", "name": "dash"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith("cvk_") and created["tenant"] == "acme" and created["role"] == "viewer"
    keys = {k["id"]: k for k in client.get("/api/keys").json()["items"]}
    assert created["id"] in keys and "secret" not in keys[created["id"]]
    with server.client(created["secret"]) as viewer:
        assert viewer.get("/api/me").json() == {"tenant": "acme", "role": "viewer", "auth": True}
        assert client.delete(f"/api/keys/{created['id']}").status_code == 204
        server.fastapi.state.conveyor.authenticator.forget(created["id"])
        r = viewer.get("/api/me")
        assert r.status_code == 401 and r.json()["error"] and r.json()["action"]
    assert client.delete(f"/api/keys/{created['id']}").status_code == 404
    # A tenant admin manages its own tenant's keys only.
    tenant_admin = make_key("acme", "admin")
    with server.client(tenant_admin) as c:
        assert c.post("/api/keys", json={"role": "admin", "tenant": "*"}).status_code == 403
        assert c.post("/api/keys", json={"role": "operator", "tenant": "other"}).status_code == 403
        r = c.post("/api/keys", json={"role": "operator"})
        assert r.status_code == 201 and r.json()["tenant"] == "acme"
        assert {k["tenant"] for k in c.get("/api/keys").json()["items"]} == {"acme"}
        admin_id = next(k["id"] for k in client.get("/api/keys").json()["items"] if k["tenant"] == "*")
        assert c.delete(f"/api/keys/{admin_id}").status_code == 404


def test_enqueue_rate_limit(app, api_server, admin_key):
    server = api_server(enqueue_rate=1, enqueue_burst=2)
    with server.client(admin_key) as c:
        body = {"task": "t.add", "args": [1, 1], "policy": "accept"}
        assert [c.post("/api/jobs", json=body).status_code for _ in range(2)] == [201, 201]
        r = c.post("/api/jobs", json=body)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.json()["error"] and r.json()["action"] and r.json()["technical_details"]
        assert c.get("/api/jobs").status_code == 200  # reads are not limited
    assert len(app.store.list_jobs(JobFilter(states=[JobState.QUEUED.value]), limit=10)) == 2
