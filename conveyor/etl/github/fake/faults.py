"""Faults the fake GitHub can be told to produce, switchable while it runs (from Python or over
HTTP at `/_fake/faults`), and the log of every request it answered."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal[
    "rate_limited",       # HTTP 200 + errors[type=RATE_LIMITED], x-ratelimit-remaining: 0
    "secondary",          # 403 (or `status`, e.g. 429) "You have exceeded a secondary rate limit", retry-after
    "forbidden",          # a plain 403: no rate-limit headers at 0, no retry-after, no rate-limit message
    "unauthorized",       # 401 Bad credentials
    "bad_gateway",        # 502 with GitHub's timeout body
    "gateway_timeout",    # 504 with GitHub's timeout body
    "server_error",       # 500
    "resource_limits",    # 200 with data and errors[type=RESOURCE_LIMITS_EXCEEDED]
    "slow",               # answers after `delay` seconds
    "total_count_skew",   # totalCount of `connection` (a field name, e.g. "commits") off by `delta`
]
KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]


@dataclass
class Fault:
    kind: FaultKind
    times: int | None = 1          # answers it applies to; None = until cleared
    operation: str | None = None   # only GraphQL operations with this name
    path: str = "/graphql"         # only requests to this path
    skip: int = 0                  # let this many matching requests through first
    status: int | None = None      # secondary: 403 or 429
    retry_after: int | None = None
    delay: float = 0.0
    connection: str | None = None
    delta: int = 1
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.kind == "total_count_skew" and not self.connection:
            raise ValueError("a total_count_skew fault needs `connection`, the connection field's name (e.g. 'commits')")
        if self.kind == "secondary" and self.status not in (None, 403, 429):
            raise ValueError("a secondary rate limit answers 403 or 429")

    def matches(self, path: str, operation: str | None) -> bool:
        return self.path == path and (self.operation is None or self.operation == operation)


@dataclass(frozen=True)
class RequestRecord:
    """One answered request. The token is never recorded: only the login it authenticated."""

    method: str
    path: str
    status: int
    login: str | None
    operation: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    cost: int = 0
    node_count: int = 0
    fault: str | None = None
    error_types: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultBoard:
    """The faults in force, consumed in order of injection; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, path: str, operation: str | None) -> list[Fault]:
        """The faults that apply to this request (one answer-changing fault at most, plus any
        number of `slow` and `total_count_skew`), counting them as used."""
        taken: list[Fault] = []
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(path, operation):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                shaping = fault.kind in ("slow", "total_count_skew")
                if not shaping and any(f.kind not in ("slow", "total_count_skew") for f in taken):
                    continue
                taken.append(fault)
                fault.hits += 1
                if fault.times is not None and fault.hits >= fault.times:
                    self._faults.remove(fault)
        return taken
