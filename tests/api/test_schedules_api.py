"""Schedules and ETL jobs over HTTP and WebSocket: CRUD, bad input (422, nothing changed), Run now's
503 {error, action, technical_details} with the job FAILED and the WebSocket told, 409s."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import recv_json, recv_until
from tests.conftest import register_worker_row

STAGES = ("p_extract", "p_transform", "p_embed")


def test_schedule_crud(client: Any, app: Any) -> None:
    r = client.post("/api/schedules", json={"name": "adder", "target": "t.add", "interval": 60, "args": [1, 2],
                                            "timezone": "Europe/Berlin", "misfire": "once"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["next_fire_at"] and created["last_outcome"] is None and created["misfire"] == "once"
    assert [s["name"] for s in client.get("/api/schedules").json()["items"]] == ["adder"]
    r = client.patch(f"/api/schedules/{created['id']}", json={"cron": "*/5 * * * *", "active": False})
    assert r.status_code == 200, r.text
    assert r.json()["cron"] == "*/5 * * * *" and r.json()["interval"] is None and r.json()["active"] is False
    got = client.get(f"/api/schedules/{created['id']}").json()
    assert got["recent_fires"] == []
    assert client.delete(f"/api/schedules/{created['id']}").status_code == 204
    assert client.get(f"/api/schedules/{created['id']}").status_code == 404


@pytest.mark.parametrize(("body", "words"), [
    ({"target": "t.add", "cron": "nope", "args": [1, 2]}, "Invalid cron"),
    ({"target": "t.add", "interval": 60, "timezone": "Moon/Base", "args": [1, 2]}, "time zone"),
    ({"target": "t.add", "interval": 0, "args": [1, 2]}, "more than 0"),
    ({"target": "t.add", "interval": -3, "args": [1, 2]}, "more than 0"),
    ({"target": "t.unknown", "interval": 60}, "Unknown task"),
    ({"target": "nope", "kind": "pipeline", "interval": 60}, "Unknown pipeline"),
])
def test_bad_schedule_is_422_and_nothing_changes(client: Any, body: dict[str, Any], words: str) -> None:
    r = client.post("/api/schedules", json=body)
    assert r.status_code == 422, r.text
    assert words in r.json()["error"] and r.json()["action"]
    assert client.get("/api/schedules").json()["items"] == []


def test_bad_patch_changes_nothing(client: Any) -> None:
    created = client.post("/api/schedules", json={"target": "t.add", "interval": 60, "args": [1, 2]}).json()
    r = client.patch(f"/api/schedules/{created['id']}", json={"timezone": "Nowhere/Zone"})
    assert r.status_code == 422 and "time zone" in r.json()["error"]
    assert client.get(f"/api/schedules/{created['id']}").json()["timezone"] == "UTC"


def test_etl_jobs_api_run_now_fail_fast_503_and_websocket(client: Any, server: Any, admin_key: str, app: Any) -> None:
    r = client.post("/api/etl/jobs", json={"name": "Jira ABC", "pipeline": "t.etl", "tenant": "acme"})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] == "NOT_STARTED" and job["status_json"]["steps"]["main"]["extraction"] == "idle"
    assert client.post("/api/etl/jobs", json={"name": "X", "pipeline": "nope"}).status_code == 422
    with server.ws(f"/ws/etl/jobs/{job['id']}", admin_key) as ws, \
            server.ws(f"/ws/job/extraction/acme/{job['id']}", admin_key) as seed:
        first = recv_json(ws)
        assert first["type"] == "snapshot" and first["seq"] == 1 and first["job"]["status"] == "NOT_STARTED"
        assert recv_json(seed)["status"]["overall"] == "NOT_STARTED"
        r = client.post(f"/api/etl/jobs/{job['id']}/run")
        assert r.status_code == 503, r.text
        body = r.json()
        assert set(body) >= {"error", "action", "technical_details"}
        assert "p_extract" in body["error"] and "conveyor worker --app tests.tasks:app" in body["action"]
        update, _ = recv_until(ws, lambda m: m["job"]["status"] == "FAILED")
        assert update["seq"] >= 2 and "conveyor worker" in update["job"]["error"]
        assert update["job"]["status_json"]["reset_deadline"]
        seed_update, _ = recv_until(seed, lambda m: m["status"]["overall"] == "FAILED")
        assert seed_update["seq"] >= 2 and seed_update["worker_type"] == "extraction"
    assert app.runs.list() == []


def test_etl_run_now_409_and_patch(client: Any, app: Any) -> None:
    for q in STAGES:
        register_worker_row(app.store, f"w-{q}", (q,))
    job = client.post("/api/etl/jobs", json={"name": "A", "pipeline": "t.etl", "active": False}).json()
    r = client.post(f"/api/etl/jobs/{job['id']}/run")
    assert r.status_code == 409 and "inactive" in r.json()["error"]
    r = client.patch(f"/api/etl/jobs/{job['id']}", json={"active": True, "fast_interval": 60, "full_interval": 600})
    assert r.status_code == 200 and r.json()["active"] is True and r.json()["fast_interval"] == 60
    assert client.patch(f"/api/etl/jobs/{job['id']}", json={"fast_interval": 0}).status_code == 422
    assert client.get(f"/api/etl/jobs/{job['id']}").json()["fast_interval"] == 60
    r = client.post(f"/api/etl/jobs/{job['id']}/run")
    assert r.status_code == 200 and r.json()["status"] == "RUNNING", r.text
    r = client.post(f"/api/etl/jobs/{job['id']}/run")
    assert r.status_code == 409 and "already RUNNING" in r.json()["error"]
    assert len(app.runs.list()) == 1
    r = client.post(f"/api/etl/jobs/{job['id']}/reset")
    assert r.status_code == 200 and r.json()["status"] == "READY"
    assert app.runs.list()[0].state == "CANCELLED"
