"""Pipelines over HTTP and WebSocket, on both engines."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import ApiServer, recv_json, recv_until
from tests.conftest import wait_for

STAGE_QUEUES = ["p_extract", "p_transform", "p_embed"]


def test_pipelines_runs_and_tenancy(app: Any, server: Any, client: Any, make_key: Any, start_worker: Any) -> None:
    refused = client.post("/api/pipelines/t.etl/runs", json={"params": {"n": 2}})
    assert refused.status_code == 503 and "p_extract" in refused.json()["error"]
    assert "conveyor worker" in refused.json()["action"]
    recorded = client.post("/api/pipelines/t.etl/runs", json={"params": {"n": 2}, "policy": "record_failed"})
    assert recorded.status_code == 503 and client.get(f"/api/runs/{recorded.json()['run_id']}").json()["state"] == "FAILED"
    start_worker(STAGE_QUEUES, concurrency=4)
    listed = client.get("/api/pipelines").json()["items"]
    etl = next(p for p in listed if p["name"] == "t.etl")
    stage = etl["steps"][0]["stages"][0]
    assert (stage["name"], stage["queue"], stage["live_workers"]) == ("extraction", "p_extract", 1)
    tiered = next(p for p in listed if p["name"] == "t.etl_tiered")
    assert tiered["steps"][0]["stages"][0]["template"] is True

    assert client.post("/api/pipelines/nope/runs", json={}).status_code == 404
    assert client.post("/api/pipelines/t.etl/runs", json={"params": "x"}).status_code == 422
    assert client.post("/api/pipelines/t.etl/runs", json={"bogus": 1}).status_code == 422

    created = client.post("/api/pipelines/t.etl/runs", json={"params": {"n": 3}, "tenant": "acme"})
    assert created.status_code == 201, created.text
    run = created.json()
    assert run["tenant"] == "acme" and run["status"]["token"] == run["token"]
    done = wait_for(lambda: (r := client.get(f"/api/runs/{run['id']}").json())["state"] == "FINISHED" and r)
    assert done["status"]["steps"]["main"]["stages"]["embedding"]["done"] == 3
    jobs = client.get("/api/jobs", params={"token": run["token"]}).json()["items"]
    assert len(jobs) == 7

    other = make_key("globex", "viewer")
    with server.client(other) as c:
        assert c.get(f"/api/runs/{run['id']}").status_code == 404
        assert c.get("/api/runs").json()["items"] == []
        assert c.post(f"/api/runs/{run['id']}/cancel").status_code == 403
    assert client.get("/api/runs/not-a-run").status_code == 404

    for _ in range(3):
        assert client.post("/api/pipelines/t.etl/runs", json={"params": {"n": 1}}).status_code == 201
    first = client.get("/api/runs", params={"limit": 2, "pipeline": "t.etl"}).json()
    second = client.get("/api/runs", params={"limit": 2, "pipeline": "t.etl", "cursor": first["next_cursor"]}).json()
    ids = [r["id"] for r in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 4 and ids == sorted(ids, reverse=True)
    assert client.get("/api/runs", params={"state": "FAILED"}).json()["items"][0]["id"] == recorded.json()["run_id"]
    assert client.get("/api/runs", params={"state": "nope"}).status_code == 422
    assert client.get("/api/runs", params={"cursor": "%%%"}).status_code == 400
    assert client.post(f"/api/runs/{run['id']}/cancel").status_code == 409
    assert client.post(f"/api/runs/{run['id']}/steps/nope/retry").status_code == 422


def test_run_websocket_snapshot_and_gap_free_sequence(app: Any, server: Any, client: Any, admin_key: str,
                                                      start_worker: Any) -> None:
    start_worker(STAGE_QUEUES, concurrency=2)
    run = client.post("/api/pipelines/t.etl_two/runs", json={"params": {"n": 20}}).json()
    with server.ws(f"/ws/runs/{run['id']}", admin_key) as ws, server.ws("/ws/runs?pipeline=t.etl_two", admin_key) as feed:
        snapshot = recv_json(ws)
        assert snapshot["type"] == "snapshot" and snapshot["run"]["id"] == run["id"]
        last, seen = recv_until(ws, lambda m: m["run"]["state"] == "FINISHED", timeout=30)
        seqs = [snapshot["seq"]] + [m["seq"] for m in seen] + [last["seq"]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"gap in {seqs}"
        assert last["run"]["status"]["steps"]["second"]["embedding"] == "finished"
        message, _ = recv_until(feed, lambda m: m["run"]["state"] == "FINISHED", timeout=10)
        assert message["run"]["id"] == run["id"]
    with server.ws("/ws/runs/not-a-run", admin_key) as ws:
        assert recv_json(ws)["type"] == "error"


def test_reconnecting_to_another_api_process_neither_goes_back_nor_misses_a_state(
        app: Any, api_server: Any, admin_key: str, start_worker: Any) -> None:
    """Two API processes behind a balancer: each numbers its messages (seq) its own way, but
    run.version comes from the database, so a client that reconnects to the other process can
    drop anything older than what it showed."""
    other_app = app.with_database(app.settings.database_url)  # a second process: its own store and feed
    second = None
    try:
        first, second = api_server(), ApiServer(other_app).start()
        with first.client(admin_key) as client:
            run = client.post("/api/pipelines/t.etl_slow/runs",
                              json={"params": {"n": 30}, "policy": "accept"}).json()
        start_worker(STAGE_QUEUES, concurrency=2)
        with first.ws(f"/ws/runs/{run['id']}", admin_key) as ws:
            versions = [recv_json(ws)["run"]["version"]]
            while len(versions) < 4:
                versions.append(recv_json(ws)["run"]["version"])
        shown = versions[-1]
        with second.ws(f"/ws/runs/{run['id']}", admin_key) as ws:
            snapshot = recv_json(ws)
            assert snapshot["type"] == "snapshot" and snapshot["run"]["version"] >= shown
            last, seen = recv_until(ws, lambda m: m["run"]["state"] == "FINISHED", timeout=60)
        after = [snapshot["run"]["version"]] + [m["run"]["version"] for m in seen] + [last["run"]["version"]]
        assert versions == sorted(versions) and after == sorted(after), (versions, after)
        seqs = [snapshot["seq"]] + [m["seq"] for m in seen] + [last["seq"]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "gap-free within one connection"
        assert last["run"]["version"] == app.get_run(run["id"]).version
    finally:
        if second is not None:
            second.stop()
        other_app.close()



def test_reprocess_over_http_and_the_runs_feed_filtered_by_state(app: Any, server: Any, client: Any, admin_key: str,
                                                                 start_worker: Any) -> None:
    start_worker(STAGE_QUEUES, concurrency=4)
    source = client.post("/api/pipelines/t.etl/runs", json={"params": {"n": 3, "raw": True}}).json()
    wait_for(lambda: client.get(f"/api/runs/{source['id']}").json()["state"] == "FINISHED", timeout=30,
             message="the source run")
    with server.ws("/ws/runs?state=FINISHED", admin_key) as feed:
        assert client.post(f"/api/runs/{source['id']}/reprocess", json={"from_stage": "extraction"}).status_code == 422
        again = client.post(f"/api/runs/{source['id']}/reprocess", json={"from_stage": "transform"})
        assert again.status_code == 201 and again.json()["reprocess_of"] == source["id"]
        message, seen = recv_until(feed, lambda m: m["run"]["id"] == again.json()["id"], timeout=30)
        assert all(m["run"]["state"] == "FINISHED" for m in [*seen, message]), "only FINISHED runs on this feed"
    stages = message["run"]["status"]["steps"]["main"]["stages"]
    assert stages["extraction"]["entered"] == 0 and stages["transform"]["done"] == 3  # fed from the 3 raw rows
    assert client.post("/api/runs/01a2a3a4-0000-7000-8000-000000000000/reprocess",
                       json={"from_stage": "transform"}).status_code == 404
