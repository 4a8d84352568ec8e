"""Fault injection for the fake Jira, switchable while it serves: 429 storms, 5xx, 403, slow
answers, and the search-pagination misbehaviours (an empty page with a token, a repeated token)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = ("rate_limit", "status", "slow", "empty_page_with_token", "repeated_token")


@dataclass(slots=True)
class Fault:
    kind: str
    path: str | None = None        # applies to paths starting with this; None: every API path
    remaining: int | None = None   # requests still to affect; None: until cleared
    status: int = 429
    retry_after: int | None = 2    # seconds, for rate_limit (None: no Retry-After header)
    delay: float = 0.0             # seconds, for slow
    html: bool = False             # a 429 with an HTML body, as some deployments send
    reason: str = "jira-burst-based"
    hits: int = field(default=0)

    def applies(self, path: str) -> bool:
        return (self.path is None or path.startswith(self.path)) and self.remaining != 0

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "remaining": self.remaining, "status": self.status,
                "retry_after": self.retry_after, "delay": self.delay, "html": self.html, "hits": self.hits}


class Faults:
    """The active faults. Each request takes the faults that match its path; counted faults
    expire after their count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        if fault.kind not in KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; expected one of {', '.join(KINDS)}")
        if fault.remaining is not None and fault.remaining < 1:
            raise ValueError(f"fault count must be at least 1 (or None for 'until cleared'), got {fault.remaining}")
        with self._lock:
            self._faults.append(fault)
        return fault

    def rate_limit(self, count: int | None = None, *, retry_after: int | None = 2, path: str | None = None,
                   html: bool = False, status: int = 429, reason: str = "jira-burst-based") -> Fault:
        """A storm of 429s (or a 503 with Retry-After: pass status=503)."""
        return self.add(Fault("rate_limit", path, count, status=status, retry_after=retry_after, html=html,
                              reason=reason))

    def server_error(self, count: int | None = 1, *, status: int = 502, path: str | None = None) -> Fault:
        return self.add(Fault("status", path, count, status=status, retry_after=None))

    def forbidden(self, count: int | None = None, *, path: str | None = None) -> Fault:
        return self.add(Fault("status", path, count, status=403, retry_after=None))

    def slow(self, seconds: float, count: int | None = None, *, path: str | None = None) -> Fault:
        return self.add(Fault("slow", path, count, delay=seconds))

    def empty_page_with_token(self, count: int | None = 1) -> Fault:
        return self.add(Fault("empty_page_with_token", "/rest/api/3/search/jql", count))

    def repeated_token(self, count: int | None = 1) -> Fault:
        return self.add(Fault("repeated_token", "/rest/api/3/search/jql", count))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self._faults if f.remaining != 0]

    def take(self, path: str) -> list[Fault]:
        """The faults this request meets, each counted once: every matching slow fault, and the
        first matching fault of any other kind (the others wait for the next requests)."""
        with self._lock:
            taken: list[Fault] = []
            answered = False
            for f in self._faults:
                if not f.applies(path) or (f.kind != "slow" and answered):
                    continue
                answered = answered or f.kind != "slow"
                taken.append(f)
                f.hits += 1
                if f.remaining is not None:
                    f.remaining -= 1
            self._faults = [f for f in self._faults if f.remaining != 0]
            return taken
