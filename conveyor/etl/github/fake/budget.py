"""The fake GitHub's rate limits per login: the primary hourly point budget (GraphQL and REST
core counted apart, as on GitHub) and the secondary per-minute limit on GraphQL requests."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class Window:
    limit: int
    used: int
    reset_at: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


class Budget:
    """Hourly windows per (resource, login); a window opens at its first request and resets an
    hour later. `clock` is injectable so tests can move time without waiting."""

    def __init__(self, limit: int, clock: Callable[[], datetime], secondary_per_minute: int) -> None:
        self.limit = limit
        self.clock = clock
        self.secondary_per_minute = secondary_per_minute
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], Window] = {}
        self._minutes: dict[str, tuple[datetime, int]] = {}

    def window(self, resource: str, login: str) -> Window:
        now = self.clock()
        with self._lock:
            current = self._windows.get((resource, login))
            if current is None or now >= current.reset_at:
                current = self._windows[(resource, login)] = Window(self.limit, 0, now + timedelta(hours=1))
            return current

    def charge(self, resource: str, login: str, points: int) -> Window | None:
        """Spends `points`; None (nothing spent) when the window has fewer left."""
        window = self.window(resource, login)
        with self._lock:
            if window.remaining < points:
                return None
            window.used += points
            return window

    def set(self, resource: str, login: str, *, remaining: int | None = None, reset_in: float | None = None) -> Window:
        window = self.window(resource, login)
        with self._lock:
            if remaining is not None:
                window.used = window.limit - remaining
            if reset_in is not None:
                window.reset_at = self.clock() + timedelta(seconds=reset_in)
            return window

    def secondary_wait(self, login: str) -> int | None:
        """Counts one GraphQL request against the per-minute limit; the seconds to wait when over it."""
        now = self.clock()
        with self._lock:
            start, count = self._minutes.get(login, (now, 0))
            if now - start >= timedelta(minutes=1):
                start, count = now, 0
            if count >= self.secondary_per_minute:
                self._minutes[login] = (start, count)
                return max(1, math.ceil(60 - (now - start).total_seconds()))
            self._minutes[login] = (start, count + 1)
            return None
