"""SQLite wake-ups across processes (issue #19): an enqueue wakes a worker in another process
through its datagram socket, not at its next poll."""

from __future__ import annotations

import pytest

from conveyor.model import JobState
from conveyor.store.sqlite.connection import Q
from conveyor.store.sqlite.wakeups import WakeSender, WakeSocket
from tests import tasks
from tests.conftest import live_workers, register_worker_row, wait_for


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_an_enqueue_wakes_an_idle_worker_in_another_process_through_its_socket(app, spawn_worker):
    # A poll of 10 minutes: only the datagram can make this worker look for new jobs in time.
    spawn_worker(queues="default", concurrency=2, CONVEYOR_SQLITE_POLL_INTERVAL="600")
    wait_for(lambda: live_workers(app) == 1, timeout=30)
    first = tasks.add.enqueue(1, 2)
    assert first.wait(timeout=30).state == JobState.COMPLETED  # the worker is idle after this one
    second = tasks.add.enqueue(3, 4)
    assert second.wait(timeout=20).result == 7


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_registered_worker_records_its_wake_address_for_its_queues(app):
    register_worker_row(app.store, "w-wake", queues=("default",))  # hostname "h"
    [row] = app.store._all("SELECT wake_address FROM conveyor_workers WHERE id = 'w-wake'")
    assert row["wake_address"]
    for queue, hostname, expected in (("default", "h", [row["wake_address"]]), ("other", "h", []),
                                      ("default", "elsewhere", [])):
        found = app.store._all(Q.wake_addresses, {"queue": queue, "liveness": 30.0, "hostname": hostname})
        assert [r["address"] for r in found] == expected


def test_a_datagram_reaches_the_socket_and_a_gone_socket_is_ignored():
    heard: list[str] = []
    receiver = WakeSocket(heard.append)
    sender = WakeSender()
    try:
        sender.send({"default"}, lambda queue: [receiver.address, "@conveyor-wake-nobody-listens"])
        wait_for(lambda: heard == ["default"], timeout=5)
    finally:
        receiver.close()
        sender.close()
