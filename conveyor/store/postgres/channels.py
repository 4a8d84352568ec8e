"""PostgreSQL NOTIFY out, LISTEN in: workers wake on the wake channel, the API's event feed reads
both channels, each on its own connection that reconnects (and says so) when it drops."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from conveyor.store.base import CHANNEL_EVENTS, CHANNEL_WAKE, RESYNC, dumps
from conveyor.store.listeners import EventListeners
from conveyor.store.postgres.connection import PostgresConnections, Q

__all__ = ["CHANNEL_EVENTS", "CHANNEL_WAKE", "PostgresListeners", "event_notices", "notify"]

log = logging.getLogger("conveyor.store")

NOTIFY_IDS_PER_EVENT = 100  # 100 ids of 36 characters keep one payload far under PostgreSQL's 8000 bytes
# A wake-up's payload is a queue name, or "queue id" when it also announces one new ready job
# (queue names cannot hold a space). Event listeners LISTEN on the wake channel for those.
WAKE_SEPARATOR = " "
NOTICES_PER_STATEMENT = 1000  # 2,000 parameters, far below PostgreSQL's limit of 65,535


def event_notices(state: str, ids: list[str]) -> list[tuple[str, str]]:
    """(channel, payload) of the events announcing these jobs, NOTIFY_IDS_PER_EVENT ids each."""
    return [(CHANNEL_EVENTS, dumps({"state": state, "ids": ids[i : i + NOTIFY_IDS_PER_EVENT]}))
            for i in range(0, len(ids), NOTIFY_IDS_PER_EVENT)]


def notify(conn: psycopg.Connection[Any], notices: list[tuple[str, str]]) -> None:
    """Send (channel, payload) notifications, up to NOTICES_PER_STATEMENT per statement. Each
    payload is a plain text parameter: a text[] of JSON payloads costs psycopg ~1 ms per 1,000
    announced jobs to escape, and building them on the server from joined ids ~0.8 ms (bench:
    bulk enqueue). The statement's VALUES list has one row per notice, hence built here."""
    for i in range(0, len(notices), NOTICES_PER_STATEMENT):
        chunk = notices[i : i + NOTICES_PER_STATEMENT]
        values = ", ".join(["(%s, %s)"] * len(chunk))
        conn.execute(Q.notify.format(values=values), [value for notice in chunk for value in notice])


class PostgresListeners(PostgresConnections, EventListeners):
    def _start_event_feed(self) -> None:
        if self._event_thread is None:
            self._event_thread = threading.Thread(
                target=self._listen_loop,
                args=([CHANNEL_EVENTS, CHANNEL_WAKE], self._dispatch_event, self._events_connected),
                name="conveyor-events", daemon=True,
            )
            self._event_thread.start()

    def _events_connected(self, reconnected: bool) -> None:
        if reconnected:  # events sent while the connection was down are lost: tell listeners
            self._dispatch_event(CHANNEL_EVENTS, json.dumps({"state": RESYNC, "ids": []}))

    def _dispatch_event(self, channel: str, payload: str) -> None:
        if channel == CHANNEL_WAKE:
            _queue, _, job_id = payload.partition(WAKE_SEPARATOR)
            if not job_id:
                return  # a plain wake-up: its jobs were announced on the events channel
            data: dict[str, Any] = {"state": "queued", "ids": [job_id]}
        else:
            try:
                data = json.loads(payload)
            except ValueError:
                return
        self._emit(data.get("state", ""), [str(i) for i in data.get("ids", [])])

    def _listen_loop(
        self,
        channels: list[str],
        on_notify: Callable[[str, str], None],
        on_connect: Callable[[bool], None],
    ) -> None:
        """LISTEN on a dedicated connection; reconnect with backoff and re-LISTEN when it drops.
        on_connect(reconnected) runs once LISTENing: notifications may have been missed."""
        backoff = 0.1
        connected_before = False
        while not self._closed.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, application_name=channels[0].replace("_", "-")) as conn:
                    for channel in channels:
                        conn.execute(f"LISTEN {channel}")
                    on_connect(connected_before)
                    connected_before = True
                    backoff = 0.1
                    while not self._closed.is_set():
                        for n in conn.notifies(timeout=1.0):
                            on_notify(n.channel, n.payload)
            except Exception as exc:  # reconnect below
                if self._closed.is_set():
                    return
                log.warning("LISTEN connection lost (%s); reconnecting in %.1fs", exc, backoff)
                self._closed.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def start_wake_listener(self, on_wake: Callable[[str], None]) -> None:
        """Call on_wake(queue) for each NOTIFY on the wake channel ('' after a reconnect)."""
        thread = threading.Thread(
            target=self._listen_loop,
            args=([CHANNEL_WAKE], lambda _channel, payload: on_wake(payload.partition(WAKE_SEPARATOR)[0]),
                  lambda _reconnected: on_wake("")),  # a wake-up may have been missed: claim now
            name="conveyor-wake", daemon=True,
        )
        thread.start()
