"""SQLite events and wake-ups: in-process wake-ups for workers, and one poller per process that
reads changes (and deletions) by time for event listeners."""

from __future__ import annotations

import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable

from conveyor.store.listeners import EventListeners
from conveyor.store.sqlite.connection import Q, SQLiteConnections
from conveyor.store.sqlite.wakeups import WakeSender, WakeSocket

log = logging.getLogger("conveyor.store")
HOSTNAME = socket.gethostname()  # wake-up sockets reach workers on this host only

# In-process wake-ups, per database file: enqueue in this process wakes workers in this process.
_wake_callbacks: dict[str, list[Callable[[str], None]]] = {}
_wake_lock = threading.Lock()


class SQLiteEvents(SQLiteConnections, EventListeners):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._wake_socket: WakeSocket | None = None
        self._wake_sender = WakeSender()

    def _wake_address(self) -> str:
        """This process's wake-up socket (bound at its first worker's registration)."""
        with _wake_lock:
            if self._wake_socket is None:
                self._wake_socket = WakeSocket(lambda queue: self._wake({queue}))
                self._wake_sender.own = self._wake_socket.address
            return self._wake_socket.address

    def _wake_other_processes(self, queues: set[str], liveness_timeout: float) -> None:
        if queues:
            self._wake_sender.send(queues, lambda queue: [r["address"] for r in self._all(
                Q.wake_addresses, {"queue": queue, "liveness": liveness_timeout, "hostname": HOSTNAME})])

    def _wake(self, queues: set[str]) -> None:
        with _wake_lock:
            callbacks = list(_wake_callbacks.get(self.path, []))
        for queue in queues:
            for callback in callbacks:
                callback(queue)

    def _forget_wake_callbacks(self) -> None:
        with _wake_lock:
            _wake_callbacks.pop(self.path, None)
            if self._wake_socket is not None:
                self._wake_socket.close()
                self._wake_socket = None
        self._wake_sender.close()

    def _announce(self, event: str, ids: list[str], wake: set[str]) -> None:
        self._wake(wake)  # listeners hear of the change from the poller, in every process

    def _start_event_feed(self) -> None:
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll_changes, name="conveyor-events", daemon=True)
            self._poller.start()

    def _poll_changes(self, interval: float = 0.1, lookback: float = 2.0) -> None:
        """One poller per process over the updated_at index, shared by every subscriber.

        It re-reads a short window back (a writer may commit a little after its timestamp) and
        remembers what it already announced, so no change is missed or sent twice."""
        seen: dict[tuple[str, float], float] = {}
        since = time.time() - lookback
        while not self._closed.wait(interval):
            try:
                rows = self._all(Q.recent_changes, {"since": since - lookback})
            except sqlite3.Error as exc:
                log.warning("event poll failed: %s", exc)
                continue
            by_state: dict[str, list[str]] = {}
            for r in rows:
                key = (r["id"], r["updated_at"])
                if key in seen:
                    continue
                seen[key] = r["updated_at"]
                by_state.setdefault(r["state"], []).append(r["id"])
                since = max(since, r["updated_at"])
            horizon = since - 2 * lookback
            for key in [k for k, t in seen.items() if t < horizon]:
                del seen[key]
            for state, ids in by_state.items():
                if ids:
                    self._emit(state, ids)

    def start_wake_listener(self, on_wake: Callable[[str], None]) -> None:
        with _wake_lock:
            _wake_callbacks.setdefault(self.path, []).append(on_wake)
