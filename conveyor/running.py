"""One attempt in flight in a worker: its claimed job, its context and how it runs."""

from __future__ import annotations

import asyncio

from conveyor.context import JobContext
from conveyor.store.base import ClaimedJob


class Running:
    """One attempt in flight."""

    __slots__ = ("claimed", "ctx", "task", "handed_back", "in_thread", "log_fields")

    def __init__(self, claimed: ClaimedJob, ctx: JobContext, in_thread: bool) -> None:
        self.claimed = claimed
        self.ctx = ctx
        self.task: asyncio.Task[None] | None = None
        self.handed_back = False
        self.in_thread = in_thread  # a def task: takes one of the pool's threads
        self.log_fields: str | None = None  # its JOB_* lines' fields, formatted at JOB_START
