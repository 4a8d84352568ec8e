"""Rate limits that park instead of sleeping, for every ETL client.

A client that is throttled computes how long the server asked it to wait. A short wait it may
sleep in place; a long one (or too much sleeping in total) becomes a decision to *park*: the
client raises RateLimitParked with the instant to resume at, and the pipeline reschedules the
stage job for then (without spending an attempt) and frees the worker. Provider clients parse
their own headers into a wait; the decision is made here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from conveyor.errors import ParkJob


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    max_sleep_seconds: float = 10.0        # a single wait up to this long is slept in place
    max_total_sleep_seconds: float = 60.0  # ... as long as one call has not slept more than this
    default_wait_seconds: float = 30.0     # when a throttled answer says nothing about when to retry
    max_wait_seconds: float = 6 * 3600.0   # cap on a server-given wait (a broken header must not park for days)
    min_wait_seconds: float = 1.0          # floor, so "retry now" answered forever still spends the budget

    def __post_init__(self) -> None:
        for name in ("max_sleep_seconds", "max_total_sleep_seconds", "default_wait_seconds", "max_wait_seconds",
                     "min_wait_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"RateLimitPolicy.{name} must be >= 0, got {getattr(self, name)}")


class RateLimitParked(ParkJob):
    """The decision to stop and resume at `resume_at`: the wait is too long to sleep through.
    Raised out of a task, the worker reschedules the job for then without spending an attempt."""

    def __init__(self, resume_at: datetime, wait_seconds: float, reason: str, endpoint: str) -> None:
        self.wait_seconds = wait_seconds
        self.endpoint = endpoint
        ParkJob.__init__(self, resume_at, reason)
        Exception.__init__(self, f"rate limited on {endpoint} ({reason}): parked until {resume_at.isoformat()} "
                         f"({wait_seconds:.0f} s)")


@dataclass(frozen=True, slots=True)
class SleepDecision:
    seconds: float


def decide_wait(policy: RateLimitPolicy, wait_seconds: float | None, slept_so_far: float, now: datetime,
                reason: str, endpoint: str) -> SleepDecision:
    """Sleep for a short wait; raise RateLimitParked for a long one or once the sleep budget is spent."""
    wait = policy.default_wait_seconds if wait_seconds is None else wait_seconds
    wait = min(max(wait, policy.min_wait_seconds), policy.max_wait_seconds)
    if wait <= policy.max_sleep_seconds and slept_so_far + wait <= policy.max_total_sleep_seconds:
        return SleepDecision(wait)
    raise RateLimitParked(now + timedelta(seconds=wait), wait, reason, endpoint)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
