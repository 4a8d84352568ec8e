"""Live pipeline runs over WebSockets: a snapshot on connect, then every change of the run's
status. Two numbers go with each message:

- `seq`: numbered per run by this API process, without gaps while a client stays connected, so
  a client that sees a gap knows it missed a message (and reconnects for a fresh snapshot).
- `run.version`: read from the database (migration 0014), the same in every API process for the
  same state, never going down. Behind a load balancer a reconnect may reach another process whose
  `seq` has nothing to do with the first one's: the client re-bases its `seq` on the new snapshot
  and drops any message whose `run.version` is below the last one it showed, so it neither goes
  back to an older state nor misses one (every message carries the whole run).

ONE hub per server process subscribes to the store's run feed (NOTIFY on PostgreSQL, a poller on
SQLite), coalesces changes for up to 50 ms, reads each changed run once, and sends it to the
connections that watch it when its JSON changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from conveyor.app import Conveyor
from conveyor.pipelines.rules import RUN_DONE
from conveyor.store.pipelines_common import pipeline_sql

log = logging.getLogger("conveyor.api.runs")
COALESCE_S = 0.05
INBOX = 1000


@dataclass(eq=False)
class RunSubscriber:
    tenant: str | None
    run_id: str | None = None  # None: the all-runs feed
    pipeline: str | None = None
    states: list[str] = field(default_factory=list)
    inbox: asyncio.Queue[dict[str, Any] | None] = field(default_factory=lambda: asyncio.Queue(INBOX))

    def matches(self, run: dict[str, Any]) -> bool:
        return ((self.run_id is None or run["id"] == self.run_id)
                and (self.tenant is None or run["tenant"] == self.tenant)
                and (self.pipeline is None or run["pipeline"] == self.pipeline)
                and (not self.states or run["state"] in self.states))

    def put(self, message: dict[str, Any]) -> None:
        try:
            self.inbox.put_nowait(message)
        except asyncio.QueueFull:  # too slow: it is told to reconnect (and gets a fresh snapshot)
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    self.inbox.get_nowait()
            self.inbox.put_nowait(None)


class RunHub:
    def __init__(self, app: Conveyor) -> None:
        self.app = app
        self.subs: set[RunSubscriber] = set()
        self.seq: dict[str, int] = {}  # run id -> number of the last message sent for it
        self.last: dict[str, dict[str, Any]] = {}
        self._changed: set[str] = set()
        self._resync = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _ensure_feed(self) -> None:
        if self._unsubscribe is None:  # the feed starts with the first watcher
            self._unsubscribe = pipeline_sql(self.app.store).subscribe_runs(self._on_change)

    def _on_change(self, run_ids: list[str]) -> None:  # from the feed's thread
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._note, run_ids)

    def _note(self, run_ids: list[str]) -> None:
        if not run_ids:
            self._resync = True  # the feed reconnected: re-read every watched run
        self._changed.update(run_ids)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(COALESCE_S)
            self._wake.clear()
            changed, self._changed = self._changed, set()
            if self._resync:
                self._resync = False
                changed |= {s.run_id for s in self.subs if s.run_id}
            all_feed = any(s.run_id is None for s in self.subs)
            wanted = [r for r in changed if all_feed or any(s.run_id == r for s in self.subs)]
            for run_id in wanted:
                try:
                    run = await asyncio.to_thread(self.app.get_run, run_id)
                except Exception as exc:  # the database may be down: the next change retries
                    log.warning("reading run %s failed: %s", run_id, exc)
                    continue
                if run is not None:
                    self.publish(run.to_dict())

    def publish(self, run: dict[str, Any]) -> None:
        """Send a run's JSON to its watchers with the run's next sequence number (if it changed)."""
        last = self.last.get(run["id"])
        if last == run or (last is not None and run.get("version", 0) < last.get("version", 0)):
            return  # unchanged, or a read older than what was already sent
        self.last[run["id"]] = run
        seq = self.seq[run["id"]] = self.seq.get(run["id"], 0) + 1
        for sub in list(self.subs):
            if sub.matches(run):
                sub.put({"type": "run", "seq": seq, "run": run})

    def watch(self, sub: RunSubscriber, snapshot: dict[str, Any] | None) -> None:
        """Register a subscriber; a one-run watcher gets the snapshot first, numbered with the
        run's current sequence number, so the next change it sees is exactly seq + 1."""
        self._ensure_feed()
        if snapshot is not None:
            current = self.last.get(snapshot["id"])
            if current is None:
                self.last[snapshot["id"]] = current = snapshot
                self.seq.setdefault(snapshot["id"], 0)
            elif snapshot.get("version", 0) > current.get("version", 0):
                self.publish(snapshot)  # fresher than what the hub sent last: the others get it too
                current = snapshot
            sub.put({"type": "snapshot", "seq": self.seq[snapshot["id"]], "run": current})
        self.subs.add(sub)

    def unwatch(self, sub: RunSubscriber) -> None:
        self.subs.discard(sub)
        # Forget ended runs nobody watches any more (memory stays bounded by what is watched).
        for run_id in [r for r, run in self.last.items() if run["state"] in RUN_DONE]:
            if not any(s.run_id == run_id for s in self.subs):
                del self.last[run_id]
                self.seq.pop(run_id, None)
