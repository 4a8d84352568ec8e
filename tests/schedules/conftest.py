"""A controllable clock for schedule and ETL job tests: nothing waits for real minutes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock(app: Any) -> Iterator[Clock]:
    """The app's "now" for schedules, intervals and countdowns, moved by the test."""
    fake = Clock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    before = app.clock
    app.clock = fake
    app.scheduler.declared.clear()
    yield fake
    app.clock = before
    app.integration_check = None
    app.scheduler.declared.clear()
