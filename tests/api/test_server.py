"""The server around the routes: startup schema handling, --no-auth safety, maintenance when every
worker is dead, key redaction in logs, and the event hub's fetch discipline."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from conveyor import __version__
from conveyor.api.events import EventHub, Subscriber
from conveyor.api.server import _RedactKeys, is_loopback, prepare_schema, serve
from conveyor.errors import ConfigurationError, SchemaOutdatedError
from conveyor.model import JobState, WorkerInfo
from tests import tasks as test_tasks
from tests.conftest import wait_for


def test_no_auth_is_refused_off_loopback(app):
    with pytest.raises(ConfigurationError) as refused:
        serve(app, host="0.0.0.0", port=0, auth=False)
    assert "without authentication" in refused.value.message and "127.0.0.1" in refused.value.action
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com") and not is_loopback("10.0.0.1")


def test_schema_is_created_when_missing_but_never_upgraded_silently(tmp_path, monkeypatch):
    fresh = test_tasks.app.with_database(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert fresh.store.schema_version() == 0
        assert prepare_schema(fresh.store) >= 1  # no tables at all: created
        monkeypatch.setattr("conveyor.store.base.latest_schema_version", lambda engine: 999)
        with pytest.raises(SchemaOutdatedError) as outdated:
            prepare_schema(fresh.store)
        assert "conveyor db upgrade" in outdated.value.action
    finally:
        fresh.close()


def test_server_maintenance_rescues_jobs_when_every_worker_is_dead(app, api_server, settings):
    # Short liveness so the test takes about a second.
    app.settings = replace(settings, liveness_timeout=1.0, heartbeat_interval=0.2, maintenance_interval=0.2)
    api_server()
    now = datetime.now(UTC)
    app.store.register_worker(WorkerInfo(
        id="doomed", hostname="h", pid=os.getpid(), queues=["default"], concurrency=1, version=__version__,
        started_at=now, last_heartbeat=now, state="running", desired_state=None, jobs_in_flight=0,
        processed=0, failed=0,
    ))
    handle = app.enqueue("t.add", [1, 1])
    assert [c.id for c in app.store.claim_jobs("doomed", ["default"], 1)] == [handle.id]
    # The worker never heartbeats again and no other worker exists: only the server can notice.
    job = wait_for(lambda: (j := app.get_job(handle.id)).state == JobState.QUEUED and j, timeout=10,
                   message="job rescued by the server's maintenance")
    assert "stopped heartbeating" in job.error
    workers = {w.id: w for w in app.store.list_workers(app.settings.liveness_timeout)}
    assert workers["doomed"].state == "dead"


def test_api_keys_are_redacted_from_logs():
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
                               ("127.0.0.1:5", "/ws/events?queue=a&api_key=cvk_secret123&task=b"), None)
    _RedactKeys().filter(record)
    message = record.getMessage()
    assert "cvk_secret123" not in message and "api_key=***" in message and "task=b" in message


class CountingStore:
    """Just enough of a store for the hub: records which jobs it loads."""

    def __init__(self, jobs):
        self.jobs = {j.id: j for j in jobs}
        self.fetched: list[str] = []
        self.listener = None

    def subscribe_events(self, listener):
        self.listener = listener
        return lambda: None

    def get_jobs(self, job_ids):
        self.fetched.extend(job_ids)
        return [self.jobs[i] for i in job_ids if i in self.jobs]


def test_hub_fetches_only_what_someone_watches(app):
    jobs = [app.get_job(app.enqueue("t.add", [i, i], policy="accept").id) for i in range(3)]
    store = CountingStore(jobs)
    observed = []

    async def scenario():
        hub = EventHub(store, on_finished=observed.append, finished_fetch_rate=1000)
        await hub.start()
        try:
            async def settle(n):
                while hub.batches < n:
                    await asyncio.sleep(0.005)

            store.listener("queued", [j.id for j in jobs])  # nobody listens: no fetch at all
            await asyncio.wait_for(settle(1), 5)
            assert store.fetched == []
            watcher = Subscriber(tenant=None, job_id=jobs[1].id)
            hub.add(watcher)
            store.listener("running", [j.id for j in jobs])  # one job watched: one fetch
            await asyncio.wait_for(settle(2), 5)
            assert store.fetched == [jobs[1].id]
            item = watcher.inbox.get_nowait()
            assert item[2]["type"] == "job" and item[2]["job"]["id"] == jobs[1].id
            other_tenant = Subscriber(tenant="someone-else")
            hub.add(other_tenant)
            store.listener("progress", [jobs[0].id])
            await asyncio.wait_for(settle(3), 5)
            assert other_tenant.inbox.empty()  # fetched, but not this tenant's job
            store.fetched.clear()
            hub.remove(watcher)
            hub.remove(other_tenant)
            store.listener("finished", [jobs[2].id])  # metrics fetch finished jobs within budget
            await asyncio.wait_for(settle(4), 5)
            assert store.fetched == [jobs[2].id]
        finally:
            await hub.stop()

    asyncio.run(scenario())
    assert observed == []  # the job is not finished: nothing observed
