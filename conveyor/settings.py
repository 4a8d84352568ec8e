"""One settings object. Environment variables CONVEYOR_*; CLI flags override them."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

from conveyor.errors import ConfigurationError

DEFAULT_DATABASE_URL = "sqlite:///conveyor.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # A worker whose heartbeat is older than this is dead; its jobs are rescued.
    liveness_timeout: float = 15.0
    heartbeat_interval: float = 2.0
    maintenance_interval: float = 5.0
    # Each worker holds a lock that its process's death releases at once (PostgreSQL: an advisory
    # lock on a session of its own; SQLite: a file lock), so a crash is noticed within about a
    # second instead of liveness_timeout. Turn off behind a pooler that does not keep sessions
    # (PgBouncer in transaction mode): the heartbeat alone notices a crash then.
    worker_locks: bool = True
    # Extra time the database allows past a job's timeout before the maintenance loop fails it.
    timeout_grace: float = 5.0
    # Jobs queued longer than this in a queue with no live worker are sent to dead. 0 = never.
    stranded_deadline: float = 0.0
    # How long finished jobs are kept (seconds).
    result_ttl: float = 7 * 86400.0
    failure_ttl: float = 30 * 86400.0
    prune_batch: int = 1000
    # Worker tuning.
    poll_interval: float = 1.0  # PostgreSQL: fallback when a NOTIFY is missed; SQLite: see below
    sqlite_poll_interval: float = 0.01  # a cheap read of the ready index while idle
    claim_batch: int = 100
    shutdown_grace: float = 10.0
    enqueue_policy: str = "refuse"
    log_format: str = "text"
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f"CONVEYOR_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _convert(f.name, raw, type(getattr(cls, f.name)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).validated()

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None}).validated()

    def validated(self) -> Settings:
        for name in ("liveness_timeout", "heartbeat_interval", "maintenance_interval", "poll_interval"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(
                    f"Setting {name} must be positive, got {getattr(self, name)}.",
                    action=f"Set CONVEYOR_{name.upper()} to a number of seconds above 0.",
                )
        if self.heartbeat_interval * 2 > self.liveness_timeout:
            raise ConfigurationError(
                f"heartbeat_interval ({self.heartbeat_interval}s) must be at most half the "
                f"liveness_timeout ({self.liveness_timeout}s), or live workers would look dead.",
                action="Lower CONVEYOR_HEARTBEAT_INTERVAL or raise CONVEYOR_LIVENESS_TIMEOUT.",
            )
        if self.enqueue_policy not in ("refuse", "record_failed", "accept"):
            raise ConfigurationError(
                f"Unknown enqueue policy '{self.enqueue_policy}'.",
                action="Use one of: refuse, record_failed, accept.",
            )
        return self


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            return raw.lower() in ("1", "true", "yes", "on")
        return kind(raw)
    except ValueError:
        raise ConfigurationError(
            f"CONVEYOR_{name.upper()}={raw!r} is not a valid {kind.__name__}.",
            action=f"Set CONVEYOR_{name.upper()} to a {kind.__name__} value or unset it.",
        ) from None
