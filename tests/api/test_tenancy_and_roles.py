"""Tenant isolation on every endpoint and on the WebSocket feed; role checks; authentication."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from tests.api.conftest import recv_json, recv_until
from tests.conftest import wait_for


def test_tenant_isolation(app, server, make_key, admin_key):
    a_key, b_key = make_key("tenant-a", "operator"), make_key("tenant-b", "operator")
    with server.client(a_key) as a, server.client(b_key) as b, server.client(admin_key) as admin:
        # B listens to every event it may see, from before A does anything.
        with server.ws("/ws/events", b_key) as feed:
            wait_for(lambda: len(server.hub.subscribers) == 1)
            a_job = a.post("/api/jobs", json={"task": "t.add", "args": [1, 1], "policy": "accept",
                                              "idempotency_key": "same-key"}).json()
            assert a_job["tenant"] == "tenant-a"
            a_failed = a.post("/api/jobs", json={"task": "t.add", "args": [2, 2], "policy": "record_failed"}).json()
            # The same idempotency key in another tenant is another job.
            b_job = b.post("/api/jobs", json={"task": "t.add", "args": [3, 3], "policy": "accept",
                                              "idempotency_key": "same-key"}).json()
            assert b_job["tenant"] == "tenant-b" and b_job["id"] != a_job["id"]

            for job_id in (a_job["id"], a_failed["job_id"]):
                for method, path in [("GET", f"/api/jobs/{job_id}"), ("POST", f"/api/jobs/{job_id}/cancel"),
                                     ("POST", f"/api/jobs/{job_id}/retry"), ("DELETE", f"/api/jobs/{job_id}")]:
                    r = b.request(method, path)
                    assert r.status_code == 404, (method, path, r.text)
            assert [j["id"] for j in b.get("/api/jobs").json()["items"]] == [b_job["id"]]
            assert b.get("/api/jobs", params={"tenant": "tenant-a"}).status_code == 403
            assert b.post("/api/jobs", json={"task": "t.add", "tenant": "tenant-a", "policy": "accept"}).status_code == 403
            assert b.get("/api/dead").json()["items"] == [] and b.get("/api/dead").json()["groups"] == []
            assert b.post("/api/dead/requeue", json={"all": True}).json() == {"count": 0}
            assert b.post("/api/dead/purge", json={"ids": [a_failed["job_id"]]}).json() == {"count": 0}
            assert b.post("/api/dead/purge", json={"all": True}).json() == {"count": 0}
            b_counts = {q["name"]: q["counts"] for q in b.get("/api/queues").json()["items"]}
            assert b_counts["default"]["queued"] == 1 and b_counts["default"]["failed"] == 0
            a_counts = {q["name"]: q["counts"] for q in a.get("/api/queues").json()["items"]}
            assert a_counts["default"]["queued"] == 1 and a_counts["default"]["failed"] == 1
            all_counts = {q["name"]: q["counts"] for q in admin.get("/api/queues").json()["items"]}
            assert all_counts["default"]["queued"] == 2
            assert a.get(f"/api/jobs/{a_failed['job_id']}").json()["state"] == "failed"
            assert {j["tenant"] for j in admin.get("/api/jobs").json()["items"]} == {"tenant-a", "tenant-b"}
            assert len(admin.get("/api/jobs", params={"tenant": "tenant-a"}).json()["items"]) == 2

            # A's job changes; then B's: B's feed shows B's change and never A's.
            assert a.post(f"/api/jobs/{a_job['id']}/cancel").json()["state"] == "cancelled"
            assert b.post(f"/api/jobs/{b_job['id']}/cancel").json()["state"] == "cancelled"
            message, before = recv_until(
                feed, lambda m: m["type"] == "job" and m["job"]["id"] == b_job["id"] and m["job"]["state"] == "cancelled")
            assert all(m["job"]["tenant"] == "tenant-b" for m in before if m["type"] == "job")
            assert a.delete(f"/api/jobs/{a_job['id']}").status_code == 204
            assert b.delete(f"/api/jobs/{b_job['id']}").status_code == 204
            message, before = recv_until(feed, lambda m: m["type"] == "deleted")
            assert message["id"] == b_job["id"] and all(m.get("job", {}).get("tenant") != "tenant-a" for m in before)

        # B cannot watch A's job.
        with server.ws(f"/ws/jobs/{a_failed['job_id']}", b_key) as ws:
            assert recv_json(ws)["type"] == "error"
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd.code == 4404
        with server.ws("/ws/events?tenant=tenant-a", b_key) as ws:
            assert recv_json(ws)["type"] == "error"
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd.code == 4403


def test_roles_and_authentication(app, server, make_key):
    viewer, operator = make_key("t1", "viewer"), make_key("t1", "operator")
    body = {"task": "t.add", "args": [1, 1], "policy": "accept"}
    with server.client(viewer) as v:
        assert v.get("/api/jobs").status_code == 200
        assert v.get("/api/queues").status_code == 200 and v.get("/api/workers").status_code == 200
        r = v.post("/api/jobs", json=body)
        assert r.status_code == 403 and "operator" in r.json()["error"] and r.json()["action"]
        assert v.post("/api/dead/purge", json={"all": True}).status_code == 403
    with server.client(operator) as o:
        job = o.post("/api/jobs", json=body).json()
        assert o.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
        assert o.post("/api/dead/requeue", json={"all": True}).status_code == 200
        for method, path in [("POST", "/api/queues/default/pause"), ("POST", "/api/workers/w1/stop"),
                             ("GET", "/api/keys"), ("POST", "/api/pool/workers")]:
            r = o.request(method, path)
            assert r.status_code == 403, (method, path, r.text)
    # The same key works as X-API-Key; missing, malformed and unknown keys are 401.
    with server.client(**{"X-API-Key": operator}) as o:
        assert o.get("/api/me").json()["role"] == "operator"
    for headers in ({}, {"Authorization": "Bearer cvk_nope"}, {"X-API-Key": "nope"}, {"Authorization": "Basic eDp5"}):
        with server.client(**headers) as c:
            r = c.get("/api/jobs")
            assert r.status_code == 401 and r.json()["error"] and "apikey create" in r.json()["action"]
    with server.ws("/ws/events", "cvk_wrong") as ws:
        assert recv_json(ws)["type"] == "error"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd.code == 4401


def test_no_auth_mode_is_admin_of_every_tenant(app, api_server):
    server = api_server(auth=False)
    with server.client() as c:
        assert c.get("/api/me").json() == {"tenant": None, "role": "admin", "auth": False}
        r = c.post("/api/jobs", json={"task": "t.add", "args": [1, 1], "policy": "accept", "tenant": "x"})
        assert r.status_code == 201 and r.json()["tenant"] == "x"
        assert c.post("/api/queues/default/pause").status_code == 200
    with server.ws("/ws/events") as ws:
        wait_for(lambda: len(server.hub.subscribers) == 1)
        app.enqueue("t.add", [1, 1], policy="accept", tenant="y")
        message, _ = recv_until(ws, lambda m: m["type"] == "job" and m["job"]["tenant"] == "y")
        assert message["job"]["state"] == "queued"
