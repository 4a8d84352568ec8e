"""When a worker advances the runs whose stage jobs it just finished (runs.advance).

Each advance folds the run's counter deltas in a write transaction (on SQLite it takes the one
write lock away from claims and completions; on PostgreSQL it locks the counter rows and writes
them). A run's decision can only change when the earliest unsettled stage of one of its steps
drains (or a job fails, parks or is cancelled), so a run whose earliest unsettled stages still
have many jobs outstanding is advanced less often: at most SLOW seconds after its first outcome
since the last advance. Never skipped, only delayed - a run with outcomes is always advanced at
its due time, so completion latency near the end of a stage stays at FAST.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from conveyor.model import JobState
from conveyor.signals import Signal

if TYPE_CHECKING:
    from conveyor.app import Conveyor
    from conveyor.model import Outcome

log = logging.getLogger("conveyor.worker")

FAST = 0.02  # seconds between passes; the pace of a run near a decision
SLOW = 0.25  # the longest a busy run's advance waits after an outcome
# Jobs/s a stage is assumed to drain at, at most: a stage with N outstanding waits N / DRAIN_RATE.
DRAIN_RATE = 4000.0


def pace(outstanding: int) -> float:
    """Seconds between advances of a run whose nearest decision needs `outstanding` jobs to end."""
    return min(SLOW, max(FAST, outstanding / DRAIN_RATE))


class RunAdvancer:
    """The worker's advance loop: runs noted from completion batches are advanced when due."""

    def __init__(self, app: Conveyor) -> None:
        self.app = app
        self._due: dict[str, float] = {}  # run id -> monotonic time its next advance is due
        self._pace: dict[str, float] = {}  # run id -> the pace its last advance suggested
        self._pending = Signal()

    def note(self, outcomes: list[Outcome]) -> None:
        """Runs of these recorded outcomes: due after their pace; at once for a failure, park or
        cancel (each may change the run's decision or its status right away)."""
        now = time.monotonic()
        for o in outcomes:
            if o.run_id:
                delay = self._pace.get(o.run_id, FAST) if o.state is JobState.COMPLETED else 0.0
                self._due[o.run_id] = min(self._due.get(o.run_id, now + delay), now + delay)
        if self._due:
            self._pending.set()

    async def loop(self, db: Callable[..., Awaitable[Any]]) -> None:
        """At most one pass per FAST; each pass advances the runs that are due (`db` runs a call
        on the worker's database threads)."""
        while True:
            await asyncio.sleep(FAST)
            await self._pending.wait()
            now = time.monotonic()
            ready = sorted(r for r, due in self._due.items() if due <= now)
            for run_id in ready:
                del self._due[run_id]
            if not self._due:
                self._pending.clear()
            for run_id in ready:
                try:
                    state, outstanding = await db(self.app.runs.advance_paced, run_id)
                except Exception as exc:  # maintenance advances every active run too
                    log.warning("advancing pipeline run %s failed: %s", run_id, exc)
                    continue
                if state == "RUNNING":
                    if len(self._pace) > 10_000:  # bounded: paces are hints, cheap to relearn
                        self._pace.clear()
                    self._pace[run_id] = pace(outstanding)
                else:
                    self._pace.pop(run_id, None)
