"""The WebSocket feeds: a job's life arrives live (each change within a second), filters work,
deletions are announced, and one hub serves every client."""

from __future__ import annotations

import time

import pytest

from tests import tasks
from tests.api.conftest import recv_json, recv_until
from tests.conftest import wait_for

PROMPT = 1.0  # each change must reach the client within this many seconds


def _state(message):
    return message["job"]["state"] if message["type"] == "job" else message["type"]


def test_job_feed_shows_queued_running_progress_completed(app, server, client, admin_key, start_worker, tmp_path):
    marker = tmp_path / "finish"
    job = client.post("/api/jobs", json={
        "task": "t.progress", "args": [3, 0.05, str(marker)], "policy": "accept"}).json()
    with server.ws(f"/ws/jobs/{job['id']}", admin_key) as ws:
        first = recv_json(ws)
        assert first["type"] == "job" and first["job"]["id"] == job["id"] and first["job"]["state"] == "queued"

        started = time.monotonic()
        start_worker()
        running, _ = recv_until(ws, lambda m: _state(m) == "running", timeout=5)
        assert time.monotonic() - started < PROMPT + 0.5, "running arrived late"  # + the worker's start-up
        progressed, seen = recv_until(
            ws, lambda m: _state(m) == "running" and m["job"]["progress"]["percent"] == 100.0, timeout=5)
        assert progressed["job"]["progress"]["processed"] == 3 and progressed["job"]["meta"]["step"] == 3
        assert all(_state(m) == "running" for m in seen)
        # Progress updates arrive as they happen: the last one within a second of being stored.
        latest = app.get_job(job["id"])
        assert latest.progress.percent == 100.0

        marker.write_text("go")
        finished_at = time.monotonic()
        completed, seen = recv_until(ws, lambda m: _state(m) == "completed", timeout=5)
        assert time.monotonic() - finished_at < PROMPT, "completed arrived late"
        assert completed["job"]["result"] == "done"
        assert all(_state(m) == "running" for m in seen)  # never an older state after a newer one


def test_progress_messages_arrive_promptly(app, server, client, admin_key, start_worker, tmp_path):
    start_worker()
    marker = tmp_path / "finish"
    job = client.post("/api/jobs", json={"task": "t.progress", "args": [1, 0.0, str(marker)]}).json()
    with server.ws(f"/ws/jobs/{job['id']}", admin_key) as ws:
        message, _ = recv_until(ws, lambda m: _state(m) == "running" and m["job"]["progress"]["percent"] == 100.0)
        # A progress report made now (through the store, like ctx.progress) shows up within a second.
        lease = app.get_job(job["id"]).lease_token
        reported = time.monotonic()
        assert app.store.update_progress(job["id"], lease, percent=50.0, processed=7, meta={"phase": "two"})
        message, _ = recv_until(ws, lambda m: m["job"]["progress"]["processed"] == 7, timeout=5)
        assert time.monotonic() - reported < PROMPT
        assert message["job"]["meta"]["phase"] == "two"
        marker.write_text("go")
        recv_until(ws, lambda m: _state(m) == "completed", timeout=5)


def test_event_feed_filters_and_deletions(app, server, client, admin_key, start_worker):
    start_worker()
    with server.ws("/ws/events?queue=high", admin_key) as high, server.ws("/ws/events?token=t-1", admin_key) as tok:
        wait_for(lambda: len(server.hub.subscribers) == 2)
        # Many sockets, one hub: a single subscription to the store's change feed.
        assert len(app.store._listeners) == 1
        low = client.post("/api/jobs", json={"task": "t.add", "args": [1, 1], "queue": "low"}).json()
        hi = client.post("/api/jobs", json={"task": "t.add", "args": [2, 2], "queue": "high"}).json()
        tagged = client.post("/api/jobs", json={"task": "t.add", "args": [3, 3], "token": "t-1"}).json()
        message, seen = recv_until(high, lambda m: m["job"]["id"] == hi["id"] and _state(m) == "completed")
        assert all(m["job"]["queue"] == "high" for m in seen + [message])
        message, seen = recv_until(tok, lambda m: m["job"]["id"] == tagged["id"] and _state(m) == "completed")
        assert all(m["job"]["token"] == "t-1" for m in seen + [message])
        wait_for(lambda: client.get(f"/api/jobs/{low['id']}").json()["state"] == "completed")
        with server.ws(f"/ws/jobs/{hi['id']}", admin_key) as one:
            assert recv_json(one)["job"]["state"] == "completed"
            assert client.delete(f"/api/jobs/{hi['id']}").status_code == 204
            assert recv_until(one, lambda m: m["type"] == "deleted")[0] == {"type": "deleted", "id": hi["id"]}
            assert recv_until(high, lambda m: m["type"] == "deleted")[0]["id"] == hi["id"]
        # The closed job socket is dropped from the hub (the two feeds remain).
        wait_for(lambda: len(server.hub.subscribers) == 2, message="job socket removed")
    wait_for(lambda: not server.hub.subscribers, message="subscribers removed on disconnect")


# PostgreSQL only: SQLite's feed reads the table by updated_at, so it cannot miss a change.
@pytest.mark.parametrize("engine", ["postgres"])
def test_feeds_resync_after_the_database_feed_reconnects(app, server, client, admin_key):
    """Events sent while the hub's LISTEN connection is down are lost; clients are told so."""
    job = client.post("/api/jobs", json={"task": "t.add", "args": [1, 2], "policy": "accept"}).json()
    with server.ws("/ws/events", admin_key) as feed, server.ws(f"/ws/jobs/{job['id']}", admin_key) as one:
        assert recv_json(one)["job"]["state"] == "queued"
        # A change no event announces, like one made while the feed's connection is down.
        with app.store.pool.connection() as conn:
            conn.execute("UPDATE conveyor_jobs SET priority = 9, updated_at = now() WHERE id = %s", (job["id"],))

        def kill_listener() -> int:
            with app.store.pool.connection() as conn:
                return conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE application_name = 'conveyor-events' AND datname = current_database()").fetchone()[0]

        wait_for(kill_listener, message="the hub's LISTEN connection")
        recv_until(feed, lambda m: m["type"] == "resync", timeout=10)
        message, _ = recv_until(one, lambda m: m["type"] == "job" and m["job"]["priority"] == 9, timeout=10)
        assert message["job"]["id"] == job["id"]


def test_deletions_by_another_process_are_announced(app, server, client, admin_key, start_worker):
    """The CLI, a worker's retention pass or another API server deletes jobs: the feed says so."""
    from conveyor.store import open_store

    start_worker()
    done = tasks.add.enqueue(1, 1)
    done.wait(10)
    with server.ws("/ws/events", admin_key) as feed:
        other = open_store(app.settings.database_url)  # its own connections, like another process
        try:
            other.delete_job(done.id)
        finally:
            other.close()
        message, _ = recv_until(feed, lambda m: m["type"] == "deleted", timeout=5)
        assert message["id"] == done.id
