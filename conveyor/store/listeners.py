"""Event listeners, kept the same way by both engines: each engine only starts its feed (LISTEN
on PostgreSQL, a poller on SQLite) and hands what it reads to `_emit`."""

from __future__ import annotations

import logging
import threading
from abc import abstractmethod
from collections.abc import Callable

from conveyor.store.base import EventListener, Store

log = logging.getLogger("conveyor.store")


class EventListeners(Store):
    _listeners: list[EventListener]
    _listeners_lock: threading.Lock

    @abstractmethod
    def _start_event_feed(self) -> None:
        """Start the thread that reads job changes, once (called under the listeners' lock)."""

    def subscribe_events(self, listener: EventListener) -> Callable[[], None]:
        with self._listeners_lock:
            self._listeners.append(listener)
            self._start_event_feed()

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, state: str, ids: list[str]) -> None:
        """Hand a batch of changes to every listener (from the feed's thread)."""
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(state, ids)
            except Exception:  # one bad listener must not stop the others
                log.exception("event listener failed")
